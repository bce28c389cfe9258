//! The typed chat request → a Converse request.

use super::*;

/// Translates a parsed request to Converse: system and developer messages become system blocks,
/// consecutive turns of one role merge (tool results join the next user turn), images must be
/// data URLs.
pub fn to_converse(request: &ChatRequest) -> Result<ConverseRequest, TranslateError> {
    let params = &request.params;
    let mut system = Vec::new();
    let mut messages: Vec<Message> = Vec::with_capacity(params.messages.len());
    for (i, message) in params.messages.iter().enumerate() {
        translate_message(message, &mut system, &mut messages)
            .map_err(|reason| TranslateError::new(&format!("messages[{i}]"), reason))?;
    }
    if messages.first().is_none_or(|m| m.role != Role::User) {
        return Err(TranslateError::new(
            "messages",
            "the conversation must start with a user message (after any system messages)",
        ));
    }
    let inference = InferenceConfig {
        max_tokens: request.max_output_tokens(),
        // Bedrock models take [0, 1]; OpenAI's (1, 2] is "more random than 1", so it maps to 1.
        temperature: params.temperature.map(|t| t.min(1.0) as f32),
        top_p: params.top_p.map(|p| p as f32),
        stop_sequences: params.stop.as_ref().map(|stop| match stop {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(list) => list.clone(),
        }),
    };
    Ok(ConverseRequest {
        messages,
        system: (!system.is_empty()).then_some(system),
        inference_config: Some(inference),
        tool_config: tool_config(params, request.format_tool())?,
        guardrail_config: None,
        additional_model_request_fields: None,
        additional_model_response_field_paths: None,
        prompt_variables: None,
        request_metadata: None,
        performance_config: None,
    })
}

/// Why one message cannot be translated (the caller names the message).
type Reason = Cow<'static, str>;

fn translate_message(
    message: &ChatMessage,
    system: &mut Vec<SystemContentBlock>,
    messages: &mut Vec<Message>,
) -> Result<(), Reason> {
    match message {
        ChatMessage::System(m) | ChatMessage::Developer(m) => {
            match &m.content {
                Some(MessageContent::Parts(parts)) if parts.iter().any(|p| p.cache_control().is_some()) => {
                    system_blocks(parts, system)?
                }
                content => {
                    let text = text_of(content.as_ref())?;
                    if !text.is_empty() {
                        system.push(SystemContentBlock::Text(text));
                    }
                }
            }
            if let Some(c) = &m.cache_control {
                system.push(SystemContentBlock::CachePoint(c.cache_point()));
            }
        }
        ChatMessage::User(m) => {
            let mut blocks = user_blocks(&m.content)?;
            if let Some(c) = &m.cache_control {
                blocks.push(ContentBlock::CachePoint(c.cache_point()));
            }
            push(messages, Role::User, blocks)
        }
        ChatMessage::Assistant(m) => {
            let calls = m.tool_calls.as_deref().unwrap_or_default();
            let mut blocks = Vec::with_capacity(1 + calls.len());
            let text = text_of(m.content.as_ref())?;
            if !text.is_empty() {
                blocks.push(ContentBlock::Text(text));
            }
            for call in calls {
                let args = call
                    .function
                    .arguments
                    .as_deref()
                    .filter(|a| !a.trim().is_empty())
                    .unwrap_or("{}");
                let input: Value =
                    serde_json::from_str(args).map_err(|e| format!("tool call arguments are not valid JSON: {e}"))?;
                blocks.push(ContentBlock::ToolUse(ToolUseBlock {
                    tool_use_id: call.id.clone(),
                    name: call.function.name.clone(),
                    input,
                }));
            }
            if blocks.is_empty() {
                return Err("an assistant message needs content or tool_calls".into());
            }
            push(messages, Role::Assistant, blocks);
        }
        ChatMessage::Tool(m) => {
            let block = ContentBlock::ToolResult(ToolResultBlock {
                tool_use_id: m.tool_call_id.clone(),
                content: vec![ToolResultContentBlock::Text(text_of(m.content.as_ref())?)],
                status: None,
            });
            push(messages, Role::User, vec![block]);
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

/// The text of a message that may hold only text (parts are joined); none is empty.
fn text_of(content: Option<&MessageContent>) -> Result<String, Reason> {
    match content {
        None => Ok(String::new()),
        Some(MessageContent::Text(s)) => Ok(s.clone()),
        Some(MessageContent::Parts(parts)) => {
            let mut out = String::new();
            for part in parts {
                match part {
                    ContentPart::Text { text, .. } => out.push_str(text),
                    ContentPart::ImageUrl { .. } => return Err("this message may only hold text parts".into()),
                }
            }
            Ok(out)
        }
    }
}

fn user_blocks(content: &MessageContent) -> Result<Vec<ContentBlock>, Reason> {
    match content {
        MessageContent::Text(s) => Ok(vec![ContentBlock::Text(s.clone())]),
        MessageContent::Parts(parts) if parts.is_empty() => Err("a user message needs content".into()),
        MessageContent::Parts(parts) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for part in parts {
                blocks.push(match part {
                    ContentPart::Text { text, .. } => ContentBlock::Text(text.clone()),
                    ContentPart::ImageUrl { image_url, .. } => image_block(&image_url.url)?,
                });
                if let Some(c) = part.cache_control() {
                    blocks.push(ContentBlock::CachePoint(c.cache_point()));
                }
            }
            Ok(blocks)
        }
    }
}

/// A system message's text parts with a cache point after each part marked `cache_control`
/// (the text between points joined into one block).
fn system_blocks(parts: &[ContentPart], system: &mut Vec<SystemContentBlock>) -> Result<(), Reason> {
    let mut text = String::new();
    for part in parts {
        match part {
            ContentPart::Text { text: t, .. } => text.push_str(t),
            ContentPart::ImageUrl { .. } => return Err("this message may only hold text parts".into()),
        }
        if let Some(c) = part.cache_control() {
            if !text.is_empty() {
                system.push(SystemContentBlock::Text(std::mem::take(&mut text)));
            }
            system.push(SystemContentBlock::CachePoint(c.cache_point()));
        }
    }
    if !text.is_empty() {
        system.push(SystemContentBlock::Text(text));
    }
    Ok(())
}

fn image_block(url: &str) -> Result<ContentBlock, Reason> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(
            "remote image URLs are not supported; send the image as a data URL (data:image/png;base64,...)".into(),
        );
    };
    let (meta, data) = rest.split_once(',').ok_or("malformed data URL")?;
    let mime = meta.strip_suffix(";base64").ok_or("image data URLs must be base64")?;
    let format = match mime {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => return Err(format!("image type '{other}' is not supported (png, jpeg, gif, webp)").into()),
    };
    if !is_base64(data) {
        return Err("the image data is not valid base64".into());
    }
    Ok(ContentBlock::Image(
        json!({"format": format, "source": {"bytes": data}}),
    ))
}

/// Whether `data` is canonical standard base64, checked in stack-sized pieces so an image is
/// never decoded into memory only to be thrown away.
pub(crate) fn is_base64(data: &str) -> bool {
    const PIECE: usize = 4096; // whole 4-character groups, so pieces decode independently
    let mut out = [0u8; PIECE / 4 * 3];
    let mut pieces = data.as_bytes().chunks(PIECE).peekable();
    while let Some(piece) = pieces.next() {
        // Padding may only end the whole string, not a piece before the last.
        let padded_early = pieces.peek().is_some() && piece.last() == Some(&b'=');
        if padded_early
            || base64::engine::general_purpose::STANDARD
                .decode_slice(piece, &mut out)
                .is_err()
        {
            return false;
        }
    }
    true
}

/// Converse's tool configuration; none when there are no tools (or `tool_choice` is "none") and
/// no JSON `response_format`. A JSON format adds its tool and makes the model call a tool: the
/// format's when the client's tools are off, any of them otherwise (a client's named or required
/// choice is kept), so the answer is either a real tool call or the formatted reply.
fn tool_config(params: &ChatParams, format: Option<FormatTool>) -> Result<Option<ToolConfig>, TranslateError> {
    let offered = params.tools.as_deref().filter(|t| !t.is_empty());
    let tools_off = matches!(params.tool_choice, Some(ToolChoice::Mode(ToolChoiceMode::None)));
    let client_tools = offered.filter(|_| !tools_off).unwrap_or_default();
    let mut tools: Vec<converse::Tool> = client_tools
        .iter()
        .map(|tool| {
            let function = &tool.function;
            converse::Tool::ToolSpec(ToolSpec {
                name: function.name.clone(),
                description: function.description.clone(),
                input_schema: ToolInputSchema::Json(
                    function
                        .parameters
                        .clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                ),
            })
        })
        .collect();
    let named = |name: &str| {
        Some(converse::ToolChoice::Tool(SpecificToolChoice {
            name: name.to_string(),
        }))
    };
    let any = || Some(converse::ToolChoice::Any(Value::Object(Map::new())));
    let client_choice = match &params.tool_choice {
        None | Some(ToolChoice::Mode(ToolChoiceMode::None)) => None,
        Some(ToolChoice::Mode(ToolChoiceMode::Auto)) => Some(converse::ToolChoice::Auto(Value::Object(Map::new()))),
        Some(ToolChoice::Mode(ToolChoiceMode::Required)) => any(),
        Some(ToolChoice::Function(choice)) => named(&choice.function.name),
    };
    let Some(format) = format else {
        return Ok((!tools.is_empty()).then_some(ToolConfig {
            tools,
            tool_choice: client_choice,
        }));
    };
    if client_tools.iter().any(|t| t.function.name == format.name) {
        return Err(TranslateError::new(
            "response_format",
            format!(
                "the response format's name '{}' is also the name of a tool; rename one of them",
                format.name
            ),
        ));
    }
    let tool_choice = match client_choice {
        _ if tools.is_empty() => named(&format.name),
        Some(converse::ToolChoice::Auto(_)) | None => any(),
        kept => kept,
    };
    tools.push(converse::Tool::ToolSpec(ToolSpec {
        name: format.name,
        description: Some(format.description),
        input_schema: ToolInputSchema::Json(format.schema),
    }));
    Ok(Some(ToolConfig { tools, tool_choice }))
}
