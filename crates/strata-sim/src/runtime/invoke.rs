//! InvokeModel and InvokeModelWithResponseStream in each provider's native body dialect:
//! Anthropic messages, Amazon Nova, Meta Llama and Mistral.

use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};
use strata_core::eventstream::event_frame;
use strata_core::wire::converse::StopReason;
use strata_core::BedrockErrorKind;

use super::{Generated, Timing};
use crate::error::AwsError;
use crate::fleet::{BodyDialect, ModelSpec};
use crate::reply::json_response;
use crate::synth::{chunk_json, chunk_text, Prompt, Reply, ToolDef, ToolMode};

fn malformed(detail: &str) -> AwsError {
    AwsError::validation(format!(
        "Malformed input request: {detail}, please reformat your input and try again."
    ))
}

fn required<'a>(body: &'a Value, key: &str) -> Result<&'a Value, AwsError> {
    body.get(key)
        .ok_or_else(|| malformed(&format!("#: required key [{key}] not found")))
}

fn opt_u32(body: &Value, key: &str) -> Result<Option<u32>, AwsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| *n >= 1)
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| malformed(&format!("#/{key}: expected a positive integer"))),
    }
}

/// A sampling parameter that must be a number in [0, 1] when present.
fn check_unit_range(body: &Value, key: &str) -> Result<(), AwsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(v) => match v.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => Ok(()),
            _ => Err(malformed(&format!("#/{key}: {v} is not a number between 0 and 1"))),
        },
    }
}

fn string_list(body: &Value, key: &str) -> Result<Vec<String>, AwsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| malformed(&format!("#/{key}: expected type: String")))
            })
            .collect(),
        Some(_) => Err(malformed(&format!("#/{key}: expected type: JSONArray"))),
    }
}

/// Reads an InvokeModel body in the model's dialect.
pub fn parse(body: &[u8], model: &ModelSpec) -> Result<Prompt, AwsError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(&format!("invalid JSON ({e})")))?;
    if !value.is_object() {
        return Err(malformed("#: expected type: JSONObject"));
    }
    let mut prompt = Prompt::new(&model.id);
    let sampling = value.get("inferenceConfig").unwrap_or(&value);
    for key in ["temperature", "top_p", "topP"] {
        check_unit_range(sampling, key)?;
    }
    match model.body {
        BodyDialect::Anthropic => parse_anthropic(&value, &mut prompt)?,
        BodyDialect::Nova => parse_nova(&value, &mut prompt)?,
        BodyDialect::Llama => {
            let text = required(&value, "prompt")?
                .as_str()
                .ok_or_else(|| malformed("#/prompt: expected type: String"))?;
            prompt.texts.push(text.to_string());
            prompt.last_user_text = text.to_string();
            prompt.messages = 1;
            prompt.max_tokens = opt_u32(&value, "max_gen_len")?;
        }
        BodyDialect::Qwen => parse_qwen(&value, &mut prompt)?,
        // Embedding bodies are read by `super::embed`, which answers before generation.
        BodyDialect::TitanEmbed | BodyDialect::CohereEmbed => return Err(super::embed::not_generative()),
        BodyDialect::Mistral => {
            if let Some(messages) = value.get("messages") {
                read_chat_messages(messages, &mut prompt)?;
            } else {
                let text = required(&value, "prompt")?
                    .as_str()
                    .ok_or_else(|| malformed("#/prompt: expected type: String"))?;
                prompt.texts.push(text.to_string());
                prompt.last_user_text = text.to_string();
                prompt.messages = 1;
            }
            prompt.max_tokens = opt_u32(&value, "max_tokens")?;
            prompt.stop_sequences = string_list(&value, "stop")?;
        }
    }
    Ok(prompt)
}

/// Adds the text of a content value that is either a string or a list of typed blocks.
fn read_anthropic_content(content: &Value, prompt: &mut Prompt) -> Result<(String, bool), AwsError> {
    let mut text_out = String::new();
    let mut has_tool_result = false;
    match content {
        Value::String(s) => {
            prompt.texts.push(s.clone());
            text_out.push_str(s);
        }
        Value::Array(blocks) => {
            for block in blocks {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let t = block
                            .get("text")
                            .and_then(Value::as_str)
                            .ok_or_else(|| malformed("#/messages/content/text: expected type: String"))?;
                        prompt.texts.push(t.to_string());
                        text_out.push_str(t);
                    }
                    Some("image") | Some("document") => prompt.images += 1,
                    Some("tool_use") => prompt
                        .texts
                        .push(block.get("input").map(Value::to_string).unwrap_or_default()),
                    Some("tool_result") => {
                        has_tool_result = true;
                        prompt
                            .texts
                            .push(block.get("content").map(Value::to_string).unwrap_or_default());
                    }
                    _ => return Err(malformed("#/messages/content: unknown content block type")),
                }
            }
        }
        _ => return Err(malformed("#/messages/content: expected type: JSONArray or String")),
    }
    Ok((text_out, has_tool_result))
}

fn parse_anthropic(body: &Value, prompt: &mut Prompt) -> Result<(), AwsError> {
    required(body, "anthropic_version")?
        .as_str()
        .ok_or_else(|| malformed("#/anthropic_version: expected type: String"))?;
    prompt.max_tokens =
        Some(opt_u32(body, "max_tokens")?.ok_or_else(|| malformed("#: required key [max_tokens] not found"))?);
    match body.get("system") {
        None | Some(Value::Null) => {}
        Some(system) => {
            read_anthropic_content(system, prompt)?;
        }
    }
    let messages = required(body, "messages")?
        .as_array()
        .ok_or_else(|| malformed("#/messages: expected type: JSONArray"))?;
    if messages.is_empty() {
        return Err(malformed("#/messages: expected minimum item count: 1, found: 0"));
    }
    for message in messages {
        match message.get("role").and_then(Value::as_str) {
            Some("user") | Some("assistant") => {}
            _ => return Err(malformed("#/messages/role: user or assistant expected")),
        }
        let content = message
            .get("content")
            .ok_or_else(|| malformed("#/messages: required key [content] not found"))?;
        let (text, tool_result) = read_anthropic_content(content, prompt)?;
        prompt.messages += 1;
        prompt.last_user_text = text;
        prompt.after_tool_result = tool_result;
    }
    prompt.stop_sequences = string_list(body, "stop_sequences")?;
    if let Some(tools) = body.get("tools").and_then(Value::as_array) {
        for tool in tools {
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("#/tools/name: expected type: String"))?;
            let schema = tool.get("input_schema").cloned().unwrap_or(json!({"type": "object"}));
            prompt.tools.push(ToolDef {
                name: name.to_string(),
                schema,
            });
        }
        prompt.tool_mode = match body.get("tool_choice") {
            None => ToolMode::Auto,
            Some(choice) => match choice.get("type").and_then(Value::as_str) {
                Some("auto") => ToolMode::Auto,
                Some("any") => ToolMode::Any,
                Some("none") => ToolMode::None,
                Some("tool") => ToolMode::Named(
                    choice
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                ),
                _ => return Err(malformed("#/tool_choice/type: auto, any, tool or none expected")),
            },
        };
    }
    Ok(())
}

fn read_chat_messages(messages: &Value, prompt: &mut Prompt) -> Result<(), AwsError> {
    let messages = messages
        .as_array()
        .ok_or_else(|| malformed("#/messages: expected type: JSONArray"))?;
    if messages.is_empty() {
        return Err(malformed("#/messages: expected minimum item count: 1, found: 0"));
    }
    for message in messages {
        let content = message
            .get("content")
            .ok_or_else(|| malformed("#/messages: required key [content] not found"))?;
        let mut text = String::new();
        match content {
            Value::String(s) => text.push_str(s),
            Value::Array(blocks) => {
                for block in blocks {
                    if let Some(t) = block.get("text") {
                        let t = t
                            .as_str()
                            .ok_or_else(|| malformed("#/messages/content/text: expected type: String"))?;
                        text.push_str(t);
                    } else if block.get("image").is_some() || block.get("video").is_some() {
                        prompt.images += 1;
                    } else {
                        return Err(malformed("#/messages/content: unknown content block"));
                    }
                }
            }
            _ => return Err(malformed("#/messages/content: expected type: JSONArray")),
        }
        prompt.texts.push(text.clone());
        prompt.messages += 1;
        prompt.last_user_text = text;
    }
    Ok(())
}

/// Imported Qwen: OpenAI's chat-completion body (`messages`, `max_tokens`, `stop`) or Bedrock's
/// completion body (`prompt`, `max_gen_len` or `max_tokens`, `stop`).
fn parse_qwen(body: &Value, prompt: &mut Prompt) -> Result<(), AwsError> {
    if let Some(messages) = body.get("messages") {
        read_chat_messages(messages, prompt)?;
        prompt.chat_completion = true;
        prompt.max_tokens = match opt_u32(body, "max_completion_tokens")? {
            Some(n) => Some(n),
            None => opt_u32(body, "max_tokens")?,
        };
    } else {
        let text = required(body, "prompt")?
            .as_str()
            .ok_or_else(|| malformed("#/prompt: expected type: String"))?;
        prompt.texts.push(text.to_string());
        prompt.last_user_text = text.to_string();
        prompt.messages = 1;
        prompt.max_tokens = match opt_u32(body, "max_gen_len")? {
            Some(n) => Some(n),
            None => opt_u32(body, "max_tokens")?,
        };
    }
    prompt.stop_sequences = match body.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        _ => string_list(body, "stop")?,
    };
    Ok(())
}

/// The `id` and `created` of an OpenAI-shaped answer (deterministic per answer).
fn chat_ids(generated: &Generated) -> (String, u64) {
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (format!("chatcmpl-{}", &message_id(generated)[9..]), created)
}

fn parse_nova(body: &Value, prompt: &mut Prompt) -> Result<(), AwsError> {
    if let Some(system) = body.get("system").and_then(Value::as_array) {
        for block in system {
            if let Some(t) = block.get("text").and_then(Value::as_str) {
                prompt.texts.push(t.to_string());
            }
        }
    }
    read_chat_messages(required(body, "messages")?, prompt)?;
    if let Some(config) = body.get("inferenceConfig") {
        prompt.max_tokens = match opt_u32(config, "max_new_tokens")? {
            Some(n) => Some(n),
            None => opt_u32(config, "maxTokens")?,
        };
        prompt.stop_sequences = string_list(config, "stopSequences")?;
    }
    Ok(())
}

fn reply_text(reply: &Reply) -> &str {
    match reply {
        Reply::Text { text, .. } => text,
        Reply::Tool { .. } => "",
    }
}

fn anthropic_stop(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        _ => "end_turn",
    }
}

fn plain_stop(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens => "length",
        _ => "stop",
    }
}

fn message_id(generated: &Generated) -> String {
    format!(
        "msg_bdrk_{:016x}",
        (generated.prompt.input_tokens() as u64 * 0x9e37_79b9) ^ generated.reply.output_tokens() as u64
    )
}

/// The InvokeModel answer with its token-count headers.
pub fn response(model: &ModelSpec, generated: &Generated, latency_ms: u64) -> Response {
    let input = generated.prompt.input_tokens();
    let output = generated.reply.output_tokens();
    let stop = generated.reply.stop_reason();
    let body = match model.body {
        BodyDialect::Anthropic => {
            let content = match &generated.reply {
                Reply::Text { text, .. } => json!([{"type": "text", "text": text}]),
                Reply::Tool {
                    tool_use_id,
                    name,
                    input,
                    ..
                } => json!([{"type": "tool_use", "id": tool_use_id, "name": name, "input": input}]),
            };
            let stop_sequence = match &generated.reply {
                Reply::Text { stop_sequence, .. } => stop_sequence.clone(),
                _ => None,
            };
            json!({"id": message_id(generated), "type": "message", "role": "assistant", "model": model.id,
                   "content": content, "stop_reason": anthropic_stop(stop), "stop_sequence": stop_sequence,
                   "usage": {"input_tokens": input, "output_tokens": output}})
        }
        BodyDialect::Nova => json!({
            "output": {"message": {"role": "assistant", "content": [{"text": reply_text(&generated.reply)}]}},
            "stopReason": anthropic_stop(stop),
            "usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output}
        }),
        BodyDialect::Qwen if generated.prompt.chat_completion => {
            let (id, created) = chat_ids(generated);
            json!({
                "id": id, "object": "chat.completion", "created": created, "model": model.id,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply_text(&generated.reply)},
                             "finish_reason": plain_stop(stop)}],
                "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}
            })
        }
        BodyDialect::Llama | BodyDialect::Qwen => json!({
            "generation": reply_text(&generated.reply), "prompt_token_count": input,
            "generation_token_count": output, "stop_reason": plain_stop(stop)
        }),
        BodyDialect::Mistral => {
            json!({"outputs": [{"text": reply_text(&generated.reply), "stop_reason": plain_stop(stop)}]})
        }
        BodyDialect::TitanEmbed | BodyDialect::CohereEmbed => return super::embed::not_generative().into_response(),
    };
    let mut body = body;
    if let (Some(guard), Value::Object(map)) = (&generated.guardrail, &mut body) {
        guard.annotate_invoke(map);
    }
    let mut response = json_response(body.to_string());
    let headers = response.headers_mut();
    headers.insert("x-amzn-bedrock-input-token-count", HeaderValue::from(input));
    headers.insert("x-amzn-bedrock-output-token-count", HeaderValue::from(output));
    headers.insert("x-amzn-bedrock-invocation-latency", HeaderValue::from(latency_ms));
    response
}

fn chunk(payload: &Value) -> Result<Bytes, AwsError> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(payload.to_string());
    event_frame("chunk", json!({"bytes": encoded}).to_string())
        .map_err(|e| AwsError::new(BedrockErrorKind::InternalServerException, e.to_string()))
}

/// The InvokeModelWithResponseStream frames with the delay before each.
pub fn stream_frames(
    model: &ModelSpec,
    generated: &Generated,
    timing: &Timing,
) -> Result<Vec<(Duration, Bytes)>, AwsError> {
    let input = generated.prompt.input_tokens();
    let output = generated.reply.output_tokens();
    let stop = generated.reply.stop_reason();
    let total_ms = u64::try_from(timing.total(output).as_millis()).unwrap_or(u64::MAX);
    let first_ms = u64::try_from(timing.first_token.as_millis()).unwrap_or(u64::MAX);
    let metrics = json!({"inputTokenCount": input, "outputTokenCount": output,
                         "invocationLatency": total_ms, "firstByteLatency": first_ms});
    // Text pieces (or tool JSON pieces) with the delay before each.
    let pieces: Vec<(Duration, String)> = match &generated.reply {
        Reply::Text { text, .. } => chunk_text(text, 3)
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let words = p.split(' ').filter(|w| !w.is_empty()).count() as u32;
                (
                    if i == 0 {
                        timing.first_token
                    } else {
                        timing.per_token * words
                    },
                    p,
                )
            })
            .collect(),
        Reply::Tool { input, .. } => chunk_json(&input.to_string(), 3)
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    if i == 0 {
                        timing.first_token
                    } else {
                        timing.per_token * 4
                    },
                    p,
                )
            })
            .collect(),
    };
    let mut payloads: Vec<(Duration, Value)> = Vec::new();
    match model.body {
        BodyDialect::Anthropic => {
            payloads.push((
                Duration::ZERO,
                json!({"type": "message_start", "message": {"id": message_id(generated), "type": "message",
                "role": "assistant", "model": model.id, "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": input, "output_tokens": 1}}}),
            ));
            let (block, delta_kind, delta_key) = match &generated.reply {
                Reply::Tool { tool_use_id, name, .. } => (
                    json!({"type": "tool_use", "id": tool_use_id, "name": name, "input": {}}),
                    "input_json_delta",
                    "partial_json",
                ),
                Reply::Text { .. } => (json!({"type": "text", "text": ""}), "text_delta", "text"),
            };
            payloads.push((
                Duration::ZERO,
                json!({"type": "content_block_start", "index": 0, "content_block": block}),
            ));
            for (delay, piece) in pieces {
                payloads.push((
                    delay,
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": delta_kind, delta_key: piece}}),
                ));
            }
            payloads.push((Duration::ZERO, json!({"type": "content_block_stop", "index": 0})));
            let stop_sequence = match &generated.reply {
                Reply::Text { stop_sequence, .. } => stop_sequence.clone(),
                _ => None,
            };
            payloads.push((Duration::ZERO, json!({"type": "message_delta", "delta": {"stop_reason": anthropic_stop(stop), "stop_sequence": stop_sequence}, "usage": {"output_tokens": output}})));
            payloads.push((
                Duration::ZERO,
                json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics}),
            ));
        }
        BodyDialect::Nova => {
            payloads.push((Duration::ZERO, json!({"messageStart": {"role": "assistant"}})));
            for (delay, piece) in pieces {
                payloads.push((
                    delay,
                    json!({"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}}),
                ));
            }
            payloads.push((Duration::ZERO, json!({"contentBlockStop": {"contentBlockIndex": 0}})));
            payloads.push((
                Duration::ZERO,
                json!({"messageStop": {"stopReason": anthropic_stop(stop)}}),
            ));
            payloads.push((
                Duration::ZERO,
                json!({"metadata": {"usage": {"inputTokens": input, "outputTokens": output}},
                "amazon-bedrock-invocationMetrics": metrics}),
            ));
        }
        BodyDialect::Llama | BodyDialect::Mistral | BodyDialect::Qwen => {
            let n = pieces.len();
            let mut generated_so_far = 0usize;
            let chat = model.body == BodyDialect::Qwen && generated.prompt.chat_completion;
            let (chat_id, created) = chat_ids(generated);
            for (i, (delay, piece)) in pieces.into_iter().enumerate() {
                generated_so_far += piece.split(' ').filter(|w| !w.is_empty()).count();
                let last = i + 1 == n;
                let mut payload = if chat {
                    let delta = if i == 0 {
                        json!({"role": "assistant", "content": piece})
                    } else {
                        json!({"content": piece})
                    };
                    let mut chunk = json!({"id": chat_id, "object": "chat.completion.chunk", "created": created,
                        "model": model.id, "choices": [{"index": 0, "delta": delta,
                        "finish_reason": if last { Some(plain_stop(stop)) } else { None }}]});
                    if last {
                        chunk["usage"] = json!({"prompt_tokens": input, "completion_tokens": output,
                                                "total_tokens": input + output});
                    }
                    chunk
                } else if model.body != BodyDialect::Mistral {
                    json!({"generation": piece, "prompt_token_count": if i == 0 { Some(input) } else { None },
                           "generation_token_count": generated_so_far, "stop_reason": if last { Some(plain_stop(stop)) } else { None }})
                } else {
                    json!({"outputs": [{"text": piece, "stop_reason": if last { Some(plain_stop(stop)) } else { None }}]})
                };
                if last {
                    if let Value::Object(map) = &mut payload {
                        map.insert("amazon-bedrock-invocationMetrics".into(), metrics.clone());
                    }
                }
                payloads.push((delay, payload));
            }
        }
        BodyDialect::TitanEmbed | BodyDialect::CohereEmbed => return Err(super::embed::not_generative()),
    }
    if let (Some(guard), Some((_, Value::Object(map)))) = (&generated.guardrail, payloads.last_mut()) {
        guard.annotate_invoke(map);
    }
    payloads
        .into_iter()
        .map(|(delay, payload)| Ok((delay, chunk(&payload)?)))
        .collect()
}
