//! The request path after the dialect's decoding, in the order a request passes it:
//! [`authenticate`] (headers; a SigV4 signature is completed once the body is read) → decode
//! (the dialect) → [`route`] → [`admit`] → [`execute`] → encode (the
//! dialect) → [`account`]. [`handle`] is the one sequencer; a dialect only decodes its request
//! into a [`Call`], encodes answers and owns its error format ([`Dialect`]).

pub mod account;
pub mod admit;
pub mod authenticate;
pub mod execute;
pub mod record;
pub mod route;
pub mod shown;
pub mod spans;
pub mod trace;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http::HeaderValue;

use self::account::Exit;
use self::admit::Admission;
use self::execute::{Executor, Served};
use crate::call::{Api, Call};
use crate::config::Config;
use crate::error::{Class, GatewayError};
use crate::routes::RouteTable;
use crate::telemetry::ModelMetrics;
use crate::upstream::{Answer, Upstreams};
use strata_quota::{Ask, Headroom};

/// What the request path uses of the gateway, shared by every request.
pub struct Gateway {
    pub config: Config,
    /// Swapped whole when discovery publishes a new catalog; a request keeps the table it
    /// started with.
    pub routes: ArcSwap<RouteTable>,
    /// Shared by the gateways a reload swaps in, unless the accounts or providers changed.
    pub upstreams: Arc<Upstreams>,
    /// Draining and the drain deadline (streams open at the deadline end with an error event).
    pub lifecycle: Arc<crate::lifecycle::Lifecycle>,
    /// Keys that may call, by hash.
    pub keys: crate::tenants::KeyRing,
    /// Tenant and deployment budgets.
    pub admission: Admission,
    /// Usage records, run-time keys and the audit trail.
    pub store: strata_store::Store,
    /// Writes one usage record per request, off the request path.
    pub usage: strata_store::UsageWriter,
    /// Retries, cooldowns and the deadline, from `routing`.
    pub policy: execute::Policy,
    /// Request metrics per logical model (indexed like `Config::models`), kept across route swaps.
    pub metrics: Vec<ModelMetrics>,
    /// The span exporter, when traces are on (kept across reloads).
    pub traces: Option<Arc<crate::traces::Traces>>,
    /// The last minute of requests per tenant and target (the dashboard's traffic), kept
    /// across reloads.
    pub traffic: Arc<crate::traffic::Traffic>,
}

/// An inbound API: decodes its requests into calls, encodes answers and errors its own way.
pub trait Dialect {
    const API: Api;
    /// What encoding needs to know of the request (the model as named, stream options…).
    type Decoded: Send + 'static;

    /// The SigV4 service this API's clients sign for (`bedrock` unless the dialect says).
    const SIGV4_SERVICE: &'static str = authenticate::SIGV4_SERVICE;

    /// The call a request asks for, or the client's mistake.
    fn decode(cx: &Decoding<'_>, head: &Parts, body: Bytes) -> Result<(Call, Self::Decoded), GatewayError>;

    /// The response for an answer. It tells `exit` when the answer ends (at once for a
    /// complete one; at the stream's end, or its drop, for a stream).
    fn encode(decoded: Self::Decoded, answer: Answer, exit: Exit) -> Response;

    /// The response for a failure: status, code and headers from the error's class.
    fn error(e: &GatewayError) -> Response;

    /// Tells the client what is left of its tenant's per-minute limits (OpenAI's
    /// `x-ratelimit-*` headers unless the dialect has names of its own too).
    fn limit_headers(response: &mut Response, headroom: &Headroom) {
        set_rate_limit_headers(response, headroom);
    }
}

/// What a dialect may consult while decoding, besides the request: the config and the tenant
/// the request is authenticated as.
pub struct Decoding<'a> {
    pub config: &'a Config,
    pub tenant: usize,
}

/// Serves one model call end to end; every request leaves through [`Exit`] exactly once.
/// (A function returning an `async move` block: see [`serve`].)
#[allow(clippy::manual_async_fn)] // on purpose: see above
pub fn handle<D: Dialect>(
    state: Arc<Gateway>,
    head: Parts,
    body: Body,
) -> impl std::future::Future<Output = Response> + Send {
    async move {
        let request_id = strata_http::new_request_id();
        // A place in the usage writer's queue for this request's record: when the writer is behind,
        // new requests wait here rather than records being dropped.
        let slot = if state.config.usage_records {
            Some(state.usage.slot().await)
        } else {
            None
        };
        let mut exit = Exit::new(Arc::clone(&state), D::API, request_id.clone(), slot);
        if let Some(traces) = &state.traces {
            let started = exit.record().started;
            exit.record().trace = trace::RequestTrace::begin(traces, &head.headers, started);
        }
        let mut headroom = None;
        let mut response = match serve::<D>(&state, head, body, &mut exit, &mut headroom).await {
            Ok((decoded, served)) => {
                let Served {
                    mut answer,
                    route,
                    model,
                    baseline,
                    permit,
                } = served;
                exit.hold(permit);
                if let Answer::Stream(stream) = &mut answer {
                    let rest = std::mem::replace(&mut stream.rest, Box::pin(futures::stream::empty()));
                    stream.rest = state.lifecycle.cuttable(rest);
                }
                if let (Answer::Complete(reply), true) = (&answer, exit.record().audit_request.is_some()) {
                    exit.record().audit_response = Some(reply.body.clone());
                }
                exit.record().served = Some(model);
                exit.record().baseline = baseline;
                let intervened = answer.guardrail();
                if intervened.is_some() {
                    exit.record().guardrail = intervened;
                }
                let detail = route_detail(&state.config, exit.record().tenant);
                let shown = shown::route(detail, &state.config.models[model].name, &route);
                let mut response = D::encode(decoded, answer, exit);
                let headers = response.headers_mut();
                if let Ok(v) = HeaderValue::from_str(&shown) {
                    headers.insert("x-strata-route", v);
                }
                if baseline {
                    headers.insert("x-strata-baseline", HeaderValue::from_static("true"));
                }
                if intervened.is_some() {
                    headers.insert(GUARDRAIL_HEADER, HeaderValue::from_static("intervened"));
                }
                response
            }
            Err(e) => {
                headroom = headroom.or(e.headroom.as_deref().copied());
                // The record keeps the whole message; the client is told what its tenant may see.
                let detail = route_detail(&state.config, exit.record().tenant);
                let response = D::error(&shown::error(detail, &state.config, &e));
                exit.failed(&e, response.status().as_u16());
                drop(exit);
                response
            }
        };
        set_request_id(&mut response, &request_id);
        if let Some(h) = headroom {
            D::limit_headers(&mut response, &h);
        }
        response
    }
}

/// Set on answers a guardrail intervened in (when known as the answer's head is sent: complete
/// answers, and streams the gateway checked before relaying).
pub const GUARDRAIL_HEADER: &str = "x-strata-guardrail";

/// How much the caller may be told of routes (`region` before the caller is known).
fn route_detail(config: &Config, tenant: Option<usize>) -> crate::config::file::RouteDetail {
    tenant
        .and_then(|t| config.tenants.get(t))
        .map(|t| t.route_detail)
        .unwrap_or_default()
}

/// OpenAI's `x-ratelimit-*` headers: what is left of the tenant's per-minute limits.
pub fn set_rate_limit_headers(response: &mut Response, h: &Headroom) {
    use http::HeaderName as N;
    // Names parsed once: `from_static` outside a static checks its text on every call (~1.1k
    // instructions per governed answer for the six, callgrind).
    static NAMES: [[N; 3]; 2] = [
        [
            N::from_static("x-ratelimit-limit-requests"),
            N::from_static("x-ratelimit-remaining-requests"),
            N::from_static("x-ratelimit-reset-requests"),
        ],
        [
            N::from_static("x-ratelimit-limit-tokens"),
            N::from_static("x-ratelimit-remaining-tokens"),
            N::from_static("x-ratelimit-reset-tokens"),
        ],
    ];
    let headers = response.headers_mut();
    // Room for all six at once (the map grew twice on the way otherwise).
    headers.reserve(6);
    for (window, [limit, remaining, reset]) in [&h.requests, &h.tokens].into_iter().zip(&NAMES) {
        let Some(w) = window else { continue };
        headers.insert(limit.clone(), HeaderValue::from(w.limit));
        headers.insert(remaining.clone(), HeaderValue::from(w.remaining));
        // Whole seconds, as OpenAI writes them ("12s"); itoa, not format!.
        let secs = w.reset.as_secs() + u64::from(w.reset.subsec_nanos() > 0);
        let mut text = String::with_capacity(21);
        text.push_str(itoa::Buffer::new().format(secs));
        text.push('s');
        if let Ok(v) = HeaderValue::try_from(text) {
            headers.insert(reset.clone(), v);
        }
    }
}

/// Puts a request ID on a response (`x-request-id`, and `x-amzn-requestid` and `request-id` for
/// the AWS and Anthropic SDKs).
pub fn set_request_id(response: &mut Response, id: &str) {
    // Names parsed once (inserting by `&str` parsed each name on every answer).
    static NAMES: [http::HeaderName; 3] = [
        http::HeaderName::from_static("x-request-id"),
        http::HeaderName::from_static("request-id"),
        http::HeaderName::from_static("x-amzn-requestid"),
    ];
    if let Ok(v) = HeaderValue::from_str(id) {
        let headers = response.headers_mut();
        for name in &NAMES {
            headers.insert(name.clone(), v.clone());
        }
    }
}

/// The request from its head to the upstream's answer.
///
/// Written as a function returning an `async move` block rather than an `async fn`, here and
/// in [`handle`]: an `async fn` keeps a second copy of every argument it borrows (the request
/// head, 224 bytes) in its future for the whole call — per request in flight (rust-lang/rust
/// #62958; `-Zprint-type-sizes`).
#[allow(clippy::manual_async_fn)] // on purpose: see above
fn serve<'a, D: Dialect>(
    state: &'a Gateway,
    head: Parts,
    body: Body,
    exit: &'a mut Exit,
    headroom: &'a mut Option<Headroom>,
) -> impl std::future::Future<Output = Result<(D::Decoded, Served), GatewayError>> + Send + 'a {
    async move {
        let config = &state.config;
        // An API key is proven by the headers; a SigV4 signature's key and date are checked now
        // and its signature once the body is read (it covers the body's hash).
        let claim = authenticate::tenant(config, &state.keys, &head, D::SIGV4_SERVICE)?;
        if let Some(caller) = claim.proven() {
            attribute(exit, caller);
        }
        let body = read_body(
            body,
            usize::try_from(config.server.max_body_bytes).unwrap_or(usize::MAX),
        )
        .await?;
        let caller = claim.verify(&head, &body)?;
        if exit.record().tenant.is_none() {
            attribute(exit, &caller);
        }
        let tenant = caller.tenant;
        let (mut call, decoded) = D::decode(&Decoding { config, tenant }, &head, body)?;
        let cold_start = cold_start_mode(&head)?;
        // The head's URI and header values are slices of the connection's read buffer (hyper's,
        // 8 KiB): kept while the call waits for its answer, they kept that buffer alive beside
        // the one hyper reads the next bytes into.
        drop(head);
        exit.record().model = Some(call.model.clone());
        exit.record().estimate = Some(call.estimate);
        if let Some(t) = exit.record().trace.as_deref_mut() {
            t.decoded(&call);
        }
        let routing = trace::clock(&exit.record().trace);
        let table = state.routes.load_full();
        let plan = route::plan(config, &table, tenant, &call.model).and_then(|plan| route::fit(plan, &call, config));
        if let (Some(t), Some(start)) = (exit.record().trace.as_deref_mut(), routing) {
            t.routed(start, plan.as_ref());
        }
        let plan = plan?;
        exit.record().logical = Some(plan.model);
        // A guardrail judges what a model generates: token counts and embeddings pass without
        // one (Bedrock applies guardrails to generation only).
        let guardrail = config.guardrail_for(tenant, plan.model).filter(|_| call.generates());
        // A translation left for later is done now if the call may go to Bedrock or a
        // guardrail reads its text; before admission, so a request Bedrock cannot take is refused
        // without counting against the tenant's limits.
        if guardrail.is_some() || plan.reaches_bedrock() {
            call.translate()?;
        }
        admit_tenant(state, &call, &plan, tenant, exit, headroom).await?;
        call.attribute_to(&config.tenants[tenant].name);
        if config.tenants[tenant].audit_bodies {
            exit.record().audit_request = Some(audited_body(&call));
        }
        exit.record().guardrail_name = guardrail.map(|g| g.name.clone());
        let executor = Executor {
            upstream: &*state.upstreams,
            admission: &state.admission,
            policy: state.policy,
            guardrail: guardrail.map(|g| &**g),
            cold_start,
        };
        let served = executor.run(&plan, &call, &mut exit.record().attempts).await?;
        Ok((decoded, served))
    }
}

/// The request body an audit keeps: the one sent upstream, or for a call that goes to
/// OpenAI-compatible upstreams only, the OpenAI request naming the model as the client did.
fn audited_body(call: &Call) -> Bytes {
    match &call.openai {
        Some(openai) if call.translation.is_some() => openai.body_for(&call.model).unwrap_or_default(),
        _ => call.body.clone(),
    }
}

/// Reserves the call's place in its tenant's budgets; the permit goes to `exit`, what the
/// limits leave to `headroom`. A step of its own so that the permit (392 bytes) is not kept in
/// the request's future while the call waits on its upstream.
async fn admit_tenant(
    state: &Gateway,
    call: &Call,
    plan: &route::Plan,
    tenant: usize,
    exit: &mut Exit,
    headroom: &mut Option<Headroom>,
) -> Result<(), GatewayError> {
    let ask = Ask {
        tokens: call.estimate.total(),
        cost: admit::estimated_cost(plan, call.estimate),
    };
    let admitting = trace::clock(&exit.record().trace);
    let permit = state.admission.tenant(tenant, plan.model, ask, &state.config).await;
    if let (Some(t), Some(start)) = (exit.record().trace.as_deref_mut(), admitting) {
        t.admitted(start, permit.as_ref().err().map(|e| e.class));
    }
    let permit = permit?;
    *headroom = permit.headroom().copied();
    exit.hold(permit);
    Ok(())
}

/// What the client asked of cold starts: `x-strata-cold-start: fail-fast | wait` (absent:
/// wait).
fn cold_start_mode(head: &Parts) -> Result<execute::ColdStartMode, GatewayError> {
    // Parsed once: a lookup by `&str` parses the name on every request (~500 instructions).
    static NAME: http::HeaderName = http::HeaderName::from_static(execute::COLD_START_HEADER);
    match head.headers.get(&NAME) {
        None => Ok(execute::ColdStartMode::Wait),
        Some(v) => execute::ColdStartMode::from_header(v.as_bytes()).ok_or_else(|| {
            GatewayError::client(
                Class::Invalid,
                format!(
                    "the header {} must be 'fail-fast' or 'wait'",
                    execute::COLD_START_HEADER
                ),
            )
        }),
    }
}

/// Names the request's caller in its usage record.
fn attribute(exit: &mut Exit, caller: &authenticate::Caller) {
    let record = exit.record();
    record.tenant = Some(caller.tenant);
    record.key_id = Some(Arc::clone(&caller.key_id));
    record.signed_region.clone_from(&caller.signed_region);
}

/// The whole body, up to `limit` bytes (`server.max_body_bytes`; the edge refuses a longer
/// `Content-Length` before this).
async fn read_body(body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let e = e.into_inner();
        if e.is::<http_body_util::LengthLimitError>() {
            GatewayError::client(
                Class::TooLarge,
                format!("The request body is larger than the maximum of {limit} bytes."),
            )
        } else {
            GatewayError::client(Class::Invalid, format!("the request body could not be read: {e}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use strata_quota::{Headroom, Window};

    #[test]
    fn rate_limit_headers_round_resets_up_to_whole_seconds() {
        let window = |limit, remaining, reset_ms| Window {
            limit,
            remaining,
            reset: Duration::from_millis(reset_ms),
        };
        for (reset_ms, expected) in [
            (0, "0s"),
            (1, "1s"),
            (1_000, "1s"),
            (59_001, "60s"),
            (u64::MAX, "18446744073709552s"),
        ] {
            let mut response = axum::response::Response::default();
            let headroom = Headroom {
                requests: Some(window(60, 59, reset_ms)),
                tokens: None,
            };
            super::set_rate_limit_headers(&mut response, &headroom);
            let h = response.headers();
            assert_eq!(h["x-ratelimit-reset-requests"], expected, "{reset_ms} ms");
            assert_eq!(h["x-ratelimit-limit-requests"], "60");
            assert_eq!(h["x-ratelimit-remaining-requests"], "59");
            assert!(h.get("x-ratelimit-reset-tokens").is_none());
        }
    }
}
