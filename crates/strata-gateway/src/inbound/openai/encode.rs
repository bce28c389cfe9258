//! Encoding answers for the OpenAI API: a Converse answer or stream translated into
//! `chat.completion` / `chat.completion.chunk`s (each upstream event decoded once, by the
//! upstream layer), an OpenAI-compatible upstream's answer relayed with the model as asked.
//! A failure mid-stream ends with an error event, never a silent truncation.

use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::HeaderValue;
use strata_core::wire::converse::ConverseResponse;

use super::error::stream_event;
use super::stream::StreamTranslator;
use crate::call::Usage;
use crate::error::Class;
use crate::inbound::sse::{self, ConverseEvent, SseTranslator};
use crate::request::account::Exit;
use crate::upstream::{Answer, Reply, Wire};

/// What encoding needs of the request.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The model as the client named it (answers carry it back).
    pub model: String,
    pub include_usage: bool,
    /// The tool carrying a JSON `response_format`, whose call is the answer's content.
    pub format_tool: Option<String>,
}

/// The response for an answer.
pub fn answer(asked: Asked, answer: Answer, exit: Exit) -> Response {
    match answer {
        Answer::Complete(reply) => complete(&asked, reply, exit),
        Answer::Stream(stream) => match stream.wire {
            Wire::Bedrock => {
                let (id, created) = identity(&exit);
                let translator = StreamTranslator::new(&asked.model, &id, created, asked.include_usage)
                    .with_format_tool(asked.format_tool.clone());
                sse::response(stream, exit, translator)
            }
            Wire::OpenAi | Wire::Embeddings => sse::response(stream, exit, Relay),
        },
    }
}

/// A translated completion's id and creation time. The id is the request's own
/// (`x-request-id`), in OpenAI's spelling; relayed answers keep the upstream's.
fn identity(exit: &Exit) -> (String, u64) {
    let id = format!("chatcmpl-{}", exit.request_id().replace('-', ""));
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (id, created)
}

fn complete(asked: &Asked, reply: Reply, mut exit: Exit) -> Response {
    let encoded = match reply.wire {
        // Routing sends chat calls only to models that generate.
        Wire::Embeddings => Err(serde::de::Error::custom("an embeddings answer to a chat request")),
        Wire::Bedrock => serde_json::from_slice::<ConverseResponse>(&reply.body).and_then(|r| {
            let (id, created) = identity(&exit);
            let chat = super::response::converse_to_chat(&r, &asked.model, &id, created, asked.format_tool.as_deref());
            Ok((serde_json::to_vec(&chat)?, Some(Usage::from(&r.usage))))
        }),
        Wire::OpenAi => super::relay::with_model(&reply.body, &asked.model),
    };
    match encoded {
        Ok((body, usage)) => {
            exit.answered(200, usage);
            ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
        }
        Err(e) => exit.unreadable(&e.to_string(), super::error::response),
    }
}

/// OpenAI's side of an SSE body: chunks from Converse events, `[DONE]` at the end, errors as
/// `data:` error events.
impl SseTranslator for StreamTranslator {
    fn event(&mut self, event: ConverseEvent, out: &mut String) {
        self.on_event(event, out);
    }

    fn complete(&self) -> bool {
        self.finished()
    }

    fn error(&mut self, message: &str, _class: Class, out: &mut String) {
        out.push_str(&stream_event(message, "upstream_stream_error"));
    }

    fn close(&mut self, out: &mut String) {
        out.push_str("data: [DONE]\n\n");
    }
}

/// An OpenAI-compatible upstream's SSE, relayed as it came.
struct Relay;

impl SseTranslator for Relay {
    fn event(&mut self, _event: ConverseEvent, _out: &mut String) {}

    fn complete(&self) -> bool {
        true
    }

    fn error(&mut self, message: &str, _class: Class, out: &mut String) {
        out.push_str(&stream_event(message, "upstream_stream_error"));
    }

    fn relays(&self) -> bool {
        true
    }
}
