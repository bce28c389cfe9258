//! Execute: try a plan's candidates until one answers. Within a group (a logical model, then
//! each fallback, then the baseline) candidates come in the group's strategy order, those
//! cooling down or out of budget left out; a retryable failure is retried after a backoff of at
//! least the upstream's `retry-after`, on the next candidate and then in further passes, until
//! the group's attempts run out; access and not-found failures move on without a retry.
//!
//! An upstream calling the request invalid is believed only when others agree: the candidate
//! is left for this request and the next one tried. When another answers, the refuser lied (a
//! model advertised where it cannot run) and is quarantined; when two refuse, the request is
//! at fault and only the baseline may still take it. The client sees a 400 only when every
//! candidate tried refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_aws::UpstreamError;
use strata_core::ErrorClass;
use strata_router::{Backoff, CandidateOrder, CandidateView, CooldownPolicy, Strategy};

use super::admit::{Admission, Permit};
use super::route::Plan;
use crate::call::Call;
use crate::config::file::RoutingConfig;
use crate::config::Target;
use crate::error::{truncated, Class, GatewayError};
use crate::routes::Route;
use crate::upstream::{Answer, Upstream};
use strata_quota::{Ask, Used};

/// Refusals as invalid after which the request, not the candidates, is taken to be at fault.
const REFUSALS_BEFORE_BLAME: u32 = 2;

/// How long a candidate that refused a request others served is left out.
const MIN_QUARANTINE: Duration = Duration::from_secs(300);

/// Upstream messages in DEBUG logs are cut to this many characters.
const LOGGED_MESSAGE_CHARS: usize = 300;

/// Retry, cooldown and deadline settings.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub deadline: Duration,
    pub backoff: Backoff,
    pub cooldown: CooldownPolicy,
    /// Attempts per group.
    pub max_attempts: u32,
    pub quarantine: Duration,
    pub cold_start: ColdStartPolicy,
}

/// How long a request waits for a model Bedrock is loading, and how often it asks again.
#[derive(Debug, Clone, Copy)]
pub struct ColdStartPolicy {
    /// The most one request waits for loading models; the request's deadline is extended by
    /// it when a cold start is met.
    pub budget: Duration,
    pub backoff: Backoff,
    /// How long Bedrock is taken to keep an idle imported model loaded.
    pub evicted_after: Duration,
}

/// What the client asked of cold starts (header `x-strata-cold-start`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ColdStartMode {
    /// Wait for the model within the cold-start budget.
    #[default]
    Wait,
    /// Answer at once (503 with `retry-after`) if only loading models could serve.
    FailFast,
}

impl ColdStartMode {
    /// The header's value, if it names a mode (`fail-fast` or `wait`).
    pub fn from_header(value: &[u8]) -> Option<ColdStartMode> {
        let v = std::str::from_utf8(value).ok()?.trim();
        if v.eq_ignore_ascii_case("fail-fast") {
            Some(ColdStartMode::FailFast)
        } else if v.eq_ignore_ascii_case("wait") {
            Some(ColdStartMode::Wait)
        } else {
            None
        }
    }
}

/// The header a client sends to choose its [`ColdStartMode`].
pub const COLD_START_HEADER: &str = "x-strata-cold-start";

impl Policy {
    pub fn from_config(routing: &RoutingConfig) -> Self {
        let cooldown = CooldownPolicy {
            failures: routing.cooldown.failures,
            window: Duration::from_millis(routing.cooldown.window_ms),
            duration: Duration::from_millis(routing.cooldown.duration_ms),
        };
        Policy {
            deadline: Duration::from_millis(routing.timeout_ms),
            backoff: Backoff {
                base: Duration::from_millis(routing.retries.base_delay_ms),
                max: Duration::from_millis(routing.retries.max_delay_ms),
            },
            cooldown,
            max_attempts: routing.retries.max_attempts,
            quarantine: cooldown.duration.max(MIN_QUARANTINE),
            cold_start: ColdStartPolicy {
                budget: Duration::from_millis(routing.cold_start.budget_ms),
                backoff: Backoff {
                    base: Duration::from_millis(routing.cold_start.base_delay_ms),
                    max: Duration::from_millis(routing.cold_start.max_delay_ms),
                },
                evicted_after: Duration::from_millis(routing.cold_start.evicted_after_ms),
            },
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed(ErrorClass),
}

impl Outcome {
    /// A "model not ready" answer.
    pub const COLD_START: Outcome = Outcome::Failed(ErrorClass::ColdStart);

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(c) => Class::of_upstream(c).label(),
        }
    }
}

/// One attempt on one target.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub route: Arc<Route>,
    pub model: usize,
    pub baseline: bool,
    pub outcome: Outcome,
    /// When the attempt was sent.
    pub started: Instant,
    /// When its answer (a stream's head) or its failure came back.
    pub ended: Instant,
}

/// How long a request waited for loading models: from its first "not ready" to the attempt
/// after its last one (or to `end` when none followed). `None` when it met no cold start.
pub fn cold_start_wait(trail: &[Attempt], end: Instant) -> Option<Duration> {
    let first = trail.iter().position(|a| a.outcome == Outcome::COLD_START)?;
    let last = trail.iter().rposition(|a| a.outcome == Outcome::COLD_START)?;
    let until = trail.get(last + 1).map_or(end, |a| a.started);
    Some(until.saturating_duration_since(trail[first].started))
}

/// A successful answer and where it came from.
pub struct Served {
    pub answer: Answer,
    pub route: Arc<Route>,
    /// The logical model that answered (differs from the asked one after a fallback).
    pub model: usize,
    pub baseline: bool,
    /// The deployment budget's share, settled with the real usage when the answer ends.
    pub permit: Permit,
}

/// Why a candidate was passed over without an attempt.
#[derive(Debug, Clone)]
enum Skip {
    CoolingDown(Arc<Route>),
    AtLimit(Arc<Route>, Duration),
    WrongApi(Arc<Route>),
    /// The call's guardrail does not exist there (or cannot be looked up): never called
    /// unguarded.
    Unguarded(Arc<Route>, String),
}

/// What execution runs on.
pub struct Executor<'a> {
    pub upstream: &'a dyn Upstream,
    pub admission: &'a Admission,
    pub policy: Policy,
    /// The call's guardrail (the tenant's, else the model's).
    pub guardrail: Option<&'a crate::config::Guardrail>,
    /// Whether the client waits for a loading model.
    pub cold_start: ColdStartMode,
}

/// The state of one execution.
struct Run<'a> {
    attempts: u32,
    /// The latest retryable, access or not-found failure.
    failed: Option<(Arc<Route>, UpstreamError)>,
    /// The latest refusal as invalid.
    refused: Option<(Arc<Route>, UpstreamError)>,
    refusals: u32,
    /// The latest "model not ready".
    cold: Option<(Arc<Route>, UpstreamError)>,
    /// The end of the cold-start budget, from the first "not ready" (when waiting).
    cold_until: Option<Instant>,
    /// Loading targets asked again so far.
    cold_polls: u32,
    suspects: Vec<Arc<Route>>,
    skips: Vec<Skip>,
    trail: &'a mut Vec<Attempt>,
}

impl Executor<'_> {
    /// Runs `call` over `plan`; every attempt is added to `trail`.
    pub async fn run(&self, plan: &Plan, call: &Call, trail: &mut Vec<Attempt>) -> Result<Served, GatewayError> {
        let started = Instant::now();
        let mut deadline = started + self.policy.deadline;
        let mut run = Run {
            attempts: 0,
            failed: None,
            refused: None,
            refusals: 0,
            cold: None,
            cold_until: None,
            cold_polls: 0,
            suspects: Vec::new(),
            skips: Vec::new(),
            trail,
        };
        for group in &plan.groups {
            if run.refusals >= REFUSALS_BEFORE_BLAME && !group.baseline {
                continue;
            }
            if group.baseline {
                tracing::warn!(
                    model = call.model,
                    "every primary candidate failed: trying the baseline"
                );
            }
            let routes = &group.routes;
            // Candidates this request is done with (refused it, or failed for good).
            let mut given_up: Vec<bool> = vec![false; routes.len()];
            // Candidates that answered "model not ready": asked again, within the cold-start
            // budget, whatever the group's attempts.
            let mut loading: Vec<bool> = vec![false; routes.len()];
            let mut group_attempts = 0u32;
            let mut first_pass = true;
            'passes: loop {
                let now = Instant::now();
                // Wall-clock time only where the strategy reads quotas' room.
                let now_ms = match group.strategy {
                    Strategy::Headroom => crate::tenants::keys::now_ms().max(0) as u64,
                    _ => 0,
                };
                let views: Vec<CandidateView> = routes
                    .iter()
                    .enumerate()
                    .map(|(i, r)| CandidateView {
                        weight: r.weight,
                        priority: r.priority,
                        in_flight: r.health.in_flight(),
                        latency: r.health.latency(),
                        // The baseline is the last resort: tried even while cooling down.
                        cooling_down: given_up[i] || (!group.baseline && r.health.cooling_down(now)),
                        headroom: match (&r.capacity, group.strategy) {
                            (Some(_), Strategy::Headroom) => r.capacity_state.room(now_ms),
                            _ => None,
                        },
                    })
                    .collect();
                if first_pass {
                    for (i, r) in routes.iter().enumerate() {
                        if views[i].cooling_down {
                            run.skips.push(Skip::CoolingDown(Arc::clone(r)));
                        }
                    }
                }
                let mut tried = false;
                for index in CandidateOrder::new(group.strategy, &views) {
                    let route = &routes[index];
                    if call.openai.is_none() && matches!(route.target, Target::OpenAi { .. }) {
                        if first_pass {
                            run.skips.push(Skip::WrongApi(Arc::clone(route)));
                        }
                        continue;
                    }
                    let cold_retry = loading[index];
                    if cold_retry {
                        if !run.cold_budget_left(Instant::now()) {
                            given_up[index] = true;
                            continue;
                        }
                    } else if group_attempts >= self.policy.max_attempts {
                        continue;
                    }
                    if let Some(guard) = self.guardrail {
                        if let Err(why) = self.upstream.guardable(&route.target, guard, deadline).await {
                            if first_pass {
                                run.skips.push(Skip::Unguarded(Arc::clone(route), why));
                            }
                            continue;
                        }
                    }
                    let ask = Ask {
                        tokens: call.estimate.total(),
                        cost: 0,
                    };
                    let permit = match self
                        .admission
                        .deployment(route, ask, group.strategy == Strategy::Headroom)
                        .await
                    {
                        Ok(p) => p,
                        Err(retry_after) => {
                            if first_pass {
                                run.skips.push(Skip::AtLimit(Arc::clone(route), retry_after));
                            }
                            continue;
                        }
                    };
                    if Instant::now() >= deadline {
                        self.admission.cancel(permit);
                        return Err(deadline_passed(self.policy.deadline));
                    }
                    let wait = if cold_retry {
                        run.cold_polls += 1;
                        let until = run.cold_until.unwrap_or(deadline).min(deadline);
                        let after = run.cold.as_ref().and_then(|(_, e)| e.retry_after);
                        self.policy
                            .cold_start
                            .backoff
                            .poll_delay(run.cold_polls, after, &mut rand::rng())
                            .min(until.saturating_duration_since(Instant::now()))
                    } else if let Some((_, last)) = run.failed.as_ref().filter(|(_, e)| e.class.retryable()) {
                        self.policy
                            .backoff
                            .delay(run.attempts, last.retry_after, &mut rand::rng())
                            .min(deadline.saturating_duration_since(Instant::now()))
                    } else {
                        Duration::ZERO
                    };
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    run.attempts += 1;
                    tried = true;
                    let attempt_started = Instant::now();
                    let result = {
                        let _in_flight = route.health.start();
                        self.upstream.call(&route.target, call, self.guardrail, deadline).await
                    };
                    let ended = Instant::now();
                    let record = |outcome| Attempt {
                        route: Arc::clone(route),
                        model: group.model,
                        baseline: group.baseline,
                        outcome,
                        started: attempt_started,
                        ended,
                    };
                    match result {
                        Ok(answer) => {
                            route.health.record_success(attempt_started.elapsed());
                            if let Some(w) = &route.warmth {
                                w.answered(ended, false);
                            }
                            run.trail.push(record(Outcome::Ok));
                            for liar in &run.suspects {
                                tracing::warn!(
                                    route = %liar.label,
                                    "quarantined: it refused as invalid a request another target served"
                                );
                                liar.health.cool_down_for(self.policy.quarantine, ended);
                            }
                            return Ok(Served {
                                answer,
                                route: Arc::clone(route),
                                model: group.model,
                                baseline: group.baseline,
                                permit,
                            });
                        }
                        Err(e) => {
                            // The attempt counts; it used no tokens.
                            self.admission.settle(permit, Some(Used::default()));
                            run.trail.push(record(Outcome::Failed(e.class)));
                            tracing::info!(
                                route = %route.label,
                                class = Class::of_upstream(e.class).label(),
                                error_type = e.kind.map(|k| k.name()),
                                status = e.status,
                                "attempt failed"
                            );
                            tracing::debug!(route = %route.label, message = truncated(&e.message, LOGGED_MESSAGE_CHARS), "upstream message");
                            if e.class == ErrorClass::ColdStart {
                                // Not a failure of the target: it is loading the model. Neither
                                // its health nor the group's attempts are charged.
                                if let Some(w) = &route.warmth {
                                    w.not_ready(ended, false);
                                }
                                if run.cold_until.is_none() && self.cold_start == ColdStartMode::Wait {
                                    let budget = self.policy.cold_start.budget;
                                    run.cold_until = Some(ended + budget);
                                    deadline += budget;
                                    tracing::info!(route = %route.label, budget = ?budget, "cold start: waiting for the model to load");
                                }
                                match self.cold_start {
                                    ColdStartMode::Wait => loading[index] = true,
                                    ColdStartMode::FailFast => given_up[index] = true,
                                }
                                run.cold = Some((Arc::clone(route), e));
                                continue;
                            }
                            if let Some(w) = &route.warmth {
                                w.invoked(ended);
                            }
                            group_attempts += 1;
                            if e.class == ErrorClass::Invalid {
                                given_up[index] = true;
                                run.refusals += 1;
                                if matches!(route.target, Target::Bedrock { .. }) {
                                    run.suspects.push(Arc::clone(route));
                                }
                                run.refused = Some((Arc::clone(route), e));
                                if run.refusals >= REFUSALS_BEFORE_BLAME {
                                    break 'passes;
                                }
                                continue;
                            }
                            if e.class.counts_against_target() {
                                route.health.record_failure(&self.policy.cooldown, ended);
                            }
                            if e.class == ErrorClass::Throttled
                                && route.capacity.is_some()
                                && group.strategy == Strategy::Headroom
                            {
                                // Throttled within its quota: use less of it for a while.
                                let now_ms = crate::tenants::keys::now_ms().max(0) as u64;
                                route.capacity_state.throttled(now_ms);
                            }
                            if !e.class.retryable() {
                                given_up[index] = true;
                            }
                            run.failed = Some((Arc::clone(route), e));
                        }
                    }
                }
                first_pass = false;
                let waiting = loading.iter().zip(&given_up).any(|(&l, &g)| l && !g);
                if !tried || (group_attempts >= self.policy.max_attempts && !waiting) {
                    break;
                }
            }
        }
        Err(run.failure(&call.model, &self.policy.cold_start))
    }
}

impl Run<'_> {
    fn cold_budget_left(&self, now: Instant) -> bool {
        self.cold_until.is_some_and(|until| now < until)
    }

    /// The error for a request nothing served: a model still loading (with when to ask again),
    /// else the most telling upstream failure, a refusal if every candidate tried refused, else
    /// why nothing could be tried.
    fn failure(self, model: &str, cold_start: &ColdStartPolicy) -> GatewayError {
        if let Some((route, e)) = self.cold {
            let after = e.retry_after.unwrap_or(cold_start.backoff.max);
            let waited = if self.cold_until.is_some() {
                format!(" (waited up to {:?} for it)", cold_start.budget)
            } else {
                String::new()
            };
            let mut error = GatewayError::upstream(route.label.as_str().into(), e);
            error.message = format!("the model is loading (a cold start) and not ready yet{waited}; try again shortly");
            return error.with_retry_after(after);
        }
        if let Some((route, e)) = self.failed {
            return GatewayError::upstream(route.label.as_str().into(), e);
        }
        if let Some((route, e)) = self.refused {
            return GatewayError::upstream(route.label.as_str().into(), e);
        }
        let busy = !self.skips.is_empty()
            && self
                .skips
                .iter()
                .all(|s| matches!(s, Skip::CoolingDown(_) | Skip::AtLimit(..)));
        let now = Instant::now();
        let reasons: Vec<String> = self
            .skips
            .iter()
            .map(|s| match s {
                Skip::CoolingDown(r) => format!("{} is cooling down after repeated failures", r.label),
                Skip::AtLimit(r, wait) => format!(
                    "{} is at its rate limit for {:.0} s more",
                    r.label,
                    wait.as_secs_f64().ceil()
                ),
                Skip::WrongApi(r) => format!("{} speaks only the OpenAI API", r.label),
                Skip::Unguarded(r, why) => format!("{} is not called unguarded: {why}", r.label),
            })
            .collect();
        let reasons = if reasons.is_empty() {
            "no candidate is left".to_string()
        } else {
            reasons.join("; ")
        };
        if busy {
            let wait = self
                .skips
                .iter()
                .filter_map(|s| match s {
                    Skip::AtLimit(_, w) => Some(*w),
                    Skip::CoolingDown(r) => r.health.cooldown_left(now),
                    Skip::WrongApi(_) | Skip::Unguarded(..) => None,
                })
                .min()
                .unwrap_or(Duration::from_secs(1));
            GatewayError::gateway(
                Class::RateLimited,
                format!("every deployment of '{model}' is busy for now: {reasons}"),
            )
            .with_retry_after(wait)
        } else {
            GatewayError::gateway(
                Class::NoRoute,
                format!("no deployment of '{model}' may serve this request: {reasons}"),
            )
        }
    }
}

fn deadline_passed(after: Duration) -> GatewayError {
    GatewayError::gateway(
        Class::Timeout,
        format!("the request deadline of {after:?} passed before any deployment answered"),
    )
}

#[cfg(test)]
mod tests;
