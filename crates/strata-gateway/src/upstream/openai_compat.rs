//! OpenAI-compatible upstreams (vLLM, other gateways, OpenAI itself): `/chat/completions` with
//! the provider's key, over a pooled hyper client built as the Bedrock runtime's is (no general-purpose
//! client's per-request URL parsing and middleware: a pass-through's costliest parts), sent and
//! read by the runtime's own exchange functions. Streams are cut at SSE event boundaries, chunks
//! already there joined into one write; each event's usage is read as it passes and the bytes
//! relayed as received.

use std::sync::LazyLock;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use http::{HeaderValue, Uri};
use http_body_util::Full;
use memchr::memmem::{Finder, FinderRev};
use serde::Deserialize;
use strata_aws::runtime;
use strata_aws::transport::{Exchange, HttpClient};
use strata_aws::UpstreamError;
use strata_core::ErrorClass;

use super::{peek_first, remaining, Answer, Chunk, EventStream, Reply, Upstream, Wire};
use crate::call::{Call, Usage};
use crate::config::{Config, Target};

/// The pooled client and every provider's endpoint (indexed like `config.providers`).
#[derive(Debug)]
pub struct OpenAiCompat {
    http: HttpClient,
    providers: Vec<Provider>,
}

/// What every call to one provider sends the same: parsed and built once.
#[derive(Debug)]
struct Provider {
    /// `{base_url}/chat/completions`.
    url: Uri,
    /// `Bearer {api_key}`, marked sensitive.
    authorization: Option<HeaderValue>,
}

impl OpenAiCompat {
    pub fn new(config: &Config) -> Result<Self, UpstreamError> {
        let http = strata_aws::transport::http_client(strata_aws::transport::Protocol::Http1)
            .map_err(|e| UpstreamError::new(ErrorClass::Connect, None, format!("cannot build the HTTP client: {e}")))?;
        let providers = config
            .providers
            .iter()
            .map(|p| {
                let url = format!("{}/chat/completions", p.base_url.trim_end_matches('/'));
                let url = Uri::try_from(url.as_str()).map_err(|e| {
                    UpstreamError::new(
                        ErrorClass::Invalid,
                        None,
                        format!("provider '{}': bad base_url: {e}", p.name),
                    )
                })?;
                let authorization = match &p.api_key {
                    None => None,
                    Some(key) => {
                        let mut v = HeaderValue::try_from(format!("Bearer {key}")).map_err(|_| {
                            UpstreamError::new(
                                ErrorClass::Invalid,
                                None,
                                format!("provider '{}': the api_key is not a valid header value", p.name),
                            )
                        })?;
                        v.set_sensitive(true);
                        Some(v)
                    }
                };
                Ok(Provider { url, authorization })
            })
            .collect::<Result<_, UpstreamError>>()?;
        Ok(OpenAiCompat { http, providers })
    }
}

impl Upstream for OpenAiCompat {
    fn call<'a>(
        &'a self,
        target: &'a Target,
        call: &'a Call,
        _guard: Option<&'a crate::config::Guardrail>,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Answer, UpstreamError>> {
        async move {
            let Target::OpenAi { provider, model } = target else {
                return Err(UpstreamError::new(
                    ErrorClass::NotFound,
                    None,
                    "not an OpenAI-compatible target",
                ));
            };
            let Some(request) = &call.openai else {
                return Err(UpstreamError::new(
                    ErrorClass::NotFound,
                    None,
                    "OpenAI-compatible deployments serve only the OpenAI API",
                ));
            };
            let Some(endpoint) = self.providers.get(*provider) else {
                return Err(UpstreamError::new(
                    ErrorClass::Denied,
                    None,
                    format!("provider #{provider} is not configured"),
                ));
            };
            let body = request
                .body_for(model)
                .map_err(|e| UpstreamError::new(ErrorClass::Invalid, None, e))?;
            let stream = call.streams();
            let mut out = http::Request::new(Full::new(body));
            *out.method_mut() = http::Method::POST;
            *out.uri_mut() = endpoint.url.clone();
            let headers = out.headers_mut();
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Some(authorization) = &endpoint.authorization {
                headers.insert(http::header::AUTHORIZATION, authorization.clone());
            }
            // A stream's deadline covers its head and first event; a complete answer's, the
            // whole body.
            let exchange = async {
                let kind = if stream { Exchange::Stream } else { Exchange::Complete };
                let (head, body) = runtime::deliver(&self.http, out, kind).await?.into_parts();
                let status = head.status.as_u16();
                if status != 200 {
                    let body = runtime::error_body(body).await;
                    let mut e = UpstreamError::new(ErrorClass::of_status(status), Some(status), error_message(&body));
                    e.retry_after = runtime::retry_after(&head.headers);
                    return Err(e);
                }
                if stream {
                    let (first, rest) = peek_first(sse_events(runtime::chunks(body)), deadline).await?;
                    Ok(Answer::Stream(EventStream {
                        wire: Wire::OpenAi,
                        headers: head.headers,
                        first,
                        rest,
                        guardrail: None,
                    }))
                } else {
                    Ok(Answer::Complete(Reply {
                        wire: Wire::OpenAi,
                        headers: head.headers,
                        body: runtime::whole_body(body).await?,
                        header_usage: None,
                        guardrail: None,
                    }))
                }
            };
            let timeout = remaining(deadline);
            match tokio::time::timeout(timeout, exchange).await {
                Ok(answer) => answer,
                Err(_) => Err(UpstreamError::new(
                    ErrorClass::Timeout,
                    None,
                    format!("no answer from {} within {timeout:?}", endpoint.url),
                )),
            }
        }
        .boxed()
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
}

/// The message of an OpenAI error body.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
        .and_then(|e| e.message)
        .unwrap_or_else(|| "upstream error".to_string())
}

#[derive(Deserialize)]
struct UsageProbe {
    usage: Option<OpenAiUsage>,
    error: Option<ErrorDetail>,
}

/// OpenAI's `usage` object.
#[derive(Deserialize)]
pub struct OpenAiUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl From<OpenAiUsage> for Usage {
    fn from(u: OpenAiUsage) -> Self {
        Usage {
            input: u.prompt_tokens,
            output: u.completion_tokens,
            ..Usage::default()
        }
    }
}

/// An SSE byte stream as chunks of whole events. A body chunk that ends on an event boundary
/// (the usual case) is passed on as it is; only a part event is copied, to wait for its rest.
pub fn sse_events(
    body: BoxStream<'static, Result<Bytes, UpstreamError>>,
) -> BoxStream<'static, Result<Chunk, UpstreamError>> {
    let mut pending = BytesMut::new();
    body.filter_map(move |item| {
        let out = match item {
            Err(e) => Some(Err(e)),
            Ok(bytes) if pending.is_empty() => match last_event_end(&bytes) {
                Some(end) if end == bytes.len() => Some(Ok(observe(bytes))),
                Some(end) => {
                    pending.extend_from_slice(&bytes[end..]);
                    Some(Ok(observe(bytes.slice(..end))))
                }
                None => {
                    pending.extend_from_slice(&bytes);
                    None
                }
            },
            Ok(bytes) => {
                pending.extend_from_slice(&bytes);
                last_event_end(&pending).map(|end| Ok(observe(pending.split_to(end).freeze())))
            }
        };
        futures::future::ready(out)
    })
    .boxed()
}

/// The searches run on every event, built once (building a searcher per call showed in
/// profiles: ~8 % of a relayed stream's instructions).
static BLANK_LINE: LazyLock<FinderRev<'static>> = LazyLock::new(|| FinderRev::new(b"\n\n"));
static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));
static ERROR: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"error\""));

/// Where the last whole event ends (after its blank line).
fn last_event_end(buf: &[u8]) -> Option<usize> {
    BLANK_LINE.rfind(buf).map(|i| i + 2)
}

/// What whole SSE events say: content, usage, an error event.
fn observe(raw: Bytes) -> Chunk {
    let mut chunk = Chunk::default();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', &raw).chain(std::iter::once(raw.len())) {
        let line = &raw[start..end];
        start = end + 1;
        let Some(data) = line.strip_prefix(b"data:") else {
            continue;
        };
        let data = data.trim_ascii();
        if data == b"[DONE]" || data.is_empty() {
            continue;
        }
        chunk.frames += 1;
        chunk.content = true;
        chunk.deltas += 1;
        // Only an event naming usage or an error is worth parsing (most are one token's delta).
        if USAGE.find(data).is_none() && ERROR.find(data).is_none() {
            continue;
        }
        if let Ok(probe) = serde_json::from_slice::<UsageProbe>(data) {
            if let Some(u) = probe.usage {
                chunk.usage = Some(u.into());
            }
            if let Some(e) = probe.error {
                chunk.failure = Some(UpstreamError::new(
                    ErrorClass::Unavailable,
                    Some(200),
                    e.message.unwrap_or_else(|| "upstream stream error".into()),
                ));
            }
        }
    }
    chunk.raw = raw;
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sse_is_cut_at_event_boundaries_with_usage_seen() {
        let pieces = vec![
            Ok(Bytes::from_static(b"data: {\"choices\":[]}\n")),
            Ok(Bytes::from_static(
                b"\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6,\"total_tokens\":10}}\n\ndata: [DO",
            )),
            Ok(Bytes::from_static(b"NE]\n\n")),
        ];
        let chunks: Vec<Chunk> = sse_events(futures::stream::iter(pieces).boxed())
            .map(|c| c.unwrap())
            .collect()
            .await;
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks[0].usage,
            Some(Usage {
                input: 4,
                output: 6,
                ..Usage::default()
            })
        );
        assert!(chunks[0].raw.ends_with(b"\n\n"));
        assert_eq!(&chunks[1].raw[..], b"data: [DONE]\n\n");
        assert_eq!(error_message(br#"{"error":{"message":"nope"}}"#), "nope");
        assert_eq!(error_message(b"<html>"), "upstream error");
    }

    #[tokio::test]
    async fn every_byte_is_relayed_once_in_order_wherever_the_body_is_cut() {
        let text: &[u8] = b"data: {\"a\":1}\n\ndata: {\"error\":{\"message\":\"x\"}}\n\ndata: [DONE]\n\n";
        for first in 0..=text.len() {
            for second in first..=text.len() {
                let pieces =
                    [&text[..first], &text[first..second], &text[second..]].map(|p| Ok(Bytes::copy_from_slice(p)));
                let chunks: Vec<Chunk> = sse_events(futures::stream::iter(pieces).boxed())
                    .map(|c| c.unwrap())
                    .collect()
                    .await;
                let relayed: Vec<u8> = chunks.iter().flat_map(|c| c.raw.iter().copied()).collect();
                assert_eq!(relayed, text, "cut at {first} and {second}");
                assert!(chunks.iter().all(|c| c.raw.ends_with(b"\n\n")), "only whole events");
                assert_eq!(chunks.iter().filter(|c| c.failure.is_some()).count(), 1);
                assert_eq!(
                    chunks.iter().map(|c| u64::from(c.frames)).sum::<u64>(),
                    2,
                    "[DONE] is no frame"
                );
            }
        }
    }
}
