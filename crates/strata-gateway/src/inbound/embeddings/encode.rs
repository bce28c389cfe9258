//! Encoding the merged embeddings reply in OpenAI's shape, vectors as JSON numbers or as
//! base64 of their little-endian `f32` bytes.

use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Value};

use super::request::Encoding;
use crate::call::Usage;
use crate::embedding::Embeddings;
use crate::inbound::openai;
use crate::request::account::Exit;
use crate::upstream::{Answer, Wire};

/// What encoding needs of the request.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The model as the client named it (the answer carries it back).
    pub model: String,
    pub encoding: Encoding,
}

/// The response for an answer.
pub fn answer(asked: Asked, answer: Answer, mut exit: Exit) -> Response {
    let reply = match answer {
        Answer::Complete(reply) if reply.wire == Wire::Embeddings => reply,
        _ => return exit.unreadable("not embeddings", openai::error::response),
    };
    let embeddings: Embeddings = match serde_json::from_slice(&reply.body) {
        Ok(e) => e,
        Err(e) => return exit.unreadable(&e.to_string(), openai::error::response),
    };
    exit.answered(
        200,
        Some(Usage {
            input: embeddings.input_tokens,
            ..Usage::default()
        }),
    );
    axum::Json(body(&asked, embeddings)).into_response()
}

/// OpenAI's answer body.
pub fn body(asked: &Asked, embeddings: Embeddings) -> Value {
    let data: Vec<Value> = embeddings
        .vectors
        .iter()
        .enumerate()
        .map(|(index, v)| json!({"object": "embedding", "index": index, "embedding": vector(v, asked.encoding)}))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": asked.model,
        "usage": {"prompt_tokens": embeddings.input_tokens, "total_tokens": embeddings.input_tokens},
    })
}

fn vector(v: &[f32], encoding: Encoding) -> Value {
    match encoding {
        Encoding::Float => json!(v),
        Encoding::Base64 => {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_numbers_or_little_endian_base64() {
        let asked = |encoding| Asked {
            model: "titan-embed".into(),
            encoding,
        };
        let e = Embeddings {
            vectors: vec![vec![1.0, -0.5], vec![0.25, 0.0]],
            input_tokens: 5,
        };
        let v = body(&asked(Encoding::Float), e.clone());
        assert_eq!(v["object"], "list");
        assert_eq!(v["model"], "titan-embed");
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(v["data"][0]["embedding"], json!([1.0, -0.5]));
        assert_eq!(v["usage"], json!({"prompt_tokens": 5, "total_tokens": 5}));
        let v = body(&asked(Encoding::Base64), e);
        let b64 = v["data"][0]["embedding"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        let back: Vec<f32> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, vec![1.0, -0.5]);
    }
}
