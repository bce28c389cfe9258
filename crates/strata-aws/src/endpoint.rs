//! Where Bedrock lives for a region: AWS's public endpoints, or one override for all regions
//! (the emulator, a VPC endpoint, a proxy).

/// Resolves Bedrock endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// A base URL (`http://127.0.0.1:4566`) used for every region and both planes.
    pub override_url: Option<String>,
}

impl Endpoints {
    pub fn aws() -> Self {
        Endpoints { override_url: None }
    }

    pub fn with_override(url: impl Into<String>) -> Self {
        Endpoints {
            override_url: Some(url.into().trim_end_matches('/').to_string()),
        }
    }

    /// The runtime base URL for a region (`https://bedrock-runtime.{region}.amazonaws.com`).
    pub fn runtime(&self, region: &str) -> String {
        let mut url = String::new();
        self.push_runtime(region, &mut url);
        url
    }

    /// [`Endpoints::runtime`] appended to `out` (a call's URL is built in one string).
    pub fn push_runtime(&self, region: &str, out: &mut String) {
        match &self.override_url {
            Some(url) => out.push_str(url),
            None => {
                out.push_str("https://bedrock-runtime.");
                out.push_str(region);
                out.push_str(".amazonaws.com");
            }
        }
    }

    /// The control-plane base URL for a region (`https://bedrock.{region}.amazonaws.com`).
    pub fn control(&self, region: &str) -> String {
        match &self.override_url {
            Some(url) => url.clone(),
            None => format!("https://bedrock.{region}.amazonaws.com"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_public_and_overridden_endpoints() {
        assert_eq!(
            Endpoints::aws().runtime("eu-west-1"),
            "https://bedrock-runtime.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            Endpoints::aws().control("us-east-1"),
            "https://bedrock.us-east-1.amazonaws.com"
        );
        let sim = Endpoints::with_override("http://127.0.0.1:4566/");
        assert_eq!(sim.runtime("eu-west-1"), "http://127.0.0.1:4566");
    }
}
