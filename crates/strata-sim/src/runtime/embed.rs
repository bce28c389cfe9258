//! Embedding models: InvokeModel with Amazon Titan Text Embeddings' and Cohere Embed v3's
//! native bodies. Vectors are deterministic (seeded from the model and the text) and of the
//! requested size; Converse, CountTokens and streaming answer ValidationException as Bedrock
//! does for a model that does not generate text.

use std::sync::Arc;
use std::time::Instant;

use axum::http::HeaderValue;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::placement::{admit, Placement, Refusal};
use super::{record, refuse, Operation};
use crate::error::AwsError;
use crate::fleet::BodyDialect;
use crate::identity::Caller;
use crate::reply::json_response;
use crate::reply::DropConnection;
use crate::state::SimState;

/// Titan Text Embeddings V2's sizes (the first is the default).
const TITAN_V2_DIMENSIONS: [usize; 3] = [1024, 512, 256];
/// Titan Text Embeddings G1's only size.
const TITAN_V1_DIMENSIONS: usize = 1536;
/// Cohere Embed v3's only size.
const COHERE_V3_DIMENSIONS: usize = 1024;
/// Texts one Cohere call may carry.
pub const COHERE_MAX_TEXTS: usize = 96;
/// Characters one Titan input may have.
const TITAN_MAX_CHARS: usize = 50_000;
const COHERE_INPUT_TYPES: [&str; 4] = ["search_document", "search_query", "classification", "clustering"];
const COHERE_TYPES: [&str; 5] = ["float", "int8", "uint8", "binary", "ubinary"];
const TITAN_TYPES: [&str; 2] = ["float", "binary"];

/// What Bedrock answers when an embedding model is asked to generate.
pub fn not_generative() -> AwsError {
    AwsError::validation(
        "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
    )
}

fn malformed(detail: &str) -> AwsError {
    AwsError::validation(format!(
        "Malformed input request: {detail}, please reformat your input and try again."
    ))
}

/// One embedding request, read from its native body.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedRequest {
    pub family: BodyDialect,
    pub texts: Vec<String>,
    pub dimensions: usize,
    pub normalize: bool,
    /// Embedding types asked for (`None`: the family's plain default shape).
    pub types: Option<Vec<String>>,
}

impl EmbedRequest {
    /// Input tokens: a quarter of the characters of each text, at least one per text.
    pub fn input_tokens(&self) -> u32 {
        let total: usize = self.texts.iter().map(|t| t.chars().count().div_ceil(4).max(1)).sum();
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

/// Reads an InvokeModel body of an embedding model.
pub fn parse(body: &[u8], model_id: &str, family: BodyDialect) -> Result<EmbedRequest, AwsError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(&format!("invalid JSON ({e})")))?;
    let Value::Object(map) = value else {
        return Err(malformed("#: expected type: JSONObject"));
    };
    match family {
        BodyDialect::CohereEmbed => parse_cohere(&map),
        _ => parse_titan(&map, model_id),
    }
}

fn only_keys(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), AwsError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(malformed(&format!("extraneous key [{k}] is not permitted"))),
        None => Ok(()),
    }
}

fn types(map: &Map<String, Value>, key: &str, allowed: &[&str]) -> Result<Option<Vec<String>>, AwsError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| match v.as_str() {
                Some(s) if allowed.contains(&s) => Ok(s.to_string()),
                _ => Err(malformed(&format!("#/{key}: {v} is not a valid enum value"))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(malformed(&format!("#/{key}: expected a non-empty JSONArray"))),
    }
}

fn parse_titan(map: &Map<String, Value>, model_id: &str) -> Result<EmbedRequest, AwsError> {
    let v2 = model_id.contains("titan-embed-text-v2");
    if v2 {
        only_keys(map, &["inputText", "dimensions", "normalize", "embeddingTypes"])?;
    } else {
        only_keys(map, &["inputText"])?;
    }
    let text = match map.get("inputText") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(malformed("#/inputText: expected type: String")),
        None => return Err(malformed("#: required key [inputText] not found")),
    };
    if text.is_empty() {
        return Err(malformed("#/inputText: expected minLength: 1, actual: 0"));
    }
    if text.chars().count() > TITAN_MAX_CHARS {
        return Err(malformed(&format!(
            "#/inputText: expected maxLength: {TITAN_MAX_CHARS}"
        )));
    }
    let dimensions = match map.get("dimensions") {
        None | Some(Value::Null) if v2 => TITAN_V2_DIMENSIONS[0],
        None | Some(Value::Null) => TITAN_V1_DIMENSIONS,
        Some(v) => match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if TITAN_V2_DIMENSIONS.contains(&n) => n,
            _ => return Err(malformed(&format!("#/dimensions: {v} is not a valid enum value"))),
        },
    };
    let normalize = match map.get("normalize") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(malformed("#/normalize: expected type: Boolean")),
    };
    Ok(EmbedRequest {
        family: BodyDialect::TitanEmbed,
        texts: vec![text.clone()],
        dimensions,
        normalize,
        types: if v2 {
            types(map, "embeddingTypes", &TITAN_TYPES)?
        } else {
            None
        },
    })
}

fn parse_cohere(map: &Map<String, Value>) -> Result<EmbedRequest, AwsError> {
    only_keys(map, &["texts", "input_type", "truncate", "embedding_types", "images"])?;
    if map.contains_key("images") {
        return Err(malformed("#/images: image input is not supported by this emulator"));
    }
    let texts = match map.get("texts") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| malformed("#/texts: expected type: String"))?,
        Some(_) => return Err(malformed("#/texts: expected type: JSONArray")),
        None => return Err(malformed("#: required key [texts] not found")),
    };
    if texts.is_empty() || texts.len() > COHERE_MAX_TEXTS {
        return Err(malformed(&format!(
            "#/texts: expected between 1 and {COHERE_MAX_TEXTS} items, actual: {}",
            texts.len()
        )));
    }
    match map.get("input_type").and_then(Value::as_str) {
        Some(t) if COHERE_INPUT_TYPES.contains(&t) => {}
        Some(t) => return Err(malformed(&format!("#/input_type: {t} is not a valid enum value"))),
        None => return Err(malformed("#: required key [input_type] not found")),
    }
    match map.get("truncate") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if matches!(t.as_str(), "NONE" | "START" | "END") => {}
        Some(v) => return Err(malformed(&format!("#/truncate: {v} is not a valid enum value"))),
    }
    Ok(EmbedRequest {
        family: BodyDialect::CohereEmbed,
        texts,
        dimensions: COHERE_V3_DIMENSIONS,
        normalize: true,
        types: types(map, "embedding_types", &COHERE_TYPES)?,
    })
}

/// A deterministic vector for `text`: seeded by the model and the text, unit length when
/// `normalize`.
pub fn vector(model_id: &str, text: &str, dimensions: usize, normalize: bool) -> Vec<f32> {
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for b in model_id.bytes().chain([0xff]).chain(text.bytes()) {
        seed ^= u64::from(b);
        seed = seed.wrapping_mul(0x0100_0000_01b3);
    }
    let mut state = seed | 1;
    let mut out: Vec<f32> = (0..dimensions)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // 24 random bits → [-1, 1).
            ((state >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect();
    if normalize {
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|x| *x /= norm);
        }
    }
    out
}

/// A vector in one of Cohere's embedding types (binary types pack 8 dimensions a byte).
fn typed(vector: &[f32], kind: &str) -> Value {
    match kind {
        "int8" => json!(vector.iter().map(|x| (x * 127.0).round() as i32).collect::<Vec<_>>()),
        "uint8" => json!(vector
            .iter()
            .map(|x| ((x + 1.0) * 127.5).round() as i32)
            .collect::<Vec<_>>()),
        "binary" | "ubinary" => {
            let bits: Vec<i32> = vector
                .chunks(8)
                .map(|c| {
                    let byte = c
                        .iter()
                        .enumerate()
                        .fold(0u8, |acc, (i, x)| acc | (u8::from(*x > 0.0) << (7 - i)));
                    if kind == "binary" {
                        i32::from(byte as i8)
                    } else {
                        i32::from(byte)
                    }
                })
                .collect();
            json!(bits)
        }
        _ => json!(vector),
    }
}

/// The native answer body for a request.
pub fn answer(request: &EmbedRequest, model_id: &str, id: &str) -> Value {
    let vectors: Vec<Vec<f32>> = request
        .texts
        .iter()
        .map(|t| vector(model_id, t, request.dimensions, request.normalize))
        .collect();
    match request.family {
        BodyDialect::CohereEmbed => {
            let embeddings = match &request.types {
                None => json!(vectors),
                Some(kinds) => Value::Object(
                    kinds
                        .iter()
                        .map(|k| (k.clone(), Value::Array(vectors.iter().map(|v| typed(v, k)).collect())))
                        .collect(),
                ),
            };
            json!({
                "id": id,
                "embeddings": embeddings,
                "texts": request.texts,
                "response_type": if request.types.is_some() { "embeddings_by_type" } else { "embeddings_floats" },
            })
        }
        _ => {
            let vector = vectors.into_iter().next().unwrap_or_default();
            let kinds = request.types.clone().unwrap_or_else(|| vec!["float".to_string()]);
            let by_type: Map<String, Value> = kinds
                .iter()
                .map(|k| {
                    let v = if k == "binary" {
                        json!(vector.iter().map(|x| u8::from(*x > 0.0)).collect::<Vec<_>>())
                    } else {
                        json!(vector)
                    };
                    (k.clone(), v)
                })
                .collect();
            json!({
                "embedding": vector,
                "inputTextTokenCount": request.input_tokens(),
                "embeddingsByType": by_type,
            })
        }
    }
}

/// Serves a call placed on an embedding model: only a plain InvokeModel is answered.
pub(super) async fn handle(
    state: &Arc<SimState>,
    caller: &Caller,
    placement: &Placement,
    model_id: &str,
    op: Operation,
    body: &[u8],
) -> Response {
    let started = Instant::now();
    let request = match op {
        Operation::InvokeModel => parse(body, &placement.model.id, placement.model.body),
        Operation::InvokeModelWithResponseStream => {
            Err(AwsError::validation("The model is unsupported for streaming."))
        }
        _ => Err(not_generative()),
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => return refuse(state, caller, Some(placement), model_id, op, e),
    };
    let tokens = request.input_tokens();
    match admit(state, placement, u64::from(tokens)) {
        Ok(_) => {}
        Err(Refusal::Drop) => {
            record(
                state,
                caller,
                Some(placement),
                model_id,
                op,
                0,
                Some("ConnectionDropped"),
            );
            let mut response = Response::new(axum::body::Body::empty());
            response.extensions_mut().insert(DropConnection);
            return response;
        }
        Err(Refusal::Error(e)) => return refuse(state, caller, Some(placement), model_id, op, e),
    }
    // An embedding is one forward pass: the time to a first token, no generation.
    let wait = super::timing(state, &placement.target()).first_token;
    let flight = state.start_flight(&placement.region, &placement.model.id);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    drop(flight);
    record(state, caller, Some(placement), model_id, op, 200, None);
    let id = format!("{:016x}", rand::random::<u64>());
    let mut response = json_response(answer(&request, &placement.model.id, &id).to_string());
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let headers = response.headers_mut();
    headers.insert("x-amzn-bedrock-input-token-count", HeaderValue::from(tokens));
    headers.insert("x-amzn-bedrock-invocation-latency", HeaderValue::from(latency_ms));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const TITAN: &str = "amazon.titan-embed-text-v2:0";

    #[test]
    fn titan_bodies_are_read_and_checked() {
        let r = parse(br#"{"inputText":"hello"}"#, TITAN, BodyDialect::TitanEmbed).unwrap();
        assert_eq!((r.dimensions, r.normalize, r.texts.len()), (1024, true, 1));
        let r = parse(
            br#"{"inputText":"hello","dimensions":256,"normalize":false,"embeddingTypes":["float","binary"]}"#,
            TITAN,
            BodyDialect::TitanEmbed,
        )
        .unwrap();
        assert_eq!((r.dimensions, r.normalize), (256, false));
        for bad in [
            r#"{"inputText":""}"#,
            r#"{"inputText":"a","dimensions":300}"#,
            r#"{"texts":["a"]}"#,
            r#"{"inputText":"a","extra":1}"#,
            r#"[1]"#,
        ] {
            let e = parse(bad.as_bytes(), TITAN, BodyDialect::TitanEmbed).unwrap_err();
            assert!(e.message.starts_with("Malformed input request"), "{bad}: {e}");
        }
    }

    #[test]
    fn cohere_bodies_are_read_and_checked() {
        let r = parse(
            br#"{"texts":["a","b"],"input_type":"search_document"}"#,
            "cohere.embed-english-v3",
            BodyDialect::CohereEmbed,
        )
        .unwrap();
        assert_eq!((r.texts.len(), r.dimensions), (2, 1024));
        let many = serde_json::json!({"texts": vec!["x"; 97], "input_type": "clustering"}).to_string();
        for bad in [
            many.as_str(),
            r#"{"texts":["a"]}"#,
            r#"{"texts":[],"input_type":"clustering"}"#,
            r#"{"texts":["a"],"input_type":"clustering","embedding_types":["double"]}"#,
        ] {
            assert!(
                parse(bad.as_bytes(), "cohere.embed-english-v3", BodyDialect::CohereEmbed).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn vectors_are_deterministic_sized_and_normalized_when_asked() {
        let a = vector(TITAN, "hello", 256, true);
        assert_eq!(a, vector(TITAN, "hello", 256, true));
        assert_ne!(a, vector(TITAN, "hullo", 256, true));
        assert_eq!(a.len(), 256);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        let raw = vector(TITAN, "hello", 512, false);
        assert!(raw.iter().all(|x| (-1.0..1.0).contains(x)));
    }

    #[test]
    fn answers_have_each_familys_shape() {
        let titan = parse(br#"{"inputText":"hello world"}"#, TITAN, BodyDialect::TitanEmbed).unwrap();
        let a = answer(&titan, TITAN, "x");
        assert_eq!(a["embedding"].as_array().unwrap().len(), 1024);
        assert_eq!(a["inputTextTokenCount"], 3);
        assert_eq!(a["embeddingsByType"]["float"], a["embedding"]);
        let cohere = parse(
            br#"{"texts":["a","b"],"input_type":"search_query","embedding_types":["float","int8"]}"#,
            "cohere.embed-english-v3",
            BodyDialect::CohereEmbed,
        )
        .unwrap();
        let a = answer(&cohere, "cohere.embed-english-v3", "x");
        assert_eq!(a["response_type"], "embeddings_by_type");
        assert_eq!(a["embeddings"]["float"].as_array().unwrap().len(), 2);
        assert_eq!(a["embeddings"]["int8"][1].as_array().unwrap().len(), 1024);
        let plain = EmbedRequest { types: None, ..cohere };
        let a = answer(&plain, "cohere.embed-english-v3", "x");
        assert_eq!(a["response_type"], "embeddings_floats");
        assert_eq!(a["embeddings"][0].as_array().unwrap().len(), 1024);
    }
}
