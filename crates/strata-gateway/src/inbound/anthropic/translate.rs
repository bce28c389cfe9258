//! A Messages request → a Converse request, for every Bedrock model (so routing, fallbacks and
//! the baseline work across model families exactly as for the other dialects).
//!
//! - `system` and messages' blocks map one to one; consecutive turns of one role merge (Converse
//!   needs them to alternate); `cache_control` becomes a `cachePoint` right after its block
//!   (system blocks, message blocks and tools alike; a top-level `cache_control` marks the
//!   conversation's last block).
//! - Converse has no `top_k` and no thinking switch: both go in `additionalModelRequestFields`
//!   under Anthropic's own names, which Claude models on Bedrock read. A request naming a
//!   concrete non-Anthropic model ID with them is refused here; a logical model's non-Claude
//!   target refuses the field upstream rather than dropping it.
//! - What Converse cannot carry (image URLs, files, server tools, `disable_parallel_tool_use`,
//!   `tool_choice: none` in a conversation that already used tools) is refused by name.

use serde_json::{json, Map, Value};
use strata_core::wire::converse::{
    self as converse, ContentBlock as CBlock, ConverseRequest, InferenceConfig, Message, Role, SpecificToolChoice,
    SystemContentBlock, ToolConfig, ToolInputSchema, ToolResultBlock as CToolResult, ToolResultContentBlock, ToolSpec,
    ToolUseBlock,
};
use strata_core::ModelRef;

use super::media::{document, image, refuse, BlockRefusal};
use super::request::{
    ContentBlock, CustomTool, InputMessage, MessageRole, MessagesRequest, Refusal, SystemBlock, TextOrBlocks, Thinking,
    ToolChoice, ToolResultBlock,
};
use crate::inbound::cache_control::CacheControl;

/// What the request is for: a generation checks its sampling options, a count does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Generate,
    Count,
}

/// The smallest thinking budget Anthropic accepts.
const MIN_THINKING_BUDGET: u32 = 1024;

/// Translates a parsed request to Converse.
pub fn to_converse(r: &MessagesRequest, purpose: Purpose) -> Result<ConverseRequest, Refusal> {
    let mut additional = Map::new();
    if let Some(k) = r.top_k {
        anthropic_only(&r.model, "top_k")?;
        additional.insert("top_k".into(), json!(k));
    }
    if let Some(Thinking::Enabled { budget_tokens }) = r.thinking {
        anthropic_only(&r.model, "thinking")?;
        if budget_tokens < MIN_THINKING_BUDGET {
            return Err(Refusal::new(
                "thinking.budget_tokens",
                format!("thinking.budget_tokens: must be at least {MIN_THINKING_BUDGET}"),
            ));
        }
        if purpose == Purpose::Generate && r.max_tokens.is_some_and(|max| budget_tokens >= max) {
            return Err(Refusal::new(
                "thinking.budget_tokens",
                "thinking.budget_tokens: must be less than max_tokens",
            ));
        }
        additional.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget_tokens}),
        );
    }
    let inference_config = match purpose {
        Purpose::Generate => Some(inference(r)?),
        Purpose::Count => None,
    };
    let mut messages = messages(&r.messages)?;
    if let Some(c) = &r.cache_control {
        cache_last_block(&mut messages, c);
    }
    let uses_tools = messages
        .iter()
        .flat_map(|m| &m.content)
        .any(|b| matches!(b, CBlock::ToolUse(_) | CBlock::ToolResult(_)));
    Ok(ConverseRequest {
        messages,
        system: system(r.system.as_ref())?,
        inference_config,
        tool_config: tool_config(r, uses_tools)?,
        guardrail_config: None,
        additional_model_request_fields: (!additional.is_empty()).then_some(Value::Object(additional)),
        additional_model_response_field_paths: None,
        prompt_variables: None,
        request_metadata: request_metadata(r),
        performance_config: None,
    })
}

/// The body of a Bedrock `CountTokens` call for the same conversation.
pub fn count_tokens_body(c: &ConverseRequest) -> Value {
    let mut converse = Map::new();
    converse.insert("messages".into(), json!(c.messages));
    if let Some(system) = &c.system {
        converse.insert("system".into(), json!(system));
    }
    if let Some(tools) = &c.tool_config {
        converse.insert("toolConfig".into(), json!(tools));
    }
    if let Some(fields) = &c.additional_model_request_fields {
        converse.insert("additionalModelRequestFields".into(), fields.clone());
    }
    json!({"input": {"converse": converse}})
}

/// Refuses an Anthropic-only option for a concrete Bedrock model of another provider.
fn anthropic_only(model: &str, field: &str) -> Result<(), Refusal> {
    let other = ModelRef::parse(model)
        .ok()
        .and_then(|m| m.foundation_model_id().map(|id| !id.starts_with("anthropic.")))
        .unwrap_or(false);
    if other {
        return Err(Refusal::new(
            field,
            format!("{field}: only Anthropic models take it on Bedrock (Converse has no equivalent for {model})"),
        ));
    }
    Ok(())
}

fn inference(r: &MessagesRequest) -> Result<InferenceConfig, Refusal> {
    let Some(max_tokens) = r.max_tokens else {
        return Err(Refusal::new("max_tokens", "max_tokens: Field required"));
    };
    if max_tokens < 1 {
        return Err(Refusal::new("max_tokens", "max_tokens: must be at least 1"));
    }
    let unit = |v: Option<f32>, field: &str| match v {
        Some(x) if !(0.0..=1.0).contains(&x) => {
            Err(Refusal::new(field, format!("{field}: must be a number from 0 to 1")))
        }
        _ => Ok(v),
    };
    let stop_sequences = match &r.stop_sequences {
        Some(list) if list.iter().any(|s| s.is_empty()) => {
            return Err(Refusal::new(
                "stop_sequences",
                "stop_sequences: each stop sequence must be non-empty",
            ))
        }
        Some(list) if !list.is_empty() => Some(list.clone()),
        _ => None,
    };
    Ok(InferenceConfig {
        max_tokens: Some(max_tokens),
        temperature: unit(r.temperature, "temperature")?,
        top_p: unit(r.top_p, "top_p")?,
        stop_sequences,
    })
}

fn system(system: Option<&TextOrBlocks<SystemBlock>>) -> Result<Option<Vec<SystemContentBlock>>, Refusal> {
    let mut out = Vec::new();
    match system {
        None => {}
        Some(TextOrBlocks::Text(t)) if t.is_empty() => {}
        Some(TextOrBlocks::Text(t)) => out.push(SystemContentBlock::Text(t.clone())),
        Some(TextOrBlocks::Blocks(blocks)) => {
            for (
                i,
                SystemBlock::Text {
                    text, cache_control, ..
                },
            ) in blocks.iter().enumerate()
            {
                if text.is_empty() {
                    return Err(Refusal::new(
                        format!("system[{i}].text"),
                        format!("system[{i}].text: text content blocks must be non-empty"),
                    ));
                }
                out.push(SystemContentBlock::Text(text.clone()));
                if let Some(c) = cache_control {
                    out.push(SystemContentBlock::CachePoint(c.cache_point()));
                }
            }
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

fn messages(input: &[InputMessage]) -> Result<Vec<Message>, Refusal> {
    let mut out: Vec<Message> = Vec::with_capacity(input.len());
    for (i, m) in input.iter().enumerate() {
        let role = match m.role {
            MessageRole::User => Role::User,
            MessageRole::Assistant => Role::Assistant,
        };
        let blocks = match &m.content {
            TextOrBlocks::Text(t) => vec![CBlock::Text(t.clone())],
            TextOrBlocks::Blocks(blocks) => {
                let mut converted = Vec::with_capacity(blocks.len());
                for (j, b) in blocks.iter().enumerate() {
                    content_block(b, &mut converted).map_err(|reason| {
                        let param = format!("messages[{i}].content[{j}]{}", reason.at);
                        Refusal {
                            message: format!("{param}: {}", reason.why),
                            param: Some(param),
                        }
                    })?;
                }
                converted
            }
        };
        if blocks.is_empty() {
            return Err(Refusal::new(
                format!("messages[{i}].content"),
                format!("messages[{i}].content: a message needs at least one content block"),
            ));
        }
        match out.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.push(Message { role, content: blocks }),
        }
    }
    if out.first().is_none_or(|m| m.role != Role::User) {
        return Err(Refusal::new(
            "messages",
            "messages: the first message must use the user role",
        ));
    }
    Ok(out)
}

/// Top-level `cache_control`: a cache point after the conversation's last block (unless one is
/// there already).
fn cache_last_block(messages: &mut [Message], c: &CacheControl) {
    if let Some(last) = messages.last_mut() {
        if !matches!(last.content.last(), Some(CBlock::CachePoint(_)) | None) {
            last.content.push(CBlock::CachePoint(c.cache_point()));
        }
    }
}

fn content_block(b: &ContentBlock, out: &mut Vec<CBlock>) -> Result<(), BlockRefusal> {
    let cache = match b {
        ContentBlock::Text {
            text, cache_control, ..
        } => {
            out.push(CBlock::Text(text.clone()));
            cache_control
        }
        ContentBlock::Image { source, cache_control } => {
            out.push(CBlock::Image(image(source)?));
            cache_control
        }
        ContentBlock::Document {
            source,
            title,
            cache_control,
            ..
        } => {
            out.push(CBlock::Document(document(source, title.as_deref(), out.len())?));
            cache_control
        }
        ContentBlock::ToolUse {
            id,
            name,
            input,
            cache_control,
        } => {
            if !input.is_object() {
                return Err(refuse(".input", "must be an object"));
            }
            out.push(CBlock::ToolUse(ToolUseBlock {
                tool_use_id: id.clone(),
                name: name.clone(),
                input: input.clone(),
            }));
            cache_control
        }
        ContentBlock::ToolResult {
            tool_use_id,
            content,
            is_error,
            cache_control,
        } => {
            let content = match content {
                None => Vec::new(),
                Some(TextOrBlocks::Text(t)) => vec![ToolResultContentBlock::Text(t.clone())],
                Some(TextOrBlocks::Blocks(blocks)) => blocks
                    .iter()
                    .map(|b| match b {
                        ToolResultBlock::Text { text, .. } => Ok(ToolResultContentBlock::Text(text.clone())),
                        ToolResultBlock::Image { source, .. } => image(source).map(ToolResultContentBlock::Image),
                    })
                    .collect::<Result<_, _>>()?,
            };
            out.push(CBlock::ToolResult(CToolResult {
                tool_use_id: tool_use_id.clone(),
                content,
                status: is_error.unwrap_or(false).then(|| "error".to_string()),
            }));
            cache_control
        }
        ContentBlock::Thinking { thinking, signature } => {
            out.push(CBlock::ReasoningContent(
                json!({"reasoningText": {"text": thinking, "signature": signature}}),
            ));
            &None
        }
        ContentBlock::RedactedThinking { data } => {
            out.push(CBlock::ReasoningContent(json!({"redactedContent": data})));
            &None
        }
    };
    if let Some(c) = cache {
        out.push(CBlock::CachePoint(c.cache_point()));
    }
    Ok(())
}

fn tool_config(r: &MessagesRequest, uses_tools: bool) -> Result<Option<ToolConfig>, Refusal> {
    let mut tools = Vec::new();
    for (i, value) in r.tools.iter().flatten().enumerate() {
        let kind = value.get("type").and_then(Value::as_str);
        if kind.is_some_and(|k| k != "custom") {
            return Err(Refusal::new(
                format!("tools[{i}].type"),
                format!(
                    "tools[{i}].type: server tools ('{}') are not available through Bedrock; define a custom tool",
                    kind.unwrap_or_default()
                ),
            ));
        }
        let tool: CustomTool = serde_json::from_value(value.clone())
            .map_err(|e| Refusal::new(format!("tools[{i}]"), format!("tools[{i}]: {e}")))?;
        if !tool.input_schema.is_object() {
            return Err(Refusal::new(
                format!("tools[{i}].input_schema"),
                format!("tools[{i}].input_schema: must be a JSON schema object"),
            ));
        }
        tools.push(converse::Tool::ToolSpec(ToolSpec {
            name: tool.name,
            description: tool.description.filter(|d| !d.is_empty()),
            input_schema: ToolInputSchema::Json(tool.input_schema),
        }));
        if let Some(c) = &tool.cache_control {
            tools.push(converse::Tool::CachePoint(c.cache_point()));
        }
    }
    let choice =
        match &r.tool_choice {
            None => None,
            Some(c) if c.disables_parallel_tool_use() => return Err(Refusal::new(
                "tool_choice.disable_parallel_tool_use",
                "tool_choice.disable_parallel_tool_use: Bedrock's Converse API cannot limit a turn to one tool call",
            )),
            Some(ToolChoice::Auto { .. }) => Some(converse::ToolChoice::Auto(json!({}))),
            Some(ToolChoice::Any { .. }) => Some(converse::ToolChoice::Any(json!({}))),
            Some(ToolChoice::Tool { name, .. }) => {
                Some(converse::ToolChoice::Tool(SpecificToolChoice { name: name.clone() }))
            }
            Some(ToolChoice::None) => {
                if uses_tools {
                    return Err(Refusal::new(
                        "tool_choice",
                        "tool_choice: 'none' cannot be honoured on Bedrock in a conversation that already holds \
                     tool_use or tool_result blocks (Converse needs the tools then); use 'auto'",
                    ));
                }
                // No tools offered: the model cannot call one.
                return Ok(None);
            }
        };
    if tools.is_empty() {
        if matches!(
            choice,
            Some(converse::ToolChoice::Any(_) | converse::ToolChoice::Tool(_))
        ) {
            return Err(Refusal::new("tool_choice", "tool_choice: requires tools"));
        }
        return Ok(None);
    }
    Ok(Some(ToolConfig {
        tools,
        tool_choice: choice,
    }))
}

/// `metadata.user_id` in Bedrock's `requestMetadata` (its invocation logs show it), when it fits
/// Bedrock's rules for metadata values; otherwise it is only accepted.
fn request_metadata(r: &MessagesRequest) -> Option<Value> {
    let user = r.metadata.as_ref()?.user_id.as_deref()?;
    let fits = !user.is_empty()
        && user.len() <= 256
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " :_@$#=/+,-.".contains(c));
    fits.then(|| json!({"user_id": user}))
}
