//! Encoding answers for the OpenAI API: a Converse answer or stream translated into
//! `chat.completion` / `chat.completion.chunk`s (each upstream event decoded once, by the
//! upstream layer), an OpenAI-compatible upstream's answer relayed with the model as asked.
//! A failure mid-stream ends with an error event, never a silent truncation.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use http::HeaderValue;
use serde::Deserialize;
use strata_aws::UpstreamError;
use strata_core::eventstream::StreamFrame;
use strata_core::wire::converse::ConverseResponse;

use super::error::stream_event;
use super::stream::StreamTranslator;
use crate::call::Usage;
use crate::error::{Class, GatewayError};
use crate::request::account::Exit;
use crate::upstream::openai_compat::OpenAiUsage;
use crate::upstream::{Answer, Chunk, EventStream, Reply, Wire};

/// What encoding needs of the request.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The model as the client named it (answers carry it back).
    pub model: String,
    pub include_usage: bool,
}

/// The response for an answer.
pub fn answer(asked: Asked, answer: Answer, exit: Exit) -> Response {
    // The completion's id is the request's own (`x-request-id`), in OpenAI's spelling.
    let id = format!("chatcmpl-{}", exit.request_id().replace('-', ""));
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match answer {
        Answer::Complete(reply) => complete(&asked, reply, &id, created, exit),
        Answer::Stream(stream) => {
            let body = match stream.wire {
                Wire::Bedrock => {
                    let translator = StreamTranslator::new(&asked.model, &id, created, asked.include_usage);
                    translate(stream, translator, exit)
                }
                Wire::OpenAi | Wire::Embeddings => relay(stream, exit),
            };
            let mut response = Response::new(body);
            let headers = response.headers_mut();
            headers.insert("content-type", HeaderValue::from_static("text/event-stream"));
            headers.insert("cache-control", HeaderValue::from_static("no-cache"));
            response
        }
    }
}

fn complete(asked: &Asked, reply: Reply, id: &str, created: u64, mut exit: Exit) -> Response {
    let translated = match reply.wire {
        // Routing sends chat calls only to models that generate.
        Wire::Embeddings => Err(serde::de::Error::custom("an embeddings answer to a chat request")),
        Wire::Bedrock => serde_json::from_slice::<ConverseResponse>(&reply.body).map(|r| {
            let usage = Usage {
                input: u64::from(r.usage.input_tokens),
                output: u64::from(r.usage.output_tokens),
                cache_read: r.usage.cache_read_input_tokens.map_or(0, u64::from),
                cache_write: r.usage.cache_write_input_tokens.map_or(0, u64::from),
            };
            (
                super::response::converse_to_chat(&r, &asked.model, id, created),
                Some(usage),
            )
        }),
        Wire::OpenAi => serde_json::from_slice::<serde_json::Value>(&reply.body).map(|mut answer| {
            let usage = answer
                .get("usage")
                .and_then(|u| OpenAiUsage::deserialize(u).ok())
                .map(Usage::from);
            answer["model"] = serde_json::Value::String(asked.model.clone());
            (answer, usage)
        }),
    };
    match translated {
        Ok((body, usage)) => {
            exit.answered(200, usage);
            axum::Json(body).into_response()
        }
        Err(e) => {
            let e = GatewayError::gateway(
                Class::Unavailable,
                format!("the upstream answer could not be read: {e}"),
            );
            let response = super::error::response(&e);
            exit.failed(&e, response.status().as_u16());
            response
        }
    }
}

struct Streaming {
    exit: Exit,
    first: Option<Chunk>,
    rest: BoxStream<'static, Result<Chunk, UpstreamError>>,
    translator: Option<StreamTranslator>,
    done: bool,
}

impl Streaming {
    fn new(stream: EventStream, mut exit: Exit, translator: Option<StreamTranslator>) -> Self {
        exit.streaming(200);
        Streaming {
            exit,
            first: Some(stream.first),
            rest: stream.rest,
            translator,
            done: false,
        }
    }

    /// The bytes to send for the next upstream chunk, `None` once the stream is over.
    async fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let next = match self.first.take() {
            Some(c) => Some(Ok(c)),
            None => self.rest.next().await,
        };
        let mut out = String::new();
        match next {
            None => {
                self.done = true;
                let mut failure = None;
                if let Some(t) = &self.translator {
                    if !t.finished() {
                        out.push_str(&stream_event(
                            "the upstream stream ended before the answer was complete",
                            "upstream_stream_error",
                        ));
                        failure = Some(Class::Unavailable);
                    }
                    out.push_str("data: [DONE]\n\n");
                }
                self.exit.stream_ended(failure);
                if out.is_empty() {
                    return None;
                }
            }
            Some(Err(e)) => {
                self.done = true;
                self.exit.stream_ended(Some(Class::of_upstream(e.class)));
                out.push_str(&stream_event(
                    &format!("upstream stream failed: {}", e.message),
                    "upstream_stream_error",
                ));
            }
            Some(Ok(chunk)) => {
                self.exit.observe(&chunk);
                let Some(translator) = &mut self.translator else {
                    if let Some(f) = &chunk.failure {
                        // The upstream's own error event is in the bytes relayed.
                        self.done = true;
                        self.exit.stream_ended(Some(Class::of_upstream(f.class)));
                    }
                    return Some(chunk.raw);
                };
                for frame in &chunk.events {
                    match frame {
                        StreamFrame::Event { event_type, payload } => {
                            for c in translator.on_event(event_type, payload) {
                                out.push_str("data: ");
                                out.push_str(&c);
                                out.push_str("\n\n");
                            }
                        }
                        StreamFrame::Exception { .. } | StreamFrame::Error { .. } => break,
                    }
                }
                if let Some(f) = &chunk.failure {
                    self.done = true;
                    self.exit.stream_ended(Some(Class::of_upstream(f.class)));
                    out.push_str(&stream_event(&f.message, "upstream_stream_error"));
                }
            }
        }
        Some(Bytes::from(out))
    }
}

fn into_body(state: Streaming) -> Body {
    Body::from_stream(futures::stream::unfold(state, |mut s| async move {
        let bytes = s.next().await?;
        Some((Ok::<Bytes, std::io::Error>(bytes), s))
    }))
}

/// A Converse event stream as SSE chunks.
fn translate(stream: EventStream, translator: StreamTranslator, exit: Exit) -> Body {
    into_body(Streaming::new(stream, exit, Some(translator)))
}

/// An OpenAI-compatible upstream's SSE, relayed as it came.
fn relay(stream: EventStream, exit: Exit) -> Body {
    into_body(Streaming::new(stream, exit, None))
}
