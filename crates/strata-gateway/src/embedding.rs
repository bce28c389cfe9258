//! Embeddings, neutral of any dialect or model family: what an inbound dialect decodes an
//! embeddings request into ([`EmbedRequest`], carried by `Call::embedding`), the one reply an
//! upstream merges its calls into ([`Embeddings`]), and the Bedrock model families that embed
//! ([`Family`]) with what each accepts. The family's own body is built only once routing has
//! chosen a target (`upstream::bedrock::embed`), since a logical model's targets may differ in family.

use serde::{Deserialize, Serialize};

/// Texts to embed, and the vector size asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedRequest {
    pub inputs: Vec<String>,
    /// `None`: the family's default size.
    pub dimensions: Option<u32>,
}

impl EmbedRequest {
    /// Input tokens estimated for admission: about four characters a token, at least one per
    /// input.
    pub fn estimated_tokens(&self) -> u64 {
        self.inputs
            .iter()
            .map(|t| (t.chars().count() as u64).div_ceil(4).max(1))
            .sum()
    }
}

/// One vector per input, in input order, and the input tokens the upstream counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    pub input_tokens: u64,
}

/// A Bedrock embedding model family: the body it takes and what it can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `amazon.titan-embed-text-v1`: `{"inputText"}`, 1536 dimensions.
    TitanV1,
    /// `amazon.titan-embed-text-v2:0`: `{"inputText", "dimensions", "normalize"}`.
    TitanV2,
    /// `cohere.embed-english-v3`, `cohere.embed-multilingual-v3`: `{"texts", "input_type"}`,
    /// 1024 dimensions.
    CohereV3,
    /// `cohere.embed-v4:0`: `{"texts", "input_type", "output_dimension"}`.
    CohereV4,
}

impl Family {
    /// The family of a Bedrock model or profile ID (`us.cohere.embed-v4:0` is Cohere v4); `None`
    /// for a model this gateway does not know how to embed with.
    pub fn of(model_id: &str) -> Option<Family> {
        let id = model_id.rsplit('/').next().unwrap_or(model_id);
        if id.contains("amazon.titan-embed-text-v2") {
            Some(Family::TitanV2)
        } else if id.contains("amazon.titan-embed-text-v1") {
            Some(Family::TitanV1)
        } else if id.contains("cohere.embed-english-v3") || id.contains("cohere.embed-multilingual-v3") {
            Some(Family::CohereV3)
        } else if id.contains("cohere.embed-v4") {
            Some(Family::CohereV4)
        } else {
            None
        }
    }

    /// The vector sizes the family can produce; the first is its default.
    pub fn dimensions(self) -> &'static [u32] {
        match self {
            Family::TitanV1 => &[1536],
            Family::TitanV2 => &[1024, 512, 256],
            Family::CohereV3 => &[1024],
            Family::CohereV4 => &[1536, 1024, 512, 256],
        }
    }

    /// Texts one call may carry (Titan embeds one text per call).
    pub fn batch(self) -> usize {
        match self {
            Family::TitanV1 | Family::TitanV2 => 1,
            Family::CohereV3 | Family::CohereV4 => 96,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::TitanV1 => "Titan Text Embeddings G1",
            Family::TitanV2 => "Titan Text Embeddings V2",
            Family::CohereV3 => "Cohere Embed v3",
            Family::CohereV4 => "Cohere Embed v4",
        }
    }

    /// Why the family cannot serve `request`, if it cannot.
    pub fn refuses(self, request: &EmbedRequest) -> Option<String> {
        let d = request.dimensions?;
        let sizes = self.dimensions();
        if sizes.contains(&d) {
            return None;
        }
        let listed: Vec<String> = sizes.iter().map(u32::to_string).collect();
        Some(format!(
            "{} makes vectors of {} dimensions, not {d}",
            self.name(),
            listed.join(", ")
        ))
    }
}

/// Whether a Bedrock model ID names a model that embeds rather than generates (a known family,
/// or any other `*embed*` model such as Titan Multimodal Embeddings).
pub fn is_embedding_model(model_id: &str) -> bool {
    Family::of(model_id).is_some() || model_id.rsplit('/').next().unwrap_or(model_id).contains("embed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_known_by_model_and_profile_id() {
        assert_eq!(Family::of("amazon.titan-embed-text-v2:0"), Some(Family::TitanV2));
        assert_eq!(Family::of("amazon.titan-embed-text-v1"), Some(Family::TitanV1));
        assert_eq!(Family::of("cohere.embed-multilingual-v3"), Some(Family::CohereV3));
        assert_eq!(Family::of("global.cohere.embed-v4:0"), Some(Family::CohereV4));
        assert_eq!(
            Family::of("arn:aws:bedrock:eu-west-1::foundation-model/cohere.embed-english-v3"),
            Some(Family::CohereV3)
        );
        assert_eq!(Family::of("anthropic.claude-haiku-4-5-20251001-v1:0"), None);
        assert!(is_embedding_model("amazon.titan-embed-image-v1"));
        assert!(!is_embedding_model("amazon.nova-pro-v1:0"));
    }

    #[test]
    fn dimensions_are_checked_per_family() {
        let ask = |d| EmbedRequest {
            inputs: vec!["a".into()],
            dimensions: d,
        };
        assert_eq!(Family::TitanV2.refuses(&ask(Some(256))), None);
        assert_eq!(Family::TitanV2.refuses(&ask(None)), None);
        let why = Family::TitanV2.refuses(&ask(Some(300))).unwrap();
        assert!(why.contains("1024, 512, 256"), "{why}");
        assert!(Family::CohereV3.refuses(&ask(Some(512))).is_some());
        assert_eq!(Family::CohereV4.refuses(&ask(Some(512))), None);
    }

    #[test]
    fn the_estimate_counts_every_input() {
        let r = EmbedRequest {
            inputs: vec!["12345678".into(), String::new(), "x".into()],
            dimensions: None,
        };
        assert_eq!(r.estimated_tokens(), 2 + 1 + 1);
    }
}
