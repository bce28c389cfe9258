//! OpenAI-compatible upstreams (vLLM, other gateways, OpenAI itself): `/chat/completions` with
//! the provider's key, over a pooled hyper client built as the Bedrock runtime's is (no general-purpose
//! client's per-request URL parsing and middleware: a pass-through's costliest parts), sent and
//! read by the runtime's own exchange functions. Streams are cut at SSE event boundaries, chunks
//! already there joined into one write; each event's usage is read as it passes and the bytes
//! relayed as received.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use http::{HeaderValue, Uri};
use http_body_util::Full;
use serde::Deserialize;
use strata_aws::runtime;
use strata_aws::transport::HttpClient;
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
        let http = strata_aws::transport::http_client()
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
                let (head, body) = runtime::deliver(&self.http, out).await?.into_parts();
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

/// An SSE byte stream as chunks of whole events.
pub fn sse_events(
    body: BoxStream<'static, Result<Bytes, UpstreamError>>,
) -> BoxStream<'static, Result<Chunk, UpstreamError>> {
    let mut pending = BytesMut::new();
    body.filter_map(move |item| {
        let out = match item {
            Err(e) => Some(Err(e)),
            Ok(bytes) => {
                pending.extend_from_slice(&bytes);
                last_event_end(&pending).map(|end| Ok(observe(pending.split_to(end).freeze())))
            }
        };
        futures::future::ready(out)
    })
    .boxed()
}

/// Where the last whole event ends (after its blank line).
fn last_event_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).rposition(|w| w == b"\n\n").map(|i| i + 2)
}

/// What whole SSE events say: content, usage, an error event.
fn observe(raw: Bytes) -> Chunk {
    let mut chunk = Chunk::default();
    for line in raw.split(|b| *b == b'\n') {
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
        if !mentions(data, b"\"usage\"") && !mentions(data, b"\"error\"") {
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

/// Whether `needle` occurs in `haystack`.
fn mentions(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
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
}
