//! Encoding answers as SageMaker runtime's: a complete answer through the endpoint's
//! `post_process` template (body in the endpoint's content type); a streamed one as SageMaker's
//! response stream — event-stream frames `PayloadPart` whose payload is the part's bytes
//! (botocore: `PayloadPart.Bytes` is the event payload, a blob), one per model chunk passed
//! through `stream_post_process`. A failure mid-stream ends the stream with a `ModelStreamError`
//! (or `InternalStreamFailure`, the gateway's own) exception frame, never a silent truncation.

use axum::body::Body;
use axum::response::Response;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::StreamExt;
use http::HeaderValue;
use minijinja::value::Serde;
use minijinja::{context, Value};
use serde::Deserialize;
use strata_aws::{RuntimeOperation, UpstreamError};
use strata_core::eventstream::{exception_frame, typed_event_frame, StreamFrame, CONTENT_TYPE};

use super::decode::Invocation;
use super::error;
use crate::config::endpoint::Stage;
use crate::config::RequestKind;
use crate::error::{Class, GatewayError};
use crate::request::account::Exit;
use crate::upstream::{Answer, Chunk, EventStream, Reply, Wire};

/// The production variant every answer names (an endpoint here has one).
pub const VARIANT: &str = "AllTraffic";

/// The response for an answer.
pub fn answer(invocation: Invocation, answer: Answer, exit: Exit) -> Response {
    match answer {
        Answer::Complete(reply) if reply.wire == Wire::Bedrock => complete(invocation, reply, exit),
        Answer::Stream(stream) if stream.wire == Wire::Bedrock => relay(invocation, stream, exit),
        _ => exit.unreadable("not a Bedrock answer", error::response),
    }
}

/// Where a template failed, without the values it read.
fn template_failure(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!("{} at line {line}", e.kind()),
        None => e.kind().to_string(),
    }
}

/// The template context of a model's answer (or chunk): the request's, plus `response` (the
/// answer as JSON; undefined when it is not JSON) and `response_raw` (its text).
fn answer_context(request: &Value, answer: &[u8], index: Option<usize>) -> Value {
    let response = serde_json::from_slice::<serde_json::Value>(answer)
        .map(|v| Value::from(Serde(&v)))
        .unwrap_or(Value::UNDEFINED);
    context! {
        response => response,
        response_raw => String::from_utf8_lossy(answer),
        index => index,
        ..request.clone()
    }
}

fn post_failure(name: &str, stage: Stage, e: &minijinja::Error) -> GatewayError {
    GatewayError::gateway(
        Class::Internal,
        format!(
            "Endpoint {name}'s {} template failed on the model's answer ({}).",
            stage.key(),
            template_failure(e)
        ),
    )
}

fn complete(invocation: Invocation, reply: Reply, mut exit: Exit) -> Response {
    let endpoint = &invocation.endpoint;
    // InvokeModel reports usage in headers, Converse in its body.
    let usage = reply.header_usage.or_else(|| match endpoint.request {
        RequestKind::Converse => crate::inbound::bedrock::encode::converse_usage(&reply.body),
        RequestKind::Invoke => None,
    });
    let context = || answer_context(&invocation.request, &reply.body, None);
    let body = match endpoint.templates.render(Stage::Post, &context()) {
        None => reply.body,
        Some(Ok(text)) => Bytes::from(text),
        Some(Err(e)) => {
            let e = post_failure(&endpoint.name, Stage::Post, &e);
            let response = error::response(&e);
            // The model ran: its tokens are accounted for even though the answer is lost.
            exit.record().usage = usage;
            exit.failed(&e, response.status().as_u16());
            return response;
        }
    };
    exit.answered(200, usage);
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert("content-type", endpoint.content_type.clone());
    headers.insert("x-amzn-invoked-production-variant", HeaderValue::from_static(VARIANT));
    response
}

/// An InvokeModelWithResponseStream `chunk` event's payload.
#[derive(Deserialize)]
struct InvokeChunk {
    bytes: String,
}

/// The model's JSON for one upstream event: an InvokeModel stream's chunk decoded from base64;
/// a ConverseStream event as `{"<event type>": event}`; `None` for what carries nothing.
fn model_chunk(operation: RuntimeOperation, event_type: &str, payload: &[u8]) -> Option<Bytes> {
    match operation {
        RuntimeOperation::InvokeModelWithResponseStream => {
            if event_type != "chunk" {
                return None;
            }
            let chunk: InvokeChunk = serde_json::from_slice(payload).ok()?;
            base64::engine::general_purpose::STANDARD
                .decode(chunk.bytes)
                .ok()
                .map(Bytes::from)
        }
        _ => {
            let mut out = BytesMut::with_capacity(payload.len() + event_type.len() + 5);
            out.extend_from_slice(b"{");
            out.extend_from_slice(serde_json::to_string(event_type).ok()?.as_bytes());
            out.extend_from_slice(b":");
            out.extend_from_slice(payload);
            out.extend_from_slice(b"}");
            Some(out.freeze())
        }
    }
}

/// A `PayloadPart` event frame.
pub fn payload_part(bytes: impl Into<Bytes>) -> Bytes {
    typed_event_frame("PayloadPart", "application/octet-stream", bytes).unwrap_or_default()
}

/// The exception frame that ends a broken stream: `InternalStreamFailure` for the gateway's own
/// failure, else `ModelStreamError` with SageMaker's error code for why.
pub fn failure_frame(class: Class, gateway: bool, message: &str) -> Bytes {
    let (kind, payload) = if gateway {
        ("InternalStreamFailure", serde_json::json!({ "Message": message }))
    } else {
        let code = if class == Class::Timeout {
            "ModelInvocationTimeExceeded"
        } else {
            "StreamBroken"
        };
        (
            "ModelStreamError",
            serde_json::json!({ "Message": message, "ErrorCode": code }),
        )
    };
    exception_frame(kind, payload.to_string()).unwrap_or_default()
}

struct Relay {
    invocation: Invocation,
    operation: RuntimeOperation,
    exit: Exit,
    first: Option<Chunk>,
    rest: BoxStream<'static, Result<Chunk, UpstreamError>>,
    /// Model chunks rendered so far (the templates' `index`).
    parts: usize,
    done: bool,
}

impl Relay {
    /// The frames for the next upstream chunk, `None` once the stream is over.
    async fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let next = match self.first.take() {
            Some(c) => Some(Ok(c)),
            None => self.rest.next().await,
        };
        let chunk = match next {
            None => {
                self.done = true;
                self.exit.stream_ended(None);
                return None;
            }
            Some(Err(e)) => {
                self.done = true;
                let class = Class::of_upstream(e.class);
                self.exit.stream_ended(Some(class));
                return Some(failure_frame(
                    class,
                    false,
                    &format!("upstream stream failed: {}", e.message),
                ));
            }
            Some(Ok(chunk)) => chunk,
        };
        self.exit.observe(&chunk);
        let mut out = BytesMut::new();
        for frame in &chunk.events {
            let StreamFrame::Event { event_type, payload } = frame else {
                break;
            };
            let Some(model) = model_chunk(self.operation, event_type, payload) else {
                continue;
            };
            match self.part(&model) {
                Ok(Some(part)) => out.extend_from_slice(&payload_part(part)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    self.exit.stream_ended(Some(e.class));
                    self.exit.record().error_source = Some("gateway");
                    out.extend_from_slice(&failure_frame(e.class, true, &e.message));
                    return Some(out.freeze());
                }
            }
        }
        if let Some(f) = &chunk.failure {
            self.done = true;
            let class = Class::of_upstream(f.class);
            self.exit.stream_ended(Some(class));
            out.extend_from_slice(&failure_frame(class, false, &f.message));
        }
        Some(out.freeze())
    }

    /// One model chunk as the app's part: through `stream_post_process` when the endpoint has
    /// one (an empty rendering sends no part), else as it is.
    fn part(&mut self, model: &Bytes) -> Result<Option<Bytes>, GatewayError> {
        let endpoint = &self.invocation.endpoint;
        let context = answer_context(&self.invocation.request, model, Some(self.parts));
        self.parts += 1;
        match endpoint.templates.render(Stage::Stream, &context) {
            None => Ok(Some(model.clone())),
            Some(Ok(text)) if text.is_empty() => Ok(None),
            Some(Ok(text)) => Ok(Some(Bytes::from(text))),
            Some(Err(e)) => Err(post_failure(&endpoint.name, Stage::Stream, &e)),
        }
    }
}

fn relay(invocation: Invocation, stream: EventStream, mut exit: Exit) -> Response {
    exit.streaming(200);
    let content_type = invocation.endpoint.content_type.clone();
    let operation = match invocation.endpoint.request {
        RequestKind::Invoke => RuntimeOperation::InvokeModelWithResponseStream,
        RequestKind::Converse => RuntimeOperation::ConverseStream,
    };
    let state = Relay {
        invocation,
        operation,
        exit,
        first: Some(stream.first),
        rest: stream.rest,
        parts: 0,
        done: false,
    };
    let body = futures::stream::unfold(state, |mut s| async move {
        let bytes = s.next().await?;
        Some((Ok::<Bytes, std::io::Error>(bytes), s))
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    headers.insert("x-amzn-sagemaker-content-type", content_type);
    headers.insert("x-amzn-invoked-production-variant", HeaderValue::from_static(VARIANT));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::eventstream::FrameReader;
    use strata_core::ErrorClass;

    fn frames(bytes: &[u8]) -> Vec<StreamFrame> {
        let mut reader = FrameReader::new();
        reader.push(bytes);
        let mut out = Vec::new();
        while let Some(f) = reader.next_frame().unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn payload_parts_carry_bytes_as_they_are() {
        let part = payload_part(Bytes::from_static(b"data: {\"token\": 1}\n\n"));
        assert_eq!(
            frames(&part),
            vec![StreamFrame::Event {
                event_type: "PayloadPart".into(),
                payload: Bytes::from_static(b"data: {\"token\": 1}\n\n"),
            }]
        );
    }

    #[test]
    fn model_chunks_are_decoded_from_either_stream() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(br#"{"generation":"hi"}"#);
        let payload = format!(r#"{{"bytes":"{b64}"}}"#);
        assert_eq!(
            model_chunk(
                RuntimeOperation::InvokeModelWithResponseStream,
                "chunk",
                payload.as_bytes()
            )
            .unwrap(),
            Bytes::from_static(br#"{"generation":"hi"}"#)
        );
        assert!(model_chunk(RuntimeOperation::InvokeModelWithResponseStream, "other", b"{}").is_none());
        assert!(model_chunk(RuntimeOperation::InvokeModelWithResponseStream, "chunk", b"{}").is_none());
        let event = model_chunk(
            RuntimeOperation::ConverseStream,
            "contentBlockDelta",
            br#"{"delta":{"text":"x"},"contentBlockIndex":0}"#,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&event).unwrap();
        assert_eq!(v["contentBlockDelta"]["delta"]["text"], "x");
    }

    #[test]
    fn broken_streams_end_with_sagemakers_exceptions() {
        for (class, gateway, kind, code) in [
            (
                Class::of_upstream(ErrorClass::Timeout),
                false,
                "ModelStreamError",
                Some("ModelInvocationTimeExceeded"),
            ),
            (Class::Unavailable, false, "ModelStreamError", Some("StreamBroken")),
            (Class::Internal, true, "InternalStreamFailure", None),
        ] {
            match &frames(&failure_frame(class, gateway, "why"))[..] {
                [StreamFrame::Exception {
                    exception_type,
                    payload,
                }] => {
                    assert_eq!(exception_type, kind);
                    let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
                    assert_eq!(v["Message"], "why");
                    assert_eq!(v["ErrorCode"].as_str(), code);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn answers_are_given_to_templates_as_json_and_text() {
        let request = context! { endpoint => "e", body => Value::from(Serde(serde_json::json!({"inputs": "q"}))) };
        let c = answer_context(&request, br#"{"generation":"a"}"#, Some(3));
        assert_eq!(c.get_attr("endpoint").unwrap().as_str(), Some("e"));
        let response = c.get_attr("response").unwrap();
        assert_eq!(response.get_attr("generation").unwrap().as_str(), Some("a"));
        assert_eq!(c.get_attr("index").unwrap().as_usize(), Some(3));
        let c = answer_context(&request, b"plain text", None);
        assert!(c.get_attr("response").unwrap().is_undefined());
        assert_eq!(c.get_attr("response_raw").unwrap().as_str(), Some("plain text"));
    }
}
