//! A Responses request → the chat dialect's typed request → Converse.
//!
//! The Responses API is the chat API in other shapes: `instructions` and system/developer
//! messages are system text, `function_call` items are an assistant's tool calls and
//! `function_call_output` items tool results, `text.format` is `response_format`. So the request
//! is rewritten as a [`ChatRequest`] and translated by the chat dialect's one
//! [`to_converse`](crate::inbound::openai::request::to_converse): the same merging of turns,
//! data-URL images, tool configuration and JSON-format tool ([`FormatTool`]) for both. A refusal
//! from that translation names the Responses field (`input[3]`), not the chat one.

use serde::de::DeserializeOwned;
use serde_json::Value;
use strata_core::wire::converse::ConverseRequest;

use super::request::{
    Content, FunctionCallItem, FunctionCallOutputItem, FunctionTool, Input, MessageItem, Part, ResponsesRequest, Role,
    TextFormat, ToolChoice,
};
use crate::inbound::openai::request::{
    self as chat, AssistantMessage, ChatMessage, ChatParams, ChatRequest, ContentPart, FunctionCall,
    FunctionDefinition, FunctionName, ImageUrl, InstructionMessage, JsonSchemaFormat, MessageContent, NamedToolChoice,
    ResponseFormat, ToolCall, ToolKind, ToolMessage, UserMessage,
};
use crate::inbound::openai::translate::TranslateError;

/// The Converse request, and the chat request it was made from (its JSON-format tool names the
/// call whose input is the answer).
pub fn to_converse(r: &ResponsesRequest) -> Result<(ConverseRequest, ChatRequest), TranslateError> {
    let (chat, origins) = to_chat(r)?;
    let converse = chat::to_converse(&chat).map_err(|e| rename(e, &origins))?;
    Ok((converse, chat))
}

/// The chat request, and for each of its messages the Responses field it came from.
pub fn to_chat(r: &ResponsesRequest) -> Result<(ChatRequest, Vec<String>), TranslateError> {
    let mut messages = Vec::new();
    let mut origins = Vec::new();
    if let Some(text) = r.instructions.as_deref().filter(|t| !t.is_empty()) {
        messages.push(ChatMessage::System(instruction(text.to_string())));
        origins.push("instructions".to_string());
    }
    match &r.input {
        Input::Text(text) => {
            messages.push(ChatMessage::User(UserMessage {
                content: MessageContent::Text(text.clone()),
                name: None,
                cache_control: None,
            }));
            origins.push("input".to_string());
        }
        Input::Items(items) => {
            if items.is_empty() {
                return Err(TranslateError::new("input", "input: at least one item is required"));
            }
            for (i, item) in items.iter().enumerate() {
                let at = format!("input[{i}]");
                messages.push(item_message(item, &at)?);
                origins.push(at);
            }
        }
    }
    let tools = match &r.tools {
        None => None,
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, t)| function_tool(t, i))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let tool_choice = r.tool_choice.as_ref().map(tool_choice).transpose()?;
    let response_format = match r.text.as_ref().and_then(|t| t.format.as_ref()) {
        None => None,
        Some(f) => Some(response_format(f)?),
    };
    let chat = ChatRequest {
        model: r.model.clone(),
        params: ChatParams {
            messages,
            temperature: r.temperature,
            top_p: r.top_p,
            max_completion_tokens: r.max_output_tokens,
            response_format,
            tools,
            tool_choice,
            parallel_tool_calls: r.parallel_tool_calls,
            user: r.user.clone(),
            ..ChatParams::default()
        },
    };
    Ok((chat, origins))
}

/// A chat translation's refusal in Responses terms: `messages[2]` is the item it came from.
fn rename(e: TranslateError, origins: &[String]) -> TranslateError {
    let param = match e.param.as_deref() {
        Some("messages") => Some("input".to_string()),
        Some("response_format") => Some("text.format".to_string()),
        Some(p) => match p
            .strip_prefix("messages[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|i| i.parse::<usize>().ok())
        {
            Some(i) => origins.get(i).cloned().or(Some(p.to_string())),
            None => Some(p.to_string()),
        },
        None => None,
    };
    match param {
        Some(p) => TranslateError::new(&p, format!("{p}: {}", e.message)),
        None => e,
    }
}

fn instruction(text: String) -> InstructionMessage {
    InstructionMessage {
        content: Some(MessageContent::Text(text)),
        name: None,
        cache_control: None,
    }
}

/// Reads `value` as `T`, a refusal naming the field below `at` when it does not fit.
fn read<T: DeserializeOwned>(value: &Value, at: &str) -> Result<T, TranslateError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let text = e.into_inner().to_string();
        let full = if path == "." {
            at.to_string()
        } else {
            format!("{at}.{path}")
        };
        let refusal = super::request::refusal_at(&full, &text);
        // A missing field is inside the item, not at the top of the body.
        match text.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            Some(field) => TranslateError::new(&format!("{at}.{field}"), format!("{at}.{field}: field required")),
            None => refusal,
        }
    })
}

fn item_message(item: &Value, at: &str) -> Result<ChatMessage, TranslateError> {
    let kind = match item.get("type") {
        None | Some(Value::Null) if item.get("role").is_some() => "message",
        Some(Value::String(kind)) => kind.as_str(),
        _ => {
            return Err(TranslateError::new(
                at,
                format!("{at}: an input item needs a `type` (message, function_call, function_call_output)"),
            ))
        }
    };
    match kind {
        "message" => {
            let m: MessageItem = read(item, at)?;
            message(m, at)
        }
        "function_call" => {
            let c: FunctionCallItem = read(item, at)?;
            Ok(ChatMessage::Assistant(AssistantMessage {
                content: None,
                tool_calls: Some(vec![ToolCall {
                    id: c.call_id,
                    kind: Some(ToolKind::Function),
                    function: FunctionCall {
                        name: c.name,
                        arguments: Some(c.arguments),
                    },
                }]),
                refusal: None,
                name: None,
            }))
        }
        "function_call_output" => {
            let o: FunctionCallOutputItem = read(item, at)?;
            let text = text_of(&o.output, &format!("{at}.output"))?;
            Ok(ChatMessage::Tool(ToolMessage {
                tool_call_id: o.call_id,
                content: Some(MessageContent::Text(text)),
            }))
        }
        "item_reference" => Err(TranslateError::new(
            at,
            format!("{at}: item references are not supported: the gateway is stateless; send the item itself"),
        )),
        other => Err(TranslateError::new(
            &format!("{at}.type"),
            format!("{at}.type: '{other}' items are not supported through Bedrock"),
        )),
    }
}

fn message(m: MessageItem, at: &str) -> Result<ChatMessage, TranslateError> {
    if m.kind.as_deref().is_some_and(|k| k != "message") {
        return Err(TranslateError::new(
            &format!("{at}.type"),
            format!("{at}.type: must be 'message'"),
        ));
    }
    let at_content = format!("{at}.content");
    Ok(match m.role {
        Role::System | Role::Developer => ChatMessage::System(instruction(text_of(&m.content, &at_content)?)),
        Role::Assistant => ChatMessage::Assistant(AssistantMessage {
            content: Some(MessageContent::Text(text_of(&m.content, &at_content)?)),
            tool_calls: None,
            refusal: None,
            name: None,
        }),
        Role::User => {
            let content = match m.content {
                Content::Text(t) => MessageContent::Text(t),
                Content::Parts(parts) => {
                    let mut out = Vec::with_capacity(parts.len());
                    for (j, part) in parts.into_iter().enumerate() {
                        out.push(user_part(part, &format!("{at_content}[{j}]"))?);
                    }
                    MessageContent::Parts(out)
                }
            };
            ChatMessage::User(UserMessage {
                content,
                name: None,
                cache_control: None,
            })
        }
    })
}

fn user_part(part: Part, at: &str) -> Result<ContentPart, TranslateError> {
    match part {
        Part::InputText { text } => Ok(ContentPart::Text {
            text,
            cache_control: None,
        }),
        Part::InputImage {
            image_url: Some(url),
            detail,
            ..
        } => Ok(ContentPart::ImageUrl {
            image_url: ImageUrl { url, detail },
            cache_control: None,
        }),
        Part::InputImage { .. } => Err(TranslateError::new(
            at,
            format!("{at}: file_id images are not supported through Bedrock; send the image as a data URL"),
        )),
        Part::InputFile { .. } => Err(TranslateError::new(
            at,
            format!("{at}: input_file is not supported through Bedrock"),
        )),
        Part::OutputText { .. } | Part::Refusal { .. } => Err(TranslateError::new(
            &format!("{at}.type"),
            format!("{at}.type: a user message holds input_text and input_image parts"),
        )),
    }
}

/// The text of content that may hold only text (parts joined).
fn text_of(content: &Content, at: &str) -> Result<String, TranslateError> {
    match content {
        Content::Text(t) => Ok(t.clone()),
        Content::Parts(parts) => {
            let mut out = String::new();
            for (j, part) in parts.iter().enumerate() {
                match part {
                    Part::InputText { text } | Part::OutputText { text, .. } => out.push_str(text),
                    Part::Refusal { refusal } => out.push_str(refusal),
                    Part::InputImage { .. } | Part::InputFile { .. } => {
                        return Err(TranslateError::new(
                            &format!("{at}[{j}]"),
                            format!("{at}[{j}]: only a user message may hold images or files"),
                        ))
                    }
                }
            }
            Ok(out)
        }
    }
}

fn function_tool(value: &Value, i: usize) -> Result<chat::Tool, TranslateError> {
    let at = format!("tools[{i}]");
    match value.get("type").and_then(Value::as_str) {
        Some("function") => {}
        Some(other) => {
            return Err(TranslateError::new(
                &format!("{at}.type"),
                format!(
                    "{at}.type: built-in tools ('{other}') are not available through Bedrock; define a function tool"
                ),
            ))
        }
        None => {
            return Err(TranslateError::new(
                &format!("{at}.type"),
                format!("{at}.type: field required"),
            ))
        }
    }
    let t: FunctionTool = read(value, &at)?;
    if t.parameters.as_ref().is_some_and(|p| !p.is_object() && !p.is_null()) {
        return Err(TranslateError::new(
            &format!("{at}.parameters"),
            format!("{at}.parameters: must be a JSON schema object"),
        ));
    }
    Ok(chat::Tool {
        kind: ToolKind::Function,
        function: FunctionDefinition {
            name: t.name,
            description: t.description,
            parameters: t.parameters.filter(|p| !p.is_null()),
            strict: t.strict,
        },
    })
}

fn tool_choice(c: &ToolChoice) -> Result<chat::ToolChoice, TranslateError> {
    match c {
        ToolChoice::Mode(mode) => Ok(chat::ToolChoice::Mode(*mode)),
        ToolChoice::Named(v) => {
            let name = match (
                v.get("type").and_then(Value::as_str),
                v.get("name").and_then(Value::as_str),
            ) {
                (Some("function"), Some(name)) if v.as_object().is_some_and(|o| o.len() == 2) => name,
                _ => {
                    return Err(TranslateError::new(
                        "tool_choice",
                        "tool_choice: must be 'auto', 'none', 'required' or {\"type\": \"function\", \"name\": …} \
                         (built-in tools are not available through Bedrock)",
                    ))
                }
            };
            Ok(chat::ToolChoice::Function(NamedToolChoice {
                kind: Some(ToolKind::Function),
                function: FunctionName { name: name.to_string() },
            }))
        }
    }
}

fn response_format(f: &TextFormat) -> Result<ResponseFormat, TranslateError> {
    let format = match f {
        TextFormat::Text => ResponseFormat::Text,
        TextFormat::JsonObject => ResponseFormat::JsonObject,
        TextFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => ResponseFormat::JsonSchema {
            json_schema: JsonSchemaFormat {
                name: name.clone(),
                description: description.clone(),
                schema: Some(schema.clone()),
                strict: *strict,
            },
        },
    };
    if !format.is_valid() {
        return Err(TranslateError::new(
            "text.format",
            "text.format: the name must be 1-64 letters, digits, '_' or '-', and the schema a JSON object",
        ));
    }
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::responses::request::parse;
    use serde_json::json;
    use strata_core::wire::converse::{ContentBlock, Role as CRole, ToolChoice as CChoice};

    fn converse(body: Value) -> Result<ConverseRequest, TranslateError> {
        let r = parse(body.to_string().as_bytes())?;
        to_converse(&r).map(|(c, _)| c)
    }

    #[test]
    fn a_string_input_with_instructions_is_one_user_turn_and_a_system_prompt() {
        let c = converse(
            json!({"model": "m", "input": "hi", "instructions": "Be brief.", "max_output_tokens": 50,
                               "temperature": 0.5, "store": true, "metadata": {"a": "b"}, "user": "u"}),
        )
        .unwrap();
        assert_eq!(c.messages.len(), 1);
        assert_eq!(c.messages[0].role, CRole::User);
        assert_eq!(json!(c.system), json!([{"text": "Be brief."}]));
        let inference = c.inference_config.unwrap();
        assert_eq!(inference.max_tokens, Some(50));
        assert_eq!(inference.temperature, Some(0.5));
    }

    #[test]
    fn function_calls_and_outputs_become_tool_use_and_results() {
        let c = converse(json!({"model": "m", "input": [
            {"role": "user", "content": "weather in Oslo?"},
            {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "w", "arguments": "{\"city\":\"Oslo\"}",
             "status": "completed"},
            {"type": "function_call_output", "call_id": "call_1", "output": "cold"},
            {"role": "developer", "content": [{"type": "input_text", "text": "answer in one word"}]}
        ], "tools": [{"type": "function", "name": "w", "parameters": {"type": "object"}, "strict": true}],
           "tool_choice": "auto"}))
        .unwrap();
        assert_eq!(c.messages.len(), 3, "text and call merge into one assistant turn");
        assert_eq!(c.messages[1].content.len(), 2);
        assert!(matches!(&c.messages[1].content[1], ContentBlock::ToolUse(u) if u.input == json!({"city": "Oslo"})));
        assert!(matches!(&c.messages[2].content[0], ContentBlock::ToolResult(r) if r.tool_use_id == "call_1"));
        assert_eq!(json!(c.system), json!([{"text": "answer in one word"}]));
        let tools = c.tool_config.unwrap();
        assert!(matches!(tools.tool_choice, Some(CChoice::Auto(_))));
    }

    #[test]
    fn a_json_schema_format_is_a_forced_tool() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let r = parse(
            json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "place",
                  "schema": schema, "strict": true}}})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let (c, chat) = to_converse(&r).unwrap();
        assert_eq!(chat.format_tool().unwrap().name, "place");
        let tools = c.tool_config.unwrap();
        assert!(matches!(tools.tool_choice, Some(CChoice::Tool(ref t)) if t.name == "place"));
    }

    fn refused(body: Value) -> TranslateError {
        match parse(body.to_string().as_bytes()) {
            Err(e) => e,
            Ok(r) => to_converse(&r).err().unwrap(),
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
                "previous_response_id",
            ),
            (
                json!({"model": "m", "input": "x", "conversation": "conv_1"}),
                "conversation",
            ),
            (json!({"model": "m", "input": "x", "background": true}), "background"),
            (
                json!({"model": "m", "input": "x", "reasoning": {"effort": "high"}}),
                "reasoning",
            ),
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "m", "input": "x", "tool_choice": {"type": "web_search"}}),
                "tool_choice",
            ),
            (
                json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "a b", "schema": {}}}}),
                "text.format",
            ),
            (
                json!({"model": "m", "input": "x", "text": {"verbosity": "low"}}),
                "text.verbosity",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": "a", "bogus": 1}]}),
                "input[0].bogus",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}),
                "input[0].call_id",
            ),
            (
                json!({"model": "m", "input": [{"type": "reasoning", "summary": []}]}),
                "input[0].type",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]}]}),
                "input[0]",
            ),
            (
                json!({"model": "m", "input": [{"role": "assistant", "content": "hi"}]}),
                "input",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{"}, {"role": "user", "content": "x"}]}),
                "input[0]",
            ),
            (json!({"model": "m"}), "input"),
        ];
        for (body, param) in cases {
            let e = refused(body.clone());
            assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
            assert!(e.message.starts_with(param), "{}", e.message);
        }
        assert_eq!(refused(json!("x")).param, None);
    }
}
