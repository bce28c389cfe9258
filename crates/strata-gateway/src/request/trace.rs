//! A request's spans, after the OpenTelemetry GenAI semantic conventions: one SERVER span per
//! model request (`{gen_ai.operation.name} {gen_ai.request.model}`) with an `admit` and a
//! `route` child and one CLIENT `attempt` child per upstream attempt. This module notes what a
//! request's spans need on its way; [`super::spans`] builds and exports them at its end.
//!
//! The request's span is started when it arrives (which decides sampling: an unsampled request
//! gets no [`RequestTrace`] and notes nothing); on its way the request only notes times; the
//! attributes and children are added once, by the account layer when the request ends (a stream:
//! when it ends or the client leaves), from its [`Record`], so they are the ones the usage record
//! holds. Never prompt or completion text: counts, names, classes and labels only.

use std::time::{Instant, SystemTime};

use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry::Context;

use super::route::Plan;
use crate::call::{Api, Call, Knobs};
use crate::error::{Class, GatewayError};
use crate::traces::Traces;
use strata_aws::RuntimeOperation;

/// What a sampled request notes on its way for its spans.
#[derive(Debug)]
pub struct RequestTrace {
    /// The request's own span (started when the request arrived), in the caller's trace
    /// (`traceparent`) or a new one.
    pub(super) cx: Context,
    /// The wall-clock time of the record's `started`.
    pub(super) started_at: SystemTime,
    pub(super) operation: Option<&'static str>,
    pub(super) max_tokens: Option<i64>,
    pub(super) temperature: Option<f64>,
    pub(super) route: Option<Phase>,
    pub(super) admit: Option<Phase>,
}

/// One step of the request path: when it ran and how it ended.
#[derive(Debug)]
pub(super) struct Phase {
    pub(super) start: Instant,
    pub(super) end: Instant,
    /// Routing: the candidates it found; admission: nothing.
    pub(super) found: Option<usize>,
    pub(super) error: Option<Class>,
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
        let knobs = match &call.translation {
            Some(t) => t.knobs(),
            None => body_knobs(&call.body),
        };
        self.max_tokens = knobs.max_tokens;
        self.temperature = knobs.temperature;
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

/// The output limit and temperature a body names: Converse's `inferenceConfig`, or an
/// InvokeModel body's top-level fields. Only these are read (the rest is skipped, never kept).
fn body_knobs(body: &[u8]) -> Knobs {
    #[derive(serde::Deserialize)]
    struct Read {
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
    let Ok(k) = serde_json::from_slice::<Read>(body) else {
        return Knobs::default();
    };
    let inference = k.inference.as_ref();
    Knobs {
        max_tokens: inference.and_then(|i| i.max_tokens).or(k.max_tokens),
        temperature: inference.and_then(|i| i.temperature).or(k.temperature),
    }
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
