//! The gateway's call: what an inbound dialect decodes a request into. Everything after
//! decoding (admission, routing, execution, accounting) works on a [`Call`] and never on a
//! dialect's own shapes.

use std::sync::Arc;

use bytes::Bytes;
use strata_aws::RuntimeOperation;

/// The inbound API a request came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Bedrock,
    OpenAi,
}

impl Api {
    /// The label in metrics and usage records.
    pub fn label(self) -> &'static str {
        match self {
            Api::Bedrock => "bedrock",
            Api::OpenAi => "openai",
        }
    }
}

/// Output tokens assumed for admission when the request sets no limit.
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 1000;

/// Tokens a call is expected to use, reserved by admission before it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    pub input: u64,
    /// The request's own output limit (`maxTokens`, `max_tokens`…), or a default.
    pub output: u64,
}

impl Estimate {
    /// Input estimated from a request body's size (about four bytes a token; JSON punctuation
    /// makes it err on the high side) plus the output limit.
    pub fn from_body(body_len: usize, max_output: Option<u64>) -> Self {
        Estimate {
            input: (body_len as u64).div_ceil(4).max(1),
            output: max_output.unwrap_or(DEFAULT_OUTPUT_ESTIMATE),
        }
    }

    pub fn total(self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

/// Tokens a call really used, as the upstream reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
}

impl Usage {
    pub fn total(self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

/// A request body an OpenAI-compatible upstream can take, for the upstream's own model name.
pub trait OpenAiBody: Send + Sync + std::fmt::Debug {
    /// The body to send, naming `model`.
    fn body_for(&self, model: &str) -> Result<Bytes, String>;
}

/// One request, decoded.
#[derive(Debug, Clone)]
pub struct Call {
    pub api: Api,
    /// The model as the client named it: a logical model or a concrete Bedrock ID.
    pub model: String,
    /// What Bedrock is asked to do, and the body it is sent (Converse JSON, or an InvokeModel
    /// body passed through unchanged).
    pub operation: RuntimeOperation,
    pub body: Bytes,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// Present when the request can also go to an OpenAI-compatible upstream.
    pub openai: Option<Arc<dyn OpenAiBody>>,
    pub estimate: Estimate,
}

impl Call {
    pub fn streams(&self) -> bool {
        self.operation.streams()
    }
}
