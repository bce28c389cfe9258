//! Encoding answers for the Responses API: a Converse answer as a `response` object, a
//! ConverseStream as the Responses SSE events (through the shared [`sse`] driver). Tokens reach
//! [`Exit`] exactly as on the other translating dialects.

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use serde_json::{Map, Value};
use strata_core::wire::converse::ConverseResponse;

use super::response::{self, Echo};
use super::stream::StreamTranslator;
use crate::call::Usage;
use crate::inbound::sse;
use crate::request::account::Exit;
use crate::request::GUARDRAIL_HEADER;
use crate::upstream::{Answer, Reply, Wire};

/// What encoding needs of a Responses request.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The model as the client named it (answers carry it back).
    pub model: String,
    /// The tool carrying a JSON `text.format`, whose call is the answer's text.
    pub format_tool: Option<String>,
    /// The request fields the response repeats.
    pub fields: Map<String, Value>,
}

/// The response for an answer.
pub fn answer(asked: Asked, answer: Answer, exit: Exit) -> Response {
    let echo = Echo {
        // The response's id is the request's own (`x-request-id`), in OpenAI's spelling.
        id: format!("resp_{}", exit.request_id().replace('-', "")),
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        model: asked.model,
        fields: asked.fields,
    };
    match answer {
        Answer::Complete(reply) => complete(&echo, asked.format_tool.as_deref(), reply, exit),
        Answer::Stream(stream) if stream.wire == Wire::Bedrock => {
            let translator = StreamTranslator::new(echo, asked.format_tool);
            sse::response(stream, exit, translator)
        }
        Answer::Stream(_) => unreadable(exit, "an SSE stream"),
    }
}

fn complete(echo: &Echo, format_tool: Option<&str>, reply: Reply, mut exit: Exit) -> Response {
    if reply.wire != Wire::Bedrock {
        return unreadable(exit, "a non-Bedrock answer");
    }
    match serde_json::from_slice::<ConverseResponse>(&reply.body) {
        Ok(r) => {
            let u = &r.usage;
            exit.answered(200, Some(Usage::from(u)));
            let body = response::from_converse(&r, echo, format_tool);
            let mut response = axum::Json(body).into_response();
            if response::status(r.stop_reason).1 == Some("content_filter") {
                response
                    .headers_mut()
                    .insert(GUARDRAIL_HEADER, HeaderValue::from_static("intervened"));
            }
            response
        }
        Err(e) => unreadable(exit, &format!("the answer ({e})")),
    }
}

/// An upstream answer this dialect cannot read: the request fails as the upstream's fault.
fn unreadable(exit: Exit, what: &str) -> Response {
    exit.unreadable(what, crate::inbound::openai::error::response)
}
