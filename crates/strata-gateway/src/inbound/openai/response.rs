//! Converse answer → OpenAI `chat.completion`.

use serde_json::{json, Value};
use strata_core::wire::converse::{ContentBlock, ConverseOutput, ConverseResponse, StopReason, TokenUsage};

use super::translate::finish_reason;

/// The chat completion for a Converse answer. A call of the `format` tool (a JSON
/// `response_format`, see [`super::request::FormatTool`]) is the answer itself: its input becomes
/// the message's `content` and the finish reason `stop`.
pub fn converse_to_chat(
    response: &ConverseResponse,
    model: &str,
    id: &str,
    created: u64,
    format: Option<&str>,
) -> Value {
    let ConverseOutput::Message(message) = &response.output;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    let mut formatted: Option<String> = None;
    for block in &message.content {
        match block {
            ContentBlock::Text(t) => text.push_str(t),
            ContentBlock::ToolUse(u) if format == Some(u.name.as_str()) => formatted = Some(u.input.to_string()),
            ContentBlock::ToolUse(u) => tool_calls.push(json!({
                "id": u.tool_use_id, "type": "function",
                "function": {"name": u.name, "arguments": u.input.to_string()}
            })),
            _ => {}
        }
    }
    // The answer is the JSON alone: words the model wrote beside it would make it invalid.
    let formatted = match formatted {
        Some(json) => {
            text = json;
            true
        }
        None => false,
    };
    let mut msg = json!({"role": "assistant", "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { Value::String(text) }, "refusal": null});
    if !tool_calls.is_empty() {
        msg["tool_calls"] = Value::Array(tool_calls);
    }
    let finish = match response.stop_reason {
        StopReason::ToolUse if formatted && msg.get("tool_calls").is_none() => "stop",
        other => finish_reason(other),
    };
    json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": msg, "finish_reason": finish, "logprobs": null}],
        "usage": chat_usage(&response.usage),
    })
}

/// OpenAI's `usage` for Bedrock's: `prompt_tokens` counts every input token, cached ones too
/// (Bedrock counts reads and writes of the prompt cache apart from `inputTokens`), and
/// `prompt_tokens_details.cached_tokens` the ones read from the cache.
pub fn chat_usage(u: &TokenUsage) -> Value {
    let read = u.cache_read_input_tokens.unwrap_or(0);
    let written = u.cache_write_input_tokens.unwrap_or(0);
    let prompt = u.input_tokens.saturating_add(read).saturating_add(written);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt.saturating_add(u.output_tokens),
        "prompt_tokens_details": {"cached_tokens": read},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_tools_and_usage_map() {
        let r: ConverseResponse = serde_json::from_value(json!({
            "output": {"message": {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}, "metrics": {"latencyMs": 1}
        })).unwrap();
        let c = converse_to_chat(&r, "m", "id1", 5, None);
        assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            c["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        assert!(c["choices"][0]["message"]["content"].is_null());
        assert_eq!(c["usage"]["total_tokens"], 7);
    }

    #[test]
    fn a_format_tool_call_is_the_content() {
        let r: ConverseResponse = serde_json::from_value(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"text": "Here it is:"},
                {"toolUse": {"toolUseId": "t1", "name": "place", "input": {"city": "Paris"}}}]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7, "cacheReadInputTokens": 10, "cacheWriteInputTokens": 2},
            "metrics": {"latencyMs": 1}
        }))
        .unwrap();
        let c = converse_to_chat(&r, "m", "id1", 5, Some("place"));
        let message = &c["choices"][0]["message"];
        assert_eq!(c["choices"][0]["finish_reason"], "stop");
        assert!(message.get("tool_calls").is_none());
        let content: Value = serde_json::from_str(message["content"].as_str().unwrap()).unwrap();
        assert_eq!(content, json!({"city": "Paris"}));
        // Cached input counts in prompt_tokens, and apart as cached_tokens.
        assert_eq!(c["usage"]["prompt_tokens"], 15);
        assert_eq!(c["usage"]["prompt_tokens_details"]["cached_tokens"], 10);
        assert_eq!(c["usage"]["total_tokens"], 19);
    }
}
