//! SigV4 signing of outgoing requests with `aws-sigv4`.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderName, HeaderValue};

/// A request could not be signed (bad header values or credentials).
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SigningError(String);

/// The credential scope of a signature.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    /// `bedrock` for both Bedrock planes, `sts` for STS.
    pub service: &'a str,
}

/// Computes the SigV4 headers (`authorization`, `x-amz-date`, `x-amz-security-token`) for a
/// request and adds them to `headers`. `url` is the full URL as it will be sent.
pub fn sign_headers(
    method: &str,
    url: &str,
    headers: &mut HeaderMap,
    body: &[u8],
    credentials: &Credentials,
    scope: Scope<'_>,
    time: SystemTime,
) -> Result<(), SigningError> {
    let (region, service) = (scope.region, scope.service);
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError(e.to_string()))?
        .into();
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str(), v)))
        .collect();
    let signable = SignableRequest::new(method, url, pairs.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| SigningError(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SigningError(e.to_string()))?
        .into_parts();
    for (name, value) in instructions.headers() {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| SigningError(e.to_string()))?;
        let mut value = HeaderValue::from_str(value).map_err(|e| SigningError(e.to_string()))?;
        if name == http::header::AUTHORIZATION || name.as_str() == "x-amz-security-token" {
            value.set_sensitive(true);
        }
        headers.insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_authorization_date_and_session_token() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test");
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "host",
            HeaderValue::from_static("bedrock-runtime.eu-west-1.amazonaws.com"),
        );
        sign_headers(
            "POST",
            "https://bedrock-runtime.eu-west-1.amazonaws.com/model/x.y/converse",
            &mut headers,
            b"{}",
            &creds,
            Scope {
                region: "eu-west-1",
                service: "bedrock",
            },
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        let auth = headers.get("authorization").unwrap().to_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-1/bedrock/aws4_request"));
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"));
        assert_eq!(headers.get("x-amz-date").unwrap(), "20231114T221320Z");
        assert_eq!(headers.get("x-amz-security-token").unwrap(), "token");
    }
}
