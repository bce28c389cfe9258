//! The fleet file's `control_plane` section: how slow the Bedrock control plane answers and how
//! many calls per second each account may make in each region (AWS's control-plane quotas are
//! per account per region). The default is what the emulator always did: no delay, no limit.
//!
//! Invariant: a checked spec has `0 ≤ jitter ≤ 1`, a finite `rps > 0` when set, `burst ≥ 1`
//! when set, and no `burst` without `rps`.

use serde::{Deserialize, Serialize};

/// Control-plane latency and throttling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPlaneSpec {
    /// Delay before every control-plane answer.
    #[serde(default)]
    pub latency_ms: u64,
    /// The delay is scaled by a random factor in `1 ± jitter`.
    #[serde(default)]
    pub jitter: f64,
    /// Sustained calls per second per (account, region); absent means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps: Option<f64>,
    /// Calls allowed at once from a full bucket; defaults to `rps` rounded up (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

/// A token-bucket rate: refill per second and capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl ControlPlaneSpec {
    /// Checks the values make sense; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(format!(
                "control_plane.jitter must be between 0 and 1, got {}",
                self.jitter
            ));
        }
        match (self.rps, self.burst) {
            (Some(rps), _) if !(rps.is_finite() && rps > 0.0) => {
                Err(format!("control_plane.rps must be a positive number, got {rps}"))
            }
            (_, Some(0)) => Err("control_plane.burst must be at least 1".into()),
            (None, Some(_)) => Err("control_plane.burst needs control_plane.rps".into()),
            _ => Ok(()),
        }
    }

    /// The rate limit, if any.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        let per_second = self.rps?;
        let burst = match self.burst {
            Some(b) => f64::from(b),
            None => per_second.ceil().max(1.0),
        };
        Some(RateLimit { per_second, burst })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_no_delay_and_no_limit() {
        let spec = ControlPlaneSpec::default();
        assert!(spec.check().is_ok());
        assert_eq!(spec.latency_ms, 0);
        assert!(spec.rate_limit().is_none());
    }

    #[test]
    fn burst_defaults_to_rps_rounded_up() {
        let spec: ControlPlaneSpec = serde_json::from_str(r#"{"rps": 2.5}"#).unwrap();
        assert_eq!(
            spec.rate_limit(),
            Some(RateLimit {
                per_second: 2.5,
                burst: 3.0
            })
        );
        let spec: ControlPlaneSpec = serde_json::from_str(r#"{"rps": 0.2}"#).unwrap();
        assert_eq!(spec.rate_limit().unwrap().burst, 1.0);
        let spec: ControlPlaneSpec = serde_json::from_str(r#"{"rps": 10, "burst": 20}"#).unwrap();
        assert_eq!(spec.rate_limit().unwrap().burst, 20.0);
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            r#"{"jitter": 1.5}"#,
            r#"{"rps": 0}"#,
            r#"{"rps": -1}"#,
            r#"{"rps": 5, "burst": 0}"#,
            r#"{"burst": 5}"#,
        ] {
            let spec: ControlPlaneSpec = serde_json::from_str(bad).unwrap();
            assert!(spec.check().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<ControlPlaneSpec>(r#"{"rate": 5}"#).is_err());
    }
}
