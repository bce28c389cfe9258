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
pub use crate::inbound::cache_control::CacheControl;

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
    /// The prompt cache may keep everything up to the end of this message.
    #[serde(default, skip_serializing)]
    pub cache_control: Option<CacheControl>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMessage {
    pub content: MessageContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The prompt cache may keep everything up to the end of this message.
    #[serde(default, skip_serializing)]
    pub cache_control: Option<CacheControl>,
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
    Text {
        text: String,
        #[serde(default, skip_serializing)]
        cache_control: Option<CacheControl>,
    },
    ImageUrl {
        image_url: ImageUrl,
        #[serde(default, skip_serializing)]
        cache_control: Option<CacheControl>,
    },
}

impl ContentPart {
    /// The part's prompt-cache mark: the cache may keep everything up to it.
    pub fn cache_control(&self) -> Option<&CacheControl> {
        match self {
            ContentPart::Text { cache_control, .. } | ContentPart::ImageUrl { cache_control, .. } => {
                cache_control.as_ref()
            }
        }
    }
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

/// The answer's shape: text, any JSON object, or JSON following a schema. On Bedrock the JSON
/// modes become a forced tool whose input schema is the requested one ([`FORMAT_TOOL`]); the
/// tool's input is sent back as the message's `content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaFormat },
}

/// `response_format.json_schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    /// `^[a-zA-Z0-9_-]{1,64}$`, as OpenAI requires.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON schema object; absent means any JSON object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// The tool a JSON `response_format` becomes on Bedrock: the model is made to call it, and its
/// input is the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatTool {
    pub name: String,
    pub description: String,
    pub schema: Value,
}

/// The forced tool's name for `json_object` (a `json_schema` format uses its own name).
pub const FORMAT_TOOL: &str = "json_response";

impl ResponseFormat {
    /// Whether the format is well formed: a schema name OpenAI would accept and a schema that
    /// is an object.
    pub fn is_valid(&self) -> bool {
        match self {
            ResponseFormat::Text | ResponseFormat::JsonObject => true,
            ResponseFormat::JsonSchema { json_schema } => {
                let name = &json_schema.name;
                let name_ok = (1..=64).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                name_ok && json_schema.schema.as_ref().is_none_or(Value::is_object)
            }
        }
    }

    /// The tool that carries this format on Bedrock; none for text.
    pub fn tool(&self) -> Option<FormatTool> {
        match self {
            ResponseFormat::Text => None,
            ResponseFormat::JsonObject => Some(FormatTool {
                name: FORMAT_TOOL.to_string(),
                description: "Give the answer as a JSON object, as this tool's input.".to_string(),
                schema: json!({"type": "object"}),
            }),
            ResponseFormat::JsonSchema { json_schema } => Some(FormatTool {
                name: json_schema.name.clone(),
                description: json_schema.description.clone().unwrap_or_else(|| {
                    format!(
                        "Give the answer as this tool's input: a JSON value of the schema '{}'.",
                        json_schema.name
                    )
                }),
                schema: json_schema.schema.clone().unwrap_or_else(|| json!({"type": "object"})),
            }),
        }
    }
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

    /// The tool a JSON `response_format` is carried by on Bedrock, if one was asked for.
    pub fn format_tool(&self) -> Option<FormatTool> {
        self.params.response_format.as_ref().and_then(ResponseFormat::tool)
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

mod read;
mod translation;

use read::{RequestVisitor, Trace};
pub(crate) use translation::is_base64;
pub use translation::to_converse;

#[cfg(test)]
mod tests;
