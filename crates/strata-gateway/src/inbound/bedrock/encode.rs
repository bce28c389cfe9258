//! Encoding answers for the Bedrock-native API: bodies and event-stream frames relayed as the
//! upstream sent them (never re-encoded), while the account layer observes each chunk. A
//! transport failure mid-stream becomes an `internalServerException` frame, never a silent
//! truncation.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::Deserialize;
use strata_aws::{RuntimeOperation, UpstreamError};
use strata_core::eventstream::exception_frame;
use strata_core::BedrockErrorKind;

use crate::call::Usage;
use crate::error::{Class, GatewayError};
use crate::request::account::Exit;
use crate::upstream::{Answer, Chunk, EventStream, Reply, Wire};

/// Headers of a Bedrock answer worth passing to the client.
/// Parsed once: looking a header up by `&str` parses the name on every call.
static PASSED_HEADERS: [http::HeaderName; 4] = [
    http::header::CONTENT_TYPE,
    http::HeaderName::from_static("x-amzn-bedrock-input-token-count"),
    http::HeaderName::from_static("x-amzn-bedrock-output-token-count"),
    http::HeaderName::from_static("x-amzn-bedrock-invocation-latency"),
];

/// The response for an answer to `operation`.
pub fn answer(operation: RuntimeOperation, answer: Answer, mut exit: Exit) -> Response {
    let wire = match &answer {
        Answer::Complete(r) => r.wire,
        Answer::Stream(s) => s.wire,
    };
    if wire != Wire::Bedrock {
        // Execution never sends a Bedrock-native call to an OpenAI-compatible target.
        let e = GatewayError::gateway(Class::Internal, "an OpenAI-compatible upstream answered a Bedrock call");
        let response = super::error::response(&e);
        exit.failed(&e, response.status().as_u16());
        return response;
    }
    match answer {
        Answer::Complete(reply) => complete(operation, reply, exit),
        Answer::Stream(stream) => relay(stream, exit),
    }
}

fn complete(operation: RuntimeOperation, reply: Reply, mut exit: Exit) -> Response {
    let usage = reply.header_usage.or_else(|| match operation {
        RuntimeOperation::Converse => converse_usage(&reply.body),
        // A count used no tokens.
        RuntimeOperation::CountTokens => Some(Usage::default()),
        _ => None,
    });
    exit.answered(200, usage);
    let mut response = Response::new(Body::from(reply.body));
    pass_headers(&reply.headers, &mut response);
    response
}

fn pass_headers(from: &http::HeaderMap, response: &mut Response) {
    for name in &PASSED_HEADERS {
        if let Some(v) = from.get(name) {
            response.headers_mut().insert(name.clone(), v.clone());
        }
    }
}

/// The usage of a Converse answer, read without decoding the rest of it.
pub(crate) fn converse_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Answer {
        usage: Tokens,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Tokens {
        input_tokens: u64,
        output_tokens: u64,
        #[serde(default)]
        cache_read_input_tokens: u64,
        #[serde(default)]
        cache_write_input_tokens: u64,
    }
    let a: Answer = serde_json::from_slice(body).ok()?;
    Some(Usage {
        input: a.usage.input_tokens,
        output: a.usage.output_tokens,
        cache_read: a.usage.cache_read_input_tokens,
        cache_write: a.usage.cache_write_input_tokens,
    })
}

struct Relay {
    exit: Exit,
    first: Option<Chunk>,
    rest: BoxStream<'static, Result<Chunk, UpstreamError>>,
    done: bool,
}

fn relay(stream: EventStream, mut exit: Exit) -> Response {
    exit.streaming(200);
    let state = Relay {
        exit,
        first: Some(stream.first),
        rest: stream.rest,
        done: false,
    };
    let body = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let next = match s.first.take() {
            Some(c) => Some(Ok(c)),
            None => s.rest.next().await,
        };
        let bytes = match next {
            None => {
                s.exit.stream_ended(None);
                return None;
            }
            Some(Ok(chunk)) => {
                s.exit.observe(&chunk);
                if let Some(f) = &chunk.failure {
                    // The upstream's own exception frame is in the bytes relayed.
                    s.exit.stream_ended(Some(Class::of_upstream(f.class)));
                    s.done = true;
                }
                chunk.raw
            }
            Some(Err(e)) => {
                s.exit.stream_ended(Some(Class::of_upstream(e.class)));
                s.done = true;
                failure_frame(&e)
            }
        };
        Some((Ok::<Bytes, std::io::Error>(bytes), s))
    });
    let mut response = Response::new(Body::from_stream(body));
    pass_headers(&stream.headers, &mut response);
    response
}

/// The frame that tells a client its stream broke.
pub fn failure_frame(e: &UpstreamError) -> Bytes {
    let payload = serde_json::json!({ "message": format!("upstream stream failed: {}", e.message) }).to_string();
    exception_frame(&BedrockErrorKind::InternalServerException.stream_name(), payload).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::eventstream::{FrameReader, StreamFrame};
    use strata_core::ErrorClass;

    #[test]
    fn converse_usage_is_read_from_the_answer() {
        let body = br#"{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":4,"totalTokens":7},"metrics":{"latencyMs":1}}"#;
        assert_eq!(
            converse_usage(body),
            Some(Usage {
                input: 3,
                output: 4,
                ..Usage::default()
            })
        );
        assert_eq!(converse_usage(b"{}"), None);
    }

    #[test]
    fn a_broken_stream_ends_with_an_exception_frame() {
        let e = UpstreamError::new(ErrorClass::Connect, Some(200), "reset");
        let mut reader = FrameReader::new();
        reader.push(&failure_frame(&e));
        match reader.next_frame().unwrap().unwrap() {
            StreamFrame::Exception {
                exception_type,
                payload,
            } => {
                assert_eq!(exception_type, "internalServerException");
                assert!(String::from_utf8_lossy(&payload).contains("reset"));
            }
            other => panic!("{other:?}"),
        }
    }
}
