//! Guardrails at the upstream, per target. A call's guardrail (resolved by the request path
//! from the tenant and the model) is a name, ID or ARN; in each account × region the real
//! guardrail has its own ID, found with `ListGuardrails` and cached. A target where it does not
//! exist is skipped before any attempt (never called unguarded).
//!
//! - Bedrock targets: Converse bodies get `guardrailConfig`, InvokeModel the
//!   `X-Amzn-Bedrock-Guardrail*` headers; Bedrock itself intervenes.
//! - OpenAI-compatible targets: the gateway calls `ApplyGuardrail` (as the guardrail's
//!   `apply_in` account, in its region) on the input before the call and on the output after
//!   it. A stream is buffered whole and checked before any of it is relayed (no blocked text
//!   ever reaches the client, at the price of a first token only at the end).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};
use strata_aws::UpstreamError;
use strata_core::ErrorClass;

use super::Bedrock;
use crate::call::{Call, Usage};
use crate::config::{Guardrail, Target};
use crate::upstream::{remaining, Answer, Chunk, EventStream, Intervention, Reply, Upstream, Wire};

/// How long a found guardrail ID is trusted before it is looked up again.
const FOUND_FOR: Duration = Duration::from_secs(300);
/// How long a guardrail found missing stays missing (it may be created meanwhile).
const MISSING_FOR: Duration = Duration::from_secs(30);

/// (account, region, identifier, version)
type IdKey = (usize, String, String, String);

/// Guardrail IDs per account × region, from `ListGuardrails`.
#[derive(Debug, Default)]
pub struct GuardrailIds {
    cache: Mutex<HashMap<IdKey, (Option<String>, Instant)>>,
}

#[derive(Deserialize)]
struct ListPage {
    guardrails: Vec<Summary>,
    #[serde(rename = "nextToken")]
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct Summary {
    id: String,
    arn: String,
    name: String,
    version: String,
}

impl Bedrock {
    /// The ID of `guard`'s guardrail in (account, region) with its version present, or `None`
    /// when it does not exist there.
    pub async fn guardrail_id(
        &self,
        account: usize,
        region: &str,
        guard: &Guardrail,
        deadline: Instant,
    ) -> Result<Option<String>, UpstreamError> {
        let key = (
            account,
            region.to_string(),
            guard.identifier.clone(),
            guard.version.clone(),
        );
        if let Some((id, at)) = self.guardrail_ids.cache.lock().get(&key) {
            let fresh_for = if id.is_some() { FOUND_FOR } else { MISSING_FOR };
            if at.elapsed() < fresh_for {
                return Ok(id.clone());
            }
        }
        // Boxed: the lookup (paged control-plane calls, ~2.4 KiB of future) is rare, and
        // unboxed it would size every guarded or unguarded Bedrock call's future for as long as
        // the call waits on its answer (`-Zprint-type-sizes`: the call's 2576 → ~1400 bytes).
        let id = Box::pin(self.look_up_guardrail(account, region, guard, deadline)).await?;
        self.guardrail_ids
            .cache
            .lock()
            .insert(key, (id.clone(), Instant::now()));
        Ok(id)
    }

    async fn look_up_guardrail(
        &self,
        account: usize,
        region: &str,
        guard: &Guardrail,
        deadline: Instant,
    ) -> Result<Option<String>, UpstreamError> {
        let credentials = self.credentials(account).await?;
        let wanted = guard.identifier.as_str();
        let mut token: Option<String> = None;
        let mut found = None;
        // Every guardrail's DRAFT, page by page: match the name, the ID or the ARN.
        for _ in 0..100 {
            let body = self
                .runtime
                .list_guardrails(region, None, token.as_deref(), &credentials, remaining(deadline))
                .await?;
            let page = read_page(&body)?;
            found = page
                .guardrails
                .into_iter()
                .find(|g| g.name == wanted || g.id == wanted || g.arn == wanted)
                .map(|g| g.id);
            token = page.next_token;
            if found.is_some() || token.is_none() {
                break;
            }
        }
        let Some(id) = found else { return Ok(None) };
        if guard.version == "DRAFT" {
            return Ok(Some(id));
        }
        // Its versions: the one asked for must exist.
        let body = self
            .runtime
            .list_guardrails(region, Some(&id), None, &credentials, remaining(deadline))
            .await?;
        let page = read_page(&body)?;
        Ok(page.guardrails.iter().any(|g| g.version == guard.version).then_some(id))
    }
}

fn read_page(body: &[u8]) -> Result<ListPage, UpstreamError> {
    serde_json::from_slice(body).map_err(|e| {
        UpstreamError::new(
            ErrorClass::Unavailable,
            Some(200),
            format!("ListGuardrails answer unreadable: {e}"),
        )
    })
}

/// A Converse body with `guardrailConfig` naming `id` (a client's own is replaced: the
/// configured guardrail wins).
pub fn converse_body(body: &[u8], id: &str, guard: &Guardrail) -> Result<Bytes, UpstreamError> {
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::new(ErrorClass::Invalid, None, format!("the Converse body is not JSON: {e}")))?;
    let Some(map) = value.as_object_mut() else {
        return Err(UpstreamError::new(
            ErrorClass::Invalid,
            None,
            "the Converse body is not a JSON object",
        ));
    };
    map.insert(
        "guardrailConfig".into(),
        json!({"guardrailIdentifier": id, "guardrailVersion": guard.version, "trace": guard.trace.converse()}),
    );
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(|e| UpstreamError::new(ErrorClass::Invalid, None, e.to_string()))
}

/// Whether a complete Bedrock answer says a guardrail intervened, and on which side (no
/// output tokens: the input was blocked before the model ran).
pub fn complete_intervention(body: &[u8], header_usage: Option<Usage>) -> Option<Intervention> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "stopReason")]
        stop_reason: Option<String>,
        #[serde(rename = "amazon-bedrock-guardrailAction")]
        action: Option<String>,
        usage: Option<ProbeUsage>,
    }
    #[derive(Deserialize)]
    struct ProbeUsage {
        #[serde(rename = "outputTokens")]
        output_tokens: Option<u64>,
    }
    let marked = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if !marked(b"guardrail_intervened") && !marked(b"INTERVENED") {
        return None;
    }
    let probe: Probe = serde_json::from_slice(body).ok()?;
    let intervened =
        probe.stop_reason.as_deref() == Some("guardrail_intervened") || probe.action.as_deref() == Some("INTERVENED");
    if !intervened {
        return None;
    }
    let output = probe
        .usage
        .and_then(|u| u.output_tokens)
        .or(header_usage.map(|u| u.output));
    Some(match output {
        Some(0) => Intervention::Input,
        Some(_) => Intervention::Output,
        None => Intervention::Unknown,
    })
}

// ---- OpenAI-compatible targets: ApplyGuardrail around the call ----

/// Text the guardrail judges on input: every text of the Converse request (system included).
fn input_texts(call: &Call) -> Vec<String> {
    let Ok(body) = call.bedrock_body() else {
        return Vec::new();
    };
    let Ok(request) = serde_json::from_slice::<strata_core::wire::converse::ConverseRequest>(&body) else {
        return Vec::new();
    };
    use strata_core::wire::converse::{ContentBlock, SystemContentBlock};
    let mut texts: Vec<String> = request
        .system
        .iter()
        .flatten()
        .filter_map(|b| match b {
            SystemContentBlock::Text(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    for m in &request.messages {
        for b in &m.content {
            if let ContentBlock::Text(t) = b {
                texts.push(t.clone());
            }
        }
    }
    texts
}

#[derive(Deserialize)]
struct Applied {
    action: String,
    #[serde(default)]
    outputs: Vec<AppliedOutput>,
}

#[derive(Deserialize)]
struct AppliedOutput {
    text: Option<String>,
}

/// `ApplyGuardrail` on `texts`: `Some(blocked message)` when it intervened.
async fn apply(
    bedrock: &Bedrock,
    guard: &Guardrail,
    source: &str,
    texts: &[String],
    deadline: Instant,
) -> Result<Option<String>, UpstreamError> {
    let Some((account, region)) = &guard.apply_in else {
        return Err(UpstreamError::new(
            ErrorClass::Denied,
            None,
            format!("guardrail '{}' has no apply_in to check this upstream with", guard.name),
        ));
    };
    let Some(id) = bedrock.guardrail_id(*account, region.as_str(), guard, deadline).await? else {
        return Err(UpstreamError::new(
            ErrorClass::NotFound,
            None,
            format!("guardrail '{}' does not exist where apply_in names", guard.name),
        ));
    };
    let content: Vec<Value> = texts.iter().map(|t| json!({"text": {"text": t}})).collect();
    let body = json!({"source": source, "content": content}).to_string();
    let credentials = bedrock.credentials(*account).await?;
    let answer = bedrock
        .runtime
        .apply_guardrail(
            region.as_str(),
            &id,
            &guard.version,
            Bytes::from(body),
            &credentials,
            remaining(deadline),
        )
        .await?;
    let applied: Applied = serde_json::from_slice(&answer).map_err(|e| {
        UpstreamError::new(
            ErrorClass::Unavailable,
            Some(200),
            format!("ApplyGuardrail answer unreadable: {e}"),
        )
    })?;
    if applied.action != "GUARDRAIL_INTERVENED" {
        return Ok(None);
    }
    let message = applied
        .outputs
        .into_iter()
        .filter_map(|o| o.text)
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Some(message))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A `chat.completion` carrying the blocked message.
fn blocked_completion(message: &str, usage: Usage) -> Bytes {
    Bytes::from(
        json!({
            "id": "chatcmpl-guardrail", "object": "chat.completion", "created": now_secs(), "model": "",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": message}, "finish_reason": "content_filter", "logprobs": null}],
            "usage": {"prompt_tokens": usage.input, "completion_tokens": usage.output, "total_tokens": usage.total()}
        })
        .to_string(),
    )
}

/// The SSE events of a stream carrying the blocked message.
fn blocked_stream(message: &str, usage: Option<Usage>) -> Chunk {
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut c = json!({"id": "chatcmpl-guardrail", "object": "chat.completion.chunk", "created": now_secs(), "model": "", "choices": choices});
        if let Some(u) = usage {
            c["usage"] = u;
        }
        format!("data: {c}\n\n")
    };
    let mut raw = chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": message}, "finish_reason": null}]),
        None,
    );
    raw.push_str(&chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "content_filter"}]),
        None,
    ));
    let mut frames = 2;
    if let Some(u) = usage {
        raw.push_str(&chunk(
            json!([]),
            Some(json!({"prompt_tokens": u.input, "completion_tokens": u.output, "total_tokens": u.total()})),
        ));
        frames += 1;
    }
    raw.push_str("data: [DONE]\n\n");
    Chunk {
        raw: Bytes::from(raw),
        usage,
        frames,
        content: true,
        deltas: 1,
        guardrail: None,
        ..Chunk::default()
    }
}

/// The generated text of an OpenAI chat answer (complete or a chunk's deltas).
fn answer_text(value: &Value, out: &mut String) {
    for choice in value.get("choices").and_then(Value::as_array).into_iter().flatten() {
        for part in [choice.get("message"), choice.get("delta")].into_iter().flatten() {
            if let Some(t) = part.get("content").and_then(Value::as_str) {
                out.push_str(t);
            }
        }
    }
}

/// The generated text of whole SSE events.
fn sse_text(raw: &[u8], out: &mut String) {
    for line in raw.split(|b| *b == b'\n') {
        let Some(data) = line.strip_prefix(b"data:") else {
            continue;
        };
        if let Ok(v) = serde_json::from_slice::<Value>(data.trim_ascii()) {
            answer_text(&v, out);
        }
    }
}

/// Calls an OpenAI-compatible target with the guardrail applied on both sides.
pub async fn guarded_openai(
    upstream: &crate::upstream::openai_compat::OpenAiCompat,
    bedrock: &Bedrock,
    target: &Target,
    call: &Call,
    guard: &Guardrail,
    deadline: Instant,
) -> Result<Answer, UpstreamError> {
    let texts = input_texts(call);
    if let Some(message) = apply(bedrock, guard, "INPUT", &texts, deadline).await? {
        let usage = Usage::default();
        return Ok(if call.streams() {
            Answer::Stream(EventStream {
                wire: Wire::OpenAi,
                headers: http::HeaderMap::new(),
                first: blocked_stream(&message, None),
                rest: futures::stream::empty().boxed(),
                guardrail: Some(Intervention::Input),
            })
        } else {
            Answer::Complete(Reply {
                wire: Wire::OpenAi,
                headers: http::HeaderMap::new(),
                body: blocked_completion(&message, usage),
                header_usage: None,
                guardrail: Some(Intervention::Input),
            })
        });
    }
    match upstream.call(target, call, None, deadline).await? {
        Answer::Complete(mut reply) => {
            let value: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
            let mut text = String::new();
            answer_text(&value, &mut text);
            if let Some(message) = apply(bedrock, guard, "OUTPUT", &[text], deadline).await? {
                let usage = value
                    .get("usage")
                    .and_then(|u| crate::upstream::openai_compat::OpenAiUsage::deserialize(u).ok())
                    .map(Usage::from)
                    .unwrap_or_default();
                reply.body = blocked_completion(&message, usage);
                reply.guardrail = Some(Intervention::Output);
            }
            Ok(Answer::Complete(reply))
        }
        Answer::Stream(stream) => {
            // Buffer the whole answer, then judge it.
            let EventStream {
                headers,
                first,
                mut rest,
                ..
            } = stream;
            let mut chunks = vec![first];
            while let Some(next) = tokio::time::timeout(remaining(deadline), rest.next())
                .await
                .map_err(|_| {
                    UpstreamError::new(
                        ErrorClass::Timeout,
                        Some(200),
                        "the stream did not end before the deadline",
                    )
                })?
            {
                let chunk = next?;
                if let Some(e) = chunk.failure {
                    return Err(e);
                }
                chunks.push(chunk);
            }
            let mut text = String::new();
            let mut usage = None;
            for c in &chunks {
                sse_text(&c.raw, &mut text);
                usage = c.usage.or(usage);
            }
            if let Some(message) = apply(bedrock, guard, "OUTPUT", &[text], deadline).await? {
                return Ok(Answer::Stream(EventStream {
                    wire: Wire::OpenAi,
                    headers,
                    first: blocked_stream(&message, usage),
                    rest: futures::stream::empty().boxed(),
                    guardrail: Some(Intervention::Output),
                }));
            }
            let mut chunks = chunks.into_iter();
            let first = chunks.next().unwrap_or_default();
            Ok(Answer::Stream(EventStream {
                wire: Wire::OpenAi,
                headers,
                first,
                rest: futures::stream::iter(chunks.map(Ok)).boxed(),
                guardrail: None,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::guardrail::GuardrailTrace;

    fn guard() -> Guardrail {
        Guardrail {
            name: "g".into(),
            identifier: "demo".into(),
            version: "1".into(),
            trace: GuardrailTrace::Enabled,
            apply_in: None,
        }
    }

    #[test]
    fn converse_bodies_get_the_configured_guardrail() {
        let body = br#"{"messages":[],"guardrailConfig":{"guardrailIdentifier":"theirs","guardrailVersion":"DRAFT"}}"#;
        let out: Value = serde_json::from_slice(&converse_body(body, "abc123", &guard()).unwrap()).unwrap();
        assert_eq!(
            out["guardrailConfig"],
            json!({"guardrailIdentifier": "abc123", "guardrailVersion": "1", "trace": "enabled"})
        );
        assert!(converse_body(b"[1]", "x", &guard()).is_err());
    }

    #[test]
    fn interventions_are_read_from_complete_answers() {
        let input = br#"{"output":{},"stopReason":"guardrail_intervened","usage":{"inputTokens":3,"outputTokens":0}}"#;
        assert_eq!(complete_intervention(input, None), Some(Intervention::Input));
        let output = br#"{"output":{},"stopReason":"guardrail_intervened","usage":{"inputTokens":3,"outputTokens":9}}"#;
        assert_eq!(complete_intervention(output, None), Some(Intervention::Output));
        let invoke = br#"{"content":[],"amazon-bedrock-guardrailAction":"INTERVENED"}"#;
        let usage = Usage {
            input: 1,
            output: 0,
            ..Usage::default()
        };
        assert_eq!(complete_intervention(invoke, Some(usage)), Some(Intervention::Input));
        assert_eq!(complete_intervention(br#"{"stopReason":"end_turn"}"#, None), None);
        assert_eq!(
            complete_intervention(br#"{"amazon-bedrock-guardrailAction":"NONE","x":"INTERVENED"}"#, None),
            None
        );
    }

    #[test]
    fn blocked_answers_are_openai_shaped() {
        let c: Value = serde_json::from_slice(&blocked_completion("no", Usage::default())).unwrap();
        assert_eq!(c["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(c["choices"][0]["message"]["content"], "no");
        let s = blocked_stream("no", None);
        let text = String::from_utf8(s.raw.to_vec()).unwrap();
        assert!(text.contains("\"finish_reason\":\"content_filter\"") && text.ends_with("data: [DONE]\n\n"));
        let mut out = String::new();
        sse_text(&s.raw, &mut out);
        assert_eq!(out, "no");
    }
}
