//! Server-sent-event bodies for the dialects that translate a Bedrock event stream (OpenAI,
//! Anthropic): one driver reads the upstream's chunks (each event decoded once, by the upstream
//! layer), hands every event to the dialect's [`SseTranslator`], tells [`Exit`] what passed and
//! how the stream ended, and ends a failed stream with the dialect's error event — never a
//! silent truncation.

use axum::body::Body;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use strata_aws::UpstreamError;
use strata_core::eventstream::StreamFrame;
use strata_core::wire::converse::{
    ContentBlockDeltaEvent, ContentBlockStartEvent, ContentBlockStopEvent, MessageStopEvent, MetadataEvent,
};

use crate::error::Class;
use crate::request::account::Exit;
use crate::upstream::{Chunk, EventStream};

/// What the stream is told when the upstream ends before the answer is complete.
pub const INCOMPLETE: &str = "the upstream stream ended before the answer was complete";

/// One ConverseStream event, decoded once here for whichever dialect translates it.
#[derive(Debug)]
pub enum ConverseEvent {
    MessageStart,
    BlockStart(ContentBlockStartEvent),
    BlockDelta(ContentBlockDeltaEvent),
    BlockStop(ContentBlockStopEvent),
    MessageStop(MessageStopEvent),
    Metadata(MetadataEvent),
}

impl ConverseEvent {
    /// The event a frame (`:event-type`, JSON payload) carries; `None` for an event no dialect
    /// translates, or a payload that does not decode (skipped, as Bedrock adds fields).
    pub fn decode(event_type: &str, payload: &[u8]) -> Option<ConverseEvent> {
        fn read<'a, T: serde::Deserialize<'a>>(payload: &'a [u8]) -> Option<T> {
            serde_json::from_slice(payload).ok()
        }
        Some(match event_type {
            "messageStart" => ConverseEvent::MessageStart,
            "contentBlockStart" => ConverseEvent::BlockStart(read(payload)?),
            "contentBlockDelta" => ConverseEvent::BlockDelta(read(payload)?),
            "contentBlockStop" => ConverseEvent::BlockStop(read(payload)?),
            "messageStop" => ConverseEvent::MessageStop(read(payload)?),
            "metadata" => ConverseEvent::Metadata(read(payload)?),
            _ => return None,
        })
    }
}

/// A dialect's translation of Converse stream events into SSE text.
pub trait SseTranslator: Send + 'static {
    /// Appends what one upstream event becomes.
    fn event(&mut self, event: ConverseEvent, out: &mut String);

    /// Whether the answer is complete (the upstream said why it stopped).
    fn complete(&self) -> bool;

    /// Appends what is still owed once a complete answer's upstream stream ends.
    fn end(&mut self, _out: &mut String) {}

    /// Appends the error event that ends a failed stream.
    fn error(&mut self, message: &str, class: Class, out: &mut String);

    /// Appends the stream's last words once the upstream stream ended, complete or not
    /// (OpenAI's `[DONE]`).
    fn close(&mut self, _out: &mut String) {}

    /// Whether the upstream's bytes are already in the dialect's shape (an SSE upstream), to be
    /// relayed as they came; only `error` is then asked for, when the stream breaks.
    fn relays(&self) -> bool {
        false
    }
}

/// A streamed answer as an SSE response (`text/event-stream`, not cached), translated (or
/// relayed) by `translator`.
pub fn response<T: SseTranslator>(stream: EventStream, exit: Exit, translator: T) -> axum::response::Response {
    let mut response = axum::response::Response::new(body(stream, exit, translator));
    let headers = response.headers_mut();
    headers.insert("content-type", http::HeaderValue::from_static("text/event-stream"));
    headers.insert("cache-control", http::HeaderValue::from_static("no-cache"));
    response
}

/// A streamed answer as an SSE body, translated (or relayed) by `translator`.
pub fn body<T: SseTranslator>(stream: EventStream, exit: Exit, translator: T) -> Body {
    let state = Streaming::new(stream, exit, translator);
    Body::from_stream(futures::stream::unfold(state, |mut s| async move {
        let bytes = s.next().await?;
        Some((Ok::<Bytes, std::io::Error>(bytes), s))
    }))
}

struct Streaming<T> {
    exit: Exit,
    first: Option<Chunk>,
    rest: BoxStream<'static, Result<Chunk, UpstreamError>>,
    translator: T,
    done: bool,
}

impl<T: SseTranslator> Streaming<T> {
    fn new(stream: EventStream, mut exit: Exit, translator: T) -> Self {
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
                let t = &mut self.translator;
                if !t.relays() {
                    if t.complete() {
                        t.end(&mut out);
                    } else {
                        t.error(INCOMPLETE, Class::Unavailable, &mut out);
                        failure = Some(Class::Unavailable);
                    }
                    t.close(&mut out);
                }
                self.exit.stream_ended(failure);
                if out.is_empty() {
                    return None;
                }
            }
            Some(Err(e)) => {
                self.done = true;
                let class = Class::of_upstream(e.class);
                self.exit.stream_ended(Some(class));
                let message = format!("upstream stream failed: {}", e.message);
                self.translator.error(&message, class, &mut out);
            }
            Some(Ok(chunk)) => {
                self.exit.observe(&chunk);
                let translator = &mut self.translator;
                if translator.relays() {
                    if let Some(f) = &chunk.failure {
                        // The upstream's own error event is in the bytes relayed.
                        self.done = true;
                        self.exit.stream_ended(Some(Class::of_upstream(f.class)));
                    }
                    return Some(chunk.raw);
                }
                for frame in &chunk.events {
                    match frame {
                        StreamFrame::Event { event_type, payload } => {
                            if let Some(event) = ConverseEvent::decode(event_type, payload) {
                                translator.event(event, &mut out);
                            }
                        }
                        StreamFrame::Exception { .. } | StreamFrame::Error { .. } => break,
                    }
                }
                if let Some(f) = &chunk.failure {
                    self.done = true;
                    let class = Class::of_upstream(f.class);
                    self.exit.stream_ended(Some(class));
                    translator.error(&f.message, class, &mut out);
                }
            }
        }
        Some(Bytes::from(out))
    }
}
