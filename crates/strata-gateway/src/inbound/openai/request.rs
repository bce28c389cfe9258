//! OpenAI chat request: read once from the body into typed structs, then translated to a
//! Converse request, or written back (model replaced) for OpenAI-compatible upstreams.
//!
//! Invariants: a [`ChatRequest`] holds only options the gateway can honour; the ones Bedrock
//! cannot (n > 1, logprobs, non-text output, audio) are refused with the parameter's name, never
//! dropped. Unknown top-level fields are accepted: the Converse translation ignores them and
//! [`ChatRequest::upstream_body`] keeps them. Unknown fields inside messages and tools are dropped.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use strata_core::wire::converse::{
    self as converse, ContentBlock, ConverseRequest, InferenceConfig, Message, Role, SpecificToolChoice,
    SystemContentBlock, ToolConfig, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpec, ToolUseBlock,
};

use super::translate::{TranslateError, TranslateErrorKind};

/// What the request asks of the gateway beyond the Converse body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatOptions {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
}

/// A `POST /v1/chat/completions` body. `Deserialize` checks everything [`parse`] checks;
/// `Serialize` writes back what was received, without the fields that were absent or null.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    pub model: String,
    #[serde(flatten)]
    pub params: ChatParams,
}

/// Everything in the request but the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatParams {
    pub messages: Vec<ChatMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Always 1 when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Always false when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modalities: Option<Vec<Modality>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Top-level fields this gateway does not know, passed on to OpenAI-compatible upstreams.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One message of the conversation, by role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    System(InstructionMessage),
    Developer(InstructionMessage),
    User(UserMessage),
    Assistant(AssistantMessage),
    Tool(ToolMessage),
}

/// A system or developer message; text only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstructionMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMessage {
    pub content: MessageContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A tool's result, answering the assistant's call `tool_call_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolMessage {
    pub tool_call_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
}

/// A message's `content`: a string or an array of parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// Only `data:` URLs can be sent to Bedrock.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A call the assistant made, as sent back in the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ToolKind>,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text; missing or blank means no arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// Only function tools exist on Bedrock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    Function,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    #[serde(rename = "type")]
    pub kind: ToolKind,
    pub function: FunctionDefinition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON schema; missing means no parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(ToolChoiceMode),
    Function(NamedToolChoice),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoiceMode {
    None,
    Auto,
    Required,
}

/// `{"type": "function", "function": {"name": …}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedToolChoice {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ToolKind>,
    pub function: FunctionName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionName {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
}

/// Only plain text answers: JSON modes are refused while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
}

/// Only text output: audio is refused while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Text,
}

/// Reads a chat completions body in one pass. Malformed JSON is `invalid_json`; a wrong shape or
/// an option Bedrock cannot honour names the parameter (`temperature`, `messages[2]`, `tools[0]`).
pub fn parse(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let trace = Trace::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    (&mut de)
        .deserialize_map(RequestVisitor { trace: &trace })
        .and_then(|request| de.end().map(|()| request))
        .map_err(|e| trace.error(&e))
}

impl ChatRequest {
    /// The model, and how the answer is to be sent back.
    pub fn options(&self) -> ChatOptions {
        ChatOptions {
            model: self.model.clone(),
            stream: self.params.stream.unwrap_or(false),
            include_usage: self
                .params
                .stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        }
    }

    /// The answer's token limit: `max_completion_tokens`, else the older `max_tokens`.
    pub fn max_output_tokens(&self) -> Option<u32> {
        let max = self.params.max_completion_tokens.or(self.params.max_tokens)?;
        Some(u32::try_from(max).unwrap_or(u32::MAX))
    }

    /// The request as received, for an OpenAI-compatible upstream that knows the model as `model`.
    pub fn upstream_body(&self, model: &str) -> Result<bytes::Bytes, serde_json::Error> {
        #[derive(Serialize)]
        struct UpstreamBody<'a> {
            model: &'a str,
            #[serde(flatten)]
            params: &'a ChatParams,
        }
        let body = serde_json::to_vec(&UpstreamBody {
            model,
            params: &self.params,
        })?;
        Ok(bytes::Bytes::from(body))
    }
}

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
        tool_config: tool_config(params),
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
            let text = text_of(m.content.as_ref())?;
            if !text.is_empty() {
                system.push(SystemContentBlock::Text(text));
            }
        }
        ChatMessage::User(m) => push(messages, Role::User, user_blocks(&m.content)?),
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
                    ContentPart::Text { text } => out.push_str(text),
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
        MessageContent::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text { text } => Ok(ContentBlock::Text(text.clone())),
                ContentPart::ImageUrl { image_url } => image_block(&image_url.url),
            })
            .collect(),
    }
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
fn is_base64(data: &str) -> bool {
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

/// Converse's tool configuration; none when there are no tools or `tool_choice` is "none".
fn tool_config(params: &ChatParams) -> Option<ToolConfig> {
    let tools = params.tools.as_deref().filter(|t| !t.is_empty())?;
    let tool_choice = match &params.tool_choice {
        Some(ToolChoice::Mode(ToolChoiceMode::None)) => return None,
        None => None,
        Some(ToolChoice::Mode(ToolChoiceMode::Auto)) => Some(converse::ToolChoice::Auto(Value::Object(Map::new()))),
        Some(ToolChoice::Mode(ToolChoiceMode::Required)) => Some(converse::ToolChoice::Any(Value::Object(Map::new()))),
        Some(ToolChoice::Function(named)) => Some(converse::ToolChoice::Tool(SpecificToolChoice {
            name: named.function.name.clone(),
        })),
    };
    let tools = tools
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
    Some(ToolConfig { tools, tool_choice })
}

// --- Reading the body ---------------------------------------------------------------------------
//
// serde's errors do not say where they happened, so the visitors note in a `Trace` which
// parameter they are reading and, for a scalar, the rule to quote if its value is wrong.

const BODY_RULE: &str = "the request body must be a JSON object";
const MODEL_RULE: &str = "'model' is required and must be a string";
const MESSAGES_RULE: &str = "'messages' is required and must be an array";

/// The parameter being read.
#[derive(Debug, Clone, Copy)]
enum Param {
    Body,
    Field(&'static str),
    Message(usize),
    Tool(usize),
}

impl Param {
    fn name(self) -> Option<String> {
        match self {
            Param::Body => None,
            Param::Field(field) => Some(field.to_string()),
            Param::Message(i) => Some(format!("messages[{i}]")),
            Param::Tool(i) => Some(format!("tools[{i}]")),
        }
    }
}

struct Trace {
    at: Cell<Param>,
    /// The message for a wrong value at `at`; none to quote serde's own.
    rule: Cell<Option<&'static str>>,
}

impl Trace {
    fn new() -> Self {
        Trace {
            at: Cell::new(Param::Body),
            rule: Cell::new(Some(BODY_RULE)),
        }
    }

    fn reading(&self, at: Param, rule: Option<&'static str>) {
        self.at.set(at);
        self.rule.set(rule);
    }

    /// A refusal of what is being read, quoting its rule.
    fn refuse<E: de::Error>(&self, at: Param, rule: &'static str) -> E {
        self.reading(at, Some(rule));
        E::custom(rule)
    }

    fn error(&self, e: &serde_json::Error) -> TranslateError {
        if e.classify() != serde_json::error::Category::Data {
            return TranslateError::invalid_json(format!("The body is not valid JSON: {e}"));
        }
        let param = self.at.get().name();
        let message = match (self.rule.get(), &param) {
            (Some(rule), _) => rule.to_string(),
            (None, Some(param)) => format!("invalid '{param}': {e}"),
            (None, None) => e.to_string(),
        };
        TranslateError {
            param,
            message,
            kind: TranslateErrorKind::InvalidRequest,
        }
    }
}

impl<'de> Deserialize<'de> for ChatRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RequestVisitor { trace: &Trace::new() })
    }
}

struct RequestVisitor<'t> {
    trace: &'t Trace,
}

impl<'de> Visitor<'de> for RequestVisitor<'_> {
    type Value = ChatRequest;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a chat completions request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChatRequest, A::Error> {
        let trace = self.trace;
        let mut model: Option<String> = None;
        let mut messages = None;
        let mut p = ChatParams::default();
        trace.reading(Param::Body, None);
        while let Some(Key(key)) = map.next_key()? {
            let m = &mut map;
            match key.as_ref() {
                "model" => model = read(m, trace, "model", MODEL_RULE, |m: &String| !m.is_empty())?,
                "messages" => {
                    trace.reading(Param::Field("messages"), Some(MESSAGES_RULE));
                    messages = m.next_value_seed(Indexed::new(trace, Param::Message))?;
                }
                "stream" => p.stream = read(m, trace, "stream", "'stream' must be a boolean", any)?,
                "stream_options" => {
                    let rule = "'stream_options' must be an object like {\"include_usage\": true}";
                    p.stream_options = read(m, trace, "stream_options", rule, any)?;
                }
                "temperature" => {
                    let rule = "'temperature' must be a number from 0 to 2";
                    p.temperature = read(m, trace, "temperature", rule, |t: &f64| (0.0..=2.0).contains(t))?;
                }
                "top_p" => {
                    let rule = "'top_p' must be a number from 0 to 1";
                    p.top_p = read(m, trace, "top_p", rule, |t: &f64| (0.0..=1.0).contains(t))?;
                }
                "max_tokens" => {
                    let rule = "'max_tokens' must be a positive integer";
                    p.max_tokens = read(m, trace, "max_tokens", rule, |n: &u64| *n >= 1)?;
                }
                "max_completion_tokens" => {
                    let rule = "'max_completion_tokens' must be a positive integer";
                    p.max_completion_tokens = read(m, trace, "max_completion_tokens", rule, |n: &u64| *n >= 1)?;
                }
                "stop" => p.stop = read(m, trace, "stop", "'stop' must be a string or an array of strings", any)?,
                "n" => {
                    let rule = "only n = 1 is supported: Bedrock returns one choice per request";
                    p.n = read(m, trace, "n", rule, |n: &u32| *n == 1)?;
                }
                "logprobs" => {
                    let rule = "logprobs are not available from Bedrock models";
                    p.logprobs = read(m, trace, "logprobs", rule, |wanted: &bool| !wanted)?;
                }
                "top_logprobs" => {
                    let rule = "logprobs are not available from Bedrock models";
                    read::<_, IgnoredAny>(m, trace, "top_logprobs", rule, refused)?;
                }
                "response_format" => {
                    let rule = "only response_format {\"type\": \"text\"} is supported for now";
                    p.response_format = read(m, trace, "response_format", rule, any)?;
                }
                "audio" => {
                    read::<_, IgnoredAny>(m, trace, "audio", "audio output is not supported", refused)?;
                }
                "modalities" => {
                    p.modalities = read(m, trace, "modalities", "only text output is supported", any)?;
                }
                "tools" => {
                    trace.reading(Param::Field("tools"), Some("'tools' must be an array"));
                    p.tools = m.next_value_seed(Indexed::new(trace, Param::Tool))?;
                }
                "tool_choice" => {
                    let rule = "'tool_choice' must be none, auto, required or \
                                {\"type\":\"function\",\"function\":{\"name\":...}}";
                    p.tool_choice = read(m, trace, "tool_choice", rule, any)?;
                }
                "parallel_tool_calls" => {
                    let rule = "'parallel_tool_calls' must be a boolean";
                    p.parallel_tool_calls = read(m, trace, "parallel_tool_calls", rule, any)?;
                }
                "frequency_penalty" => {
                    let rule = "'frequency_penalty' must be a number";
                    p.frequency_penalty = read(m, trace, "frequency_penalty", rule, any)?;
                }
                "presence_penalty" => {
                    let rule = "'presence_penalty' must be a number";
                    p.presence_penalty = read(m, trace, "presence_penalty", rule, any)?;
                }
                "seed" => p.seed = read(m, trace, "seed", "'seed' must be an integer", any)?,
                "user" => p.user = read(m, trace, "user", "'user' must be a string", any)?,
                _ => {
                    trace.reading(Param::Body, None);
                    let value = m.next_value()?;
                    p.extra.insert(key.into_owned(), value);
                }
            }
        }
        let Some(model) = model else {
            return Err(trace.refuse(Param::Field("model"), MODEL_RULE));
        };
        p.messages = match messages {
            None => return Err(trace.refuse(Param::Field("messages"), MESSAGES_RULE)),
            Some(list) if list.is_empty() => {
                return Err(trace.refuse(Param::Field("messages"), "'messages' must hold at least one message"))
            }
            Some(list) => list,
        };
        Ok(ChatRequest { model, params: p })
    }
}

/// Reads an optional top-level value (null is absent); a value of the wrong shape or one `valid`
/// rejects is refused with `rule`.
fn read<'de, A, T>(
    map: &mut A,
    trace: &Trace,
    field: &'static str,
    rule: &'static str,
    valid: fn(&T) -> bool,
) -> Result<Option<T>, A::Error>
where
    A: MapAccess<'de>,
    T: Deserialize<'de>,
{
    trace.reading(Param::Field(field), Some(rule));
    match map.next_value::<Option<T>>()? {
        Some(value) if !valid(&value) => Err(de::Error::custom(rule)),
        value => Ok(value),
    }
}

fn any<T>(_: &T) -> bool {
    true
}

fn refused<T>(_: &T) -> bool {
    false
}

/// A top-level key, borrowed from the body unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// An optional array whose elements are traced by index (`messages[2]`).
struct Indexed<'t, T> {
    trace: &'t Trace,
    param: fn(usize) -> Param,
    element: PhantomData<T>,
}

impl<'t, T> Indexed<'t, T> {
    fn new(trace: &'t Trace, param: fn(usize) -> Param) -> Self {
        Indexed {
            trace,
            param,
            element: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Indexed<'_, T> {
    type Value = Option<Vec<T>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Indexed<'_, T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut items = Vec::new();
        loop {
            self.trace.reading((self.param)(items.len()), None);
            match seq.next_element()? {
                Some(item) => items.push(item),
                None => return Ok(Some(items)),
            }
        }
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = MessageContent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("'content' as a string or an array of content parts")
            }
            fn visit_str<E>(self, s: &str) -> Result<MessageContent, E> {
                Ok(MessageContent::Text(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<MessageContent, E> {
                Ok(MessageContent::Text(s))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<MessageContent, S::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element()? {
                    parts.push(part);
                }
                Ok(MessageContent::Parts(parts))
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_value(v: &Value) -> Result<ChatRequest, TranslateError> {
        parse(v.to_string().as_bytes())
    }

    fn translate(v: Value) -> Result<ConverseRequest, TranslateError> {
        to_converse(&parse_value(&v)?)
    }

    /// A minimal request with `extra` set on top.
    fn with(extra: Value) -> Value {
        let mut r = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    }

    /// The parameter a request is refused for, whether by `parse` or by `to_converse`.
    fn refused_param(v: Value) -> String {
        let e = translate(v).unwrap_err();
        assert_eq!(e.kind, TranslateErrorKind::InvalidRequest, "{e:?}");
        assert!(!e.message.is_empty());
        let param = e.param.clone();
        param.unwrap_or_else(|| panic!("no param in {e:?}"))
    }

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
        let parsed = parse_value(&req).unwrap();
        assert_eq!(
            parsed.options(),
            ChatOptions {
                model: "m".into(),
                stream: false,
                include_usage: false
            }
        );
        let c = to_converse(&parsed).unwrap();
        assert_eq!(
            c.messages.len(),
            3,
            "tool results and the next user text merge into one user turn"
        );
        assert_eq!(c.messages[1].content.len(), 2);
        assert_eq!(c.messages[2].content.len(), 3);
        let inf = c.inference_config.unwrap();
        assert_eq!((inf.max_tokens, inf.temperature), (Some(20), Some(1.0)));
        assert_eq!(inf.stop_sequences, Some(vec!["END".to_string()]));
        assert!(matches!(
            c.tool_config.unwrap().tool_choice,
            Some(converse::ToolChoice::Any(_))
        ));
        assert_eq!(c.system.unwrap().len(), 1);
    }

    #[test]
    fn every_message_kind_translates() {
        let c = translate(json!({"model": "m", "messages": [
            {"role": "system", "content": "one"},
            {"role": "developer", "content": [{"type": "text", "text": "t"}, {"type": "text", "text": "wo"}]},
            {"role": "system", "content": ""},
            {"role": "user", "content": "q", "name": "ann"},
            {"role": "user", "content": [{"type": "text", "text": "and"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA", "detail": "low"}}]},
            {"role": "assistant", "content": "let me look", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "  "}},
                {"id": "c2", "function": {"name": "g"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "r1"}]},
            {"role": "tool", "tool_call_id": "c2"},
            {"role": "assistant", "content": [{"type": "text", "text": "done"}]}
        ]}))
        .unwrap();
        assert_eq!(
            c.system,
            Some(vec![
                SystemContentBlock::Text("one".into()),
                SystemContentBlock::Text("two".into())
            ]),
            "system and developer become system blocks; parts are joined; empty ones are dropped"
        );
        let roles: Vec<_> = c.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::User, Role::Assistant, Role::User, Role::Assistant]);
        let user = &c.messages[0].content;
        assert_eq!(user[0], ContentBlock::Text("q".into()));
        assert_eq!(user[1], ContentBlock::Text("and".into()));
        assert_eq!(
            user[2],
            ContentBlock::Image(json!({"format": "jpeg", "source": {"bytes": "AAAA"}}))
        );
        let assistant = &c.messages[1].content;
        assert_eq!(assistant[0], ContentBlock::Text("let me look".into()));
        assert_eq!(
            assistant[1],
            ContentBlock::ToolUse(ToolUseBlock {
                tool_use_id: "c1".into(),
                name: "f".into(),
                input: json!({})
            }),
            "blank arguments mean none"
        );
        assert!(matches!(&assistant[2], ContentBlock::ToolUse(t) if t.input == json!({})));
        let results = &c.messages[2].content;
        assert_eq!(
            results[0],
            ContentBlock::ToolResult(ToolResultBlock {
                tool_use_id: "c1".into(),
                content: vec![ToolResultContentBlock::Text("r1".into())],
                status: None
            })
        );
        assert!(
            matches!(&results[1], ContentBlock::ToolResult(r) if r.content == [ToolResultContentBlock::Text(String::new())])
        );
        assert_eq!(c.messages[3].content, [ContentBlock::Text("done".into())]);
        assert!(c.tool_config.is_none());
    }

    #[test]
    fn tools_and_tool_choice() {
        let tools = json!([
            {"type": "function", "function": {"name": "a", "description": "does a", "strict": true}},
            {"type": "function", "function": {"name": "b", "parameters": {"type": "object", "required": ["x"]}}}
        ]);
        let config = |choice: Value| {
            translate(with(json!({"tools": tools, "tool_choice": choice})))
                .unwrap()
                .tool_config
        };
        let c = config(Value::Null).unwrap();
        assert_eq!(c.tool_choice, None);
        assert_eq!(
            c.tools[0],
            converse::Tool::ToolSpec(ToolSpec {
                name: "a".into(),
                description: Some("does a".into()),
                input_schema: ToolInputSchema::Json(json!({"type": "object", "properties": {}}))
            })
        );
        assert!(
            matches!(&c.tools[1], converse::Tool::ToolSpec(s) if s.input_schema == ToolInputSchema::Json(json!({"type": "object", "required": ["x"]})))
        );
        assert!(matches!(
            config(json!("auto")).unwrap().tool_choice,
            Some(converse::ToolChoice::Auto(_))
        ));
        assert!(matches!(
            config(json!("required")).unwrap().tool_choice,
            Some(converse::ToolChoice::Any(_))
        ));
        assert_eq!(
            config(json!({"type": "function", "function": {"name": "b"}}))
                .unwrap()
                .tool_choice,
            Some(converse::ToolChoice::Tool(SpecificToolChoice { name: "b".into() }))
        );
        assert_eq!(config(json!("none")), None, "tool_choice none sends no tools");
        assert_eq!(translate(with(json!({"tools": []}))).unwrap().tool_config, None);
    }

    #[test]
    fn inference_config_from_the_sampling_options() {
        let c = translate(with(
            json!({"temperature": 0.25, "top_p": 0.5, "max_tokens": 7, "stop": ["a", "b"], "seed": 3, "user": "u"}),
        ))
        .unwrap();
        assert_eq!(
            c.inference_config,
            Some(InferenceConfig {
                max_tokens: Some(7),
                temperature: Some(0.25),
                top_p: Some(0.5),
                stop_sequences: Some(vec!["a".into(), "b".into()])
            })
        );
        let bare = translate(with(json!({}))).unwrap();
        assert_eq!(bare.inference_config, Some(InferenceConfig::default()));
        let r = parse_value(&with(json!({"max_completion_tokens": 5_000_000_000u64}))).unwrap();
        assert_eq!(r.max_output_tokens(), Some(u32::MAX));
        assert_eq!(parse_value(&with(json!({}))).unwrap().max_output_tokens(), None);
    }

    #[test]
    fn options_read_stream_and_usage() {
        let r = parse_value(&with(
            json!({"stream": true, "stream_options": {"include_usage": true}}),
        ))
        .unwrap();
        assert_eq!(
            r.options(),
            ChatOptions {
                model: "m".into(),
                stream: true,
                include_usage: true
            }
        );
        let r = parse_value(&with(json!({"stream": null, "stream_options": null}))).unwrap();
        assert!(!r.options().stream && !r.options().include_usage);
    }

    #[test]
    fn unsupported_options_name_their_parameter() {
        let cases = [
            (json!({"n": 2}), "n"),
            (json!({"n": "1"}), "n"),
            (json!({"logprobs": true}), "logprobs"),
            (json!({"top_logprobs": 3}), "top_logprobs"),
            (json!({"response_format": {"type": "json_object"}}), "response_format"),
            (
                json!({"response_format": {"type": "json_schema", "json_schema": {}}}),
                "response_format",
            ),
            (json!({"response_format": "json"}), "response_format"),
            (json!({"audio": {"voice": "alloy", "format": "wav"}}), "audio"),
            (json!({"modalities": ["text", "audio"]}), "modalities"),
            (json!({"temperature": 3}), "temperature"),
            (json!({"temperature": "hot"}), "temperature"),
            (json!({"top_p": 1.5}), "top_p"),
            (json!({"max_tokens": 0}), "max_tokens"),
            (json!({"max_tokens": "many"}), "max_tokens"),
            (json!({"max_completion_tokens": -1}), "max_completion_tokens"),
            (json!({"stop": 5}), "stop"),
            (json!({"stop": ["a", 1]}), "stop"),
            (json!({"stream": "yes"}), "stream"),
            (json!({"stream_options": {"include_usage": "yes"}}), "stream_options"),
            (json!({"model": 5}), "model"),
            (json!({"model": ""}), "model"),
            (json!({"model": null}), "model"),
            (json!({"messages": "hi"}), "messages"),
            (json!({"messages": []}), "messages"),
            (json!({"messages": null}), "messages"),
            (json!({"tools": {}}), "tools"),
            (json!({"tools": [{"type": "web_search"}]}), "tools[0]"),
            (
                json!({"tools": [{"type": "function", "function": {"name": "a"}}, {"type": "function"}]}),
                "tools[1]",
            ),
            (json!({"tool_choice": "sometimes"}), "tool_choice"),
            (json!({"tool_choice": {"type": "function"}}), "tool_choice"),
            (json!({"parallel_tool_calls": 1}), "parallel_tool_calls"),
            (json!({"seed": 1.5}), "seed"),
            (json!({"user": 7}), "user"),
            (json!({"frequency_penalty": "x"}), "frequency_penalty"),
        ];
        for (extra, param) in cases {
            assert_eq!(refused_param(with(extra.clone())), param, "{extra}");
        }
        let mut no_model = with(json!({}));
        no_model.as_object_mut().unwrap().remove("model");
        assert_eq!(refused_param(no_model), "model");
        let mut no_messages = with(json!({}));
        no_messages.as_object_mut().unwrap().remove("messages");
        assert_eq!(refused_param(no_messages), "messages");
        // Null means absent, as OpenAI's clients send it.
        for absent in [
            "n",
            "logprobs",
            "top_logprobs",
            "response_format",
            "audio",
            "modalities",
            "tools",
            "stop",
        ] {
            assert!(translate(with(json!({absent: null}))).is_ok(), "{absent}: null");
        }
        for accepted in [
            json!({"n": 1, "logprobs": false, "response_format": {"type": "text"}, "modalities": ["text"]}),
            json!({"temperature": 2, "top_p": 0, "max_tokens": 1}),
        ] {
            assert!(translate(with(accepted.clone())).is_ok(), "{accepted}");
        }
    }

    #[test]
    fn refusals_quote_the_rule() {
        let e = translate(with(json!({"n": 3}))).unwrap_err();
        assert_eq!(
            e.message,
            "only n = 1 is supported: Bedrock returns one choice per request"
        );
        let e = translate(with(json!({"max_tokens": "many"}))).unwrap_err();
        assert_eq!(e.message, "'max_tokens' must be a positive integer");
        assert_eq!(e.code(), "invalid_request");
    }

    #[test]
    fn message_problems_name_the_message() {
        let msg = |m: Value| {
            let e = translate(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}, m]})).unwrap_err();
            assert_eq!(e.param.as_deref(), Some("messages[1]"), "{m}: {e:?}");
            e.message
        };
        assert!(msg(json!({"role": "robot", "content": "x"})).contains("robot"));
        assert!(msg(json!({"content": "x"})).contains("role"));
        assert!(msg(json!({"role": "tool", "content": "x"})).contains("tool_call_id"));
        assert!(msg(json!({"role": "user"})).contains("content"));
        assert!(msg(json!({"role": "user", "content": null})).contains("content"));
        assert!(msg(json!({"role": "user", "content": 5})).contains("content"));
        assert!(msg(json!({"role": "user", "content": []})).contains("needs content"));
        assert!(msg(json!({"role": "user", "content": [{"text": "x"}]})).contains("type"));
        assert!(
            msg(json!({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}))
                .contains("input_audio")
        );
        assert!(msg(json!({"role": "user", "content": [{"type": "text"}]})).contains("text"));
        assert!(msg(json!({"role": "assistant", "content": null})).contains("content or tool_calls"));
        assert!(msg(json!({"role": "assistant", "tool_calls": []})).contains("content or tool_calls"));
        assert!(msg(
            json!({"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{"}}]})
        )
        .contains("not valid JSON"));
        assert!(msg(json!({"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]})).contains("id"));
        assert!(msg(json!({"role": "system", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}))
            .contains("only hold text"));
        let e = translate(json!({"model": "m", "messages": [{"role": "assistant", "content": "x"}]})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages"));
        let e = translate(json!({"model": "m", "messages": [{"role": "system", "content": "x"}]})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages"));
    }

    #[test]
    fn images_must_be_data_urls_of_known_types() {
        let image = |url: &str| {
            translate(json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": url}}]}]}))
        };
        let c = image("data:image/png;base64,iVBORw0KGgo=").unwrap();
        assert!(matches!(&c.messages[0].content[1], ContentBlock::Image(v) if v["format"] == "png"));
        for (url, format) in [
            ("data:image/jpg;base64,AAAA", "jpeg"),
            ("data:image/gif;base64,", "gif"),
            ("data:image/webp;base64,AA==", "webp"),
        ] {
            let c = image(url).unwrap();
            assert!(
                matches!(&c.messages[0].content[1], ContentBlock::Image(v) if v["format"] == format),
                "{url}"
            );
        }
        for (url, says) in [
            ("https://x/y.png", "data URL"),
            ("data:image/png;base64", "malformed"),
            ("data:image/png,AAAA", "base64"),
            ("data:image/svg+xml;base64,AAAA", "image/svg+xml"),
            ("data:image/png;base64,A", "not valid base64"),
            ("data:image/png;base64,AA=A", "not valid base64"),
        ] {
            let e = image(url).unwrap_err();
            assert_eq!(e.param.as_deref(), Some("messages[0]"), "{url}");
            assert!(e.message.contains(says), "{url}: {}", e.message);
        }
    }

    #[test]
    fn base64_check_agrees_with_a_full_decode() {
        let long = "QUJD".repeat(1024); // exactly one piece
        let cases = [
            String::new(),
            "AA==".into(),
            "AAA=".into(),
            "AAAA".into(),
            "AAA".into(),
            "AB==".into(), // non-canonical trailing bits
            "A===".into(),
            "AA==AAAA".into(),
            format!("{long}AA=="),
            format!("{}AA==AAAA", &long[..4092]), // padding ends the first piece
            format!("{long}{long}"),
            format!("{long}A"),
            format!("{long}*AAA"),
        ];
        for data in cases {
            let full = base64::engine::general_purpose::STANDARD.decode(&data).is_ok();
            assert_eq!(is_base64(&data), full, "{data:.20}… ({} chars)", data.len());
        }
    }

    #[test]
    fn parse_errors_are_clear() {
        for body in [
            &b"{not json"[..],
            b"",
            b"{\"model\": \"m\", \"messages\": [",
            br#"{"model": "m", "messages": [{"role": "user", "content": "hi"}]} x"#,
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!(
                (e.kind, e.code(), e.param.as_deref()),
                (TranslateErrorKind::InvalidJson, "invalid_json", None)
            );
            assert!(e.message.starts_with("The body is not valid JSON: "), "{}", e.message);
        }
        for body in [&b"[1,2,3]"[..], b"\"hi\"", b"null"] {
            let e = parse(body).unwrap_err();
            assert_eq!((e.kind, e.param.as_deref()), (TranslateErrorKind::InvalidRequest, None));
            assert_eq!(e.message, "the request body must be a JSON object");
        }
        let e = parse(br#"{"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "robot"}]}"#)
            .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[2]"));
        assert!(
            e.message.starts_with("invalid 'messages[2]': unknown variant `robot`"),
            "{}",
            e.message
        );
        // serde's own entry point checks the same rules.
        assert!(serde_json::from_str::<ChatRequest>(r#"{"model": "m", "messages": [], "n": 1}"#).is_err());
        assert!(serde_json::from_value::<ChatRequest>(with(json!({"n": 2}))).is_err());
        assert!(serde_json::from_value::<ChatRequest>(with(json!({"n": 1}))).is_ok());
    }

    #[test]
    fn upstream_body_is_the_request_with_its_model_replaced() {
        let original = json!({
            "model": "alias",
            "messages": [
                {"role": "developer", "content": "be brief", "name": "ops"},
                {"role": "user", "content": [{"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}}]},
                {"role": "assistant", "content": "", "refusal": "no", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
                {"role": "user", "content": "and?"}
            ],
            "stream": true, "stream_options": {"include_usage": true},
            "temperature": 0.7, "top_p": 0.9, "max_tokens": 100, "max_completion_tokens": 50,
            "stop": ["x"], "n": 1, "logprobs": false, "response_format": {"type": "text"}, "modalities": ["text"],
            "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": false}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}}, "parallel_tool_calls": true,
            "frequency_penalty": -0.5, "presence_penalty": 0.5, "seed": -3, "user": "u",
            "top_k": 40, "metadata": {"team": "a"}, "chat_template_kwargs": {"thinking": false}
        });
        let request = parse_value(&original).unwrap();
        let sent: Value = serde_json::from_slice(&request.upstream_body("llama-70b").unwrap()).unwrap();
        let mut expected = original.clone();
        expected["model"] = json!("llama-70b");
        assert_eq!(sent, expected, "every field kept, unknown top-level ones included");
        assert_eq!(
            parse_value(&sent).unwrap().params,
            request.params,
            "it parses back the same"
        );
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            original,
            "Serialize keeps the model"
        );

        let with_nulls = with(json!({"temperature": null, "tools": null, "logprobs": null, "x": 1,
            "messages": [{"role": "user", "content": "hi", "name": null},
                         {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]},
                         {"role": "tool", "tool_call_id": "c"}]}));
        let body = parse_value(&with_nulls).unwrap().upstream_body("m2").unwrap();
        let sent: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            sent,
            json!({"model": "m2", "x": 1, "messages": [{"role": "user", "content": "hi"},
                {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]},
                {"role": "tool", "tool_call_id": "c"}]}),
            "null and absent fields are left out; nothing is added"
        );
    }

    #[test]
    fn unknown_fields_are_ignored_for_bedrock() {
        let plain = translate(with(json!({}))).unwrap();
        let extra = translate(with(
            json!({"metadata": {"a": 1}, "store": true, "top_k": 5, "service_tier": "auto"}),
        ))
        .unwrap();
        assert_eq!(plain, extra);
        let escaped =
            parse(br#"{"mod\u0065l": "m", "messages": [{"role": "user", "content": "hi"}], "t\u006fp_k": 1}"#).unwrap();
        assert_eq!(escaped.model, "m");
        assert_eq!(escaped.params.extra.get("top_k"), Some(&json!(1)));
    }
}
