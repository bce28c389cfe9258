//! Account: the request's single exit. Every request, whatever becomes of it — answered,
//! refused, failed, or dropped by a client that went away mid-stream — leaves exactly one
//! [`Record`] here: it settles the request's budgets with the real usage, feeds the metrics and
//! writes one structured log line (target `strata_usage`; never the key, never prompt text).
//! The [`Exit`] guard makes "exactly once" structural: it accounts when it is dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_quota::Used;
use strata_store::{Slot, UsageRecord};

use super::admit::Permit;
use super::execute::{Attempt, Outcome};
pub use super::record::Record;
use super::Gateway;
use crate::access_log::Line;
use crate::call::{Api, Usage};
use crate::error::{Class, GatewayError};
use crate::upstream::{Chunk, Intervention};

/// The most of each body an audit record keeps.
const AUDIT_BODY_BYTES: usize = 64 * 1024;

/// The audit text of a record: `{"request": …, "response": …}`, each body cut to
/// [`AUDIT_BODY_BYTES`] (streamed answers are not kept).
fn audit_text(r: &Record) -> Option<String> {
    let text = |b: &Option<bytes::Bytes>| {
        b.as_ref()
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(AUDIT_BODY_BYTES)]).into_owned())
    };
    r.audit_request.as_ref()?;
    Some(serde_json::json!({ "request": text(&r.audit_request), "response": text(&r.audit_response) }).to_string())
}

/// The guard that accounts for a request when dropped.
pub struct Exit {
    state: Arc<Gateway>,
    record: Record,
    /// The record's place in the usage writer's queue.
    slot: Option<Slot>,
    permits: Vec<Permit>,
    streaming: bool,
    finished: bool,
}

impl Exit {
    /// `slot`: the record's place in the usage writer's queue (`None`: no record is kept).
    pub fn new(state: Arc<Gateway>, api: Api, request_id: String, slot: Option<Slot>) -> Self {
        crate::telemetry::in_flight().increment(1.0);
        Exit {
            state,
            slot,
            record: Record {
                request_id,
                api,
                started: Instant::now(),
                started_at_ms: crate::tenants::keys::now_ms(),
                tenant: None,
                key_id: None,
                signed_region: None,
                model: None,
                logical: None,
                served: None,
                attempts: Vec::new(),
                status: 0,
                error: None,
                error_source: None,
                usage: None,
                usage_estimated: false,
                estimate: None,
                deltas: 0,
                head: None,
                first_token: None,
                last_token: None,
                baseline: false,
                disconnected: false,
                audit_request: None,
                audit_response: None,
                guardrail_name: None,
                guardrail: None,
                trace: None,
            },
            permits: Vec::new(),
            streaming: false,
            finished: false,
        }
    }

    pub fn record(&mut self) -> &mut Record {
        &mut self.record
    }

    pub fn request_id(&self) -> &str {
        &self.record.request_id
    }

    /// Keeps a budget's share until the request ends, to settle it then.
    pub fn hold(&mut self, permit: Permit) {
        if !permit.is_free() {
            self.permits.push(permit);
        }
    }

    /// The request failed before any answer.
    pub fn failed(&mut self, e: &GatewayError, status: u16) {
        self.record.status = status;
        self.record.error = Some(e.class);
        self.record.error_source = Some(e.source.label());
        self.finished = true;
    }

    /// The upstream answered with something the dialect cannot read (`what`): the request
    /// fails as unavailable, recorded here, answered in the dialect's shape by `render`.
    pub fn unreadable(
        mut self,
        what: &str,
        render: fn(&GatewayError) -> axum::response::Response,
    ) -> axum::response::Response {
        let e = GatewayError::gateway(
            crate::error::Class::Unavailable,
            format!("the upstream's answer could not be read: {what}"),
        );
        let response = render(&e);
        self.failed(&e, response.status().as_u16());
        response
    }

    /// A complete answer was sent.
    pub fn answered(&mut self, status: u16, usage: Option<Usage>) {
        let elapsed = self.record.started.elapsed();
        self.record.status = status;
        self.record.head = Some(elapsed);
        self.record.last_token = Some(elapsed);
        self.record.usage = usage;
        self.finished = true;
    }

    /// A streamed answer's head was sent; the body follows.
    pub fn streaming(&mut self, status: u16) {
        self.record.status = status;
        self.record.head = Some(self.record.started.elapsed());
        self.streaming = true;
    }

    /// A streamed chunk reached the client's connection.
    pub fn observe(&mut self, chunk: &Chunk) {
        if chunk.content && self.record.first_token.is_none() {
            self.record.first_token = Some(self.record.started.elapsed());
        }
        if chunk.usage.is_some() {
            self.record.usage = chunk.usage;
        }
        self.record.deltas += u64::from(chunk.deltas);
        if chunk.guardrail.is_some() && self.record.guardrail.is_none() {
            self.record.guardrail = chunk.guardrail;
        }
    }

    /// The stream ended; `failure` when it ended with an error event. The last chunk was just
    /// handed over, so this is the time to last token (read once, not per chunk).
    pub fn stream_ended(&mut self, failure: Option<Class>) {
        self.record.last_token = Some(self.record.started.elapsed());
        if failure.is_some() {
            self.record.error = failure;
            self.record.error_source = Some("upstream");
        }
        self.finished = true;
    }
}

impl Drop for Exit {
    fn drop(&mut self) {
        crate::telemetry::in_flight().decrement(1.0);
        let r = &mut self.record;
        if self.streaming && !self.finished {
            r.disconnected = true;
            r.last_token = Some(r.started.elapsed());
        }
        if self.streaming && r.usage.is_none() {
            if let Some(estimate) = r.estimate {
                r.usage = Some(Usage {
                    input: estimate.input,
                    output: r.deltas,
                    ..Usage::default()
                });
                r.usage_estimated = true;
            }
        }
        if r.guardrail == Some(Intervention::Unknown) {
            // A stream's stop reason said so: no output means the input was blocked.
            r.guardrail = Some(match r.usage {
                Some(u) if u.output > 0 => Intervention::Output,
                _ => Intervention::Input,
            });
        }
        let served = self.record.attempts.iter().rev().find(|a| a.outcome == Outcome::Ok);
        let cost = match (served, self.record.usage) {
            (Some(a), Some(u)) => super::admit::real_cost(&a.route, u),
            _ => None,
        };
        let used = match (
            self.record.usage,
            self.record.attempts.iter().any(|a| a.outcome == Outcome::Ok),
        ) {
            (Some(u), _) => Some(Used {
                tokens: u.total(),
                cost: cost.unwrap_or(0),
            }),
            // Nothing answered: nothing was used.
            (None, false) => Some(Used::default()),
            // Answered, usage unknown: the estimate stands.
            (None, true) => None,
        };
        let admission = &self.state.admission;
        for permit in self.permits.drain(..) {
            admission.settle(permit, used);
        }
        let r = &self.record;
        let cold_start =
            super::execute::cold_start_wait(&r.attempts, r.started + r.head.unwrap_or_else(|| r.started.elapsed()));
        let outcome = account(&self.state, r, cost, cold_start);
        if let (Some(traces), Some(trace)) = (&self.state.traces, &r.trace) {
            super::spans::export(&self.state, traces, trace, r, outcome);
        }
        self.state.traffic.record(&self.state.config, r);
        let targets = targets(&r.attempts);
        let line = line(&self.state, r, outcome, cost, cold_start, &targets);
        crate::access_log::request(&self.state.config.access_log, &line);
        if let Some(slot) = self.slot.take() {
            slot.send(usage_record(&line, r));
        }
    }
}

/// Every attempt as `route=outcome`, comma-separated.
fn targets(attempts: &[Attempt]) -> String {
    let mut targets = String::new();
    for (i, a) in attempts.iter().enumerate() {
        if i > 0 {
            targets.push(',');
        }
        targets.push_str(&a.route.label);
        targets.push('=');
        targets.push_str(a.outcome.label());
    }
    targets
}

/// The record with names for indexes: what the access log writes and the usage store keeps.
fn line<'a>(
    state: &'a Gateway,
    r: &'a Record,
    outcome: &'static str,
    cost_nanos: Option<u64>,
    cold_start: Option<Duration>,
    targets: &'a str,
) -> Line<'a> {
    let config = &state.config;
    let model_name = |m: usize| config.models[m].name.as_str();
    let served_route = r.attempts.iter().rev().find(|a| a.outcome == Outcome::Ok);
    Line {
        request_id: &r.request_id,
        tenant: r.tenant.map(|t| config.tenants[t].name.as_str()),
        key_id: r.key_id.as_deref(),
        signed_region: r.signed_region.as_deref(),
        dialect: r.api.label(),
        model: r.model.as_deref(),
        logical_model: r.logical.map(model_name),
        served_model: r.served.map(model_name),
        route: served_route.map(|a| a.route.label.as_str()),
        pricing_layer: served_route.map(|a| a.route.layer.as_str()),
        status: r.status,
        outcome,
        error_class: r.error.map(Class::label),
        error_source: r.error_source,
        attempts: r.attempts.len(),
        targets,
        input_tokens: r.usage.map(|u| u.input),
        output_tokens: r.usage.map(|u| u.output),
        cache_read_tokens: r.usage.map(|u| u.cache_read),
        cache_write_tokens: r.usage.map(|u| u.cache_write),
        cost_nanos,
        first_token: r.first_token,
        last_token: r.last_token,
        duration: r.started.elapsed(),
        cold_start,
        fallback: r.served.is_some() && r.served != r.logical,
        baseline: r.baseline,
        usage_estimated: r.usage_estimated,
        disconnected: r.disconnected,
        guardrail: r.guardrail.map(|g| g.label()),
    }
}

/// The record as the usage store keeps it: names instead of indexes, no key, no text.
fn usage_record(l: &Line<'_>, r: &Record) -> UsageRecord {
    let owned = |v: Option<&str>| v.map(str::to_string);
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    UsageRecord {
        request_id: l.request_id.to_string(),
        at_ms: r.started_at_ms,
        tenant: owned(l.tenant),
        key_id: owned(l.key_id),
        dialect: l.dialect.to_string(),
        model: owned(l.model),
        logical_model: owned(l.logical_model),
        served_model: owned(l.served_model),
        targets: l.targets.to_string(),
        status: l.status,
        outcome: l.outcome.to_string(),
        error_class: owned(l.error_class),
        error_source: owned(l.error_source),
        attempts: u32::try_from(l.attempts).unwrap_or(u32::MAX),
        input_tokens: l.input_tokens.unwrap_or(0),
        output_tokens: l.output_tokens.unwrap_or(0),
        cache_read_tokens: l.cache_read_tokens.unwrap_or(0),
        cache_write_tokens: l.cache_write_tokens.unwrap_or(0),
        cost_nanos: l.cost_nanos.unwrap_or(0),
        pricing_layer: owned(l.pricing_layer),
        ttft_ms: ms(l.first_token),
        ttlt_ms: ms(l.last_token),
        duration_ms: l.duration.as_secs_f64() * 1000.0,
        fallback: l.fallback,
        baseline: l.baseline,
        usage_estimated: l.usage_estimated,
        disconnected: l.disconnected,
        audit_body: audit_text(r),
        guardrail: owned(l.guardrail),
        cold_start_ms: ms(l.cold_start),
        purpose: None,
    }
}

/// Feeds one record to the metrics and the usage log; returns the outcome's label.
fn account(state: &Gateway, r: &Record, cost_nanos: Option<u64>, cold_start: Option<Duration>) -> &'static str {
    let config = &state.config;
    let outcome = match (r.error, r.disconnected) {
        (Some(class), _) => class.label(),
        (None, true) => "client_disconnected",
        (None, false) => "ok",
    };
    for a in &r.attempts {
        a.route
            .metrics
            .attempt_done(|| a.route.attempt_labels(config), a.outcome.label());
    }
    let tenant_name = r.tenant.map(|t| config.tenants[t].name.as_str());
    if let Some(m) = r.logical {
        let name = config.models[m].name.as_str();
        let metrics = &state.metrics[m];
        metrics.request_done(
            name,
            r.tenant.zip(tenant_name),
            r.api,
            outcome,
            r.head.unwrap_or_else(|| r.started.elapsed()),
        );
        if let Some(first) = r.first_token {
            metrics.first_token(name, first);
        }
        if let (Some(t), Some(name_t)) = (r.tenant, tenant_name) {
            if let Some(u) = r.usage {
                metrics.tokens(name, t, name_t, u);
            }
            if let Some(nanos) = cost_nanos {
                metrics.cost(name, t, name_t, nanos);
            }
        }
        if r.served.is_some_and(|s| s != m) {
            crate::telemetry::fell_back(name, "model");
        }
        if let Some(g) = r.guardrail {
            crate::telemetry::guardrail_intervened(tenant_name.unwrap_or_default(), name, g.label());
        }
        if r.attempts.iter().any(|a| a.baseline) {
            crate::telemetry::baseline_used(name, if r.baseline { "ok" } else { "failed" });
            if r.baseline {
                crate::telemetry::fell_back(name, "baseline");
            }
        }
        if let Some(waited) = cold_start {
            crate::telemetry::cold_start_met(name, outcome, waited);
        }
    }
    outcome
}
