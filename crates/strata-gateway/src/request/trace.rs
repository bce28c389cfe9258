//! A request's spans, after the OpenTelemetry GenAI semantic conventions: one SERVER span per
//! model request (`{gen_ai.operation.name} {gen_ai.request.model}`) with an `admit` and a
//! `route` child and one CLIENT `attempt` child per upstream attempt.
//!
//! The request's span is started when it arrives (which decides sampling: an unsampled request
//! gets no [`RequestTrace`] and notes nothing); on its way the request only notes times; the
//! attributes and children are added once, by the account layer when the request ends (a stream:
//! when it ends or the client leaves), from its [`Record`], so they are the ones the usage record
//! holds. Never prompt or completion text: counts, names, classes and labels only.

use std::time::{Instant, SystemTime};

use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};

use super::account::Record;
use super::execute::{Attempt, Outcome};
use super::route::Plan;
use super::Gateway;
use crate::call::{Api, Call};
use crate::config::Target;
use crate::error::{Class, GatewayError};
use crate::traces::Traces;
use strata_aws::RuntimeOperation;

/// What a sampled request notes on its way for its spans.
#[derive(Debug)]
pub struct RequestTrace {
    /// The request's own span (started when the request arrived), in the caller's trace
    /// (`traceparent`) or a new one.
    cx: Context,
    /// The wall-clock time of the record's `started`.
    started_at: SystemTime,
    operation: Option<&'static str>,
    max_tokens: Option<i64>,
    temperature: Option<f64>,
    route: Option<Phase>,
    admit: Option<Phase>,
}

/// One step of the request path: when it ran and how it ended.
#[derive(Debug)]
struct Phase {
    start: Instant,
    end: Instant,
    /// Routing: the candidates it found; admission: nothing.
    found: Option<usize>,
    error: Option<Class>,
}

impl RequestTrace {
    /// Starts the request's span (the request arrived at `started`), in the caller's trace if
    /// it sent one. `None` when the trace is not sampled: the request then notes nothing.
    pub fn begin(traces: &Traces, headers: &http::HeaderMap, started: Instant) -> Option<Box<RequestTrace>> {
        let started_at = SystemTime::now()
            .checked_sub(started.elapsed())
            .unwrap_or_else(SystemTime::now);
        let parent = traces.parent(headers);
        let tracer = traces.tracer();
        // Named once the call is known (`update_name` at the end).
        let root = tracer
            .span_builder("request")
            .with_kind(SpanKind::Server)
            .with_start_time(started_at)
            .start_with_context(tracer, &parent);
        if !root.is_recording() {
            return None;
        }
        Some(Box::new(RequestTrace {
            cx: parent.with_span(root),
            started_at,
            operation: None,
            max_tokens: None,
            temperature: None,
            route: None,
            admit: None,
        }))
    }

    /// The call is decoded: what it asks (its output limit and temperature, when given).
    pub fn decoded(&mut self, call: &Call) {
        self.operation = Some(operation(call));
        if call.embedding.is_some() {
            return;
        }
        // Only these knobs are read (the rest of the body is skipped, never kept).
        #[derive(serde::Deserialize)]
        struct Knobs {
            #[serde(rename = "inferenceConfig")]
            inference: Option<Inference>,
            max_tokens: Option<i64>,
            temperature: Option<f64>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Inference {
            max_tokens: Option<i64>,
            temperature: Option<f64>,
        }
        if let Ok(k) = serde_json::from_slice::<Knobs>(&call.body) {
            let inference = k.inference.as_ref();
            self.max_tokens = inference.and_then(|i| i.max_tokens).or(k.max_tokens);
            self.temperature = inference.and_then(|i| i.temperature).or(k.temperature);
        }
    }

    /// Routing (from `start`) ended in `plan`.
    pub fn routed(&mut self, start: Instant, plan: Result<&Plan, &GatewayError>) {
        self.route = Some(Phase {
            start,
            end: Instant::now(),
            found: plan.ok().map(|p| p.groups.iter().map(|g| g.routes.len()).sum()),
            error: plan.err().map(|e| e.class),
        });
    }

    /// Admission (from `start`) ended, refused with `error` or not.
    pub fn admitted(&mut self, start: Instant, error: Option<Class>) {
        self.admit = Some(Phase {
            start,
            end: Instant::now(),
            found: None,
            error,
        });
    }
}

/// Now, when the request is traced (to time a step); nothing otherwise.
pub fn clock(trace: &Option<Box<RequestTrace>>) -> Option<Instant> {
    trace.as_ref().map(|_| Instant::now())
}

/// The GenAI operation a call is.
fn operation(call: &Call) -> &'static str {
    if call.embedding.is_some() || call.api == Api::Embeddings {
        return "embeddings";
    }
    match call.operation {
        RuntimeOperation::Converse | RuntimeOperation::ConverseStream => "chat",
        RuntimeOperation::InvokeModel | RuntimeOperation::InvokeModelWithResponseStream => "text_completion",
        RuntimeOperation::CountTokens => "count_tokens",
    }
}

/// The operation of a request that failed before it was decoded.
fn default_operation(api: Api) -> &'static str {
    match api {
        Api::Embeddings => "embeddings",
        _ => "chat",
    }
}

/// `gen_ai.system` of a target.
fn system(target: &Target) -> &'static str {
    match target {
        Target::Bedrock { .. } => "aws.bedrock",
        Target::OpenAi { .. } => "openai",
    }
}

/// The kind of target an attempt went to.
fn target_kind(a: &Attempt) -> &'static str {
    if matches!(a.route.target, Target::OpenAi { .. }) {
        return "openai_compatible";
    }
    if a.route.warmth.is_some() {
        return "imported";
    }
    match a.route.layer {
        strata_router::Layer::InRegion => "in_region",
        strata_router::Layer::Geography => "geography",
        strata_router::Layer::Global => "global",
    }
}

/// The host an attempt was sent to.
fn server_address(state: &Gateway, target: &Target) -> Option<String> {
    let url = match target {
        Target::Bedrock { region, .. } => match &state.config.aws.endpoint_url {
            Some(url) => url.clone(),
            None => return Some(format!("bedrock-runtime.{region}.amazonaws.com")),
        },
        Target::OpenAi { provider, .. } => state.config.providers.get(*provider)?.base_url.clone(),
    };
    let uri: http::Uri = url.parse().ok()?;
    uri.host().map(str::to_string)
}

/// Exports the request's spans (the account layer calls this once, as the request ends).
pub fn export(state: &Gateway, traces: &Traces, trace: &RequestTrace, r: &Record, outcome: &str) {
    let tracer = traces.tracer();
    let at = |i: Instant| trace.started_at + i.saturating_duration_since(r.started);
    let operation = trace.operation.unwrap_or_else(|| default_operation(r.api));
    let name = match &r.model {
        Some(model) => format!("{operation} {model}"),
        None => operation.to_string(),
    };
    let cx = &trace.cx;
    let span = cx.span();
    span.update_name(name);
    let config = &state.config;
    let served = r.attempts.iter().rev().find(|a| a.outcome == Outcome::Ok);
    let mut attributes = vec![
        KeyValue::new("gen_ai.operation.name", operation),
        KeyValue::new("strata.request_id", r.request_id.clone()),
        KeyValue::new("strata.dialect", r.api.label()),
        KeyValue::new("strata.outcome", outcome.to_string()),
        KeyValue::new("strata.attempts", r.attempts.len() as i64),
    ];
    let answered_by = served.or(r.attempts.first()).map(|a| system(&a.route.target));
    let answered_by = answered_by.unwrap_or("aws.bedrock");
    // `gen_ai.provider.name` is the newer conventions' name for `gen_ai.system`.
    attributes.push(KeyValue::new("gen_ai.system", answered_by));
    attributes.push(KeyValue::new("gen_ai.provider.name", answered_by));
    if r.status != 0 {
        attributes.push(KeyValue::new("http.response.status_code", i64::from(r.status)));
    }
    if let Some(model) = &r.model {
        attributes.push(KeyValue::new("gen_ai.request.model", model.clone()));
    }
    if let Some(m) = r.logical.and_then(|m| config.models.get(m)) {
        attributes.push(KeyValue::new("strata.model", m.name.clone()));
    }
    if let Some(t) = r.tenant.and_then(|t| config.tenants.get(t)) {
        attributes.push(KeyValue::new("strata.tenant", t.name.clone()));
    }
    if let Some(a) = served {
        attributes.push(KeyValue::new("gen_ai.response.model", a.route.model_id().to_string()));
        attributes.push(KeyValue::new("strata.route", a.route.label.clone()));
    }
    if let Some(v) = trace.max_tokens {
        attributes.push(KeyValue::new("gen_ai.request.max_tokens", v));
    }
    if let Some(v) = trace.temperature {
        attributes.push(KeyValue::new("gen_ai.request.temperature", v));
    }
    if let Some(u) = r.usage {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        attributes.push(KeyValue::new("gen_ai.usage.input_tokens", count(u.input)));
        attributes.push(KeyValue::new("gen_ai.usage.output_tokens", count(u.output)));
        if u.cache_read > 0 {
            attributes.push(KeyValue::new(
                "gen_ai.usage.cache_read_input_tokens",
                count(u.cache_read),
            ));
        }
        if u.cache_write > 0 {
            attributes.push(KeyValue::new(
                "gen_ai.usage.cache_creation_input_tokens",
                count(u.cache_write),
            ));
        }
        if r.usage_estimated {
            attributes.push(KeyValue::new("strata.usage_estimated", true));
        }
    }
    if r.served.is_some() && r.served != r.logical {
        attributes.push(KeyValue::new("strata.fallback", true));
    }
    if r.baseline {
        attributes.push(KeyValue::new("strata.baseline", true));
    }
    if r.disconnected {
        attributes.push(KeyValue::new("strata.client_disconnected", true));
    }
    if let Some(first) = r.first_token {
        attributes.push(KeyValue::new(
            "strata.time_to_first_token_ms",
            first.as_secs_f64() * 1000.0,
        ));
    }
    if let Some(class) = r.error {
        attributes.push(KeyValue::new("error.type", class.label()));
        // The class only: an error's message may quote the prompt.
        span.set_status(Status::error(class.label()));
    }
    span.set_attributes(attributes);

    for (name, phase) in [("route", &trace.route), ("admit", &trace.admit)] {
        let Some(phase) = phase else { continue };
        let mut child = tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .with_start_time(at(phase.start))
            .start_with_context(tracer, cx);
        if let Some(n) = phase.found {
            child.set_attribute(KeyValue::new("strata.candidates", n as i64));
        }
        if let Some(class) = phase.error {
            child.set_attribute(KeyValue::new("error.type", class.label()));
            child.set_status(Status::error(class.label()));
        }
        child.end_with_timestamp(at(phase.end));
    }
    for a in &r.attempts {
        let mut child = tracer
            .span_builder("attempt")
            .with_kind(SpanKind::Client)
            .with_start_time(at(a.started))
            .start_with_context(tracer, cx);
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", operation),
            KeyValue::new("gen_ai.system", system(&a.route.target)),
            KeyValue::new("gen_ai.provider.name", system(&a.route.target)),
            KeyValue::new("gen_ai.request.model", a.route.model_id().to_string()),
            KeyValue::new("strata.target", a.route.label.clone()),
            KeyValue::new("strata.target_kind", target_kind(a)),
            KeyValue::new("strata.outcome", a.outcome.label()),
        ];
        if let Some(m) = config.models.get(a.model) {
            attributes.push(KeyValue::new("strata.model", m.name.clone()));
        }
        match &a.route.target {
            Target::Bedrock { account, region, .. } => {
                attributes.push(KeyValue::new("cloud.provider", "aws"));
                attributes.push(KeyValue::new("cloud.region", region.to_string()));
                if let Some(account) = config.accounts.get(*account) {
                    attributes.push(KeyValue::new("strata.account", account.name.clone()));
                    if let Some(id) = &account.id {
                        attributes.push(KeyValue::new("cloud.account.id", id.to_string()));
                    }
                }
            }
            Target::OpenAi { provider, .. } => {
                if let Some(p) = config.providers.get(*provider) {
                    attributes.push(KeyValue::new("strata.provider", p.name.clone()));
                }
            }
        }
        if let Some(host) = server_address(state, &a.route.target) {
            attributes.push(KeyValue::new("server.address", host));
        }
        if a.baseline {
            attributes.push(KeyValue::new("strata.baseline", true));
        }
        if let Outcome::Failed(_) = a.outcome {
            attributes.push(KeyValue::new("error.type", a.outcome.label()));
            child.set_status(Status::error(a.outcome.label()));
        }
        child.set_attributes(attributes);
        child.end_with_timestamp(at(a.ended));
    }
    span.end_with_timestamp(at(r.started) + r.started.elapsed());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TracesSettings;

    #[test]
    fn an_unsampled_request_notes_nothing_and_a_sampled_caller_is_followed() {
        let traces = Traces::start(
            Some(&TracesSettings {
                endpoint: Some("http://127.0.0.1:9/v1/traces".into()),
                sample_ratio: 0.0,
                ..TracesSettings::default()
            }),
            |_| None,
        )
        .unwrap()
        .unwrap();
        let now = Instant::now();
        assert!(RequestTrace::begin(&traces, &http::HeaderMap::new(), now).is_none());
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let trace = RequestTrace::begin(&traces, &headers, now).unwrap();
        assert_eq!(
            trace.cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // The caller said "not sampled": neither is the request.
        headers.insert(
            "traceparent",
            http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
        );
        assert!(RequestTrace::begin(&traces, &headers, now).is_none());
        drop(trace);
        traces.shutdown();
    }
}
