//! Converse answer → OpenAI `chat.completion`.

use serde_json::{json, Value};
use strata_core::wire::converse::{ContentBlock, ConverseOutput, ConverseResponse};

use super::translate::finish_reason;

/// The chat completion for a Converse answer.
pub fn converse_to_chat(response: &ConverseResponse, model: &str, id: &str, created: u64) -> Value {
    let ConverseOutput::Message(message) = &response.output;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::Text(t) => text.push_str(t),
            ContentBlock::ToolUse(u) => tool_calls.push(json!({
                "id": u.tool_use_id, "type": "function",
                "function": {"name": u.name, "arguments": u.input.to_string()}
            })),
            _ => {}
        }
    }
    let mut msg = json!({"role": "assistant", "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { Value::String(text) }, "refusal": null});
    if !tool_calls.is_empty() {
        msg["tool_calls"] = Value::Array(tool_calls);
    }
    let u = &response.usage;
    json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": msg, "finish_reason": finish_reason(response.stop_reason), "logprobs": null}],
        "usage": {"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens, "total_tokens": u.total_tokens},
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
        let c = converse_to_chat(&r, "m", "id1", 5);
        assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            c["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        assert!(c["choices"][0]["message"]["content"].is_null());
        assert_eq!(c["usage"]["total_tokens"], 7);
    }
}
