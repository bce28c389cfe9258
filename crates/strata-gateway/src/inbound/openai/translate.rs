//! Translation between the OpenAI chat-completions shapes and Bedrock's Converse shapes.
//! Requests are read from JSON with every field checked (unsupported options are refused with
//! the name of the offending parameter, never ignored); answers and stream events are written
//! the way the official `openai` clients read them.

/// A request the translation cannot carry to Bedrock, with the OpenAI parameter to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TranslateError {
    pub param: Option<String>,
    pub message: String,
    pub kind: TranslateErrorKind,
}

/// Whether the body was not JSON at all or a JSON request the gateway refuses; the two carry
/// different OpenAI error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranslateErrorKind {
    InvalidJson,
    InvalidRequest,
}

impl TranslateError {
    pub fn new(param: &str, message: impl Into<String>) -> Self {
        TranslateError {
            param: Some(param.to_string()),
            message: message.into(),
            kind: TranslateErrorKind::InvalidRequest,
        }
    }

    /// The body is not JSON (broken, truncated or empty).
    pub fn invalid_json(message: impl Into<String>) -> Self {
        TranslateError {
            param: None,
            message: message.into(),
            kind: TranslateErrorKind::InvalidJson,
        }
    }

    /// The OpenAI error `code` for this refusal.
    pub fn code(&self) -> &'static str {
        match self.kind {
            TranslateErrorKind::InvalidJson => "invalid_json",
            TranslateErrorKind::InvalidRequest => "invalid_request",
        }
    }
}

/// OpenAI's `finish_reason` for a Converse stop reason.
pub fn finish_reason(stop: strata_core::wire::converse::StopReason) -> &'static str {
    use strata_core::wire::converse::StopReason as S;
    match stop {
        S::EndTurn | S::StopSequence => "stop",
        S::MaxTokens | S::ModelContextWindowExceeded => "length",
        S::ToolUse => "tool_calls",
        S::ContentFiltered | S::GuardrailIntervened => "content_filter",
    }
}
