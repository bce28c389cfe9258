//! OpenAI chat request → Converse request.

use base64::Engine;
use serde_json::{json, Value};
use strata_core::wire::converse::{
    ContentBlock, ConverseRequest, InferenceConfig, Message, Role, SpecificToolChoice, SystemContentBlock, Tool,
    ToolChoice, ToolConfig, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpec, ToolUseBlock,
};

use super::translate::TranslateError;

/// What the request asks of the gateway beyond the Converse body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatOptions {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
}

fn err(param: &str, message: impl Into<String>) -> TranslateError {
    TranslateError::new(param, message)
}

/// Reads and translates a chat completions request.
pub fn chat_to_converse(request: &Value) -> Result<(ConverseRequest, ChatOptions), TranslateError> {
    let obj = request
        .as_object()
        .ok_or_else(|| err("", "the request body must be a JSON object"))?;
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| err("model", "'model' is required and must be a string"))?
        .to_string();
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(err("stream", "'stream' must be a boolean")),
    };
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    refuse_unsupported(obj)?;

    let mut system = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    let list = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| err("messages", "'messages' is required and must be an array"))?;
    if list.is_empty() {
        return Err(err("messages", "'messages' must hold at least one message"));
    }
    for (i, m) in list.iter().enumerate() {
        let param = format!("messages[{i}]");
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| err(&param, "every message needs a string 'role'"))?;
        match role {
            "system" | "developer" => {
                let text = text_of(m.get("content"), &param)?;
                if !text.is_empty() {
                    system.push(SystemContentBlock::Text(text));
                }
            }
            "user" => push(&mut messages, Role::User, user_content(m.get("content"), &param)?),
            "assistant" => {
                let mut blocks = Vec::new();
                let text = match m.get("content") {
                    None | Some(Value::Null) => String::new(),
                    other => text_of(other, &param)?,
                };
                if !text.is_empty() {
                    blocks.push(ContentBlock::Text(text));
                }
                if let Some(calls) = m.get("tool_calls") {
                    let calls = calls
                        .as_array()
                        .ok_or_else(|| err(&param, "'tool_calls' must be an array"))?;
                    for c in calls {
                        let id = c
                            .get("id")
                            .and_then(Value::as_str)
                            .ok_or_else(|| err(&param, "a tool call needs an 'id'"))?;
                        let name = c
                            .pointer("/function/name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| err(&param, "a tool call needs function.name"))?;
                        let args = c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("{}");
                        let input: Value = serde_json::from_str(if args.trim().is_empty() { "{}" } else { args })
                            .map_err(|e| err(&param, format!("tool call arguments are not valid JSON: {e}")))?;
                        blocks.push(ContentBlock::ToolUse(ToolUseBlock {
                            tool_use_id: id.to_string(),
                            name: name.to_string(),
                            input,
                        }));
                    }
                }
                if blocks.is_empty() {
                    return Err(err(&param, "an assistant message needs content or tool_calls"));
                }
                push(&mut messages, Role::Assistant, blocks);
            }
            "tool" => {
                let id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(&param, "a tool message needs 'tool_call_id'"))?;
                let text = text_of(m.get("content"), &param)?;
                let block = ContentBlock::ToolResult(ToolResultBlock {
                    tool_use_id: id.to_string(),
                    content: vec![ToolResultContentBlock::Text(text)],
                    status: None,
                });
                push(&mut messages, Role::User, vec![block]);
            }
            other => {
                return Err(err(
                    &param,
                    format!("unknown role '{other}' (system, developer, user, assistant or tool)"),
                ))
            }
        }
    }
    if messages.first().is_none_or(|m| m.role != Role::User) {
        return Err(err(
            "messages",
            "the conversation must start with a user message (after any system messages)",
        ));
    }

    let mut inference = InferenceConfig::default();
    let max = obj
        .get("max_completion_tokens")
        .filter(|v| !v.is_null())
        .map(|v| ("max_completion_tokens", v))
        .or_else(|| {
            obj.get("max_tokens")
                .filter(|v| !v.is_null())
                .map(|v| ("max_tokens", v))
        });
    if let Some((name, v)) = max {
        let n = v
            .as_u64()
            .filter(|n| *n >= 1)
            .ok_or_else(|| err(name, format!("'{name}' must be a positive integer")))?;
        inference.max_tokens = Some(u32::try_from(n).unwrap_or(u32::MAX));
    }
    if let Some(v) = obj.get("temperature").filter(|v| !v.is_null()) {
        let t = v
            .as_f64()
            .filter(|t| (0.0..=2.0).contains(t))
            .ok_or_else(|| err("temperature", "'temperature' must be a number from 0 to 2"))?;
        // Bedrock models take [0, 1]; OpenAI's (1, 2] is "more random than 1", so it maps to 1.
        inference.temperature = Some(t.min(1.0) as f32);
    }
    if let Some(v) = obj.get("top_p").filter(|v| !v.is_null()) {
        let p = v
            .as_f64()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| err("top_p", "'top_p' must be a number from 0 to 1"))?;
        inference.top_p = Some(p as f32);
    }
    match obj.get("stop") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => inference.stop_sequences = Some(vec![s.clone()]),
        Some(Value::Array(a)) => {
            let stops: Option<Vec<String>> = a.iter().map(|s| s.as_str().map(str::to_string)).collect();
            inference.stop_sequences = Some(stops.ok_or_else(|| err("stop", "'stop' must hold strings"))?);
        }
        Some(_) => return Err(err("stop", "'stop' must be a string or an array of strings")),
    }
    let tool_config = tools(obj)?;
    let converse = ConverseRequest {
        messages,
        system: (!system.is_empty()).then_some(system),
        inference_config: Some(inference),
        tool_config,
        guardrail_config: None,
        additional_model_request_fields: None,
        additional_model_response_field_paths: None,
        prompt_variables: None,
        request_metadata: None,
        performance_config: None,
    };
    Ok((
        converse,
        ChatOptions {
            model,
            stream,
            include_usage,
        },
    ))
}

/// Options Bedrock cannot honour get a clear 400 instead of silently wrong behaviour.
fn refuse_unsupported(obj: &serde_json::Map<String, Value>) -> Result<(), TranslateError> {
    if let Some(n) = obj.get("n").filter(|v| !v.is_null()) {
        if n.as_u64() != Some(1) {
            return Err(err(
                "n",
                "only n = 1 is supported: Bedrock returns one choice per request",
            ));
        }
    }
    if obj.get("logprobs").and_then(Value::as_bool) == Some(true)
        || obj.get("top_logprobs").is_some_and(|v| !v.is_null())
    {
        return Err(err("logprobs", "logprobs are not available from Bedrock models"));
    }
    if let Some(format) = obj.get("response_format").filter(|v| !v.is_null()) {
        if format.get("type").and_then(Value::as_str) != Some("text") {
            return Err(err(
                "response_format",
                "only response_format {\"type\": \"text\"} is supported for now",
            ));
        }
    }
    if obj.get("audio").is_some_and(|v| !v.is_null()) {
        return Err(err("audio", "audio output is not supported"));
    }
    if let Some(m) = obj.get("modalities").and_then(Value::as_array) {
        if m.iter().any(|x| x.as_str() != Some("text")) {
            return Err(err("modalities", "only text output is supported"));
        }
    }
    Ok(())
}

/// Appends blocks, merging into the previous message of the same role (Converse needs turns to
/// alternate; consecutive tool results become one user turn).
fn push(messages: &mut Vec<Message>, role: Role, blocks: Vec<ContentBlock>) {
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => messages.push(Message { role, content: blocks }),
    }
}

fn text_of(content: Option<&Value>, param: &str) -> Result<String, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => out.push_str(
                        p.get("text")
                            .and_then(Value::as_str)
                            .ok_or_else(|| err(param, "a text part needs a string 'text'"))?,
                    ),
                    _ => return Err(err(param, "this message may only hold text parts")),
                }
            }
            Ok(out)
        }
        Some(_) => Err(err(param, "'content' must be a string or an array of parts")),
    }
}

fn user_content(content: Option<&Value>, param: &str) -> Result<Vec<ContentBlock>, TranslateError> {
    match content {
        Some(Value::String(s)) => Ok(vec![ContentBlock::Text(s.clone())]),
        Some(Value::Array(parts)) => {
            let mut blocks = Vec::new();
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => blocks.push(ContentBlock::Text(
                        p.get("text")
                            .and_then(Value::as_str)
                            .ok_or_else(|| err(param, "a text part needs a string 'text'"))?
                            .to_string(),
                    )),
                    Some("image_url") => {
                        let url = p
                            .pointer("/image_url/url")
                            .and_then(Value::as_str)
                            .ok_or_else(|| err(param, "an image part needs image_url.url"))?;
                        blocks.push(image_block(url, param)?);
                    }
                    Some(other) => {
                        return Err(err(param, format!("content parts of type '{other}' are not supported")))
                    }
                    None => return Err(err(param, "every content part needs a 'type'")),
                }
            }
            if blocks.is_empty() {
                return Err(err(param, "a user message needs content"));
            }
            Ok(blocks)
        }
        _ => Err(err(
            param,
            "a user message needs 'content' (a string or an array of parts)",
        )),
    }
}

fn image_block(url: &str, param: &str) -> Result<ContentBlock, TranslateError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(err(
            param,
            "remote image URLs are not supported; send the image as a data URL (data:image/png;base64,...)",
        ));
    };
    let (meta, data) = rest.split_once(',').ok_or_else(|| err(param, "malformed data URL"))?;
    let mime = meta
        .strip_suffix(";base64")
        .ok_or_else(|| err(param, "image data URLs must be base64"))?;
    let format = match mime {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(err(
                param,
                format!("image type '{other}' is not supported (png, jpeg, gif, webp)"),
            ))
        }
    };
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| err(param, "the image data is not valid base64"))?;
    Ok(ContentBlock::Image(
        json!({"format": format, "source": {"bytes": data}}),
    ))
}

fn tools(obj: &serde_json::Map<String, Value>) -> Result<Option<ToolConfig>, TranslateError> {
    let Some(list) = obj.get("tools").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let list = list
        .as_array()
        .ok_or_else(|| err("tools", "'tools' must be an array"))?;
    let choice = obj.get("tool_choice").filter(|v| !v.is_null());
    if choice.and_then(Value::as_str) == Some("none") || list.is_empty() {
        return Ok(None);
    }
    let mut specs = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let param = format!("tools[{i}]");
        if t.get("type").and_then(Value::as_str) != Some("function") {
            return Err(err(&param, "only tools of type 'function' are supported"));
        }
        let name = t
            .pointer("/function/name")
            .and_then(Value::as_str)
            .ok_or_else(|| err(&param, "a tool needs function.name"))?;
        let schema = t
            .pointer("/function/parameters")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        specs.push(Tool::ToolSpec(ToolSpec {
            name: name.to_string(),
            description: t
                .pointer("/function/description")
                .and_then(Value::as_str)
                .map(str::to_string),
            input_schema: ToolInputSchema::Json(schema),
        }));
    }
    let tool_choice =
        match choice {
            None => None,
            Some(Value::String(s)) if s == "auto" => Some(ToolChoice::Auto(json!({}))),
            Some(Value::String(s)) if s == "required" => Some(ToolChoice::Any(json!({}))),
            Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
                Some(name) => Some(ToolChoice::Tool(SpecificToolChoice { name: name.to_string() })),
                None => return Err(err(
                    "tool_choice",
                    "'tool_choice' must be none, auto, required or {\"type\":\"function\",\"function\":{\"name\":...}}",
                )),
            },
        };
    Ok(Some(ToolConfig {
        tools: specs,
        tool_choice,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_merge_and_tools_round_trip() {
        let req = json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "c2", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "c2", "content": "rain"},
                {"role": "user", "content": [{"type": "text", "text": "thanks"}]}
            ],
            "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
            "tool_choice": "required", "max_tokens": 10, "max_completion_tokens": 20, "stop": "END", "temperature": 1.5
        });
        let (c, o) = chat_to_converse(&req).unwrap();
        assert_eq!(
            o,
            ChatOptions {
                model: "m".into(),
                stream: false,
                include_usage: false
            }
        );
        assert_eq!(
            c.messages.len(),
            3,
            "tool results and the next user text merge into one user turn"
        );
        assert_eq!(c.messages[1].content.len(), 2);
        assert_eq!(c.messages[2].content.len(), 3);
        let inf = c.inference_config.unwrap();
        assert_eq!((inf.max_tokens, inf.temperature), (Some(20), Some(1.0)));
        assert!(matches!(c.tool_config.unwrap().tool_choice, Some(ToolChoice::Any(_))));
        assert_eq!(c.system.unwrap().len(), 1);
    }

    #[test]
    fn unsupported_options_name_their_parameter() {
        let base = |extra: Value| {
            let mut r = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
            for (k, v) in extra.as_object().unwrap() {
                r[k] = v.clone();
            }
            chat_to_converse(&r).map(|_| ()).unwrap_err().param.unwrap()
        };
        assert_eq!(base(json!({"n": 2})), "n");
        assert_eq!(base(json!({"logprobs": true})), "logprobs");
        assert_eq!(
            base(json!({"response_format": {"type": "json_object"}})),
            "response_format"
        );
        assert_eq!(base(json!({"temperature": 3})), "temperature");
        assert_eq!(base(json!({"max_tokens": 0})), "max_tokens");
        assert_eq!(
            base(
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]})
            ),
            "messages[0]"
        );
        assert!(chat_to_converse(&json!({"messages": []})).is_err());
        assert!(chat_to_converse(&json!({"model": "m", "messages": [{"role": "assistant", "content": "x"}]})).is_err());
    }

    #[test]
    fn data_url_images_become_image_blocks() {
        let req = json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]});
        let (c, _) = chat_to_converse(&req).unwrap();
        assert!(matches!(&c.messages[0].content[1], ContentBlock::Image(v) if v["format"] == "png"));
    }
}

// Interim interface until the typed request lands: parse once, translate, re-serialize.
/// A chat completions request, parsed.
#[derive(Debug)]
pub struct ChatRequest {
    value: Value,
    converse: ConverseRequest,
    options: ChatOptions,
}

/// Parses a chat completions request body.
pub fn parse(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::new("", format!("The body is not valid JSON: {e}")))?;
    let (converse, options) = chat_to_converse(&value)?;
    Ok(ChatRequest {
        value,
        converse,
        options,
    })
}

/// The Converse request for a chat request.
pub fn to_converse(request: &ChatRequest) -> Result<ConverseRequest, TranslateError> {
    Ok(request.converse.clone())
}

impl ChatRequest {
    pub fn options(&self) -> ChatOptions {
        self.options.clone()
    }

    pub fn max_output_tokens(&self) -> Option<u32> {
        self.converse.inference_config.as_ref().and_then(|c| c.max_tokens)
    }

    pub fn upstream_body(&self, model: &str) -> Result<bytes::Bytes, serde_json::Error> {
        let mut v = self.value.clone();
        v["model"] = Value::String(model.to_string());
        serde_json::to_vec(&v).map(bytes::Bytes::from)
    }
}
