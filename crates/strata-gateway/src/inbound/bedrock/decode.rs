//! Decoding `POST /model/{id}/{action}`: the model and operation from the path, and the checks
//! the gateway can make of the body itself. A Converse body is checked for the shape Bedrock
//! requires (a malformed one is the client's 400 before any upstream is asked); an InvokeModel
//! body is model-specific and passed through unchecked. Either way the bytes forwarded are the
//! bytes received.

use bytes::Bytes;
use http::request::Parts;
use serde::de::IgnoredAny;
use serde::Deserialize;
use strata_aws::RuntimeOperation;

use crate::call::{Api, Call, Estimate};
use crate::error::{Class, GatewayError};

/// The model ID and operation of a `/model/…` path.
pub fn path(path: &str) -> Result<(String, RuntimeOperation), GatewayError> {
    let rest = path.strip_prefix("/model/").unwrap_or(path);
    let decoded = percent_encoding::percent_decode_str(rest).decode_utf8().map_err(|_| {
        GatewayError::client(
            Class::Invalid,
            "The model identifier in the path is not valid UTF-8 once percent-decoded.",
        )
    })?;
    let unknown = || GatewayError::client(Class::NotFound, format!("No operation matches /model/{decoded}."));
    let (model, action) = decoded.rsplit_once('/').ok_or_else(unknown)?;
    let operation = RuntimeOperation::from_action(action).ok_or_else(unknown)?;
    if model.is_empty() {
        return Err(unknown());
    }
    Ok((model.to_string(), operation))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseProbe<'a> {
    #[serde(borrow)]
    messages: Option<Vec<MessageProbe<'a>>>,
    inference_config: Option<InferenceProbe>,
}

#[derive(Deserialize)]
struct MessageProbe<'a> {
    /// Borrowed from the body unless escaped: no allocation per message.
    #[serde(borrow)]
    role: Option<std::borrow::Cow<'a, str>>,
    content: Option<Vec<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InferenceProbe {
    max_tokens: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
}

fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::client(Class::Invalid, message)
}

/// Checks a Converse body; returns its output limit.
pub fn check_converse(body: &[u8]) -> Result<Option<u64>, GatewayError> {
    let probe: ConverseProbe = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("The request body is not a valid Converse request: {e}")))?;
    let messages = probe.messages.ok_or_else(|| invalid("'messages' is required."))?;
    if messages.is_empty() {
        return Err(invalid(
            "A conversation must start with a user message: 'messages' is empty.",
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        match m.role.as_deref() {
            Some("user" | "assistant") => {}
            _ => return Err(invalid(format!("messages.{i}.role must be 'user' or 'assistant'."))),
        }
        if m.content.as_ref().is_none_or(Vec::is_empty) {
            return Err(invalid(format!("messages.{i}.content must hold at least one block.")));
        }
    }
    let mut max_tokens = None;
    if let Some(c) = probe.inference_config {
        if let Some(n) = c.max_tokens {
            if n < 1 {
                return Err(invalid("inferenceConfig.maxTokens must be at least 1."));
            }
            max_tokens = Some(n as u64);
        }
        for (name, value) in [("temperature", c.temperature), ("topP", c.top_p)] {
            if value.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                return Err(invalid(format!("inferenceConfig.{name} must be between 0 and 1.")));
            }
        }
    }
    Ok(max_tokens)
}

/// The output limit an InvokeModel body sets, in any of the model families' spellings.
pub fn invoke_max_tokens(body: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Invoke {
        max_tokens: Option<u64>,
        max_gen_len: Option<u64>,
        max_new_tokens: Option<u64>,
        #[serde(rename = "maxTokens")]
        max_tokens_camel: Option<u64>,
        #[serde(rename = "textGenerationConfig")]
        text_generation: Option<TextGeneration>,
        #[serde(rename = "inferenceConfig")]
        inference: Option<NovaInference>,
    }
    #[derive(Deserialize)]
    struct TextGeneration {
        #[serde(rename = "maxTokenCount")]
        max_token_count: Option<u64>,
    }
    #[derive(Deserialize)]
    struct NovaInference {
        max_new_tokens: Option<u64>,
        #[serde(rename = "maxTokens")]
        max_tokens: Option<u64>,
    }
    let b: Invoke = serde_json::from_slice(body).ok()?;
    b.max_tokens
        .or(b.max_gen_len)
        .or(b.max_new_tokens)
        .or(b.max_tokens_camel)
        .or(b.text_generation.and_then(|t| t.max_token_count))
        .or(b.inference.and_then(|i| i.max_new_tokens.or(i.max_tokens)))
}

/// The call a Bedrock-native request asks for.
pub fn call(head: &Parts, body: Bytes) -> Result<Call, GatewayError> {
    let (model, operation) = path(head.uri.path())?;
    let header = |name| head.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let max_output = match operation {
        RuntimeOperation::Converse | RuntimeOperation::ConverseStream => check_converse(&body)?,
        RuntimeOperation::InvokeModel | RuntimeOperation::InvokeModelWithResponseStream => invoke_max_tokens(&body),
        RuntimeOperation::CountTokens => None,
    };
    Ok(Call {
        api: Api::Bedrock,
        model,
        operation,
        // A count generates nothing: admission reserves no tokens for it.
        estimate: if operation == RuntimeOperation::CountTokens {
            Estimate::default()
        } else {
            Estimate::from_body(body.len(), max_output)
        },
        content_type: header(http::header::CONTENT_TYPE),
        accept: header(http::header::ACCEPT),
        body: crate::call::forwarded_body(body),
        translation: None,
        openai: None,
        embedding: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_model_and_an_operation() {
        let (m, op) = path("/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream").unwrap();
        assert_eq!(m, "us.anthropic.claude-sonnet-4-20250514-v1:0");
        assert_eq!(op, RuntimeOperation::ConverseStream);
        let (m, _) = path("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aimported-model%2Fabc/invoke").unwrap();
        assert_eq!(m, "arn:aws:bedrock:us-east-1:1:imported-model/abc");
        assert_eq!(path("/model/%ff%fe/converse").unwrap_err().class, Class::Invalid);
        assert_eq!(path("/model/x/dance").unwrap_err().class, Class::NotFound);
        assert_eq!(
            path("/model/nova/count-tokens").unwrap().1,
            RuntimeOperation::CountTokens
        );
        assert_eq!(path("/model/converse").unwrap_err().class, Class::NotFound);
        assert_eq!(path("/model//converse").unwrap_err().class, Class::NotFound);
    }

    #[test]
    fn converse_bodies_are_checked_for_what_bedrock_requires() {
        let ok = br#"{"messages":[{"role":"user","content":[{"text":"hi"},{"image":{}}]}],"inferenceConfig":{"maxTokens":64},"anything":1}"#;
        assert_eq!(check_converse(ok).unwrap(), Some(64));
        for bad in [
            &b"not json"[..],
            br#"[1]"#,
            br#"{}"#,
            br#"{"messages":[]}"#,
            br#"{"messages":"hi"}"#,
            br#"{"messages":[{"role":"system","content":[{"text":"x"}]}]}"#,
            br#"{"messages":[{"role":"user","content":[]}]}"#,
            br#"{"messages":[{"role":"user","content":[{"text":"x"}]}],"inferenceConfig":{"maxTokens":0}}"#,
            br#"{"messages":[{"role":"user","content":[{"text":"x"}]}],"inferenceConfig":{"temperature":3}}"#,
        ] {
            let e = check_converse(bad).unwrap_err();
            assert_eq!(e.class, Class::Invalid, "{}", String::from_utf8_lossy(bad));
            assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn invoke_output_limits_are_read_in_every_spelling() {
        for (body, n) in [
            (&br#"{"max_tokens":5,"anthropic_version":"x"}"#[..], Some(5)),
            (br#"{"max_gen_len":6}"#, Some(6)),
            (br#"{"textGenerationConfig":{"maxTokenCount":7}}"#, Some(7)),
            (br#"{"inferenceConfig":{"max_new_tokens":8}}"#, Some(8)),
            (br#"{"prompt":"x"}"#, None),
            (b"binary", None),
        ] {
            assert_eq!(invoke_max_tokens(body), n);
        }
    }
}
