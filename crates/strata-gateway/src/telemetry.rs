//! Metrics: names as constants in one place, one global Prometheus recorder, and the typed events
//! the request path emits.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Requests answered, by logical model, API and outcome (`ok` or an error class).
pub const REQUESTS: &str = "strata_requests_total";
/// Upstream attempts, by route label and outcome.
pub const ATTEMPTS: &str = "strata_upstream_attempts_total";
/// Request duration in seconds (to the answer's head), by logical model.
pub const REQUEST_SECONDS: &str = "strata_request_duration_seconds";
/// Requests answered by a fallback model rather than the one asked for.
pub const FALLBACKS: &str = "strata_fallbacks_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process and returns its handle (None if another
/// recorder was installed first).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(REQUEST_SECONDS.to_string()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    ],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// The text exposition of every metric.
pub fn render() -> String {
    prometheus().map(|h| h.render()).unwrap_or_default()
}

/// One request's end.
pub fn request_done(model: &str, api: &'static str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(REQUESTS, "model" => model.to_string(), "api" => api, "outcome" => outcome).increment(1);
    metrics::histogram!(REQUEST_SECONDS, "model" => model.to_string()).record(elapsed.as_secs_f64());
}

/// One upstream attempt's end.
pub fn attempt_done(route: &str, outcome: &'static str) {
    metrics::counter!(ATTEMPTS, "route" => route.to_string(), "outcome" => outcome).increment(1);
}

/// A request answered by a fallback model.
pub fn fell_back(from: &str, to: &str) {
    metrics::counter!(FALLBACKS, "from" => from.to_string(), "to" => to.to_string()).increment(1);
}
