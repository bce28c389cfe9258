//! Converse answer → a Responses `response` object, and the pieces the stream shares with it
//! (status, usage, output items, the echoed request fields).
//!
//! A call of the JSON-format tool (`text.format`, see
//! [`FormatTool`](crate::inbound::openai::request::FormatTool)) is the answer itself: its input
//! becomes the message's `output_text`, as the chat dialect makes it the message's content.

use serde_json::{json, Map, Value};
use strata_core::wire::converse::{ContentBlock, ConverseOutput, ConverseResponse, StopReason, TokenUsage};

/// What the response repeats of its request, and the ids it is built with.
#[derive(Debug, Clone)]
pub struct Echo {
    /// `resp_…`: the request id in OpenAI's spelling.
    pub id: String,
    pub created_at: u64,
    /// The model as the client named it.
    pub model: String,
    /// The request's own fields the SDK's `Response` model carries (instructions, tools, text…).
    pub fields: Map<String, Value>,
}

impl Echo {
    /// The id of the `n`th output item of a kind (`msg`, `fc`).
    pub fn item_id(&self, prefix: &str, n: usize) -> String {
        let base = self.id.strip_prefix("resp_").unwrap_or(&self.id);
        format!("{prefix}_{base}{n}")
    }
}

/// The response's `status` and `incomplete_details.reason` for how Converse stopped.
pub fn status(stop: StopReason) -> (&'static str, Option<&'static str>) {
    match stop {
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => ("incomplete", Some("max_output_tokens")),
        StopReason::ContentFiltered | StopReason::GuardrailIntervened => ("incomplete", Some("content_filter")),
        StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse => ("completed", None),
    }
}

/// The Responses `usage` for Bedrock's: `input_tokens` counts every input token, cached ones too
/// (Bedrock counts cache reads and writes apart), `cached_tokens` those read from the cache.
pub fn usage(u: Option<&TokenUsage>) -> Value {
    let (input, output, read, written) = u.map_or((0, 0, 0, 0), |u| {
        (
            u.input_tokens,
            u.output_tokens,
            u.cache_read_input_tokens.unwrap_or(0),
            u.cache_write_input_tokens.unwrap_or(0),
        )
    });
    let input = input.saturating_add(read).saturating_add(written);
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": read},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input.saturating_add(output),
    })
}

/// A message output item holding one `output_text` part.
pub fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "message", "id": id, "status": status, "role": "assistant",
        "content": [output_text(text)],
    })
}

/// An `output_text` content part.
pub fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A function call output item.
pub fn function_call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": arguments, "status": status})
}

/// The whole `response` object. `error` is set only for a failed one.
pub fn object(
    echo: &Echo,
    status: &str,
    incomplete: Option<&str>,
    output: Vec<Value>,
    usage: Value,
    error: Value,
) -> Value {
    let mut body = Map::with_capacity(12 + echo.fields.len());
    body.insert("id".into(), json!(echo.id));
    body.insert("object".into(), json!("response"));
    body.insert("created_at".into(), json!(echo.created_at));
    body.insert("status".into(), json!(status));
    body.insert("error".into(), error);
    body.insert(
        "incomplete_details".into(),
        incomplete.map_or(Value::Null, |reason| json!({"reason": reason})),
    );
    body.insert("model".into(), json!(echo.model));
    body.insert("output".into(), Value::Array(output));
    body.insert("usage".into(), usage);
    for (k, v) in &echo.fields {
        body.insert(k.clone(), v.clone());
    }
    Value::Object(body)
}

/// The response for a complete Converse answer.
pub fn from_converse(r: &ConverseResponse, echo: &Echo, format_tool: Option<&str>) -> Value {
    let ConverseOutput::Message(message) = &r.output;
    let (status, incomplete) = status(r.stop_reason);
    let item_status = if status == "completed" {
        "completed"
    } else {
        "incomplete"
    };
    let formatted = message.content.iter().find_map(|b| match b {
        ContentBlock::ToolUse(u) if format_tool == Some(u.name.as_str()) => Some(u.input.to_string()),
        _ => None,
    });
    let mut output = Vec::new();
    let mut text = String::new();
    let mut n = 0;
    let flush = |text: &mut String, output: &mut Vec<Value>, n: &mut usize| {
        if !text.is_empty() {
            output.push(message_item(&echo.item_id("msg", *n), text, item_status));
            *n += 1;
            text.clear();
        }
    };
    if let Some(json) = &formatted {
        // The answer is the JSON alone: words the model wrote beside it would make it invalid.
        text.push_str(json);
        flush(&mut text, &mut output, &mut n);
    }
    for block in &message.content {
        match block {
            ContentBlock::Text(t) if formatted.is_none() => text.push_str(t),
            ContentBlock::ToolUse(u) if format_tool != Some(u.name.as_str()) => {
                flush(&mut text, &mut output, &mut n);
                output.push(function_call_item(
                    &echo.item_id("fc", n),
                    &u.tool_use_id,
                    &u.name,
                    &u.input.to_string(),
                    "completed",
                ));
                n += 1;
            }
            _ => {}
        }
    }
    flush(&mut text, &mut output, &mut n);
    object(echo, status, incomplete, output, usage(Some(&r.usage)), Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo() -> Echo {
        let mut fields = Map::new();
        fields.insert("tools".into(), json!([]));
        Echo {
            id: "resp_abc".into(),
            created_at: 7,
            model: "claude".into(),
            fields,
        }
    }

    fn answer(v: Value) -> ConverseResponse {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn text_then_a_call_are_a_message_and_a_function_call() {
        let r = answer(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"text": "Let me "}, {"text": "look."},
                {"toolUse": {"toolUseId": "tu1", "name": "weather", "input": {"city": "Oslo"}}}]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15, "cacheReadInputTokens": 7},
            "metrics": {"latencyMs": 1}
        }));
        let v = from_converse(&r, &echo(), None);
        assert_eq!(v["object"], "response");
        assert_eq!(v["status"], "completed");
        assert_eq!(v["model"], "claude");
        assert_eq!(v["tools"], json!([]));
        assert_eq!(v["output"][0]["type"], "message");
        assert_eq!(v["output"][0]["id"], "msg_abc0");
        assert_eq!(v["output"][0]["content"][0]["text"], "Let me look.");
        assert_eq!(v["output"][1]["type"], "function_call");
        assert_eq!(v["output"][1]["id"], "fc_abc1");
        assert_eq!(v["output"][1]["call_id"], "tu1");
        assert_eq!(v["output"][1]["arguments"], "{\"city\":\"Oslo\"}");
        assert_eq!(v["usage"]["input_tokens"], 17);
        assert_eq!(v["usage"]["input_tokens_details"]["cached_tokens"], 7);
        assert_eq!(v["usage"]["total_tokens"], 22);
        assert_eq!(v["incomplete_details"], Value::Null);
    }

    #[test]
    fn a_format_call_is_the_text_and_limits_make_it_incomplete() {
        let r = answer(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"text": "Here:"}, {"toolUse": {"toolUseId": "t", "name": "place", "input": {"city": "Paris"}}}]}},
            "stopReason": "max_tokens",
            "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
            "metrics": {"latencyMs": 1}
        }));
        let v = from_converse(&r, &echo(), Some("place"));
        assert_eq!(v["output"].as_array().unwrap().len(), 1);
        assert_eq!(v["output"][0]["content"][0]["text"], "{\"city\":\"Paris\"}");
        assert_eq!(v["status"], "incomplete");
        assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(
            status(StopReason::GuardrailIntervened),
            ("incomplete", Some("content_filter"))
        );
    }
}
