//! Converse answer → Anthropic `message`.

use serde_json::{json, Value};
use strata_core::wire::converse::{ContentBlock, ConverseOutput, ConverseResponse, StopReason, TokenUsage};

/// Anthropic's `stop_reason` for a Converse stop reason. A guardrail or content filter that
/// blocked the answer is a `refusal`, Anthropic's own word for it.
pub fn stop_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::GuardrailIntervened | StopReason::ContentFiltered => "refusal",
        StopReason::ModelContextWindowExceeded => "model_context_window_exceeded",
    }
}

/// Whether a guardrail (or the model's content filter) blocked the answer.
pub fn intervened(stop: StopReason) -> bool {
    matches!(stop, StopReason::GuardrailIntervened | StopReason::ContentFiltered)
}

/// The `stop_sequence` that ended the answer. Converse does not say which one matched, so it is
/// known only when the request had exactly one.
pub fn stop_sequence(stop: StopReason, asked: &[String]) -> Value {
    match (stop, asked) {
        (StopReason::StopSequence, [one]) => Value::String(one.clone()),
        _ => Value::Null,
    }
}

/// Anthropic's `usage` for Converse token usage (Bedrock, like Anthropic, counts cache reads and
/// writes apart from `input_tokens`).
pub fn usage(u: &TokenUsage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cache_read_input_tokens.unwrap_or(0),
        "cache_creation_input_tokens": u.cache_write_input_tokens.unwrap_or(0),
    })
}

/// The `message` for a Converse answer.
pub fn converse_to_message(response: &ConverseResponse, model: &str, id: &str, stop_sequences: &[String]) -> Value {
    let ConverseOutput::Message(message) = &response.output;
    let content: Vec<Value> = message.content.iter().filter_map(content_block).collect();
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(response.stop_reason),
        "stop_sequence": stop_sequence(response.stop_reason, stop_sequences),
        "usage": usage(&response.usage),
    })
}

/// One answer block in Anthropic's shape; blocks Anthropic has no word for are left out.
fn content_block(block: &ContentBlock) -> Option<Value> {
    match block {
        ContentBlock::Text(t) => Some(json!({"type": "text", "text": t})),
        ContentBlock::ToolUse(u) => {
            Some(json!({"type": "tool_use", "id": u.tool_use_id, "name": u.name, "input": u.input}))
        }
        ContentBlock::ReasoningContent(r) => {
            if let Some(text) = r.get("reasoningText") {
                Some(
                    json!({"type": "thinking", "thinking": text.get("text").cloned().unwrap_or(json!("")),
                            "signature": text.get("signature").cloned().unwrap_or(json!(""))}),
                )
            } else {
                r.get("redactedContent")
                    .map(|data| json!({"type": "redacted_thinking", "data": data}))
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(v: Value) -> ConverseResponse {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn text_tools_thinking_and_usage_map() {
        let r = answer(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
                {"text": "Let me look."},
                {"toolUse": {"toolUseId": "tu1", "name": "weather", "input": {"city": "Oslo"}}}]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15, "cacheReadInputTokens": 7},
            "metrics": {"latencyMs": 1}
        }));
        let m = converse_to_message(&r, "claude", "msg_1", &[]);
        assert_eq!(m["type"], "message");
        assert_eq!(m["model"], "claude");
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(m["stop_sequence"], Value::Null);
        assert_eq!(
            m["content"][0],
            json!({"type": "thinking", "thinking": "hmm", "signature": "sig"})
        );
        assert_eq!(m["content"][1], json!({"type": "text", "text": "Let me look."}));
        assert_eq!(
            m["content"][2],
            json!({"type": "tool_use", "id": "tu1", "name": "weather", "input": {"city": "Oslo"}})
        );
        assert_eq!(
            m["usage"],
            json!({"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 7, "cache_creation_input_tokens": 0})
        );
    }

    #[test]
    fn stop_reasons_map_and_a_single_stop_sequence_is_named() {
        assert_eq!(stop_reason(StopReason::EndTurn), "end_turn");
        assert_eq!(stop_reason(StopReason::MaxTokens), "max_tokens");
        assert_eq!(stop_reason(StopReason::GuardrailIntervened), "refusal");
        assert_eq!(stop_reason(StopReason::ContentFiltered), "refusal");
        assert!(intervened(StopReason::GuardrailIntervened) && !intervened(StopReason::EndTurn));
        let one = ["END".to_string()];
        assert_eq!(stop_sequence(StopReason::StopSequence, &one), json!("END"));
        assert_eq!(stop_sequence(StopReason::EndTurn, &one), Value::Null);
        let two = ["A".to_string(), "B".to_string()];
        assert_eq!(stop_sequence(StopReason::StopSequence, &two), Value::Null);
    }
}
