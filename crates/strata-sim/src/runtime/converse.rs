//! Converse and ConverseStream: request validation into a [`Prompt`], answers and stream frames.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use strata_core::eventstream::event_frame;
use strata_core::wire::converse::{
    ContentBlock, ContentBlockDelta, ContentBlockDeltaEvent, ContentBlockStart, ContentBlockStartEvent,
    ContentBlockStopEvent, ConverseMetrics, ConverseOutput, ConverseRequest, ConverseResponse, Message,
    MessageStartEvent, MessageStopEvent, MetadataEvent, Role, SystemContentBlock, TokenUsage, Tool, ToolChoice,
    ToolResultContentBlock, ToolUseBlock, ToolUseBlockDelta, ToolUseBlockStart,
};

use super::{Generated, Timing};
use crate::error::AwsError;
use crate::fleet::ModelSpec;
use crate::prompt_cache::{self, CachePoint, PrefixHasher};
use crate::synth::{chunk_json, chunk_text, Prompt, Reply, ToolDef, ToolMode};

/// Words per text delta in a stream.
const WORDS_PER_DELTA: usize = 3;

/// Reads and checks a Converse request body.
pub fn parse(body: &[u8], model: &ModelSpec) -> Result<Prompt, AwsError> {
    let request: ConverseRequest = serde_json::from_slice(body).map_err(|e| {
        AwsError::validation(format!(
            "Malformed input request: {e}. Reformat your input and try again."
        ))
    })?;
    prompt_from_request(&request, model)
}

/// Reads a CountTokens body: `{"input": {"converse": {...}}}` or `{"input": {"invokeModel": {"body": "..."}}}`.
pub fn parse_count_tokens(body: &[u8], model: &ModelSpec) -> Result<Prompt, AwsError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        AwsError::validation(format!(
            "Malformed input request: {e}. Reformat your input and try again."
        ))
    })?;
    let input = value.get("input").ok_or_else(|| {
        AwsError::validation(
            "1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null",
        )
    })?;
    if let Some(converse) = input.get("converse") {
        let request: ConverseRequest = serde_json::from_value(converse.clone()).map_err(|e| {
            AwsError::validation(format!(
                "Malformed input request: {e}. Reformat your input and try again."
            ))
        })?;
        return prompt_from_request(&request, model);
    }
    if let Some(body) = input
        .get("invokeModel")
        .and_then(|i| i.get("body"))
        .and_then(Value::as_str)
    {
        // `body` is a blob: base64 on the wire. Raw JSON text is accepted too, for hand-made calls.
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_else(|_| body.as_bytes().to_vec());
        return super::invoke::parse(&decoded, model);
    }
    Err(AwsError::validation(
        "The input must hold either 'converse' or 'invokeModel'.",
    ))
}

fn constraint(field: &str, value: impl std::fmt::Display, rule: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must {rule}"
    ))
}

fn prompt_from_request(request: &ConverseRequest, model: &ModelSpec) -> Result<Prompt, AwsError> {
    let mut prompt = Prompt::new(&model.id);
    if request.messages.first().is_none_or(|m| m.role != Role::User) {
        return Err(AwsError::validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    if request.messages.windows(2).any(|w| w[0].role == w[1].role) {
        return Err(AwsError::validation(
            "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
        ));
    }
    if let Some(config) = &request.inference_config {
        if let Some(max) = config.max_tokens {
            if max < 1 {
                return Err(constraint(
                    "inferenceConfig.maxTokens",
                    max,
                    "have value greater than or equal to 1",
                ));
            }
            prompt.max_tokens = Some(max);
        }
        if let Some(t) = config.temperature {
            if !(0.0..=1.0).contains(&t) {
                return Err(constraint(
                    "inferenceConfig.temperature",
                    t,
                    "have value less than or equal to 1",
                ));
            }
        }
        if let Some(p) = config.top_p {
            if !(0.0..=1.0).contains(&p) {
                return Err(constraint(
                    "inferenceConfig.topP",
                    p,
                    "have value less than or equal to 1",
                ));
            }
        }
        if let Some(stops) = &config.stop_sequences {
            if stops.len() > 2500 {
                return Err(constraint(
                    "inferenceConfig.stopSequences",
                    stops.len(),
                    "have length less than or equal to 2500",
                ));
            }
            prompt.stop_sequences = stops.clone();
        }
    }
    for block in request.system.iter().flatten() {
        if let SystemContentBlock::Text(text) = block {
            prompt.texts.push(text.clone());
        }
    }
    let mut uses_tools = false;
    for message in &request.messages {
        if message.content.is_empty() {
            return Err(AwsError::validation("The content field in the Message object is empty. Add a ContentBlock object to the content field and try again."));
        }
        prompt.messages += 1;
        for block in &message.content {
            uses_tools |= add_block(&mut prompt, block);
        }
    }
    if let Some(last) = request.messages.last() {
        prompt.after_tool_result = last.content.iter().any(|b| matches!(b, ContentBlock::ToolResult(_)));
        prompt.last_user_text = last
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    match &request.tool_config {
        Some(config) => {
            for tool in &config.tools {
                if let Tool::ToolSpec(spec) = tool {
                    let strata_core::wire::converse::ToolInputSchema::Json(schema) = &spec.input_schema;
                    prompt.tools.push(ToolDef {
                        name: spec.name.clone(),
                        schema: schema.clone(),
                    });
                }
            }
            if prompt.tools.is_empty() {
                return Err(constraint(
                    "toolConfig.tools",
                    "[]",
                    "have length greater than or equal to 1",
                ));
            }
            prompt.tool_mode = match &config.tool_choice {
                None | Some(ToolChoice::Auto(_)) => ToolMode::Auto,
                Some(ToolChoice::Any(_)) => ToolMode::Any,
                Some(ToolChoice::Tool(t)) => {
                    if !prompt.tools.iter().any(|d| d.name == t.name) {
                        return Err(AwsError::validation(format!(
                            "The tool {} named in toolChoice is not defined in toolConfig.tools.",
                            t.name
                        )));
                    }
                    ToolMode::Named(t.name.clone())
                }
            };
        }
        None if uses_tools => {
            return Err(AwsError::validation(
                "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
            ))
        }
        None => {}
    }
    prompt.cache_points = cache_points(request, &model.id);
    Ok(prompt)
}

/// Counts one message block into the prompt; whether it is a tool use or result.
fn add_block(prompt: &mut Prompt, block: &ContentBlock) -> bool {
    match block {
        ContentBlock::Text(text) => prompt.texts.push(text.clone()),
        ContentBlock::Image(_) | ContentBlock::Video(_) => prompt.images += 1,
        ContentBlock::Document(doc) => prompt.texts.push(doc.to_string()),
        ContentBlock::ToolUse(tool_use) => {
            prompt.texts.push(tool_use.input.to_string());
            return true;
        }
        ContentBlock::ToolResult(result) => {
            for part in &result.content {
                match part {
                    ToolResultContentBlock::Text(t) => prompt.texts.push(t.clone()),
                    ToolResultContentBlock::Json(v) => prompt.texts.push(v.to_string()),
                    _ => prompt.images += 1,
                }
            }
            return true;
        }
        _ => {}
    }
    false
}

/// The request's `cachePoint`s in the cache's prefix order (tools, system, messages), each with
/// the size of the prefix before it, counted as [`Prompt::input_tokens`] counts. None for a
/// model without prompt caching.
fn cache_points(request: &ConverseRequest, model: &str) -> Vec<CachePoint> {
    if !prompt_cache::supports(model) {
        return Vec::new();
    }
    let mut prefix = Prompt::new(model);
    let mut hash = PrefixHasher::new(model);
    let mut points = Vec::new();
    let mark = |prefix: &Prompt, hash: &PrefixHasher, points: &mut Vec<CachePoint>, block: &Value| {
        points.push(CachePoint {
            prefix: hash.value(),
            tokens: prefix.input_tokens(),
            ttl: CachePoint::ttl_of(block),
        });
    };
    for tool in request.tool_config.iter().flat_map(|c| &c.tools) {
        match tool {
            Tool::ToolSpec(spec) => {
                hash.add(spec);
                let strata_core::wire::converse::ToolInputSchema::Json(schema) = &spec.input_schema;
                prefix.tools.push(ToolDef {
                    name: spec.name.clone(),
                    schema: schema.clone(),
                });
            }
            Tool::CachePoint(block) => mark(&prefix, &hash, &mut points, block),
        }
    }
    for block in request.system.iter().flatten() {
        match block {
            SystemContentBlock::CachePoint(point) => mark(&prefix, &hash, &mut points, point),
            SystemContentBlock::Text(text) => {
                hash.add(block);
                prefix.texts.push(text.clone());
            }
            SystemContentBlock::GuardContent(_) => hash.add(block),
        }
    }
    for message in &request.messages {
        prefix.messages += 1;
        for block in &message.content {
            if let ContentBlock::CachePoint(point) = block {
                mark(&prefix, &hash, &mut points, point);
            } else {
                hash.add(block);
                add_block(&mut prefix, block);
            }
        }
        hash.end_message();
    }
    points
}

/// The answer's usage: input read from or written to the prompt cache is counted apart from
/// `inputTokens`, as Bedrock counts it (the fields appear when the request had cache points).
fn usage(generated: &Generated) -> TokenUsage {
    let prompt = &generated.prompt;
    let cached = prompt.cached;
    let input = prompt
        .input_tokens()
        .saturating_sub(cached.read)
        .saturating_sub(cached.write)
        .max(1);
    let output = generated.reply.output_tokens();
    let caching = !prompt.cache_points.is_empty();
    TokenUsage {
        input_tokens: input,
        output_tokens: output,
        total_tokens: input
            .saturating_add(output)
            .saturating_add(cached.read)
            .saturating_add(cached.write),
        cache_read_input_tokens: caching.then_some(cached.read),
        cache_write_input_tokens: caching.then_some(cached.write),
    }
}

/// The Converse answer body.
pub fn response_json(generated: &Generated, latency_ms: u64) -> String {
    let content = match &generated.reply {
        Reply::Text { text, .. } => ContentBlock::Text(text.clone()),
        Reply::Tool {
            tool_use_id,
            name,
            input,
            ..
        } => ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: tool_use_id.clone(),
            name: name.clone(),
            input: input.clone(),
        }),
    };
    let response = ConverseResponse {
        output: ConverseOutput::Message(Message {
            role: Role::Assistant,
            content: vec![content],
        }),
        stop_reason: generated.reply.stop_reason(),
        usage: usage(generated),
        metrics: ConverseMetrics { latency_ms },
        additional_model_response_fields: None,
    };
    match (&generated.guardrail, serde_json::to_value(&response)) {
        (Some(guard), Ok(Value::Object(mut map))) => {
            guard.annotate_converse(&mut map);
            Value::Object(map).to_string()
        }
        _ => serde_json::to_string(&response).unwrap_or_default(),
    }
}

/// The padding field the live service adds to stream events.
fn padded<T: Serialize>(event: &T, pad: usize) -> Result<Bytes, AwsError> {
    let mut value = serde_json::to_value(event)
        .map_err(|e| AwsError::new(strata_core::BedrockErrorKind::InternalServerException, e.to_string()))?;
    if let Value::Object(map) = &mut value {
        const PAD: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        map.insert("p".to_string(), Value::String(PAD[..pad % PAD.len()].to_string()));
    }
    Ok(Bytes::from(value.to_string()))
}

fn frame<T: Serialize>(event_type: &str, event: &T, pad: usize) -> Result<Bytes, AwsError> {
    event_frame(event_type, padded(event, pad)?)
        .map_err(|e| AwsError::new(strata_core::BedrockErrorKind::InternalServerException, e.to_string()))
}

/// The ConverseStream frames with the delay before each.
pub fn stream_frames(generated: &Generated, timing: &Timing) -> Result<Vec<(Duration, Bytes)>, AwsError> {
    let mut frames = Vec::new();
    frames.push((
        timing.first_token,
        frame("messageStart", &MessageStartEvent { role: Role::Assistant }, 7)?,
    ));
    match &generated.reply {
        Reply::Text { text, .. } => {
            for (i, piece) in chunk_text(text, WORDS_PER_DELTA).into_iter().enumerate() {
                let words = piece.split(' ').filter(|w| !w.is_empty()).count() as u32;
                let delay = if i == 0 {
                    Duration::ZERO
                } else {
                    timing.per_token * words
                };
                let event = ContentBlockDeltaEvent {
                    delta: ContentBlockDelta::Text(piece),
                    content_block_index: 0,
                };
                frames.push((delay, frame("contentBlockDelta", &event, 11 + i)?));
            }
        }
        Reply::Tool {
            tool_use_id,
            name,
            input,
            output_tokens,
        } => {
            let start = ContentBlockStartEvent {
                start: ContentBlockStart::ToolUse(ToolUseBlockStart {
                    tool_use_id: tool_use_id.clone(),
                    name: name.clone(),
                }),
                content_block_index: 0,
            };
            frames.push((Duration::ZERO, frame("contentBlockStart", &start, 5)?));
            let pieces = chunk_json(&input.to_string(), 3);
            let per_piece = timing.per_token * (*output_tokens / pieces.len().max(1) as u32);
            for (i, piece) in pieces.into_iter().enumerate() {
                let event = ContentBlockDeltaEvent {
                    delta: ContentBlockDelta::ToolUse(ToolUseBlockDelta { input: piece }),
                    content_block_index: 0,
                };
                frames.push((per_piece, frame("contentBlockDelta", &event, 13 + i)?));
            }
        }
    }
    frames.push((
        Duration::ZERO,
        frame("contentBlockStop", &ContentBlockStopEvent { content_block_index: 0 }, 3)?,
    ));
    let stop = MessageStopEvent {
        stop_reason: generated.reply.stop_reason(),
        additional_model_response_fields: None,
    };
    frames.push((Duration::ZERO, frame("messageStop", &stop, 9)?));
    let latency_ms = u64::try_from(timing.total(generated.reply.output_tokens()).as_millis()).unwrap_or(u64::MAX);
    let metadata = MetadataEvent {
        usage: usage(generated),
        metrics: ConverseMetrics { latency_ms },
    };
    frames.push((Duration::ZERO, frame("metadata", &metadata, 17)?));
    Ok(frames)
}
