//! OpenTelemetry traces over OTLP/HTTP (protobuf): the exporter's life (started with the
//! gateway, flushed at shutdown) and the W3C `traceparent` a request may continue. Which spans a
//! request makes is the account layer's business (`request/trace.rs`): it builds them once, when
//! the request ends, from what the request recorded.
//!
//! Off unless `telemetry.traces` is configured or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`OTEL_SDK_DISABLED=true` or `enabled: false` keeps it
//! off). Off, a request pays one `Option` check.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::config::TracesSettings;

/// The service name when neither the config nor `OTEL_SERVICE_NAME` gives one.
pub const DEFAULT_SERVICE_NAME: &str = "strata";

/// The instrumentation scope of the gateway's spans.
const SCOPE: &str = "strata-gateway";

/// How long shutdown waits for the last spans to be sent.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// The exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("traces: {0}")]
pub struct TracesError(String);

/// A running exporter and the tracer requests use.
pub struct Traces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traces").finish_non_exhaustive()
    }
}

impl Traces {
    /// Starts the exporter when traces are on (`settings` from the config, `env` reads the
    /// process environment); `Ok(None)` when they are off.
    pub fn start(
        settings: Option<&TracesSettings>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Traces>, TracesError> {
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
            || set("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim().eq_ignore_ascii_case("none"))
        {
            return Ok(None);
        }
        let from_env =
            set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some() || set("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
        let settings = match settings {
            Some(s) if !s.enabled => return Ok(None),
            Some(s) => s.clone(),
            None if from_env => TracesSettings::default(),
            None => return Ok(None),
        };
        let endpoint = endpoint(&settings, set)?;
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint.clone());
        if !settings.headers.is_empty() {
            exporter = exporter.with_headers(settings.headers.iter().cloned().collect::<HashMap<_, _>>());
        }
        let exporter = exporter.build().map_err(|e| TracesError(e.to_string()))?;
        let service_name = settings
            .service_name
            .clone()
            .or_else(|| set("OTEL_SERVICE_NAME"))
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string());
        let resource = Resource::builder()
            .with_service_name(service_name)
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        // A caller's sampling decision is followed; new traces are kept at the ratio.
        let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)));
        // The batch processor sends from its own thread (every OTEL_BSP_SCHEDULE_DELAY, 5 s by
        // default, or when a batch is full), never from a request.
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer(SCOPE);
        tracing::info!(%endpoint, "traces: exporting spans over OTLP/HTTP");
        Ok(Some(Traces {
            provider,
            tracer,
            propagator: TraceContextPropagator::new(),
        }))
    }

    /// The tracer requests start their spans with.
    pub fn tracer(&self) -> &SdkTracer {
        &self.tracer
    }

    /// The trace a request continues: its W3C `traceparent` (and `tracestate`), or a new one.
    pub fn parent(&self, headers: &http::HeaderMap) -> opentelemetry::Context {
        if headers.contains_key("traceparent") {
            self.propagator.extract(&opentelemetry_http::HeaderExtractor(headers))
        } else {
            opentelemetry::Context::new()
        }
    }

    /// Sends the spans still queued and stops the exporter (blocking: the batch thread is
    /// joined; call it off the async workers).
    pub fn shutdown(&self) {
        match self.provider.shutdown_with_timeout(SHUTDOWN_DEADLINE) {
            Ok(()) => tracing::info!("traces: exporter stopped (queued spans sent or given up)"),
            Err(e) => tracing::warn!(error = %e, "traces: the last spans could not all be sent"),
        }
    }
}

/// Where spans go: the config's URL, else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is), else
/// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else the OTLP default.
fn endpoint(settings: &TracesSettings, env: impl Fn(&str) -> Option<String>) -> Result<String, TracesError> {
    if let Some(url) = &settings.endpoint {
        return Ok(url.clone());
    }
    let bad = |name: &str, value: &str, why: &str| TracesError(format!("{name}: '{value}' {why}"));
    if let Some(url) = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        let name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
        // Used as it is (the specification's rule for a signal's own endpoint), once checked.
        return crate::config::telemetry::traces_url(&url)
            .map(|_| url.trim().to_string())
            .map_err(|why| bad(name, &url, why));
    }
    let base = env("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    crate::config::telemetry::traces_url(&base).map_err(|why| bad("OTEL_EXPORTER_OTLP_ENDPOINT", &base, why))
}

/// The collector's address when nothing names one (OTLP/HTTP's default).
const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_unless_configured_or_asked_by_the_environment() {
        let none = |_: &str| None;
        assert!(Traces::start(None, none).unwrap().is_none());
        let disabled = |name: &str| (name == "OTEL_SDK_DISABLED").then(|| "true".to_string());
        assert!(Traces::start(Some(&TracesSettings::default()), disabled)
            .unwrap()
            .is_none());
        let from_env = |name: &str| (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://127.0.0.1:9".to_string());
        let off = TracesSettings {
            enabled: false,
            ..TracesSettings::default()
        };
        assert!(Traces::start(Some(&off), from_env).unwrap().is_none());
    }

    #[test]
    fn a_bad_endpoint_from_the_environment_is_named() {
        let env = |name: &str| (name == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").then(|| "collector:4318".to_string());
        let err = Traces::start(None, env).unwrap_err().to_string();
        assert!(
            err.contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4318'"),
            "{err}"
        );
    }

    #[test]
    fn the_endpoint_comes_from_the_config_then_the_environment() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        };
        let configured = TracesSettings {
            endpoint: Some("http://c:4318/v1/traces".into()),
            ..TracesSettings::default()
        };
        let both = vars(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:2"),
        ]);
        let defaults = TracesSettings::default();
        assert_eq!(endpoint(&configured, both).unwrap(), "http://c:4318/v1/traces");
        assert_eq!(endpoint(&defaults, both).unwrap(), "http://t:1/custom");
        let base = vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:2/")]);
        assert_eq!(endpoint(&defaults, base).unwrap(), "http://base:2/v1/traces");
        assert_eq!(
            endpoint(&defaults, |_| None).unwrap(),
            "http://localhost:4318/v1/traces"
        );
    }

    #[test]
    fn a_caller_traceparent_is_continued() {
        let traces = Traces::start(
            Some(&TracesSettings {
                endpoint: Some("http://127.0.0.1:9/v1/traces".into()),
                ..TracesSettings::default()
            }),
            |_| None,
        )
        .unwrap()
        .unwrap();
        use opentelemetry::trace::TraceContextExt as _;
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let cx = traces.parent(&headers);
        let span = cx.span();
        let parent = span.span_context();
        assert_eq!(parent.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(parent.is_remote() && parent.is_sampled());
        assert!(!traces.parent(&http::HeaderMap::new()).has_active_span());
        traces.shutdown();
    }
}
