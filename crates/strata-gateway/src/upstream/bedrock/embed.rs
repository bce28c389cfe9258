//! Embeddings on Bedrock: one neutral [`EmbedRequest`] becomes the chosen target's family
//! bodies — Titan takes one text per InvokeModel, Cohere up to 96 — sent concurrently (at most
//! [`CONCURRENT_CALLS`] at once) with the target's account, and the answers are merged, in input
//! order, into one [`Embeddings`] reply. Any call failing fails the whole attempt with that
//! call's error, so execution makes one retry/fallback decision per attempt.

use std::time::Instant;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;
use strata_aws::{RuntimeAnswer, RuntimeCall, RuntimeOperation, UpstreamError};
use strata_core::ErrorClass;

use super::Bedrock;
use crate::embedding::{EmbedRequest, Embeddings, Family};
use crate::upstream::{remaining, Answer, Reply, Wire};

/// InvokeModel calls of one request in flight at once.
pub const CONCURRENT_CALLS: usize = 8;

/// The `input_type` sent to Cohere: OpenAI's API has no such notion, and documents are what
/// most embeddings calls embed.
const COHERE_INPUT_TYPE: &str = "search_document";

/// Embeds `request` on one Bedrock target.
pub async fn call(
    bedrock: &Bedrock,
    account: usize,
    region: &str,
    model_id: &str,
    request: &EmbedRequest,
    deadline: Instant,
) -> Result<Answer, UpstreamError> {
    let Some(family) = Family::of(model_id) else {
        return Err(UpstreamError::new(
            ErrorClass::Invalid,
            None,
            format!("{model_id} is not an embedding model this gateway can call"),
        ));
    };
    if let Some(why) = family.refuses(request) {
        return Err(UpstreamError::new(ErrorClass::Invalid, None, why));
    }
    let bodies = request
        .inputs
        .chunks(family.batch())
        .map(|texts| body(family, texts, request.dimensions))
        .collect::<Result<Vec<_>, _>>()?;
    let parts: Vec<Part> = futures::stream::iter(bodies)
        .map(|(body, count)| async move {
            let runtime_call = RuntimeCall {
                region,
                model_id,
                operation: RuntimeOperation::InvokeModel,
                body,
                content_type: Some("application/json"),
                accept: Some("application/json"),
                timeout: remaining(deadline),
                extra_headers: &[],
            };
            match bedrock.send(account, runtime_call).await? {
                RuntimeAnswer::Complete { headers, body } => read(family, &headers, &body, count),
                RuntimeAnswer::Stream { .. } => Err(unreadable("a stream answered InvokeModel")),
            }
        })
        .buffered(CONCURRENT_CALLS)
        .try_collect()
        .await?;
    let mut merged = Embeddings {
        vectors: Vec::with_capacity(request.inputs.len()),
        input_tokens: 0,
    };
    for part in parts {
        merged.vectors.extend(part.vectors);
        merged.input_tokens += part.input_tokens;
    }
    let body = serde_json::to_vec(&merged)
        .map_err(|e| UpstreamError::new(ErrorClass::Unavailable, Some(200), e.to_string()))?;
    Ok(Answer::Complete(Reply {
        wire: Wire::Embeddings,
        headers: http::HeaderMap::new(),
        body: Bytes::from(body),
        header_usage: None,
        guardrail: None,
    }))
}

/// One call's body for `texts`, and how many vectors it must answer with.
fn body(family: Family, texts: &[String], dimensions: Option<u32>) -> Result<(Bytes, usize), UpstreamError> {
    let value = match family {
        Family::TitanV1 => json!({"inputText": texts.first()}),
        Family::TitanV2 => {
            let mut v = json!({"inputText": texts.first(), "normalize": true});
            if let Some(d) = dimensions {
                v["dimensions"] = json!(d);
            }
            v
        }
        Family::CohereV3 => json!({"texts": texts, "input_type": COHERE_INPUT_TYPE, "embedding_types": ["float"]}),
        Family::CohereV4 => {
            let mut v = json!({"texts": texts, "input_type": COHERE_INPUT_TYPE, "embedding_types": ["float"]});
            if let Some(d) = dimensions {
                v["output_dimension"] = json!(d);
            }
            v
        }
    };
    let bytes = serde_json::to_vec(&value).map_err(|e| UpstreamError::new(ErrorClass::Invalid, None, e.to_string()))?;
    Ok((Bytes::from(bytes), texts.len()))
}

/// What one call answered.
struct Part {
    vectors: Vec<Vec<f32>>,
    input_tokens: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanAnswer {
    embedding: Vec<f32>,
    input_text_token_count: Option<u64>,
}

#[derive(Deserialize)]
struct CohereAnswer {
    embeddings: CohereEmbeddings,
}

/// Cohere answers a plain list, or lists by embedding type when types were asked for.
#[derive(Deserialize)]
#[serde(untagged)]
enum CohereEmbeddings {
    Floats(Vec<Vec<f32>>),
    ByType { float: Vec<Vec<f32>> },
}

fn unreadable(why: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::new(
        ErrorClass::Unavailable,
        Some(200),
        format!("the embedding answer could not be read: {why}"),
    )
}

/// One call's answer: the vectors (as many as texts were sent) and the input tokens, from the
/// `x-amzn-bedrock-input-token-count` header (or Titan's body).
fn read(family: Family, headers: &http::HeaderMap, body: &[u8], expected: usize) -> Result<Part, UpstreamError> {
    let header_tokens = headers
        .get("x-amzn-bedrock-input-token-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (vectors, body_tokens) = match family {
        Family::TitanV1 | Family::TitanV2 => {
            let a: TitanAnswer = serde_json::from_slice(body).map_err(unreadable)?;
            (vec![a.embedding], a.input_text_token_count)
        }
        Family::CohereV3 | Family::CohereV4 => {
            let a: CohereAnswer = serde_json::from_slice(body).map_err(unreadable)?;
            match a.embeddings {
                CohereEmbeddings::Floats(v) | CohereEmbeddings::ByType { float: v } => (v, None),
            }
        }
    };
    if vectors.len() != expected {
        return Err(unreadable(format!("{} vectors for {expected} texts", vectors.len())));
    }
    Ok(Part {
        vectors,
        input_tokens: header_tokens.or(body_tokens).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("text {i}")).collect()
    }

    #[test]
    fn each_family_gets_its_own_body() {
        let (b, n) = body(Family::TitanV2, &texts(1), Some(256)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v, json!({"inputText": "text 0", "normalize": true, "dimensions": 256}));
        assert_eq!(n, 1);
        let (b, _) = body(Family::TitanV2, &texts(1), None).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert!(v.get("dimensions").is_none());
        let (b, n) = body(Family::CohereV3, &texts(3), None).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["texts"].as_array().unwrap().len(), 3);
        assert_eq!(v["input_type"], "search_document");
        assert_eq!(n, 3);
        let (b, _) = body(Family::CohereV4, &texts(2), Some(512)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["output_dimension"], 512);
    }

    #[test]
    fn batches_follow_the_family() {
        let inputs = texts(200);
        assert_eq!(inputs.chunks(Family::CohereV3.batch()).count(), 3);
        assert_eq!(inputs.chunks(Family::TitanV2.batch()).count(), 200);
    }

    #[test]
    fn answers_are_read_with_their_tokens() {
        let mut headers = http::HeaderMap::new();
        let titan = br#"{"embedding":[0.5,-0.5],"inputTextTokenCount":7,"embeddingsByType":{"float":[0.5,-0.5]}}"#;
        let part = read(Family::TitanV2, &headers, titan, 1).unwrap();
        assert_eq!((part.vectors, part.input_tokens), (vec![vec![0.5, -0.5]], 7));
        headers.insert("x-amzn-bedrock-input-token-count", http::HeaderValue::from(9));
        let cohere = br#"{"id":"x","embeddings":{"float":[[1.0],[2.0]]},"texts":["a","b"],"response_type":"embeddings_by_type"}"#;
        let part = read(Family::CohereV3, &headers, cohere, 2).unwrap();
        assert_eq!((part.vectors.len(), part.input_tokens), (2, 9));
        let plain = br#"{"id":"x","embeddings":[[1.0]],"texts":["a"],"response_type":"embeddings_floats"}"#;
        assert_eq!(
            read(Family::CohereV3, &headers, plain, 1).unwrap().vectors,
            vec![vec![1.0]]
        );
        let e = read(Family::CohereV3, &headers, plain, 2).err().unwrap();
        assert_eq!(e.class, ErrorClass::Unavailable);
        assert!(read(Family::TitanV2, &headers, b"<html>", 1).is_err());
    }
}
