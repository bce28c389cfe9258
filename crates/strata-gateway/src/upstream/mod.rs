//! Upstreams behind one trait: the Bedrock runtime ([`bedrock`]) and OpenAI-compatible servers
//! ([`openai_compat`]), room for others. An upstream answers a [`Call`] for one [`Target`] with
//! a typed [`Answer`]: a complete reply, or an event stream whose first event has already been
//! read, so a failure before the first byte can still be retried elsewhere.

pub mod bedrock;
pub mod openai_compat;

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use http::HeaderMap;
use strata_aws::credentials::CredentialSettings;
use strata_aws::{AccountCredentials, BedrockRuntime, Endpoints, UpstreamError};
use strata_core::eventstream::StreamFrame;
use strata_core::ErrorClass;

use crate::call::{Call, Usage};
use crate::config::{Config, Guardrail, Target};

/// Something that can answer calls.
pub trait Upstream: Send + Sync {
    /// Calls `target` under `guard` (the call's guardrail, if it has one); the answer's head
    /// (and a stream's first event) must come before `deadline`.
    fn call<'a>(
        &'a self,
        target: &'a Target,
        call: &'a Call,
        guard: Option<&'a Guardrail>,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Answer, UpstreamError>>;

    /// Whether `target` can take a call under `guard`: `Err(why)` when the guardrail does not
    /// exist there (or cannot be looked up), so the target is skipped rather than called
    /// unguarded.
    fn guardable<'a>(
        &'a self,
        _target: &'a Target,
        _guard: &'a Guardrail,
        _deadline: Instant,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// A guardrail intervened in an answer: on the input (before the model ran) or on its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intervention {
    Input,
    Output,
    /// Seen in a stream's stop reason; the side is decided by the usage at the end.
    Unknown,
}

impl Intervention {
    pub fn label(self) -> &'static str {
        match self {
            Intervention::Input => "input",
            Intervention::Output => "output",
            Intervention::Unknown => "unknown",
        }
    }
}

impl Answer {
    /// A guardrail intervention known when the answer's head is sent.
    pub fn guardrail(&self) -> Option<Intervention> {
        match self {
            Answer::Complete(r) => r.guardrail,
            Answer::Stream(s) => s.guardrail.or(s.first.guardrail),
        }
    }
}

/// What the bytes of an answer are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Bedrock's own: Converse JSON, an InvokeModel body, or an event stream.
    Bedrock,
    /// OpenAI chat: `chat.completion` JSON or SSE chunks.
    OpenAi,
    /// The gateway's neutral embeddings reply (`embedding::Embeddings` as JSON), merged from
    /// the target family's answers ([`embed`]).
    Embeddings,
}

/// A successful answer.
pub enum Answer {
    Complete(Reply),
    Stream(EventStream),
}

/// A complete answer.
#[derive(Debug)]
pub struct Reply {
    pub wire: Wire,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Usage the upstream put in headers (InvokeModel), when it did.
    pub header_usage: Option<Usage>,
    /// A guardrail intervened.
    pub guardrail: Option<Intervention>,
}

/// A streamed answer: the first chunk (holding at least one event) and the rest.
pub struct EventStream {
    pub wire: Wire,
    pub headers: HeaderMap,
    pub first: Chunk,
    pub rest: BoxStream<'static, Result<Chunk, UpstreamError>>,
    /// A guardrail intervened, known before the first byte (a buffered, checked stream).
    pub guardrail: Option<Intervention>,
}

/// Whole events as received: `raw` is relayed as it is; `events` are the same bytes decoded
/// (Bedrock frames; empty on the OpenAI wire, whose SSE is relayed or already OpenAI's).
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    pub raw: Bytes,
    pub events: Vec<StreamFrame>,
    /// Token usage reported by an event in this chunk.
    pub usage: Option<Usage>,
    /// Whole events (frames, SSE events) in the chunk, decoded into `events` or not.
    pub frames: u32,
    /// The chunk carries generated content (for time to first token).
    pub content: bool,
    /// Content events in the chunk (about a token or a few each): what a stream the client
    /// left early is known to have produced.
    pub deltas: u32,
    /// The chunk carries an in-stream exception or error: the answer ends here.
    pub failure: Option<UpstreamError>,
    /// An event in the chunk says a guardrail intervened.
    pub guardrail: Option<Intervention>,
}

/// Every upstream the gateway can call, built once from the config.
#[derive(Debug)]
pub struct Upstreams {
    pub bedrock: bedrock::Bedrock,
    pub openai: openai_compat::OpenAiCompat,
    /// Account names (indexed like `config.accounts`), for messages.
    pub account_names: Vec<String>,
}

impl Upstreams {
    fn account_name(&self, account: usize) -> &str {
        self.account_names.get(account).map_or("?", String::as_str)
    }
}

/// Upstream set-up failed (bad endpoint, credentials source that cannot be built).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("account '{account}': {source}")]
    Credentials {
        account: String,
        source: strata_aws::CredentialsError,
    },
    #[error("upstream client: {0}")]
    Client(UpstreamError),
}

impl Upstreams {
    pub async fn build(config: &Config) -> Result<Self, SetupError> {
        let aws = &config.aws;
        let endpoints = match &aws.endpoint_url {
            Some(url) => Endpoints::with_override(url.clone()),
            None => Endpoints::aws(),
        };
        let settings = CredentialSettings {
            region: Some(aws.sts_region.to_string()),
            sts_endpoint: aws.sts_endpoint.clone(),
        };
        let mut accounts = Vec::with_capacity(config.accounts.len());
        for account in &config.accounts {
            let creds = AccountCredentials::new(&account.credentials, &settings)
                .await
                .map_err(|source| SetupError::Credentials {
                    account: account.name.clone(),
                    source,
                })?;
            accounts.push(creds);
        }
        let runtime = BedrockRuntime::new(endpoints, aws.protocol).map_err(SetupError::Client)?;
        Ok(Upstreams {
            account_names: config.accounts.iter().map(|a| a.name.clone()).collect(),
            bedrock: bedrock::Bedrock::new(runtime, accounts),
            openai: openai_compat::OpenAiCompat::new(config).map_err(SetupError::Client)?,
        })
    }
}

impl Upstream for Upstreams {
    fn call<'a>(
        &'a self,
        target: &'a Target,
        call: &'a Call,
        guard: Option<&'a Guardrail>,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Answer, UpstreamError>> {
        match (target, guard) {
            (Target::Bedrock { .. }, _) => self.bedrock.call(target, call, guard, deadline),
            (Target::OpenAi { .. }, None) => self.openai.call(target, call, None, deadline),
            (Target::OpenAi { .. }, Some(guard)) => Box::pin(bedrock::guardrail::guarded_openai(
                &self.openai,
                &self.bedrock,
                target,
                call,
                guard,
                deadline,
            )),
        }
    }

    fn guardable<'a>(
        &'a self,
        target: &'a Target,
        guard: &'a Guardrail,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let (account, region) = match (target, &guard.apply_in) {
                (Target::Bedrock { account, region, .. }, _) => (*account, region),
                (Target::OpenAi { .. }, Some((account, region))) => (*account, region),
                (Target::OpenAi { .. }, None) => {
                    return Err(format!(
                        "guardrail '{}' has no apply_in, so an OpenAI-compatible upstream cannot be guarded",
                        guard.name
                    ))
                }
            };
            match self
                .bedrock
                .guardrail_id(account, region.as_str(), guard, deadline)
                .await
            {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(format!(
                    "guardrail '{}' ({} version {}) does not exist in {}/{}",
                    guard.name,
                    guard.identifier,
                    guard.version,
                    self.account_name(account),
                    region
                )),
                Err(e) => Err(format!(
                    "guardrail '{}' could not be looked up in {}/{} ({})",
                    guard.name,
                    self.account_name(account),
                    region,
                    crate::error::Class::of_upstream(e.class).label()
                )),
            }
        })
    }
}

/// The time left before a deadline, never zero (a zero timeout would fail instantly and hide
/// the real cause).
pub fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// Reads a stream of chunks until one holds an event: an in-stream failure before it is a
/// failure like an HTTP error (retried invisibly); otherwise the first chunk and the rest.
pub async fn peek_first(
    mut chunks: BoxStream<'static, Result<Chunk, UpstreamError>>,
    deadline: Instant,
) -> Result<(Chunk, BoxStream<'static, Result<Chunk, UpstreamError>>), UpstreamError> {
    use futures::StreamExt;
    let mut held = Chunk::default();
    loop {
        let next = tokio::time::timeout(remaining(deadline), chunks.next())
            .await
            .map_err(|_| UpstreamError::new(ErrorClass::Timeout, Some(200), "no first event before the deadline"))?;
        let Some(chunk) = next else {
            return Err(UpstreamError::new(
                ErrorClass::Connect,
                Some(200),
                "the stream ended before its first event",
            ));
        };
        let chunk = chunk?;
        if let Some(e) = chunk.failure {
            return Err(e);
        }
        if held.raw.is_empty() {
            held = chunk;
        } else {
            // Only an SSE comment or a partial frame came before: keep its bytes in front.
            held.raw = [held.raw, chunk.raw].concat().into();
            held.events.extend(chunk.events);
            held.usage = chunk.usage.or(held.usage);
            held.content |= chunk.content;
            held.deltas += chunk.deltas;
            held.frames += chunk.frames;
        }
        if held.frames > 0 {
            return Ok((held, chunks));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn chunk(raw: &'static [u8], events: usize) -> Chunk {
        Chunk {
            raw: Bytes::from_static(raw),
            events: (0..events)
                .map(|_| StreamFrame::Event {
                    event_type: "messageStart".into(),
                    payload: Bytes::new(),
                })
                .collect(),
            frames: events as u32,
            ..Chunk::default()
        }
    }

    #[tokio::test]
    async fn the_first_event_is_peeked_and_failures_before_it_are_errors() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let s = futures::stream::iter(vec![Ok(chunk(b"a", 0)), Ok(chunk(b"b", 1)), Ok(chunk(b"c", 1))]).boxed();
        let (first, rest) = peek_first(s, deadline).await.unwrap();
        assert_eq!(&first.raw[..], b"ab");
        assert_eq!(rest.count().await, 1);
        let failed = Chunk {
            failure: Some(UpstreamError::new(ErrorClass::Throttled, Some(200), "slow")),
            ..Chunk::default()
        };
        let s = futures::stream::iter(vec![Ok(failed)]).boxed();
        let e = peek_first(s, deadline).await.err().unwrap();
        assert_eq!(e.class, ErrorClass::Throttled);
        let e = peek_first(futures::stream::empty().boxed(), deadline)
            .await
            .err()
            .unwrap();
        assert_eq!(e.class, ErrorClass::Connect);
    }
}
