//! A request's spans, built and exported once by the account layer as the request ends, from
//! its [`Record`] and what [`RequestTrace`] noted on the way (see [`super::trace`]).

use std::time::Instant;

use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::KeyValue;

use super::execute::Outcome;
use super::record::Record;
use super::trace::RequestTrace;
use super::Gateway;
use crate::call::Api;
use crate::config::Target;
use crate::traces::Traces;

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
            KeyValue::new("strata.target_kind", a.route.kind()),
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
