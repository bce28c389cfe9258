//! Injected faults: outages, error rates, forced throttling, added latency, cut streams,
//! catalog lies and revoked access, each scoped to an account, region and model.
//!
//! Outages, error rates, throttling and latency also have a plane: the runtime (the default),
//! the control plane, or both. The other kinds are about what a model *is* (listed but broken,
//! not granted) and match on both planes whatever the field says; a spec naming a plane for
//! them is refused.

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use strata_core::BedrockErrorKind;

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    Outage {
        #[serde(default)]
        mode: OutageMode,
    },
    ErrorRate {
        #[serde(default = "always")]
        rate: f64,
        #[serde(default = "internal_error")]
        error: String,
    },
    Throttle {
        #[serde(default = "always")]
        rate: f64,
    },
    Latency {
        added_ms: u64,
    },
    StreamCut {
        #[serde(default = "three")]
        after_events: u32,
        #[serde(default)]
        mode: CutMode,
    },
    CatalogLie {
        #[serde(default = "validation_error")]
        error: String,
    },
    RevokeAccess,
}

fn always() -> f64 {
    1.0
}
fn three() -> u32 {
    3
}
fn internal_error() -> String {
    "InternalServerException".to_string()
}
fn validation_error() -> String {
    "ValidationException".to_string()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutageMode {
    #[default]
    #[serde(rename = "503")]
    Unavailable,
    #[serde(rename = "drop")]
    Drop,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CutMode {
    #[default]
    Exception,
    Drop,
}

/// Which API a fault hits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultPlane {
    /// `POST /model/…` calls (and the OpenAI-compatible mode).
    #[default]
    Runtime,
    /// `GET /foundation-models…`, `/inference-profiles…`, `/foundation-model-availability/…`.
    Control,
    Any,
}

/// Which API a request is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    Runtime,
    Control,
}

impl FaultPlane {
    fn covers(self, plane: Plane) -> bool {
        matches!(
            (self, plane),
            (FaultPlane::Any, _) | (FaultPlane::Runtime, Plane::Runtime) | (FaultPlane::Control, Plane::Control)
        )
    }
}

impl FaultKind {
    /// Whether the kind is scoped by plane (the others match on both planes).
    pub fn has_plane(&self) -> bool {
        matches!(
            self,
            FaultKind::Outage { .. }
                | FaultKind::ErrorRate { .. }
                | FaultKind::Throttle { .. }
                | FaultKind::Latency { .. }
        )
    }
}

/// A fault as posted to `/_sim/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Account ID or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Model or profile ID; matches the requested ID and the foundation model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Apply to this many matching requests, then expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Which API the fault hits (outage, error_rate, throttle and latency only).
    #[serde(default)]
    pub plane: FaultPlane,
}

impl FaultSpec {
    /// Checks values a fault needs to make sense.
    pub fn validate(&self) -> Result<(), String> {
        match &self.kind {
            FaultKind::ErrorRate { rate, error } => {
                check_rate(*rate)?;
                if BedrockErrorKind::from_name(error).is_none() {
                    return Err(format!("unknown error '{error}'"));
                }
            }
            FaultKind::CatalogLie { error } if BedrockErrorKind::from_name(error).is_none() => {
                return Err(format!("unknown error '{error}'"));
            }
            FaultKind::Throttle { rate } => check_rate(*rate)?,
            _ => {}
        }
        if !self.kind.has_plane() && self.plane != FaultPlane::Runtime {
            return Err("plane applies only to outage, error_rate, throttle and latency faults".into());
        }
        if self.count == Some(0) {
            return Err("count must be at least 1".into());
        }
        Ok(())
    }
}

/// True with probability `rate` (always at 1, never at 0).
pub fn roll(rate: f64) -> bool {
    use rand::Rng;
    rate >= 1.0 || (rate > 0.0 && rand::rng().random::<f64>() < rate)
}

fn check_rate(rate: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(format!("rate must be between 0 and 1, got {rate}"))
    }
}

/// An active fault.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub id: String,
    #[serde(flatten)]
    pub spec: FaultSpec,
    #[serde(skip)]
    pub account_index: Option<usize>,
}

/// What a request is, for fault matching.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub account: usize,
    /// The region that runs the request.
    pub region: &'a str,
    /// The model or profile ID named; empty for calls about no model (the list calls), which
    /// only faults without a model scope match.
    pub requested_model: &'a str,
    pub foundation_model: &'a str,
    pub plane: Plane,
}

impl Fault {
    fn matches(&self, t: &Target<'_>) -> bool {
        (!self.spec.kind.has_plane() || self.spec.plane.covers(t.plane))
            && self.account_index.is_none_or(|a| a == t.account)
            && self.spec.region.as_deref().is_none_or(|r| r == t.region)
            && self
                .spec
                .model
                .as_deref()
                .is_none_or(|m| m == t.requested_model || m == t.foundation_model)
    }
}

/// The active faults.
#[derive(Debug, Default)]
pub struct FaultBook {
    faults: RwLock<Vec<Fault>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl FaultBook {
    pub fn add(&self, spec: FaultSpec, account_index: Option<usize>) -> String {
        let n = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let id = format!("f-{n}");
        self.faults.write().push(Fault {
            id: id.clone(),
            spec,
            account_index,
        });
        id
    }

    pub fn remove(&self, id: &str) -> bool {
        let mut faults = self.faults.write();
        let before = faults.len();
        faults.retain(|f| f.id != id);
        faults.len() != before
    }

    pub fn clear(&self) {
        self.faults.write().clear();
    }

    pub fn list(&self) -> Vec<Fault> {
        self.faults.read().clone()
    }

    pub fn is_empty(&self) -> bool {
        self.faults.read().is_empty()
    }

    /// The first fault of a kind matching the target, consuming one use of a counted fault.
    pub fn take(&self, target: &Target<'_>, pick: impl Fn(&FaultKind) -> bool) -> Option<FaultKind> {
        {
            let faults = self.faults.read();
            if !faults.iter().any(|f| pick(&f.spec.kind) && f.matches(target)) {
                return None;
            }
        }
        let mut faults = self.faults.write();
        let index = faults.iter().position(|f| pick(&f.spec.kind) && f.matches(target))?;
        let kind = faults[index].spec.kind.clone();
        if let Some(count) = faults[index].spec.count.as_mut() {
            *count -= 1;
            if *count == 0 {
                faults.remove(index);
            }
        }
        Some(kind)
    }

    /// Whether a fault of a kind matches, without consuming it (for the control plane and for
    /// steering profile traffic around outages).
    pub fn any(&self, target: &Target<'_>, pick: impl Fn(&FaultKind) -> bool) -> bool {
        self.faults
            .read()
            .iter()
            .any(|f| pick(&f.spec.kind) && f.matches(target))
    }

    /// The highest rate of the throttle faults matching the target (0 when none does), without
    /// consuming any: how much of a destination's capacity placement counts as taken.
    pub fn throttle_rate(&self, target: &Target<'_>) -> f64 {
        self.faults
            .read()
            .iter()
            .filter(|f| f.matches(target))
            .filter_map(|f| match f.spec.kind {
                FaultKind::Throttle { rate } => Some(rate),
                _ => None,
            })
            .fold(0.0, f64::max)
    }

    /// Whether a region's runtime has an outage for this account, whatever the model.
    pub fn region_down(&self, account: usize, region: &str) -> bool {
        self.faults.read().iter().any(|f| {
            matches!(f.spec.kind, FaultKind::Outage { .. })
                && f.spec.plane.covers(Plane::Runtime)
                && f.account_index.is_none_or(|a| a == account)
                && f.spec.region.as_deref().is_none_or(|r| r == region)
                && f.spec.model.is_none()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(region: &'a str, model: &'a str) -> Target<'a> {
        Target {
            account: 0,
            region,
            requested_model: model,
            foundation_model: model,
            plane: Plane::Runtime,
        }
    }

    fn on(plane: Plane, t: Target<'_>) -> Target<'_> {
        Target { plane, ..t }
    }

    fn book_with(json: &str) -> FaultBook {
        let spec: FaultSpec = serde_json::from_str(json).unwrap();
        spec.validate().unwrap();
        let book = FaultBook::default();
        book.add(spec, None);
        book
    }

    #[test]
    fn faults_hit_the_runtime_unless_a_plane_is_named() {
        let outage = |k: &FaultKind| matches!(k, FaultKind::Outage { .. });
        let runtime = book_with(r#"{"kind":"outage","region":"eu-west-1"}"#);
        assert!(runtime.any(&target("eu-west-1", "m"), outage));
        assert!(!runtime.any(&on(Plane::Control, target("eu-west-1", "m")), outage));
        assert!(runtime.region_down(0, "eu-west-1"));

        let control = book_with(r#"{"kind":"outage","region":"eu-west-1","plane":"control"}"#);
        assert!(!control.any(&target("eu-west-1", "m"), outage));
        assert!(control.any(&on(Plane::Control, target("eu-west-1", "m")), outage));
        assert!(
            !control.region_down(0, "eu-west-1"),
            "a control-plane outage leaves routing alone"
        );

        let any = book_with(r#"{"kind":"latency","added_ms":5,"plane":"any"}"#);
        let latency = |k: &FaultKind| matches!(k, FaultKind::Latency { .. });
        assert!(any.any(&target("us-east-1", "m"), latency));
        assert!(any.any(&on(Plane::Control, target("us-east-1", "m")), latency));
    }

    #[test]
    fn model_scoped_faults_skip_list_calls_and_model_free_faults_hit_them() {
        let throttle = |k: &FaultKind| matches!(k, FaultKind::Throttle { .. });
        let scoped = book_with(r#"{"kind":"throttle","model":"m","plane":"control"}"#);
        assert!(scoped.any(&on(Plane::Control, target("us-east-1", "m")), throttle));
        assert!(!scoped.any(&on(Plane::Control, target("us-east-1", "")), throttle));
        let unscoped = book_with(r#"{"kind":"throttle","plane":"control"}"#);
        assert!(unscoped.any(&on(Plane::Control, target("us-east-1", "")), throttle));
    }

    #[test]
    fn plane_is_only_for_transport_faults_and_other_kinds_match_both_planes() {
        let spec: FaultSpec = serde_json::from_str(r#"{"kind":"revoke_access","plane":"control"}"#).unwrap();
        assert!(spec.validate().is_err());
        let spec: FaultSpec = serde_json::from_str(r#"{"kind":"outage"}"#).unwrap();
        assert_eq!(spec.plane, FaultPlane::Runtime);
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind":"outage","plane":"sideways"}"#).is_err());
        let revoke = book_with(r#"{"kind":"revoke_access"}"#);
        let is_revoke = |k: &FaultKind| matches!(k, FaultKind::RevokeAccess);
        assert!(revoke.any(&on(Plane::Control, target("us-east-1", "m")), is_revoke));
        assert!(revoke.any(&target("us-east-1", "m"), is_revoke));
    }

    #[test]
    fn specs_parse_from_admin_json() {
        let f: FaultSpec = serde_json::from_str(r#"{"kind":"outage","region":"eu-west-1","mode":"drop"}"#).unwrap();
        assert_eq!(f.kind, FaultKind::Outage { mode: OutageMode::Drop });
        let f: FaultSpec =
            serde_json::from_str(r#"{"kind":"error_rate","error":"ServiceUnavailableException","count":2}"#).unwrap();
        assert!(f.validate().is_ok());
        let f: FaultSpec = serde_json::from_str(r#"{"kind":"error_rate","error":"Nope"}"#).unwrap();
        assert!(f.validate().is_err());
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind":"meteor"}"#).is_err());
    }

    #[test]
    fn counted_faults_expire_and_scopes_match() {
        let book = FaultBook::default();
        let spec: FaultSpec = serde_json::from_str(r#"{"kind":"throttle","region":"us-east-1","count":1}"#).unwrap();
        book.add(spec, None);
        let is_throttle = |k: &FaultKind| matches!(k, FaultKind::Throttle { .. });
        assert!(book.take(&target("us-west-2", "m"), is_throttle).is_none());
        assert!(book.take(&target("us-east-1", "m"), is_throttle).is_some());
        assert!(book.take(&target("us-east-1", "m"), is_throttle).is_none());
        assert!(book.is_empty());
    }
}
