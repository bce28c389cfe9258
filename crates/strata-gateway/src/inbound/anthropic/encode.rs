//! Encoding answers for the Anthropic API: a Converse answer as a `message`, a ConverseStream
//! as Anthropic's SSE (through the shared [`sse`] driver), a CountTokens answer as
//! `{"input_tokens": N}`. Tokens reach [`Exit`] exactly as on the other dialects.

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use serde::Deserialize;
use strata_core::wire::converse::ConverseResponse;

use super::response::{converse_to_message, intervened};
use super::stream::StreamTranslator;
use crate::call::Usage;
use crate::inbound::sse;
use crate::request::account::Exit;
use crate::request::GUARDRAIL_HEADER;
use crate::upstream::{Answer, Reply, Wire};

/// What encoding needs of a Messages request.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The model as the client named it (answers carry it back).
    pub model: String,
    /// To name the stop sequence that ended an answer, when that is certain.
    pub stop_sequences: Vec<String>,
}

/// The message id for a request: its request id in Anthropic's spelling.
fn message_id(exit: &Exit) -> String {
    format!("msg_{}", exit.request_id().replace('-', ""))
}

/// The response for a Messages answer.
pub fn answer(asked: Asked, answer: Answer, exit: Exit) -> Response {
    let id = message_id(&exit);
    match answer {
        Answer::Complete(reply) => complete(&asked, reply, &id, exit),
        Answer::Stream(stream) if stream.wire == Wire::Bedrock => {
            let translator = StreamTranslator::new(&id, &asked.model, asked.stop_sequences);
            sse::response(stream, exit, translator)
        }
        Answer::Stream(_) => unreadable(exit, "an SSE stream"),
    }
}

fn complete(asked: &Asked, reply: Reply, id: &str, mut exit: Exit) -> Response {
    if reply.wire != Wire::Bedrock {
        return unreadable(exit, "a non-Bedrock answer");
    }
    match serde_json::from_slice::<ConverseResponse>(&reply.body) {
        Ok(r) => {
            let u = &r.usage;
            exit.answered(200, Some(Usage::from(u)));
            let body = converse_to_message(&r, &asked.model, id, &asked.stop_sequences);
            let mut response = axum::Json(body).into_response();
            if intervened(r.stop_reason) {
                response
                    .headers_mut()
                    .insert(GUARDRAIL_HEADER, HeaderValue::from_static("intervened"));
            }
            response
        }
        Err(e) => unreadable(exit, &format!("the answer ({e})")),
    }
}

/// The response for a CountTokens answer: `{"input_tokens": N}`. A count generates nothing, so
/// it is accounted with zero tokens.
pub fn count(answer: Answer, mut exit: Exit) -> Response {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Counted {
        input_tokens: u64,
    }
    let Answer::Complete(reply) = answer else {
        return unreadable(exit, "a stream");
    };
    match serde_json::from_slice::<Counted>(&reply.body) {
        Ok(c) if reply.wire == Wire::Bedrock => {
            exit.answered(200, Some(Usage::default()));
            axum::Json(serde_json::json!({"input_tokens": c.input_tokens})).into_response()
        }
        Ok(_) => unreadable(exit, "a non-Bedrock answer"),
        Err(e) => unreadable(exit, &format!("the answer ({e})")),
    }
}

/// An upstream answer this dialect cannot read: the request fails as the upstream's fault.
fn unreadable(exit: Exit, what: &str) -> Response {
    exit.unreadable(what, super::error::response)
}
