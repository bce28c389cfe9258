//! The request pipeline after authentication: pick candidates of the logical model (and then of
//! its fallbacks) in strategy order, skip those residency or local budgets forbid, call, and on
//! a retryable failure back off and move on — until one answers, a non-retryable error ends the
//! request, attempts run out, or the deadline passes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::StreamExt;
use http::HeaderMap;
use strata_aws::{RuntimeAnswer, RuntimeCall, RuntimeOperation, UpstreamError};
use strata_core::eventstream::{FrameReader, StreamFrame};
use strata_core::{BedrockErrorKind, ErrorClass};
use strata_router::{Backoff, CandidateOrder, CandidateView, CooldownPolicy};

use crate::config::Target;
use crate::routes::{Route, RouteTable};
use crate::state::GatewayState;
use crate::upstream::remaining;

/// What the caller asks the upstream to do.
#[derive(Debug, Clone)]
pub struct CallSpec {
    pub operation: RuntimeOperation,
    pub body: Bytes,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// Estimated tokens, for local TPM budgets.
    pub estimated_tokens: u64,
    /// The original OpenAI chat request, when the call came through `/v1/chat/completions`:
    /// OpenAI-compatible deployments get it (with their model name) instead of the Converse body.
    pub openai_request: Option<serde_json::Value>,
}

/// A successful answer and where it came from.
pub struct Outcome {
    pub route: Arc<Route>,
    /// Index of the logical model that answered (differs from the asked one after a fallback).
    pub model: usize,
    pub attempts: u32,
    /// Served by a baseline target.
    pub baseline: bool,
    pub answer: Answer,
}

/// The upstream answer, with a stream's first frame already read (so a failure before the first
/// byte could still be retried).
pub enum Answer {
    Complete {
        headers: HeaderMap,
        body: Bytes,
    },
    Stream {
        headers: HeaderMap,
        first: Bytes,
        rest: BoxStream<'static, Result<Bytes, UpstreamError>>,
    },
    /// An OpenAI-compatible upstream's `chat.completion` JSON.
    OpenAiComplete {
        body: Bytes,
    },
    /// An OpenAI-compatible upstream's SSE stream, relayed as is.
    OpenAiStream {
        rest: BoxStream<'static, Result<Bytes, UpstreamError>>,
    },
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("model '{0}' is not available to this API key")]
    ModelNotAllowed(String),
    #[error("no deployment of '{model}' may serve this request: {reasons}")]
    NoCandidate { model: String, reasons: String },
    #[error("{0}")]
    Upstream(UpstreamError),
    #[error("the request deadline of {0:?} passed before any deployment answered")]
    Deadline(Duration),
}

/// Candidates tried together: one logical model's, or the baseline.
#[derive(Debug, Clone)]
pub struct Group {
    /// The logical model this group answers for.
    pub model: usize,
    pub routes: Vec<Arc<Route>>,
    /// The verified last-resort targets, tried only after every primary candidate failed.
    pub baseline: bool,
}

/// The tenant's candidates of the requested model, then of its fallbacks, then the baseline.
pub fn groups_for(state: &GatewayState, table: &RouteTable, model: usize, tenant: usize) -> Vec<Group> {
    let config = &state.config;
    let t = &config.tenants[tenant];
    let mut order = vec![model];
    for &f in &config.models[model].fallbacks {
        if !order.contains(&f) && t.may_use(f) {
            order.push(f);
        }
    }
    let mut groups: Vec<Group> = order
        .into_iter()
        .map(|m| Group {
            model: m,
            routes: table.models[m].tenants[tenant].allowed.clone(),
            baseline: false,
        })
        .collect();
    let baseline = &table.models[model].tenants[tenant].baseline;
    if !baseline.is_empty() {
        groups.push(Group {
            model,
            routes: baseline.clone(),
            baseline: true,
        });
    }
    groups
}

/// Runs a call for a tenant against a logical model.
pub async fn run(state: &GatewayState, tenant: usize, model: usize, spec: &CallSpec) -> Result<Outcome, PipelineError> {
    let table = state.routes.load_full();
    run_over(state, groups_for(state, &table, model, tenant), spec).await
}

/// Runs a call over explicit candidate groups (a concrete Bedrock ID names its own group). The
/// groups hold only routes the tenant's residency admits (see `routes::TenantRoutes`).
///
/// A `ValidationException` from a candidate for a request that was well-formed elsewhere is the
/// sign of wrong catalog data (a model advertised where it cannot run): the request then goes
/// straight to the baseline, and only if the baseline also refuses it is the error the client's.
pub async fn run_over(state: &GatewayState, groups: Vec<Group>, spec: &CallSpec) -> Result<Outcome, PipelineError> {
    let config = &state.config;
    let routing = &config.routing;
    let deadline_after = Duration::from_millis(routing.timeout_ms);
    let deadline = Instant::now() + deadline_after;
    let backoff = Backoff {
        base: Duration::from_millis(routing.retries.base_delay_ms),
        max: Duration::from_millis(routing.retries.max_delay_ms),
    };
    let cooldown = CooldownPolicy {
        failures: routing.cooldown.failures,
        window: Duration::from_millis(routing.cooldown.window_ms),
        duration: Duration::from_millis(routing.cooldown.duration_ms),
    };
    let first_model = groups
        .first()
        .map(|g| config.models[g.model].name.clone())
        .unwrap_or_default();
    let has_baseline = groups.iter().any(|g| g.baseline);
    let mut attempts = 0u32;
    let mut last_error: Option<UpstreamError> = None;
    let mut reasons: Vec<String> = Vec::new();
    // A candidate that refused a request as invalid; blamed if the baseline then serves it.
    let mut suspect: Option<Arc<Route>> = None;
    for group in groups {
        if suspect.is_some() && !group.baseline {
            continue;
        }
        let (model, routes) = (group.model, group.routes);
        if group.baseline {
            tracing::warn!(model = %config.models[model].name, "every primary candidate failed: trying the baseline");
        }
        // Candidates that failed in a way retrying them cannot fix (access, not found).
        let mut given_up: Vec<bool> = vec![false; routes.len()];
        let mut group_attempts = 0u32;
        let mut first_pass = true;
        // Passes over the candidates: after every candidate had its turn, a retryable failure
        // is retried (after backoff) on those still healthy, until the group's attempts run out;
        // then the next fallback model gets its turn.
        'passes: loop {
            let now = Instant::now();
            let views: Vec<CandidateView> = routes
                .iter()
                .enumerate()
                .map(|(i, r)| CandidateView {
                    weight: r.weight,
                    priority: r.priority,
                    in_flight: r.health.in_flight(),
                    latency: r.health.latency(),
                    // The baseline is the last resort: it is tried even while cooling down.
                    cooling_down: given_up[i] || (!group.baseline && r.health.cooling_down(now)),
                })
                .collect();
            if first_pass {
                for (i, r) in routes.iter().enumerate() {
                    if views[i].cooling_down {
                        reasons.push(format!("{} is cooling down after repeated failures", r.label));
                    }
                }
            }
            let order = CandidateOrder::new(config.models[model].strategy, &views);
            let mut tried = false;
            for index in order {
                let route = &routes[index];
                if spec.openai_request.is_none() && matches!(route.target, Target::OpenAi { .. }) {
                    if first_pass {
                        reasons.push(format!("{} speaks only the OpenAI API", route.label));
                    }
                    continue;
                }
                if !route.limiter.try_take(spec.estimated_tokens, Instant::now()) {
                    if first_pass {
                        reasons.push(format!("{} is at its local rate limit", route.label));
                    }
                    continue;
                }
                if Instant::now() >= deadline {
                    return Err(PipelineError::Deadline(deadline_after));
                }
                if attempts > 0 {
                    let retry_after = last_error.as_ref().and_then(|e| e.retry_after);
                    let wait = backoff.delay(attempts, retry_after, &mut rand::rng());
                    let wait = wait.min(deadline.saturating_duration_since(Instant::now()));
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
                attempts += 1;
                group_attempts += 1;
                tried = true;
                let started = Instant::now();
                let result = {
                    let _in_flight = route.health.start();
                    attempt(state, route, spec, deadline).await
                };
                match result {
                    Ok(answer) => {
                        route.health.record_success(started.elapsed());
                        route.metrics.attempt_done(&route.label, crate::telemetry::OK);
                        if group.baseline {
                            crate::telemetry::baseline_used(&config.models[model].name, "ok");
                            tracing::warn!(route = %route.label, "request served by the baseline");
                        }
                        if let Some(s) = &suspect {
                            // The baseline took what the candidate refused: the candidate lied.
                            s.health.record_failure(&cooldown, Instant::now());
                        }
                        return Ok(Outcome {
                            route: Arc::clone(route),
                            model,
                            attempts,
                            baseline: group.baseline,
                            answer,
                        });
                    }
                    Err(e) => {
                        tracing::info!(route = %route.label, class = ?e.class, error = %e.message, "attempt failed");
                        route.metrics.attempt_done(&route.label, class_name(e.class));
                        if e.class.counts_against_target() {
                            route.health.record_failure(&cooldown, Instant::now());
                        }
                        let catalog_suspect = e.class == ErrorClass::Invalid
                            && has_baseline
                            && !group.baseline
                            && matches!(route.target, Target::Bedrock { .. });
                        if catalog_suspect {
                            reasons.push(format!("{} refused the request: {}", route.label, e.message));
                            suspect = Some(Arc::clone(route));
                            last_error = Some(e);
                            break 'passes;
                        }
                        if !e.class.try_other_candidates() {
                            if group.baseline {
                                crate::telemetry::baseline_used(&config.models[model].name, class_name(e.class));
                            }
                            return Err(PipelineError::Upstream(e));
                        }
                        if !e.class.retryable() {
                            given_up[index] = true;
                        }
                        reasons.push(format!("{} failed: {}", route.label, e.message));
                        last_error = Some(e);
                        if group_attempts >= routing.retries.max_attempts {
                            break;
                        }
                    }
                }
            }
            first_pass = false;
            if !tried || group_attempts >= routing.retries.max_attempts {
                break;
            }
        }
        if group.baseline {
            crate::telemetry::baseline_used(&config.models[model].name, "failed");
        }
    }
    match last_error {
        Some(e) => Err(PipelineError::Upstream(e)),
        None => Err(PipelineError::NoCandidate {
            model: first_model,
            reasons: reasons.join("; "),
        }),
    }
}

async fn attempt(
    state: &GatewayState,
    route: &Route,
    spec: &CallSpec,
    deadline: Instant,
) -> Result<Answer, UpstreamError> {
    match &route.target {
        Target::Bedrock {
            account,
            region,
            model_id,
        } => {
            let call = RuntimeCall {
                region: region.as_str(),
                model_id,
                operation: spec.operation,
                body: spec.body.clone(),
                content_type: spec.content_type.as_deref(),
                accept: spec.accept.as_deref(),
                timeout: remaining(deadline),
            };
            match state.upstreams.call_bedrock(*account, call).await? {
                RuntimeAnswer::Complete { headers, body } => Ok(Answer::Complete { headers, body }),
                RuntimeAnswer::Stream { headers, body } => {
                    let (first, rest) = first_event(body, deadline).await?;
                    Ok(Answer::Stream { headers, first, rest })
                }
            }
        }
        Target::OpenAi { provider, model } => {
            let Some(request) = &spec.openai_request else {
                return Err(UpstreamError {
                    class: ErrorClass::NotFound,
                    kind: None,
                    status: None,
                    message: "OpenAI-compatible deployments serve only the /v1 API".into(),
                    retry_after: None,
                });
            };
            let mut request = request.clone();
            request["model"] = serde_json::Value::String(model.clone());
            state
                .upstreams
                .call_openai(*provider, &request, remaining(deadline))
                .await
        }
    }
}

/// Reads an event stream until its first whole frame. An exception as the first frame is a
/// failure like an HTTP error (so it is retried invisibly); otherwise the bytes read so far are
/// handed back to be sent first.
async fn first_event(
    mut body: BoxStream<'static, Result<Bytes, UpstreamError>>,
    deadline: Instant,
) -> Result<(Bytes, BoxStream<'static, Result<Bytes, UpstreamError>>), UpstreamError> {
    let mut reader = FrameReader::new();
    let mut seen = BytesMut::new();
    loop {
        let next = tokio::time::timeout(remaining(deadline), body.next())
            .await
            .map_err(|_| UpstreamError {
                class: ErrorClass::Timeout,
                kind: None,
                status: Some(200),
                message: "no first event before the deadline".into(),
                retry_after: None,
            })?;
        let Some(chunk) = next else {
            return Err(UpstreamError {
                class: ErrorClass::Connect,
                kind: None,
                status: Some(200),
                message: "the stream ended before its first event".into(),
                retry_after: None,
            });
        };
        let chunk = chunk?;
        seen.extend_from_slice(&chunk);
        reader.push(&chunk);
        match reader.next_frame() {
            Ok(None) => continue,
            Ok(Some(StreamFrame::Event { .. })) => return Ok((seen.freeze(), body)),
            Ok(Some(StreamFrame::Exception {
                exception_type,
                payload,
            })) => {
                let kind = BedrockErrorKind::from_name(&exception_type);
                let message = serde_json::from_slice::<serde_json::Value>(&payload)
                    .ok()
                    .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
                    .unwrap_or(exception_type);
                return Err(UpstreamError {
                    class: kind.map(ErrorClass::of_bedrock).unwrap_or(ErrorClass::Unavailable),
                    kind,
                    status: Some(200),
                    message,
                    retry_after: None,
                });
            }
            Ok(Some(StreamFrame::Error { code, message })) => {
                return Err(UpstreamError {
                    class: ErrorClass::Unavailable,
                    kind: BedrockErrorKind::from_name(&code),
                    status: Some(200),
                    message,
                    retry_after: None,
                })
            }
            Err(e) => {
                return Err(UpstreamError {
                    class: ErrorClass::Unavailable,
                    kind: None,
                    status: Some(200),
                    message: e.to_string(),
                    retry_after: None,
                })
            }
        }
    }
}

/// The label of an error class in metrics.
pub fn class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Throttled => "throttled",
        ErrorClass::ColdStart => "cold_start",
        ErrorClass::Unavailable => "unavailable",
        ErrorClass::Connect => "connect",
        ErrorClass::Timeout => "timeout",
        ErrorClass::Invalid => "invalid",
        ErrorClass::Denied => "denied",
        ErrorClass::NotFound => "not_found",
    }
}
