//! Keep-warm: Bedrock evicts an imported model's copies after an idle period, and the next call
//! then waits minutes for a cold start. For logical models with `keep_warm`, a background loop
//! sends each of their imported-model targets a minimal InvokeModel whenever nothing answered
//! there for the interval (real traffic that kept a target warm makes the call unnecessary), and
//! polls a loading target until it answers. Each call is written to the usage store marked
//! `purpose = keep_warm`, counted in `strata_keep_warm_calls_total`, and recorded in the target's
//! [`Warmth`](strata_router::Warmth), which the admin API, the dashboard and
//! `strata_custom_model_state` show.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use strata_aws::RuntimeOperation;
use strata_core::{Catalog, ErrorClass, ModelRef};
use strata_router::WarmthView;
use strata_store::{UsageRecord, PURPOSE_KEEP_WARM};

use crate::call::{Api, Call, Estimate, Usage};
use crate::config::Target;
use crate::error::Class;
use crate::request::Gateway;
use crate::routes::Route;
use crate::upstream::{Answer, Upstream};

/// The loop's tick bounds: a tenth of the shortest interval, within these.
const MIN_TICK: Duration = Duration::from_millis(50);
const MAX_TICK: Duration = Duration::from_secs(5);

/// Runs until `stop` says so; `current` gives the gateway requests use now and the latest
/// catalog (both are swapped while it runs).
pub async fn run(current: impl Fn() -> (Arc<Gateway>, Arc<Catalog>), mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let (gateway, catalog) = current();
        let tick = sweep(&gateway, &catalog);
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One pass: publishes every imported-model target's state and starts the keep-warm calls due.
/// Returns how long to wait before the next pass.
fn sweep(gateway: &Arc<Gateway>, catalog: &Catalog) -> Duration {
    let now = Instant::now();
    let cold_start = gateway.policy.cold_start;
    let table = gateway.routes.load_full();
    let mut shown: HashSet<&str> = HashSet::new();
    let mut tick = MAX_TICK;
    for (m, model) in gateway.config.models.iter().enumerate() {
        let Some(routes) = table.models.get(m) else {
            continue;
        };
        for route in routes.routes.iter().chain(&routes.baseline) {
            let Some(warmth) = &route.warmth else {
                continue;
            };
            if shown.insert(route.label.as_str()) {
                crate::telemetry::custom_model_state(&route.label, warmth.state(now, cold_start.evicted_after));
            }
            let Some(keep) = &model.keep_warm else {
                continue;
            };
            tick = tick.min(keep.interval / 10);
            if warmth.take_ping(now, keep.interval, cold_start.backoff.max) {
                let body = keep
                    .body
                    .clone()
                    .unwrap_or_else(|| default_body(architecture(catalog, route)));
                tokio::spawn(ping(Arc::clone(gateway), m, Arc::clone(route), body));
            }
        }
    }
    tick.clamp(MIN_TICK, MAX_TICK)
}

/// The imported model's architecture, as discovery listed it.
fn architecture<'c>(catalog: &'c Catalog, route: &Route) -> Option<&'c str> {
    let Target::Bedrock { model_id, .. } = &route.target else {
        return None;
    };
    let Ok(ModelRef::Imported { region, .. }) = ModelRef::parse(model_id) else {
        return None;
    };
    catalog
        .scans()
        .filter(|s| s.region == region)
        .find_map(|s| s.imported.models()?.get(model_id.as_str()))
        .and_then(|m| m.architecture.as_deref())
}

/// A one-token generation in the native body of the model's architecture: Llama's
/// `max_gen_len`, else `max_tokens` (Mistral, Qwen and the OpenAI-style bodies of the others).
pub fn default_body(architecture: Option<&str>) -> Bytes {
    let llama = architecture.is_none_or(|a| a.to_ascii_lowercase().contains("llama"));
    let body = if llama {
        serde_json::json!({"prompt": "Hi", "max_gen_len": 1})
    } else {
        serde_json::json!({"prompt": "Hi", "max_tokens": 1})
    };
    Bytes::from(body.to_string())
}

/// One keep-warm call on `route` for the logical model `model`.
async fn ping(gateway: Arc<Gateway>, model: usize, route: Arc<Route>, body: Bytes) {
    let Some(warmth) = route.warmth.clone() else {
        return;
    };
    let name = gateway.config.models[model].name.clone();
    let started = Instant::now();
    let at_ms = crate::tenants::keys::now_ms();
    let call = Call {
        api: Api::Bedrock,
        model: name.clone(),
        operation: RuntimeOperation::InvokeModel,
        body,
        translation: None,
        content_type: Some("application/json".into()),
        accept: Some("application/json".into()),
        openai: None,
        embedding: None,
        estimate: Estimate { input: 1, output: 1 },
    };
    let deadline = started + gateway.policy.deadline;
    let result = {
        let _in_flight = route.health.start();
        gateway.upstreams.call(&route.target, &call, None, deadline).await
    };
    let ended = Instant::now();
    let (status, usage, error) = match result {
        Ok(answer) => {
            warmth.answered(ended, true);
            let usage = match &answer {
                Answer::Complete(reply) => reply.header_usage,
                Answer::Stream(_) => None,
            };
            (200, usage, None)
        }
        Err(e) => {
            if e.class == ErrorClass::ColdStart {
                warmth.not_ready(ended, true);
            } else {
                warmth.invoked(ended);
            }
            (e.status.unwrap_or(0), None, Some(Class::of_upstream(e.class)))
        }
    };
    warmth.ping_done();
    let outcome = error.map_or(crate::telemetry::OK, Class::label);
    crate::telemetry::keep_warm_called(&name, &route.label, outcome);
    tracing::info!(model = %name, target = %route.label, outcome, "keep-warm call");
    let usage = usage.unwrap_or_default();
    if gateway.config.usage_records {
        let record = record(&name, &route, at_ms, status, outcome, error, usage, ended - started);
        gateway.usage.slot().await.send(record);
    }
}

/// The usage record of a keep-warm call: no tenant, no key, `purpose = keep_warm`.
#[allow(clippy::too_many_arguments)]
fn record(
    model: &str,
    route: &Route,
    at_ms: i64,
    status: u16,
    outcome: &str,
    error: Option<Class>,
    usage: Usage,
    took: Duration,
) -> UsageRecord {
    let cost = crate::request::admit::real_cost(route, usage).unwrap_or(0);
    UsageRecord {
        request_id: strata_http::new_request_id(),
        at_ms,
        dialect: Api::Bedrock.label().to_string(),
        model: Some(model.to_string()),
        logical_model: Some(model.to_string()),
        served_model: error.is_none().then(|| model.to_string()),
        targets: format!("{}={outcome}", route.label),
        status,
        outcome: outcome.to_string(),
        error_class: error.map(|c| c.label().to_string()),
        error_source: error.map(|_| "upstream".to_string()),
        attempts: 1,
        input_tokens: usage.input,
        output_tokens: usage.output,
        cost_nanos: cost,
        duration_ms: took.as_secs_f64() * 1000.0,
        purpose: Some(PURPOSE_KEEP_WARM.to_string()),
        ..UsageRecord::default()
    }
}

/// One imported-model target of a logical model, as `GET /admin/custom-models` shows it.
#[derive(Debug, Serialize)]
pub struct TargetWarmth {
    pub model: String,
    pub target: String,
    pub account: String,
    pub region: String,
    pub model_id: String,
    /// The keep-warm interval, when keep-warm is on for the logical model.
    pub keep_warm_interval_ms: Option<u64>,
    #[serde(flatten)]
    pub warmth: WarmthView,
}

/// Every imported-model target of every logical model, with its state.
pub fn report(gateway: &Gateway) -> Vec<TargetWarmth> {
    let now = Instant::now();
    let evicted_after = gateway.policy.cold_start.evicted_after;
    let table = gateway.routes.load_full();
    let mut out = Vec::new();
    for (m, model) in gateway.config.models.iter().enumerate() {
        let Some(routes) = table.models.get(m) else {
            continue;
        };
        for route in routes.routes.iter().chain(&routes.baseline) {
            let (
                Some(warmth),
                Target::Bedrock {
                    account,
                    region,
                    model_id,
                },
            ) = (&route.warmth, &route.target)
            else {
                continue;
            };
            out.push(TargetWarmth {
                model: model.name.clone(),
                target: route.label.clone(),
                account: gateway
                    .config
                    .accounts
                    .get(*account)
                    .map_or_else(String::new, |a| a.name.clone()),
                region: region.to_string(),
                model_id: model_id.clone(),
                keep_warm_interval_ms: model.keep_warm.as_ref().map(|k| k.interval.as_millis() as u64),
                warmth: warmth.view(now, evicted_after),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_body_follows_the_architecture() {
        let body = |a| serde_json::from_slice::<serde_json::Value>(&default_body(a)).unwrap();
        assert_eq!(body(None)["max_gen_len"], 1);
        assert_eq!(body(Some("LLama3"))["max_gen_len"], 1);
        assert_eq!(body(Some("mistral"))["max_tokens"], 1);
        assert_eq!(body(Some("qwen2"))["max_tokens"], 1);
        assert!(body(Some("qwen2")).get("max_gen_len").is_none());
    }
}
