//! Account: the request's single exit. Every request, whatever becomes of it — answered,
//! refused, failed, or dropped by a client that went away mid-stream — leaves exactly one
//! [`Record`] here: it settles the request's budgets with the real usage, feeds the metrics and
//! writes one structured log line (target `strata_usage`; never the key, never prompt text).
//! The [`Exit`] guard makes "exactly once" structural: it accounts when it is dropped.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_quota::Used;
use strata_store::{Slot, UsageRecord};

use super::admit::Permit;
use super::execute::{Attempt, Outcome};
use super::Gateway;
use crate::call::{Api, Estimate, Usage};
use crate::error::{Class, GatewayError};
use crate::upstream::{Chunk, Intervention};

/// The log target of usage records.
pub const USAGE_TARGET: &str = "strata_usage";

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
    /// The request body as sent upstream, kept only for tenants with `audit_bodies`.
    pub audit_request: Option<bytes::Bytes>,
    /// A complete answer's body, kept only for tenants with `audit_bodies`.
    pub audit_response: Option<bytes::Bytes>,
    /// The guardrail the call ran under (its name in the config).
    pub guardrail_name: Option<String>,
    /// A guardrail intervened, on this side.
    pub guardrail: Option<Intervention>,
}

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
    pub fn new(state: Arc<Gateway>, api: Api, request_id: String, slot: Slot) -> Self {
        crate::telemetry::in_flight().increment(1.0);
        Exit {
            state,
            slot: Some(slot),
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
        let outcome = account(&self.state, &self.record);
        self.state.traffic.record(&self.state.config, &self.record);
        if let Some(slot) = self.slot.take() {
            slot.send(usage_record(&self.state, &self.record, outcome, cost.unwrap_or(0)));
        }
    }
}

/// The record as the usage store keeps it: names instead of indexes, no key, no text.
fn usage_record(state: &Gateway, r: &Record, outcome: &str, cost_nanos: u64) -> UsageRecord {
    let config = &state.config;
    let model_name = |m: usize| config.models[m].name.clone();
    let mut targets = String::new();
    for (i, a) in r.attempts.iter().enumerate() {
        if i > 0 {
            targets.push(',');
        }
        targets.push_str(&a.route.label);
        targets.push('=');
        targets.push_str(a.outcome.label());
    }
    let served_route = r.attempts.iter().rev().find(|a| a.outcome == Outcome::Ok);
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    let usage = r.usage.unwrap_or_default();
    UsageRecord {
        request_id: r.request_id.clone(),
        at_ms: r.started_at_ms,
        tenant: r.tenant.map(|t| config.tenants[t].name.clone()),
        key_id: r.key_id.as_deref().map(str::to_string),
        dialect: r.api.label().to_string(),
        model: r.model.clone(),
        logical_model: r.logical.map(model_name),
        served_model: r.served.map(model_name),
        targets,
        status: r.status,
        outcome: outcome.to_string(),
        error_class: r.error.map(|c| c.label().to_string()),
        error_source: r.error_source.map(str::to_string),
        attempts: u32::try_from(r.attempts.len()).unwrap_or(u32::MAX),
        input_tokens: usage.input,
        output_tokens: usage.output,
        cache_read_tokens: usage.cache_read,
        cache_write_tokens: usage.cache_write,
        cost_nanos,
        pricing_layer: served_route.map(|a| layer_label(a.route.layer).to_string()),
        ttft_ms: ms(r.first_token),
        ttlt_ms: ms(r.last_token),
        duration_ms: r.started.elapsed().as_secs_f64() * 1000.0,
        fallback: r.served.is_some() && r.served != r.logical,
        baseline: r.baseline,
        usage_estimated: r.usage_estimated,
        disconnected: r.disconnected,
        audit_body: audit_text(r),
        guardrail: r.guardrail.map(|g| g.label().to_string()),
        cold_start_ms: ms(super::execute::cold_start_wait(
            &r.attempts,
            r.started + r.head.unwrap_or_else(|| r.started.elapsed()),
        )),
        purpose: None,
    }
}

/// The pricing layer's name in usage records.
fn layer_label(layer: strata_router::Layer) -> &'static str {
    match layer {
        strata_router::Layer::InRegion => "in_region",
        strata_router::Layer::Geography => "geography",
        strata_router::Layer::Global => "global",
    }
}

/// Feeds one record to the metrics and the usage log; returns the outcome's label.
fn account(state: &Gateway, r: &Record) -> &'static str {
    let config = &state.config;
    let outcome = match (r.error, r.disconnected) {
        (Some(class), _) => class.label(),
        (None, true) => "client_disconnected",
        (None, false) => "ok",
    };
    for a in &r.attempts {
        a.route.metrics.attempt_done(&a.route.label, a.outcome.label());
    }
    let tenant_name = r.tenant.map(|t| config.tenants[t].name.as_str());
    if let Some(m) = r.logical {
        let name = config.models[m].name.as_str();
        let metrics = &state.metrics[m];
        metrics.request_done(name, r.api, outcome, r.head.unwrap_or_else(|| r.started.elapsed()));
        if let Some(first) = r.first_token {
            metrics.first_token(name, first);
        }
        if let (Some(t), Some(u)) = (r.tenant, r.usage) {
            metrics.tokens(name, t, tenant_name.unwrap_or_default(), u);
        }
        if let Some(served) = r.served.filter(|s| *s != m) {
            crate::telemetry::fell_back(name, &config.models[served].name);
        }
        if let Some(g) = r.guardrail {
            crate::telemetry::guardrail_intervened(tenant_name.unwrap_or_default(), name, g.label());
        }
        if r.attempts.iter().any(|a| a.baseline) {
            crate::telemetry::baseline_used(name, if r.baseline { "ok" } else { "failed" });
        }
        let end = r.started + r.head.unwrap_or_else(|| r.started.elapsed());
        if let Some(waited) = super::execute::cold_start_wait(&r.attempts, end) {
            crate::telemetry::cold_start_met(name, outcome, waited);
        }
    }
    if tracing::enabled!(target: USAGE_TARGET, tracing::Level::INFO) {
        usage_log::write(usage_line(state, r, outcome, tenant_name));
    }
    outcome
}

/// The record as one line in the shape of the other log lines (`time  INFO target: message
/// key=value…`, strings quoted), written by hand: the generic field formatting cost more than
/// the rest of a relayed request.
fn usage_line(state: &Gateway, r: &Record, outcome: &str, tenant: Option<&str>) -> String {
    let config = &state.config;
    let mut line = String::with_capacity(512);
    usage_log::timestamp(&mut line);
    line.push_str("  INFO ");
    line.push_str(USAGE_TARGET);
    line.push_str(": request done request_id=");
    line.push_str(&r.request_id);
    field(&mut line, "tenant", tenant);
    field(&mut line, "key_id", r.key_id.as_deref());
    field(&mut line, "signed_region", r.signed_region.as_deref());
    field(&mut line, "dialect", Some(r.api.label()));
    field(&mut line, "model", r.model.as_deref());
    field(
        &mut line,
        "served_model",
        r.served.map(|m| config.models[m].name.as_str()),
    );
    let _ = write!(line, " status={}", r.status);
    field(&mut line, "outcome", Some(outcome));
    field(&mut line, "error_class", r.error.map(Class::label));
    field(&mut line, "error_source", r.error_source);
    let _ = write!(line, " attempts={} targets=", r.attempts.len());
    for (i, a) in r.attempts.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&a.route.label);
        line.push('=');
        line.push_str(a.outcome.label());
    }
    if let Some(u) = r.usage {
        let _ = write!(line, " tokens_in={} tokens_out={}", u.input, u.output);
    }
    for (name, d) in [
        ("ttft_ms", r.first_token),
        ("ttlt_ms", r.last_token),
        ("duration_ms", Some(r.started.elapsed())),
    ] {
        if let Some(d) = d {
            // Milliseconds with three decimals, from whole microseconds (no float formatting).
            let us = d.as_micros();
            let _ = write!(line, " {name}={}.{:03}", us / 1000, us % 1000);
        }
    }
    let flag = |b: bool| if b { "true" } else { "false" };
    for (name, value) in [
        (" fallback=", r.served.is_some() && r.served != r.logical),
        (" baseline=", r.baseline),
        (" usage_estimated=", r.usage_estimated),
        (" disconnected=", r.disconnected),
    ] {
        line.push_str(name);
        line.push_str(flag(value));
    }
    line.push('\n');
    line
}

/// ` name="value"`, when there is a value.
fn field(line: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        line.push(' ');
        line.push_str(name);
        line.push('=');
        quoted(line, v);
    }
}

/// A string value in double quotes, escaped as `{:?}` would (the common case, plain printable
/// ASCII, copied as it is).
fn quoted(line: &mut String, value: &str) {
    if value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        line.push('"');
        line.push_str(value);
        line.push('"');
    } else {
        let _ = write!(line, "{value:?}");
    }
}

/// The usage log's writer: lines go through a channel to one thread that writes what has queued
/// every 50 ms, so requests never wait on (or pay for) a write of their own.
mod usage_log {
    use std::io::Write;
    use std::sync::mpsc::{channel, Sender, TryRecvError};
    use std::time::Duration;

    /// How often queued lines are written.
    const FLUSH_EVERY: Duration = Duration::from_millis(50);
    use std::sync::OnceLock;

    static SENDER: OnceLock<Option<Sender<String>>> = OnceLock::new();

    /// Queues a line (written at once if the writer thread could not start).
    pub fn write(line: String) {
        let sender = SENDER.get_or_init(|| {
            let (tx, rx) = channel::<String>();
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
            std::thread::Builder::new()
                .name("strata-usage-log".into())
                .spawn(move || loop {
                    // Woken by a timer, never by a sender: a send then costs no system call,
                    // and a batch of lines is one write.
                    std::thread::sleep(FLUSH_EVERY);
                    let mut wrote = false;
                    loop {
                        match rx.try_recv() {
                            Ok(line) => {
                                let _ = out.write_all(line.as_bytes());
                                wrote = true;
                            }
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => {
                                let _ = out.flush();
                                return;
                            }
                        }
                    }
                    if wrote {
                        let _ = out.flush();
                    }
                })
                .ok()
                .map(|_| tx)
        });
        let line = match sender {
            Some(tx) => match tx.send(line) {
                Ok(()) => return,
                Err(unsent) => unsent.0,
            },
            None => line,
        };
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC), like the other log lines.
    pub fn timestamp(out: &mut String) {
        use std::fmt::Write as _;
        let now = std::time::SystemTime::now();
        let (year, month, day, hour, minute, second) = strata_core::clock::utc_parts(now);
        let micros = now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_micros())
            .unwrap_or(0);
        let _ = write!(
            out,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z"
        );
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn values_are_quoted_like_debug() {
            for v in ["plain", "with \"quote\"", "new\nline", "é"] {
                let mut s = String::new();
                super::super::quoted(&mut s, v);
                assert_eq!(s, format!("{v:?}"));
            }
        }

        #[test]
        fn timestamps_are_rfc3339_utc() {
            let mut s = String::new();
            super::timestamp(&mut s);
            assert_eq!(s.len(), 27, "{s}");
            assert!(
                s.starts_with("20") && s.ends_with('Z') && s.as_bytes()[10] == b'T',
                "{s}"
            );
        }
    }
}
