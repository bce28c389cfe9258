//! The OpenAI-compatible API: `POST /v1/chat/completions` (decoded into a Converse call, or
//! passed to OpenAI-compatible upstreams as it came) and `GET /v1/models`.

pub mod encode;
pub mod error;
pub mod relay;
pub mod request;
pub mod response;
pub mod stream;
pub mod translate;

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use serde_json::json;

use self::encode::Asked;
use self::request::ChatRequest;
use crate::call::{Api, Call, Estimate, Knobs, OpenAiBody, Translation};
use crate::error::{Class, GatewayError};
use crate::request::account::Exit;
use crate::request::authenticate;
use crate::request::{Decoding, Dialect};
use crate::state::GatewayState;
use crate::upstream::Answer;

/// The chat completions dialect.
pub struct ChatCompletions;

impl OpenAiBody for ChatRequest {
    fn body_for(&self, model: &str) -> Result<Bytes, String> {
        self.upstream_body(model).map_err(|e| e.to_string())
    }
}

impl Translation for ChatRequest {
    fn converse_body(&self) -> Result<Bytes, GatewayError> {
        let converse = request::to_converse(self).map_err(invalid)?;
        serde_json::to_vec(&converse)
            .map(Bytes::from)
            .map_err(|e| GatewayError::gateway(Class::Internal, format!("cannot encode the Converse request: {e}")))
    }

    fn knobs(&self) -> Knobs {
        Knobs {
            max_tokens: self.max_output_tokens().map(i64::from),
            temperature: self.params.temperature,
        }
    }
}

/// A request the translation refuses: the client's mistake, naming the parameter.
fn invalid(e: translate::TranslateError) -> GatewayError {
    let param = e.param.filter(|p| !p.is_empty());
    let error = GatewayError::client(Class::Invalid, e.message);
    match param {
        Some(p) => error.with_param(p),
        None => error,
    }
}

impl Dialect for ChatCompletions {
    const API: Api = Api::OpenAi;
    type Decoded = Asked;

    fn decode(_: &Decoding<'_>, _head: &Parts, body: Bytes) -> Result<(Call, Asked), GatewayError> {
        let request = request::parse(&body).map_err(invalid)?;
        let options = request.options();
        let format_tool = request.format_tool().map(|t| t.name);
        // From the body as received: the Converse body is built later, and only if the call may
        // go to Bedrock or a guardrail reads it.
        let estimate = Estimate::from_body(body.len(), request.max_output_tokens().map(u64::from));
        let request = Arc::new(request);
        let call = Call {
            openai: Some(Arc::clone(&request) as Arc<dyn OpenAiBody>),
            ..Call::deferred(Api::OpenAi, options.model.clone(), options.stream, request, estimate)
        };
        Ok((
            call,
            Asked {
                model: options.model,
                include_usage: options.include_usage,
                format_tool,
            },
        ))
    }

    fn encode(asked: Asked, answer: Answer, exit: Exit) -> Response {
        encode::answer(asked, answer, exit)
    }

    fn error(e: &GatewayError) -> Response {
        error::response(e)
    }
}

/// `GET /v1/models`: the logical models this key may use and reach (at least one target
/// inside its residency). A SigV4 signature is verified over an empty body. An Anthropic SDK
/// (it sends `anthropic-version`) gets Anthropic's list shape and errors.
pub async fn list_models(State(state): State<Arc<GatewayState>>, head: Parts) -> Response {
    let anthropic = head.headers.contains_key("anthropic-version");
    let g = state.gateway();
    let tenant = match authenticate::tenant(&g.config, &g.keys, &head, authenticate::SIGV4_SERVICE)
        .and_then(|claim| claim.verify(&head, b""))
    {
        Ok(caller) => caller.tenant,
        Err(e) if anthropic => return super::anthropic::error::response(&e),
        Err(e) => return error::response(&e),
    };
    let config = &g.config;
    let table = g.routes.load();
    let names: Vec<&str> = config
        .models
        .iter()
        .enumerate()
        .filter(|(i, _)| config.tenants[tenant].may_use(*i))
        .filter(|(i, _)| {
            let t = &table.models[*i].tenants[tenant];
            !t.allowed.is_empty() || !t.baseline.is_empty()
        })
        .map(|(_, m)| m.name.as_str())
        .collect();
    if anthropic {
        let data: Vec<_> = names
            .iter()
            .map(|n| json!({"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"}))
            .collect();
        return axum::Json(json!({"data": data, "has_more": false,
            "first_id": names.first(), "last_id": names.last()}))
        .into_response();
    }
    let data: Vec<_> = names
        .iter()
        .map(|n| json!({"id": n, "object": "model", "created": 0, "owned_by": "strata"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_converse_translation_is_there_when_asked_for_and_names_what_bedrock_cannot_take() {
        let by_url = request::parse(
            br#"{"model":"m","max_tokens":50,"temperature":0.5,"messages":[{"role":"user",
                "content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}"#,
        )
        .unwrap();
        let e = by_url.converse_body().unwrap_err();
        assert_eq!((e.class, e.param.as_deref()), (Class::Invalid, Some("messages[0]")));
        assert!(e.message.contains("data URL"), "{}", e.message);
        assert_eq!(
            by_url.knobs(),
            Knobs {
                max_tokens: Some(50),
                temperature: Some(0.5)
            }
        );

        let text = request::parse(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        let converse: serde_json::Value = serde_json::from_slice(&text.converse_body().unwrap()).unwrap();
        assert_eq!(converse["messages"][0]["content"][0]["text"], "hi");
        assert_eq!(text.knobs(), Knobs::default());
    }
}
