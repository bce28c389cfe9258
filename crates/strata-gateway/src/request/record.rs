//! What one request was and how it ended: filled in by every layer the request passes, read
//! once by the account layer (metrics, access log, usage record) and the trace exporter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::execute::Attempt;
use crate::call::{Api, Estimate, Usage};
use crate::error::Class;
use crate::upstream::Intervention;

/// What one request was and how it ended.
#[derive(Debug)]
pub struct Record {
    pub request_id: String,
    pub api: Api,
    pub started: Instant,
    /// When the request started, in unix milliseconds.
    pub started_at_ms: i64,
    pub tenant: Option<usize>,
    pub key_id: Option<Arc<str>>,
    /// The region a SigV4 caller signed for (routing chose where the call ran).
    pub signed_region: Option<Arc<str>>,
    /// The model as the client named it.
    pub model: Option<String>,
    /// The logical model asked for, once routed.
    pub logical: Option<usize>,
    /// The logical model that answered.
    pub served: Option<usize>,
    pub attempts: Vec<Attempt>,
    pub status: u16,
    pub error: Option<Class>,
    /// Whose fault the error was: `client`, `gateway` or `upstream`.
    pub error_source: Option<&'static str>,
    pub usage: Option<Usage>,
    /// The usage is the gateway's estimate (input) and count of content events (output): the
    /// client left before the upstream reported it.
    pub usage_estimated: bool,
    /// What admission reserved for the call.
    pub estimate: Option<Estimate>,
    /// Content events relayed so far.
    pub deltas: u64,
    /// Time to the answer's head.
    pub head: Option<Duration>,
    pub first_token: Option<Duration>,
    pub last_token: Option<Duration>,
    pub baseline: bool,
    /// The client went away before the answer ended.
    pub disconnected: bool,
    /// The request body as sent upstream (for a call only OpenAI-compatible upstreams could take:
    /// the OpenAI request naming the model as the client did), kept only for tenants with
    /// `audit_bodies`.
    pub audit_request: Option<bytes::Bytes>,
    /// A complete answer's body, kept only for tenants with `audit_bodies`.
    pub audit_response: Option<bytes::Bytes>,
    /// The guardrail the call ran under (its name in the config).
    pub guardrail_name: Option<String>,
    /// A guardrail intervened, on this side.
    pub guardrail: Option<Intervention>,
    /// What the request's spans need: present only when traces are on and it is sampled.
    pub trace: Option<Box<super::trace::RequestTrace>>,
}
