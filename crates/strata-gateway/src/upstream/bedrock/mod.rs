//! The Bedrock upstream: signed runtime calls with each account's credentials. Streams are cut
//! at frame boundaries and every frame decoded once as it passes (usage, content, exceptions),
//! while its bytes stay as received for a Bedrock-native relay.

pub mod embed;
pub mod guardrail;

use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use serde::Deserialize;
use strata_aws::{AccountCredentials, BedrockRuntime, RuntimeAnswer, RuntimeCall, RuntimeOperation, UpstreamError};
use strata_core::eventstream::{frame_head, frames_in, FrameSplitter};
use strata_core::{BedrockErrorKind, ErrorClass};

use super::{peek_first, remaining, Answer, Chunk, EventStream, Reply, Upstream, Wire};
use crate::call::{Api, Call, Usage};
use crate::config::{Guardrail, Target};

/// The Bedrock runtime client and the credentials of every account (indexed like
/// `config.accounts`).
#[derive(Debug)]
pub struct Bedrock {
    pub runtime: BedrockRuntime,
    pub accounts: Vec<AccountCredentials>,
    /// Guardrail IDs per account × region.
    pub guardrail_ids: guardrail::GuardrailIds,
}

impl Bedrock {
    pub fn new(runtime: BedrockRuntime, accounts: Vec<AccountCredentials>) -> Self {
        Bedrock {
            runtime,
            accounts,
            guardrail_ids: Default::default(),
        }
    }

    /// The account's current credentials.
    pub async fn credentials(&self, account: usize) -> Result<aws_credential_types::Credentials, UpstreamError> {
        let Some(creds) = self.accounts.get(account) else {
            return Err(UpstreamError::new(
                ErrorClass::Denied,
                None,
                format!("account #{account} is not configured"),
            ));
        };
        creds
            .get()
            .await
            .map_err(|e| UpstreamError::new(ErrorClass::Denied, None, e.to_string()))
    }

    /// Calls Bedrock with the account's current credentials; credentials Bedrock refuses are
    /// fetched anew next time.
    pub(crate) async fn send(&self, account: usize, call: RuntimeCall<'_>) -> Result<RuntimeAnswer, UpstreamError> {
        let Some(creds) = self.accounts.get(account) else {
            return Err(UpstreamError::new(
                ErrorClass::Denied,
                None,
                format!("account #{account} is not configured"),
            ));
        };
        let credentials = creds
            .get()
            .await
            .map_err(|e| UpstreamError::new(ErrorClass::Denied, None, e.to_string()))?;
        let result = self.runtime.send(call, &credentials).await;
        if let Err(e) = &result {
            if matches!(
                e.kind,
                Some(BedrockErrorKind::ExpiredTokenException | BedrockErrorKind::UnrecognizedClientException)
            ) {
                creds.invalidate();
            }
        }
        result
    }
}

impl Upstream for Bedrock {
    fn call<'a>(
        &'a self,
        target: &'a Target,
        call: &'a Call,
        guard: Option<&'a Guardrail>,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Answer, UpstreamError>> {
        async move {
            let Target::Bedrock {
                account,
                region,
                model_id,
            } = target
            else {
                return Err(UpstreamError::new(ErrorClass::NotFound, None, "not a Bedrock target"));
            };
            if let Some(request) = &call.embedding {
                return embed::call(self, *account, region.as_str(), model_id, request, deadline).await;
            }
            // The guardrail's ID in this account and region (checked before the attempt; gone
            // since: this target is not called unguarded).
            let guard_id = match guard {
                Some(g) => match self.guardrail_id(*account, region.as_str(), g, deadline).await? {
                    Some(id) => Some((g, id)),
                    None => {
                        return Err(UpstreamError::new(
                            ErrorClass::NotFound,
                            None,
                            format!("guardrail '{}' does not exist here", g.name),
                        ))
                    }
                },
                None => None,
            };
            let converse = matches!(
                call.operation,
                RuntimeOperation::Converse | RuntimeOperation::ConverseStream
            );
            // Translated already by the request path when the plan reached Bedrock.
            let body = call
                .bedrock_body()
                .map_err(|e| UpstreamError::new(ErrorClass::Invalid, None, e.message))?;
            let body = match &guard_id {
                Some((g, id)) if converse => guardrail::converse_body(&body, id, g)?,
                _ => body,
            };
            let guard_headers: Vec<(&str, &str)> = match &guard_id {
                Some((g, id)) if !converse => vec![
                    ("x-amzn-bedrock-guardrailidentifier", id.as_str()),
                    ("x-amzn-bedrock-guardrailversion", g.version.as_str()),
                    ("x-amzn-bedrock-trace", g.trace.header()),
                ],
                _ => Vec::new(),
            };
            let runtime_call = RuntimeCall {
                region: region.as_str(),
                model_id,
                operation: call.operation,
                body,
                content_type: call.content_type.as_deref(),
                accept: call.accept.as_deref(),
                extra_headers: &guard_headers,
                timeout: remaining(deadline),
            };
            match self.send(*account, runtime_call).await? {
                RuntimeAnswer::Complete { headers, body } => {
                    let header_usage = usage_headers(&headers);
                    // Only a guardrail this gateway sent is looked for (the scan costs ~1 µs a
                    // reply; a client's own guardrailConfig is Bedrock's answer to relay).
                    let guardrail = guard_id
                        .as_ref()
                        .and_then(|_| guardrail::complete_intervention(&body, header_usage));
                    Ok(Answer::Complete(Reply {
                        wire: Wire::Bedrock,
                        headers,
                        body,
                        header_usage,
                        guardrail,
                    }))
                }
                RuntimeAnswer::Stream { headers, body } => {
                    let (first, rest) = peek_first(frames(body, call.api != Api::Bedrock), deadline).await?;
                    Ok(Answer::Stream(EventStream {
                        wire: Wire::Bedrock,
                        headers,
                        first,
                        rest,
                        guardrail: None,
                    }))
                }
            }
        }
        .boxed()
    }
}

/// Usage from InvokeModel's `x-amzn-bedrock-*-token-count` headers (embedding models send
/// only the input count).
fn usage_headers(headers: &http::HeaderMap) -> Option<Usage> {
    let count = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(Usage {
        input: count("x-amzn-bedrock-input-token-count")?,
        output: count("x-amzn-bedrock-output-token-count").unwrap_or(0),
        cache_read: count("x-amzn-bedrock-cache-read-input-token-count").unwrap_or(0),
        cache_write: count("x-amzn-bedrock-cache-write-input-token-count").unwrap_or(0),
    })
}

/// An event stream's bytes as chunks of whole, decoded frames.
pub fn frames(
    body: BoxStream<'static, Result<Bytes, UpstreamError>>,
    decode: bool,
) -> BoxStream<'static, Result<Chunk, UpstreamError>> {
    let mut splitter = FrameSplitter::new();
    let mut broken = false;
    body.filter_map(move |item| {
        let out = if broken {
            None
        } else {
            let chunk = item.and_then(|bytes| {
                let whole = splitter
                    .push_whole(bytes)
                    .map_err(|e| UpstreamError::new(ErrorClass::Unavailable, Some(200), e.to_string()))?;
                observe(whole, decode)
            });
            match chunk {
                Ok(c) if c.raw.is_empty() => None,
                Ok(c) => Some(Ok(c)),
                Err(e) => {
                    broken = true;
                    Some(Err(e))
                }
            }
        };
        futures::future::ready(out)
    })
    .boxed()
}

#[derive(Deserialize)]
struct MetadataProbe {
    usage: Option<TokenProbe>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenProbe {
    input_tokens: u64,
    output_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
    #[serde(default)]
    cache_write_input_tokens: u64,
}

#[derive(Deserialize)]
struct InvokeChunk {
    bytes: String,
}

#[derive(Deserialize)]
struct InvokeChunkBody {
    #[serde(rename = "amazon-bedrock-invocationMetrics")]
    metrics: Option<InvocationMetrics>,
    #[serde(rename = "amazon-bedrock-guardrailAction")]
    guardrail_action: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvocationMetrics {
    input_token_count: u64,
    output_token_count: u64,
}

/// A chunk of whole frames with what they say about the answer, read from each frame's
/// headers; the frames are decoded into `events` only when `decode` (a translating dialect
/// needs them; a Bedrock-native relay needs only the bytes).
fn observe(raw: Bytes, decode: bool) -> Result<Chunk, UpstreamError> {
    let mut chunk = Chunk::default();
    let mut at = 0;
    for frame in frames_in(&raw) {
        let head =
            frame_head(frame).map_err(|e| UpstreamError::new(ErrorClass::Unavailable, Some(200), e.to_string()))?;
        let payload = &frame[head.payload.clone()];
        chunk.frames += 1;
        match (head.message_type, head.event_type) {
            ("event", Some("contentBlockDelta")) => {
                chunk.content = true;
                chunk.deltas += 1;
            }
            ("event", Some("metadata")) => {
                if let Ok(MetadataProbe { usage: Some(u) }) = serde_json::from_slice(payload) {
                    chunk.usage = Some(Usage {
                        input: u.input_tokens,
                        output: u.output_tokens,
                        cache_read: u.cache_read_input_tokens,
                        cache_write: u.cache_write_input_tokens,
                    });
                }
            }
            ("event", Some("messageStop")) if payload.windows(20).any(|w| w == b"guardrail_intervened") => {
                chunk.guardrail = Some(super::Intervention::Unknown);
            }
            ("event", Some("chunk")) => {
                chunk.content = true;
                chunk.deltas += 1;
                let (usage, intervened) = invoke_chunk_usage(payload);
                if let Some(u) = usage {
                    chunk.usage = Some(u);
                }
                if intervened {
                    chunk.guardrail = Some(super::Intervention::Unknown);
                }
            }
            ("exception", Some(_)) | ("exception", None) => {
                chunk.failure = Some(exception(head.exception_type.unwrap_or_default(), payload))
            }
            ("error", _) => {
                chunk.failure = Some(UpstreamError {
                    class: ErrorClass::Unavailable,
                    kind: head.error_code.and_then(BedrockErrorKind::from_name),
                    status: Some(200),
                    message: head.error_message.unwrap_or_default().to_string(),
                    retry_after: None,
                })
            }
            _ => {}
        }
        if decode {
            chunk.events.push(head.to_frame(&raw, at));
        }
        at += frame.len();
    }
    chunk.raw = raw;
    Ok(chunk)
}

/// The invocation metrics an InvokeModelWithResponseStream chunk carries (in its last one),
/// and whether it says a guardrail intervened.
fn invoke_chunk_usage(payload: &[u8]) -> (Option<Usage>, bool) {
    let Some(body) = serde_json::from_slice::<InvokeChunk>(payload)
        .ok()
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c.bytes).ok())
        .and_then(|b| serde_json::from_slice::<InvokeChunkBody>(&b).ok())
    else {
        return (None, false);
    };
    let usage = body.metrics.map(|m| Usage {
        input: m.input_token_count,
        output: m.output_token_count,
        ..Usage::default()
    });
    (usage, body.guardrail_action.as_deref() == Some("INTERVENED"))
}

/// An in-stream exception frame as an upstream failure.
pub fn exception(exception_type: &str, payload: &[u8]) -> UpstreamError {
    #[derive(Deserialize)]
    struct Message {
        message: Option<String>,
    }
    let kind = BedrockErrorKind::from_name(exception_type);
    let message = serde_json::from_slice::<Message>(payload)
        .ok()
        .and_then(|m| m.message)
        .unwrap_or_else(|| exception_type.to_string());
    UpstreamError {
        class: kind.map(ErrorClass::of_bedrock).unwrap_or(ErrorClass::Unavailable),
        kind,
        status: Some(200),
        message,
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::eventstream::{event_frame, exception_frame};

    #[tokio::test]
    async fn frames_are_decoded_and_usage_seen_while_bytes_stay_as_sent() {
        let start = event_frame("messageStart", r#"{"role":"assistant"}"#).unwrap();
        let delta = event_frame("contentBlockDelta", r#"{"contentBlockIndex":0,"delta":{"text":"hi"}}"#).unwrap();
        let meta = event_frame(
            "metadata",
            r#"{"usage":{"inputTokens":7,"outputTokens":3,"totalTokens":10},"metrics":{"latencyMs":1}}"#,
        )
        .unwrap();
        let all: Vec<u8> = [&start[..], &delta[..], &meta[..]].concat();
        // Cut mid-frame: no chunk ever holds a partial frame, and the bytes are all relayed.
        let pieces = vec![
            Ok(Bytes::copy_from_slice(&all[..5])),
            Ok(Bytes::copy_from_slice(&all[5..start.len() + 3])),
            Ok(Bytes::copy_from_slice(&all[start.len() + 3..])),
        ];
        let chunks: Vec<Chunk> = frames(futures::stream::iter(pieces).boxed(), true)
            .map(|c| c.unwrap())
            .collect()
            .await;
        assert_eq!(chunks.len(), 2);
        assert_eq!(&chunks[0].raw[..], &start[..]);
        assert!(!chunks[0].content);
        assert!(chunks[1].content);
        assert_eq!(
            chunks[1].usage,
            Some(Usage {
                input: 7,
                output: 3,
                ..Usage::default()
            })
        );
        let relayed: Vec<u8> = chunks.iter().flat_map(|c| c.raw.to_vec()).collect();
        assert_eq!(relayed, all);
        assert_eq!(chunks[1].events.len(), 2);
        // A relay: the same observations, no decoded events.
        let relay: Vec<Chunk> = frames(futures::stream::iter(vec![Ok(Bytes::from(all.clone()))]).boxed(), false)
            .map(|c| c.unwrap())
            .collect()
            .await;
        assert_eq!((relay[0].frames, relay[0].events.len()), (3, 0));
        assert_eq!(
            relay[0].usage,
            Some(Usage {
                input: 7,
                output: 3,
                ..Usage::default()
            })
        );
        assert!(relay[0].content);
    }

    #[tokio::test]
    async fn exceptions_and_invoke_metrics_are_seen() {
        let e = exception_frame("throttlingException", r#"{"message":"slow down"}"#).unwrap();
        let chunks: Vec<_> = frames(futures::stream::iter(vec![Ok(e)]).boxed(), true).collect().await;
        let failure = chunks[0].as_ref().unwrap().failure.clone().unwrap();
        assert_eq!(failure.class, ErrorClass::Throttled);
        assert_eq!(failure.message, "slow down");
        let body = r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":5,"outputTokenCount":9,"invocationLatency":1,"firstByteLatency":1}}"#;
        let payload = serde_json::json!({"bytes": base64::engine::general_purpose::STANDARD.encode(body)}).to_string();
        assert_eq!(
            invoke_chunk_usage(payload.as_bytes()),
            (
                Some(Usage {
                    input: 5,
                    output: 9,
                    ..Usage::default()
                }),
                false
            )
        );
        let garbage = vec![Ok(Bytes::from_static(&[0, 0, 0, 1, 0, 0]))];
        let chunks: Vec<_> = frames(futures::stream::iter(garbage).boxed(), true).collect().await;
        assert!(chunks[0].is_err());
    }
}
