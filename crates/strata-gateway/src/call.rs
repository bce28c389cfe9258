//! The gateway's call: what an inbound dialect decodes a request into. Everything after
//! decoding (admission, routing, execution, accounting) works on a [`Call`] and never on a
//! dialect's own shapes.

use std::sync::Arc;

use bytes::Bytes;
use strata_aws::RuntimeOperation;

use crate::error::GatewayError;

/// The inbound API a request came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Bedrock,
    OpenAi,
    Anthropic,
    /// OpenAI's `POST /v1/embeddings`.
    Embeddings,
    /// OpenAI's `POST /v1/responses`.
    Responses,
    /// SageMaker runtime's `POST /endpoints/{name}/invocations[-response-stream]`.
    SageMaker,
}

impl Api {
    /// Every API, in declaration order (`api as usize` indexes per-API tables).
    pub const ALL: [Api; 6] = [
        Api::Bedrock,
        Api::OpenAi,
        Api::Anthropic,
        Api::Embeddings,
        Api::Responses,
        Api::SageMaker,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// The label in metrics and usage records.
    pub fn label(self) -> &'static str {
        match self {
            Api::Bedrock => "bedrock",
            Api::OpenAi => "openai",
            Api::Anthropic => "anthropic",
            Api::Embeddings => "embeddings",
            Api::Responses => "responses",
            Api::SageMaker => "sagemaker",
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
    /// Input tokens read from the prompt cache (Bedrock counts them apart from `input`).
    pub cache_read: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write: u64,
}

impl Usage {
    pub fn total(self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

impl From<&strata_core::wire::converse::TokenUsage> for Usage {
    /// A Converse answer's or stream's usage.
    fn from(u: &strata_core::wire::converse::TokenUsage) -> Self {
        Usage {
            input: u64::from(u.input_tokens),
            output: u64::from(u.output_tokens),
            cache_read: u.cache_read_input_tokens.map_or(0, u64::from),
            cache_write: u.cache_write_input_tokens.map_or(0, u64::from),
        }
    }
}

/// A request body an OpenAI-compatible upstream can take, for the upstream's own model name.
pub trait OpenAiBody: Send + Sync + std::fmt::Debug {
    /// The body to send, naming `model`.
    fn body_for(&self, model: &str) -> Result<Bytes, String>;
}

/// A dialect's translation of its request to Converse, left until a Bedrock target or a
/// guardrail needs it: a request that only OpenAI-compatible upstreams serve is never
/// translated (on that pass-through, translating and encoding a Converse body that was never sent
/// cost ~7k of ~155k instructions per request).
pub trait Translation: Send + Sync + std::fmt::Debug {
    /// The Converse body, or why the request cannot be carried to Bedrock (the client's
    /// mistake, naming its parameter).
    fn converse_body(&self) -> Result<Bytes, GatewayError>;
    /// The output limit and temperature the request asks for, for traces.
    fn knobs(&self) -> Knobs;
}

/// What a trace shows of a request's generation settings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Knobs {
    pub max_tokens: Option<i64>,
    pub temperature: Option<f64>,
}

/// A request body forwarded as received, in an allocation of its own when it is small.
///
/// A body that arrived with its head is a slice of the connection's read buffer (hyper's first
/// is 8 KiB); kept for the whole call (retries send it again) it kept that buffer alive beside
/// the one hyper reads the next bytes into. Copying a body of at most 8 KiB costs less than the
/// buffer it frees; a larger one came in reads of its own and is kept as is.
pub fn forwarded_body(body: Bytes) -> Bytes {
    const FIRST_READ_BUFFER: usize = 8 * 1024;
    if body.len() <= FIRST_READ_BUFFER {
        Bytes::copy_from_slice(&body)
    } else {
        body
    }
}

/// One request, decoded.
#[derive(Debug, Clone)]
pub struct Call {
    pub api: Api,
    /// The model as the client named it: a logical model or a concrete Bedrock ID.
    pub model: String,
    /// What Bedrock is asked to do, and the body it is sent (Converse JSON, or an InvokeModel
    /// body passed through unchanged). Empty while `translation` is set: read it through
    /// [`Call::bedrock_body`].
    pub operation: RuntimeOperation,
    pub body: Bytes,
    /// The dialect's translation to Converse, while it is not done ([`Call::translate`]).
    pub translation: Option<Arc<dyn Translation>>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// Present when the request can also go to an OpenAI-compatible upstream.
    pub openai: Option<Arc<dyn OpenAiBody>>,
    /// Present for an embeddings call: the texts to embed, turned into the target family's
    /// InvokeModel bodies by the upstream once routing has chosen a target.
    pub embedding: Option<Arc<crate::embedding::EmbedRequest>>,
    pub estimate: Estimate,
}

/// What a call asks a model to do, so routing sends it only to models that can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Generate (Converse): not for embedding models.
    Chat,
    /// Embed: only for embedding models.
    Embed,
    /// An InvokeModel body passed through as the client wrote it: any model.
    Native,
}

impl Call {
    /// A Converse call (ConverseStream when `stream`) a translating dialect decoded, for Bedrock
    /// targets only (set `openai` for OpenAI-compatible ones).
    pub fn converse(api: Api, model: String, stream: bool, body: Bytes, estimate: Estimate) -> Call {
        Call {
            api,
            model,
            operation: if stream {
                RuntimeOperation::ConverseStream
            } else {
                RuntimeOperation::Converse
            },
            body,
            translation: None,
            content_type: None,
            accept: None,
            openai: None,
            embedding: None,
            estimate,
        }
    }

    /// A Converse call (ConverseStream when `stream`) whose translation is left until a Bedrock
    /// target or a guardrail needs it.
    pub fn deferred(
        api: Api,
        model: String,
        stream: bool,
        translation: Arc<dyn Translation>,
        estimate: Estimate,
    ) -> Call {
        Call {
            translation: Some(translation),
            ..Call::converse(api, model, stream, Bytes::new(), estimate)
        }
    }

    /// Translates the request to Converse if that was left for later (an error is the client's:
    /// the request cannot be carried to Bedrock).
    pub fn translate(&mut self) -> Result<(), GatewayError> {
        if let Some(t) = &self.translation {
            self.body = t.converse_body()?;
            self.translation = None;
        }
        Ok(())
    }

    /// The body Bedrock is sent, translated now if that was left for later.
    pub fn bedrock_body(&self) -> Result<Bytes, GatewayError> {
        match &self.translation {
            Some(t) => t.converse_body(),
            None => Ok(self.body.clone()),
        }
    }

    pub fn streams(&self) -> bool {
        self.operation.streams()
    }

    /// Whether the call generates text (not a token count, not embeddings).
    pub fn generates(&self) -> bool {
        self.embedding.is_none() && self.operation != RuntimeOperation::CountTokens
    }

    pub fn work(&self) -> Work {
        if self.embedding.is_some() {
            Work::Embed
        } else if matches!(
            self.operation,
            RuntimeOperation::Converse | RuntimeOperation::ConverseStream
        ) {
            Work::Chat
        } else {
            Work::Native
        }
    }

    /// Names the tenant in a Converse request's `requestMetadata` (key [`TENANT_METADATA_KEY`]),
    /// so Bedrock's own invocation logs attribute the call too. A client's own metadata is kept;
    /// InvokeModel bodies are the model's own format and are left alone, and so is a call not
    /// translated (it goes to OpenAI-compatible upstreams only).
    pub fn attribute_to(&mut self, tenant: &str) {
        if self.translation.is_some()
            || !matches!(
                self.operation,
                RuntimeOperation::Converse | RuntimeOperation::ConverseStream
            )
        {
            return;
        }
        if let Some(body) = with_request_metadata(&self.body, TENANT_METADATA_KEY, tenant) {
            self.body = body;
        }
    }
}

/// The `requestMetadata` key that names the tenant.
pub const TENANT_METADATA_KEY: &str = "strata-tenant";

/// `body` (a JSON object) with `requestMetadata[key] = value`; `None` if it is not an object.
fn with_request_metadata(body: &[u8], key: &str, value: &str) -> Option<Bytes> {
    let value = serde_json::to_string(value).ok()?;
    let key_json = serde_json::to_string(key).ok()?;
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if body[start] != b'{' {
        return None;
    }
    // The common case: no metadata yet. Splice it in after the opening brace instead of
    // re-encoding the whole body.
    // memmem, not `windows(17)`: a byte-by-byte compare cost ~5 instructions per body byte, on
    // every Converse call (a 100 KB prompt: half a million).
    // (A searcher built once: built per call, its set-up showed in the profile.)
    static REQUEST_METADATA: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"requestMetadata\""));
    if REQUEST_METADATA.find(body).is_none() {
        let rest = &body[start + 1..];
        let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
        let mut out = Vec::with_capacity(body.len() + 40 + value.len());
        out.extend_from_slice(&body[..=start]);
        out.extend_from_slice(b"\"requestMetadata\":{");
        out.extend_from_slice(key_json.as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        out.push(b'}');
        if !empty {
            out.push(b',');
        }
        out.extend_from_slice(rest);
        return Some(Bytes::from(out));
    }
    let mut json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let metadata = json
        .as_object_mut()?
        .entry("requestMetadata")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    metadata
        .as_object_mut()?
        .insert(key.to_string(), serde_json::from_str(&value).ok()?);
    serde_json::to_vec(&json).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(body: &str) -> serde_json::Value {
        let out = with_request_metadata(body.as_bytes(), "strata-tenant", "acme").unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn a_small_forwarded_body_leaves_the_buffer_it_was_read_into() {
        let read_buffer = Bytes::from(vec![b'x'; 8 * 1024]);
        let small = read_buffer.slice(100..400);
        let forwarded = forwarded_body(small.clone());
        assert_eq!(forwarded, small);
        assert_ne!(forwarded.as_ptr(), small.as_ptr(), "copied into its own allocation");
        let large = Bytes::from(vec![b'y'; 20 * 1024]);
        assert_eq!(forwarded_body(large.clone()).as_ptr(), large.as_ptr(), "kept as is");
    }

    /// A translation that counts how often it ran.
    #[derive(Debug, Default)]
    struct Counted(std::sync::atomic::AtomicUsize);

    impl Translation for Counted {
        fn converse_body(&self) -> Result<Bytes, GatewayError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Bytes::from_static(br#"{"messages":[]}"#))
        }
        fn knobs(&self) -> Knobs {
            Knobs::default()
        }
    }

    #[test]
    fn a_deferred_translation_runs_once_when_asked_for_and_not_before() {
        let translation = Arc::new(Counted::default());
        let runs = || translation.0.load(std::sync::atomic::Ordering::Relaxed);
        let mut call = Call::deferred(Api::OpenAi, "m".into(), false, translation.clone(), Estimate::default());
        assert!(call.body.is_empty());
        // Not translated, a call names no tenant in a body it does not have.
        call.attribute_to("acme");
        assert!(call.body.is_empty() && runs() == 0);
        // Read without translating (an upstream reached without the request path's step).
        assert_eq!(&call.bedrock_body().unwrap()[..], br#"{"messages":[]}"#);
        assert_eq!(runs(), 1);
        call.translate().unwrap();
        call.translate().unwrap();
        assert_eq!(runs(), 2, "translated once, then kept");
        assert!(call.translation.is_none());
        call.attribute_to("acme");
        let v: serde_json::Value = serde_json::from_slice(&call.bedrock_body().unwrap()).unwrap();
        assert_eq!(v["requestMetadata"]["strata-tenant"], "acme");
        assert_eq!(runs(), 2);
    }

    #[test]
    fn every_api_indexes_its_own_slot() {
        for (i, api) in Api::ALL.into_iter().enumerate() {
            assert_eq!(api as usize, i, "{api:?}");
        }
    }

    #[test]
    fn the_tenant_is_named_in_request_metadata() {
        let v = metadata(r#"{"messages":[]}"#);
        assert_eq!(v["requestMetadata"]["strata-tenant"], "acme");
        assert_eq!(v["messages"], serde_json::json!([]));
        assert_eq!(metadata(" {} ")["requestMetadata"]["strata-tenant"], "acme");
        let v = metadata(r#"{"requestMetadata":{"app":"x"},"messages":[]}"#);
        assert_eq!(v["requestMetadata"]["app"], "x");
        assert_eq!(v["requestMetadata"]["strata-tenant"], "acme");
        assert!(with_request_metadata(b"[1]", "k", "v").is_none());
    }
}
