//! The Responses request (`POST /v1/responses`), read once into typed structs.
//!
//! Invariants: every field is known. Options the gateway honours are typed; options it accepts
//! without effect (`store`, `metadata`, `user`, `service_tier`…) are typed too and documented;
//! the stateful ones (`previous_response_id`, `conversation`, `background: true`) and anything
//! else that would change the answer are refused with the field's name, never dropped.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::inbound::openai::translate::TranslateError;

/// A `POST /v1/responses` body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsesRequest {
    pub model: String,
    /// A string (one user message) or a list of input items, read item by item in
    /// [`super::translate`] so a refusal names `input[2].content[0]`.
    pub input: Input,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Read as values so a built-in tool (`web_search`…) is refused by its `type`.
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub text: Option<TextConfig>,
    /// Accepted and echoed: the chat dialect does the same (Converse always allows several calls).
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// Echoed in the response; nothing is stored.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub user: Option<String>,
    /// Accepted; the gateway is stateless and stores nothing (`GET /v1/responses/{id}` is 404).
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(default)]
    pub service_tier: Option<String>,
    #[serde(default)]
    pub safety_identifier: Option<String>,
    #[serde(default)]
    pub prompt_cache_key: Option<String>,
    #[serde(default)]
    pub stream_options: Option<Value>,
    /// Only `disabled` (the default): the gateway never drops input to fit a context window.
    #[serde(default)]
    pub truncation: Option<String>,
    /// Only an empty list: the extra outputs it names (logprobs, encrypted reasoning…) do not exist here.
    #[serde(default)]
    pub include: Option<Vec<String>>,
    /// Stateful or unsupported fields, refused when set (see [`check`]).
    #[serde(default)]
    pub previous_response_id: Option<Value>,
    #[serde(default)]
    pub conversation: Option<Value>,
    #[serde(default)]
    pub background: Option<bool>,
}

/// `input`: a string or a list of items.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Input {
    Text(String),
    Items(Vec<Value>),
}

/// `tool_choice`: a mode or a named function.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(ToolChoiceMode),
    Named(Value),
}

/// `none`, `auto`, `required`: the chat dialect's modes.
pub use crate::inbound::openai::request::ToolChoiceMode;

/// `text`: the answer's format.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    #[serde(default)]
    pub format: Option<TextFormat>,
}

/// `text.format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TextFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        schema: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

/// A function tool (the only kind Bedrock can call).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// A message item (`type: message`, or no type with a `role`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageItem {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub role: Role,
    pub content: Content,
    /// Set when an earlier response's output item is sent back.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub phase: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    System,
    Developer,
}

/// A message's `content`: a string or a list of parts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

/// A part of a message's content.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Part {
    InputText {
        text: String,
    },
    /// An earlier answer's text, sent back in an assistant message.
    OutputText {
        text: String,
        #[serde(default)]
        annotations: Option<Value>,
        #[serde(default)]
        logprobs: Option<Value>,
    },
    Refusal {
        refusal: String,
    },
    InputImage {
        #[serde(default)]
        image_url: Option<String>,
        #[serde(default)]
        file_id: Option<String>,
        #[serde(default)]
        detail: Option<String>,
    },
    InputFile {
        #[serde(default)]
        file_id: Option<String>,
        #[serde(default)]
        file_data: Option<String>,
        #[serde(default)]
        file_url: Option<String>,
        #[serde(default)]
        filename: Option<String>,
    },
}

/// A function call an earlier response made, sent back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionCallItem {
    #[serde(rename = "type")]
    pub kind: String,
    pub call_id: String,
    pub name: String,
    pub arguments: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// A function call's result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionCallOutputItem {
    #[serde(rename = "type")]
    pub kind: String,
    pub call_id: String,
    pub output: Content,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// Reads a body in one pass and checks the fields that need more than a type.
pub fn parse(body: &[u8]) -> Result<ResponsesRequest, TranslateError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let request: ResponsesRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.classify() != serde_json::error::Category::Data {
            return TranslateError::invalid_json(format!("The request body is not valid JSON: {inner}"));
        }
        refusal_at(&path, &inner.to_string())
    })?;
    de.end()
        .map_err(|e| TranslateError::invalid_json(format!("The request body is not valid JSON: {e}")))?;
    check(&request)?;
    Ok(request)
}

/// A refusal for a serde error at `path` (`.` for the body itself).
pub(super) fn refusal_at(path: &str, text: &str) -> TranslateError {
    // Line and column point into the client's own body; the path says more.
    let text = text.split(" at line ").next().unwrap_or(text);
    // An unknown field is named, without serde's list of every known one.
    if let Some(name) = text
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    {
        // serde_path_to_error's path ends with the unknown key already.
        let param = match path {
            "." | "" => name.to_string(),
            _ if path == name || path.ends_with(&format!(".{name}")) => path.to_string(),
            _ => format!("{path}.{name}"),
        };
        return TranslateError::new(
            &param,
            format!("{param}: this parameter is not supported by the gateway"),
        );
    }
    if path == "." || path.is_empty() {
        match text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(field) => TranslateError::new(field, format!("{field}: field required")),
            None => TranslateError {
                param: None,
                ..TranslateError::new("", text)
            },
        }
    } else {
        TranslateError::new(path, format!("{path}: {text}"))
    }
}

/// The checks a type cannot make: stateful fields, unknown fields, option values.
fn check(r: &ResponsesRequest) -> Result<(), TranslateError> {
    if r.model.is_empty() {
        return Err(TranslateError::new("model", "model: must not be empty"));
    }
    let stateless = "the gateway is stateless and keeps no responses or conversations; send the whole \
                     conversation in `input`";
    if r.previous_response_id.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(TranslateError::new(
            "previous_response_id",
            format!("previous_response_id: not supported: {stateless}"),
        ));
    }
    if r.conversation.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(TranslateError::new(
            "conversation",
            format!("conversation: not supported: {stateless}"),
        ));
    }
    if r.background == Some(true) {
        return Err(TranslateError::new(
            "background",
            "background: background responses are not supported: the gateway is stateless; stream the answer instead",
        ));
    }
    if r.truncation.as_deref().is_some_and(|t| t != "disabled") {
        return Err(TranslateError::new(
            "truncation",
            "truncation: only 'disabled' is supported (the gateway never drops input)",
        ));
    }
    if r.include.as_ref().is_some_and(|i| !i.is_empty()) {
        return Err(TranslateError::new(
            "include",
            "include: no additional output data is available through Bedrock",
        ));
    }
    for (field, v) in [("temperature", r.temperature), ("top_p", r.top_p)] {
        if v.is_some_and(|x| !(0.0..=2.0).contains(&x) || (field == "top_p" && x > 1.0)) {
            return Err(TranslateError::new(field, format!("{field}: out of range")));
        }
    }
    if r.max_output_tokens == Some(0) {
        return Err(TranslateError::new(
            "max_output_tokens",
            "max_output_tokens: must be at least 1",
        ));
    }
    Ok(())
}
