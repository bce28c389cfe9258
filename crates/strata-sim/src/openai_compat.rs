//! The emulator's OpenAI-compatible mode: `POST /v1/chat/completions` (JSON or SSE) and
//! `GET /v1/models`, like a vLLM server, with the same synthetic answers, latency model and
//! faults as the Bedrock side. It stands in for self-hosted upstreams in tests.
//!
//! Keys: any fleet account's API key (`Authorization: Bearer …`). Models: the fleet's model IDs.
//! Faults match the pseudo-region [`LOCAL_REGION`] and the model ID.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rand::Rng;
use serde_json::{json, Value};
use strata_core::wire::converse::StopReason;

use crate::faults::{CutMode, FaultKind, OutageMode, Plane, Target};
use crate::reply::DropConnection;
use crate::runtime::stream::{paced_body, Cut};
use crate::state::SimState;
use crate::stats::InvocationKey;
use crate::synth::{chunk_json, chunk_text, respond, Prompt, Reply, ToolDef, ToolMode};

/// The region name OpenAI-mode calls are counted under and faults are scoped with.
pub const LOCAL_REGION: &str = "local";

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"message": message.into(), "type": kind, "param": null, "code": status.as_u16()}});
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "BadRequestError", message)
}

/// `GET /v1/models`.
pub fn list_models(state: &SimState) -> Response {
    let data: Vec<Value> = state
        .fleet()
        .models
        .iter()
        .map(|m| json!({"id": m.id, "object": "model", "created": 0, "owned_by": m.provider}))
        .collect();
    let mut r = json!({"object": "list", "data": data}).to_string().into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(state: &Arc<SimState>, headers: &http::HeaderMap, body: &[u8]) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(account) = token.and_then(|t| state.fleet().account_by_token(t)) else {
        return error(StatusCode::UNAUTHORIZED, "AuthenticationError", "Invalid API key.");
    };
    let request: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return bad_request("The request body must be a JSON object."),
        Err(e) => return bad_request(format!("Invalid JSON: {e}")),
    };
    let Some(model_id) = request.get("model").and_then(Value::as_str) else {
        return bad_request("'model' is required and must be a string.");
    };
    let Some(model) = state.fleet().model(model_id).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "NotFoundError",
            format!("The model `{model_id}` does not exist."),
        );
    };
    let prompt = match prompt_of(&request, model_id) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let target = Target {
        account,
        region: LOCAL_REGION,
        requested_model: model_id,
        foundation_model: model_id,
        plane: Plane::Runtime,
    };
    let record = |status: u16, error: Option<&'static str>| {
        state.stats.count_invocation(InvocationKey {
            account,
            region: LOCAL_REGION.to_string(),
            source_region: LOCAL_REGION.to_string(),
            model: model.id.clone(),
            foundation_model: model.id.clone(),
            operation: if stream {
                "ChatCompletionsStream"
            } else {
                "ChatCompletions"
            },
            status,
            error,
        })
    };
    if !state.faults.is_empty() {
        if let Some(FaultKind::Outage { mode }) = state.faults.take(&target, |k| matches!(k, FaultKind::Outage { .. }))
        {
            record(if mode == OutageMode::Drop { 0 } else { 503 }, Some("Outage"));
            if mode == OutageMode::Drop {
                let mut r = Response::new(axum::body::Body::empty());
                r.extensions_mut().insert(DropConnection);
                return r;
            }
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableError",
                "The server is unavailable.",
            );
        }
        if let Some(kind) = state.faults.take(&target, |k| match k {
            FaultKind::Throttle { rate } | FaultKind::ErrorRate { rate, .. } => {
                *rate >= 1.0 || rand::rng().random::<f64>() < *rate
            }
            _ => false,
        }) {
            let (status, kind_name) = match kind {
                FaultKind::Throttle { .. } => (StatusCode::TOO_MANY_REQUESTS, "RateLimitError"),
                FaultKind::ErrorRate { error, .. } => {
                    let k = strata_core::BedrockErrorKind::from_name(&error)
                        .unwrap_or(strata_core::BedrockErrorKind::InternalServerException);
                    (
                        StatusCode::from_u16(k.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        "APIError",
                    )
                }
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "APIError"),
            };
            record(status.as_u16(), Some(kind_name));
            return error(status, kind_name, "Injected failure.");
        }
    }
    let reply = respond(&prompt);
    let timing = crate::runtime::timing(state, &target);
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let id = format!("chatcmpl-{}", strata_http::new_request_id().replace('-', ""));
    let input = prompt.input_tokens();
    let output = reply.output_tokens();
    let usage = json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output});
    let finish = finish_reason(reply.stop_reason());
    if !stream {
        let total = timing.total(output);
        if !total.is_zero() {
            tokio::time::sleep(total).await;
        }
        let message = match &reply {
            Reply::Text { text, .. } => json!({"role": "assistant", "content": text}),
            Reply::Tool {
                tool_use_id,
                name,
                input,
                ..
            } => json!({"role": "assistant", "content": null,
                "tool_calls": [{"id": tool_use_id, "type": "function", "function": {"name": name, "arguments": input.to_string()}}]}),
        };
        record(200, None);
        let body = json!({"id": id, "object": "chat.completion", "created": created, "model": model.id,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}], "usage": usage});
        let mut r = body.to_string().into_response();
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        return r;
    }
    let chunk = |delta: Value, finish: Option<&str>| -> Bytes {
        let c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model.id,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]});
        Bytes::from(format!("data: {c}\n\n"))
    };
    let mut frames: Vec<(Duration, Bytes)> = vec![(
        timing.first_token,
        chunk(json!({"role": "assistant", "content": ""}), None),
    )];
    match &reply {
        Reply::Text { text, .. } => {
            for piece in chunk_text(text, 3) {
                let words = piece.split(' ').filter(|w| !w.is_empty()).count() as u32;
                frames.push((timing.per_token * words, chunk(json!({"content": piece}), None)));
            }
        }
        Reply::Tool {
            tool_use_id,
            name,
            input,
            ..
        } => {
            frames.push((
                Duration::ZERO,
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": tool_use_id, "type": "function",
                "function": {"name": name, "arguments": ""}}]}),
                    None,
                ),
            ));
            for piece in chunk_json(&input.to_string(), 3) {
                frames.push((
                    timing.per_token * 4,
                    chunk(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                        None,
                    ),
                ));
            }
        }
    }
    frames.push((Duration::ZERO, chunk(json!({}), Some(finish))));
    if include_usage {
        let c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model.id, "choices": [], "usage": usage});
        frames.push((Duration::ZERO, Bytes::from(format!("data: {c}\n\n"))));
    }
    frames.push((Duration::ZERO, Bytes::from_static(b"data: [DONE]\n\n")));
    let cut = if state.faults.is_empty() {
        None
    } else {
        match state.faults.take(&target, |k| matches!(k, FaultKind::StreamCut { .. })) {
            Some(FaultKind::StreamCut { after_events, mode }) => {
                let after = (after_events as usize).min(frames.len());
                Some(match mode {
                    CutMode::Drop => Cut::Drop { after },
                    CutMode::Exception => Cut::Exception {
                        after,
                        frame: Bytes::from(format!(
                            "data: {}\n\n",
                            json!({"error": {"message": "The model stream was interrupted.", "type": "APIError", "code": 500}})
                        )),
                    },
                })
            }
            _ => None,
        }
    };
    record(200, cut.as_ref().map(|_| "StreamCut"));
    let mut r = Response::new(paced_body(frames, cut, ()));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/event-stream"));
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}

fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFiltered | StopReason::GuardrailIntervened => "content_filter",
        _ => "stop",
    }
}

/// Reads an OpenAI chat request into a prompt (text of every message, limits, tools).
fn prompt_of(request: &Value, model: &str) -> Result<Prompt, Box<Response>> {
    let bad = |m: &str| Box::new(bad_request(m.to_string()));
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("'messages' is required and must be an array."))?;
    if messages.is_empty() {
        return Err(bad("'messages' must not be empty."));
    }
    let mut prompt = Prompt::new(model);
    for m in messages {
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("every message needs a string 'role'."))?;
        if !["system", "developer", "user", "assistant", "tool"].contains(&role) {
            return Err(bad("'role' must be system, developer, user, assistant or tool."));
        }
        let text = match m.get("content") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                let mut t = String::new();
                for p in parts {
                    match p.get("type").and_then(Value::as_str) {
                        Some("text") => t.push_str(
                            p.get("text")
                                .and_then(Value::as_str)
                                .ok_or_else(|| bad("text parts need a string 'text'."))?,
                        ),
                        Some("image_url") => prompt.images += 1,
                        _ => return Err(bad("content parts must be of type text or image_url.")),
                    }
                }
                t
            }
            Some(_) => return Err(bad("'content' must be a string or an array of parts.")),
        };
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            for c in calls {
                prompt.texts.push(
                    c.pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        prompt.texts.push(text.clone());
        prompt.messages += 1;
        prompt.after_tool_result = role == "tool";
        if role == "user" {
            prompt.last_user_text = text;
        }
    }
    let max = request
        .get("max_completion_tokens")
        .or_else(|| request.get("max_tokens"));
    if let Some(v) = max.filter(|v| !v.is_null()) {
        let n = v
            .as_u64()
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad("'max_tokens' must be a positive integer."))?;
        prompt.max_tokens = Some(u32::try_from(n).unwrap_or(u32::MAX));
    }
    prompt.stop_sequences = match request.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(_) => return Err(bad("'stop' must be a string or an array of strings.")),
    };
    if let Some(tools) = request.get("tools").and_then(Value::as_array) {
        for t in tools {
            let name = t
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("every tool needs function.name."))?;
            let schema = t
                .pointer("/function/parameters")
                .cloned()
                .unwrap_or(json!({"type": "object"}));
            prompt.tools.push(ToolDef {
                name: name.to_string(),
                schema,
            });
        }
        prompt.tool_mode = match request.get("tool_choice") {
            None | Some(Value::Null) => ToolMode::Auto,
            Some(Value::String(s)) if s == "auto" => ToolMode::Auto,
            Some(Value::String(s)) if s == "none" => ToolMode::None,
            Some(Value::String(s)) if s == "required" => ToolMode::Any,
            Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
                Some(name) => ToolMode::Named(name.to_string()),
                None => return Err(bad("'tool_choice' must be none, auto, required or a named function.")),
            },
        };
    }
    Ok(prompt)
}
