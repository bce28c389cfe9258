//! The OpenAI Responses API, stateless: `POST /v1/responses` ([`Responses`]), for the official
//! `openai` SDKs' `client.responses.create(...)` / `.stream(...)` pointed at the gateway with a
//! Strata key.
//!
//! A request is rewritten as a chat request and translated to one Converse call by the chat
//! dialect's own translation (see [`translate`]), so routing, residency, admission, guardrails
//! and accounting apply unchanged; answers and streams are encoded in the Responses shapes and
//! errors in OpenAI's (`inbound/openai/error.rs`).
//!
//! Stateless: nothing is stored. `store` is accepted (and has no effect), `GET
//! /v1/responses/{id}` answers 404; `previous_response_id`, `conversation` and `background: true`
//! are refused with the field's name. Not offered to OpenAI-compatible upstreams (`Call.openai`
//! is `None`): routing skips such targets with the reason in words.

pub mod encode;
pub mod request;
pub mod response;
pub mod stream;
pub mod translate;

use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use serde_json::{json, Map, Value};

use self::encode::Asked;
use self::request::ResponsesRequest;
use crate::call::{Api, Call, Estimate};
use crate::error::{Class, GatewayError};
use crate::inbound::openai::error;
use crate::inbound::openai::translate::TranslateError;
use crate::request::account::Exit;
use crate::request::{Decoding, Dialect};
use crate::upstream::Answer;

/// `POST /v1/responses`.
pub struct Responses;

fn invalid(e: TranslateError) -> GatewayError {
    let param = e.param.filter(|p| !p.is_empty());
    let e = GatewayError::client(Class::Invalid, e.message);
    match param {
        Some(p) => e.with_param(p),
        None => e,
    }
}

/// The request fields a `response` object repeats (the SDK's `Response` model wants them).
fn echoed(r: &ResponsesRequest) -> Map<String, Value> {
    let tool_choice = match &r.tool_choice {
        None => json!("auto"),
        Some(request::ToolChoice::Mode(m)) => json!(m),
        Some(request::ToolChoice::Named(v)) => v.clone(),
    };
    let text = match r.text.as_ref().and_then(|t| t.format.as_ref()) {
        Some(format) => json!({"format": format}),
        None => json!({"format": {"type": "text"}}),
    };
    let mut m = Map::new();
    m.insert("instructions".into(), json!(r.instructions));
    m.insert("max_output_tokens".into(), json!(r.max_output_tokens));
    m.insert("temperature".into(), json!(r.temperature.unwrap_or(1.0)));
    m.insert("top_p".into(), json!(r.top_p.unwrap_or(1.0)));
    m.insert("tool_choice".into(), tool_choice);
    m.insert("tools".into(), json!(r.tools.clone().unwrap_or_default()));
    m.insert(
        "parallel_tool_calls".into(),
        json!(r.parallel_tool_calls.unwrap_or(true)),
    );
    m.insert("text".into(), text);
    m.insert("metadata".into(), json!(r.metadata.clone().unwrap_or_default()));
    m.insert("user".into(), json!(r.user));
    m.insert("store".into(), json!(r.store.unwrap_or(true)));
    m.insert("background".into(), json!(false));
    m.insert("previous_response_id".into(), Value::Null);
    m.insert("reasoning".into(), json!({"effort": null, "summary": null}));
    m.insert("truncation".into(), json!("disabled"));
    m.insert(
        "service_tier".into(),
        json!(r.service_tier.as_deref().unwrap_or("default")),
    );
    m
}

/// `GET /v1/responses/{id}`: nothing is stored, so no response can be fetched again.
pub async fn not_stored(axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    let e = GatewayError::client(
        Class::NotFound,
        format!("response '{id}' not found: the gateway is stateless and stores no responses"),
    );
    error::response(&e)
}

impl Dialect for Responses {
    const API: Api = Api::Responses;
    type Decoded = Asked;

    fn decode(_: &Decoding<'_>, _head: &Parts, body: Bytes) -> Result<(Call, Asked), GatewayError> {
        let request = request::parse(&body).map_err(invalid)?;
        let (converse, chat) = translate::to_converse(&request).map_err(invalid)?;
        let body = serde_json::to_vec(&converse)
            .map(Bytes::from)
            .map_err(|e| GatewayError::gateway(Class::Internal, format!("cannot encode the Converse request: {e}")))?;
        let estimate = Estimate::from_body(body.len(), request.max_output_tokens);
        let call = Call::converse(
            Api::Responses,
            request.model.clone(),
            request.stream.unwrap_or(false),
            body,
            estimate,
        );
        let asked = Asked {
            fields: echoed(&request),
            format_tool: chat.format_tool().map(|t| t.name),
            model: request.model,
        };
        Ok((call, asked))
    }

    fn encode(asked: Asked, answer: Answer, exit: Exit) -> Response {
        encode::answer(asked, answer, exit)
    }

    fn error(e: &GatewayError) -> Response {
        error::response(e)
    }
}
