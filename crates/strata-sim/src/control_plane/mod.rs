//! The Bedrock control plane (service `bedrock`, `GET` calls): admission, then the answer.
//!
//! A call goes: control-plane faults (outage → 503 or a dropped connection; error rate; forced
//! throttling) → the (account, region) token bucket (→ 429 ThrottlingException "Rate exceeded")
//! → the configured delay plus any latency fault, slept asynchronously → the operation, answered
//! from one fleet snapshot. Every call is counted once in the stats, a dropped one with status 0.
//! The delay applies to error answers too (they take a round trip on the real service as well).

pub mod operations;
pub mod throttle;

use std::time::{Duration, Instant};

use axum::response::{IntoResponse, Response};
use rand::Rng;

use crate::error::AwsError;
use crate::faults::{FaultKind, OutageMode, Plane, Target};
use crate::fleet::ControlPlaneSpec;
use crate::identity::Caller;
use crate::reply::json_response;
use crate::reply::DropConnection;
use crate::state::SimState;
use crate::stats::ControlKey;
use operations::Operation;

/// Why a control-plane call is not answered normally.
#[derive(Debug)]
pub(crate) enum Refusal {
    Error(AwsError),
    Drop,
}

/// Serves one control-plane call; `path` is percent-decoded.
pub async fn handle(state: &SimState, caller: &Caller, path: &str, query: &[(String, String)]) -> Response {
    let fleet = state.fleet();
    let operation = Operation::from_path(path);
    let (requested, foundation) = operation.subject(&fleet);
    let target = Target {
        account: caller.account,
        region: &caller.region,
        requested_model: &requested,
        foundation_model: &foundation,
        plane: Plane::Control,
    };
    let settings = state.control_plane();
    let admitted = admit(state, &target, &settings, &state.control_plane_buckets);
    let delay = base_delay(&settings) + added_delay(state, &target);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let result = match admitted {
        Ok(()) => {
            // A fresh snapshot: catalog changes made while this call waited are visible.
            let fleet = state.fleet();
            operations::answer(state, &fleet, caller, operation, path, query).map_err(Refusal::Error)
        }
        Err(refusal) => Err(refusal),
    };
    let status = match &result {
        Ok(_) => 200,
        Err(Refusal::Error(e)) => e.kind.status(),
        Err(Refusal::Drop) => 0,
    };
    state.stats.count_control(ControlKey {
        account: caller.account,
        region: caller.region.clone(),
        operation: operation.name(),
        status,
    });
    match result {
        Ok(body) => json_response(body.to_string()),
        Err(Refusal::Error(e)) => e.into_response(),
        Err(Refusal::Drop) => {
            let mut response = Response::new(axum::body::Body::empty());
            response.extensions_mut().insert(DropConnection);
            response
        }
    }
}

/// Faults first (an outage answers before any quota is spent), then the rate limit, taken from
/// `buckets` (each control-plane service has its own).
pub(crate) fn admit(
    state: &SimState,
    target: &Target<'_>,
    settings: &ControlPlaneSpec,
    buckets: &throttle::ControlPlaneBuckets,
) -> Result<(), Refusal> {
    if !state.faults.is_empty() {
        if let Some(FaultKind::Outage { mode }) = state.faults.take(target, |k| matches!(k, FaultKind::Outage { .. })) {
            return Err(match mode {
                OutageMode::Drop => Refusal::Drop,
                OutageMode::Unavailable => Refusal::Error(AwsError::injected(
                    strata_core::BedrockErrorKind::ServiceUnavailableException,
                )),
            });
        }
        let injected = state.faults.take(target, |k| match k {
            FaultKind::ErrorRate { rate, .. } | FaultKind::Throttle { rate } => crate::faults::roll(*rate),
            _ => false,
        });
        match injected {
            Some(FaultKind::ErrorRate { error, .. }) => {
                let kind = strata_core::BedrockErrorKind::from_name(&error)
                    .unwrap_or(strata_core::BedrockErrorKind::InternalServerException);
                return Err(Refusal::Error(AwsError::injected(kind)));
            }
            Some(FaultKind::Throttle { .. }) => return Err(Refusal::Error(AwsError::rate_exceeded())),
            _ => {}
        }
    }
    if let Some(limit) = settings.rate_limit() {
        if !buckets.try_take(target.account, target.region, limit, Instant::now()) {
            return Err(Refusal::Error(AwsError::rate_exceeded()));
        }
    }
    Ok(())
}

/// The configured delay, scaled by a random factor in `1 ± jitter`.
pub(crate) fn base_delay(settings: &ControlPlaneSpec) -> Duration {
    if settings.latency_ms == 0 {
        return Duration::ZERO;
    }
    let ms = settings.latency_ms as f64;
    let ms = if settings.jitter > 0.0 {
        ms * (1.0 + rand::rng().random_range(-settings.jitter..=settings.jitter))
    } else {
        ms
    };
    Duration::from_secs_f64(ms.max(0.0) / 1000.0)
}

/// A latency fault's added delay (consuming one use of a counted fault).
pub(crate) fn added_delay(state: &SimState, target: &Target<'_>) -> Duration {
    if state.faults.is_empty() {
        return Duration::ZERO;
    }
    match state.faults.take(target, |k| matches!(k, FaultKind::Latency { .. })) {
        Some(FaultKind::Latency { added_ms }) => Duration::from_millis(added_ms),
        _ => Duration::ZERO,
    }
}

/// A control-plane operation's answer (an AWS error as its response), counted in the stats
/// under the caller's account and region with the status it has.
pub(crate) fn counted(
    state: &crate::state::SimState,
    caller: &crate::identity::Caller,
    operation: &'static str,
    result: Result<axum::response::Response, crate::error::AwsError>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = match &result {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.kind.status(),
    };
    state.stats.count_control(crate::stats::ControlKey {
        account: caller.account,
        region: caller.region.clone(),
        operation,
        status,
    });
    match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_stays_within_jitter() {
        let settings = ControlPlaneSpec {
            latency_ms: 100,
            jitter: 0.1,
            ..ControlPlaneSpec::default()
        };
        for _ in 0..100 {
            let d = base_delay(&settings).as_secs_f64() * 1000.0;
            assert!((90.0 - 1e-6..=110.0 + 1e-6).contains(&d), "{d}");
        }
        assert!(base_delay(&ControlPlaneSpec::default()).is_zero());
    }
}
