//! What the compiled routes are, as data: served by `GET /admin/routes` and printed by
//! `strata routes`. One shape for both, so the CLI and the running gateway never disagree.

use std::collections::BTreeMap;

use serde::Serialize;
use strata_router::Reach;

use crate::config::{known, Config, Tenant};
use crate::routes::{Excluded, Route, RouteTable, TenantRoutes};

/// Which part of the table to show.
#[derive(Debug, Clone, Default)]
pub struct RouteFilter {
    pub tenant: Option<String>,
    pub model: Option<String>,
    /// Include every exclusion and its reason.
    pub explain: bool,
}

/// A filter that names something the config does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown tenant '{0}' (known: {1})")]
    Tenant(String, String),
    #[error("unknown model '{0}' (known: {1})")]
    Model(String, String),
}

#[derive(Debug, Clone, Serialize)]
pub struct RoutesReport {
    pub models: Vec<ModelReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub model: String,
    /// The imported model (by name) its intent runs; its candidates call that model's ARNs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported_model: Option<String>,
    pub strategy: String,
    /// Candidates that passed the access rule (before residency).
    pub candidates: Vec<CandidateReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded: Option<Vec<Excluded>>,
    pub baseline: Vec<CandidateReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_excluded: Option<Vec<Excluded>>,
    pub fallbacks: Vec<String>,
    pub tenants: Vec<TenantReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CandidateReport {
    pub target: String,
    pub model_id: String,
    pub layer: &'static str,
    pub origin: &'static str,
    /// The regions it may execute in, or a geography / `anywhere` when not known exactly.
    pub runs_in: Vec<String>,
    pub weight: u32,
    pub priority: u32,
    pub stale: bool,
    pub cooling_down: bool,
    /// Seconds of cooldown left (when cooling down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_left_seconds: Option<f64>,
    /// Calls to it in flight now.
    pub in_flight: u32,
    /// Its latency (EWMA), when it has answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Its deployment budget: requests and tokens per minute (`None`: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
    /// The upstream quota its account has for it (Service Quotas, or the config's `quotas:`);
    /// `null` when unknown.
    pub capacity: Option<CapacityReport>,
    /// Per tenant (of those shown) that may use it: the residency rule that admits it —
    /// `in-region`, `geography` (its whole geography lies inside the policy), `catalog` (the
    /// tenant trusts the catalog's destinations) or `any` (an unlocated target under `any`).
    pub admitted_by: BTreeMap<String, &'static str>,
}

/// A route's upstream quota per minute, and the key it is counted under.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantReport {
    pub tenant: String,
    pub residency: String,
    /// Whether a profile is admitted on its catalog destinations alone.
    pub trust_catalog_destinations: bool,
    /// Targets the tenant's requests may use, in the table's order.
    pub allowed: Vec<String>,
    pub baseline: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded: Option<Vec<Excluded>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_excluded: Option<Vec<Excluded>>,
}

/// Where a reach may run, for people.
pub fn runs_in(reach: &Reach) -> Vec<String> {
    match reach {
        Reach::Regions(set) | Reach::Profile { destinations: set, .. } => {
            set.regions().map(|r| r.to_string()).collect()
        }
        Reach::Zone(g) => vec![format!("{} geography", g.prefix())],
        Reach::Anywhere => vec!["anywhere".to_string()],
    }
}

fn candidate(route: &Route) -> CandidateReport {
    let now = std::time::Instant::now();
    CandidateReport {
        target: route.label.clone(),
        model_id: route.model_id().to_string(),
        layer: route.layer.as_str(),
        origin: match route.origin {
            strata_router::Origin::Discovered => "discovered",
            strata_router::Origin::Pinned => "pinned",
            strata_router::Origin::Baseline => "baseline",
        },
        runs_in: runs_in(&route.reach),
        weight: route.weight,
        priority: route.priority,
        stale: route.stale,
        cooling_down: route.health.cooling_down(now),
        cooldown_left_seconds: route.health.cooldown_left(now).map(|d| d.as_secs_f64()),
        in_flight: route.health.in_flight(),
        latency_ms: route.health.latency().map(|l| l.as_secs_f64() * 1000.0),
        rpm: route.limits.rpm,
        tpm: route.limits.tpm,
        capacity: route.capacity.as_ref().map(|c| CapacityReport {
            rpm: c.rpm,
            tpm: c.tpm,
            key: c.key.to_string(),
        }),
        admitted_by: BTreeMap::new(),
    }
}

#[cfg(test)]
pub(crate) fn candidate_report_for_tests(route: &Route) -> CandidateReport {
    candidate(route)
}

/// `candidate(route)` with the rule each of `tenants` (name, view) admits it by.
fn candidate_for(route: &Route, tenants: &[(&Tenant, &TenantRoutes)]) -> CandidateReport {
    let mut report = candidate(route);
    for (cfg, view) in tenants {
        if let Some(rule) = view.admitted_by(route) {
            report.admitted_by.insert(cfg.name.clone(), rule.as_str());
        }
    }
    report
}

/// A residency policy in words: `any region`, `EU only`, `US or EU`, `EU, JP or us-east-1`.
pub fn residency_text(policy: &strata_core::ResidencyPolicy) -> String {
    use strata_core::residency::Place;
    match policy {
        strata_core::ResidencyPolicy::Any => "any region".to_string(),
        strata_core::ResidencyPolicy::Only(places) => {
            let names: Vec<String> = places
                .iter()
                .map(|p| match p {
                    Place::Zone(g) => g.prefix().to_uppercase(),
                    Place::Region(r) => r.to_string(),
                })
                .collect();
            match names.as_slice() {
                [] => "nowhere".to_string(),
                [one] => format!("{one} only"),
                [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
            }
        }
    }
}

/// The report of `table` under `filter`.
pub fn routes_report(config: &Config, table: &RouteTable, filter: &RouteFilter) -> Result<RoutesReport, FilterError> {
    let tenant =
        match &filter.tenant {
            None => None,
            Some(name) => Some(config.tenants.iter().position(|t| &t.name == name).ok_or_else(|| {
                FilterError::Tenant(name.clone(), known(config.tenants.iter().map(|t| t.name.as_str())))
            })?),
        };
    let model =
        match &filter.model {
            None => None,
            Some(name) => Some(*config.model_by_name.get(name).ok_or_else(|| {
                FilterError::Model(name.clone(), known(config.models.iter().map(|m| m.name.as_str())))
            })?),
        };
    let explain = |list: &Vec<Excluded>| filter.explain.then(|| list.clone());
    let mut models = Vec::new();
    for (m, compiled) in table.models.iter().enumerate() {
        if model.is_some_and(|x| x != m) {
            continue;
        }
        let def = &config.models[m];
        let shown: Vec<(&Tenant, &TenantRoutes)> = config
            .tenants
            .iter()
            .enumerate()
            .filter(|(t, cfg)| tenant.is_none_or(|x| x == *t) && cfg.may_use(m))
            .map(|(t, cfg)| (cfg, &compiled.tenants[t]))
            .collect();
        let tenants = shown
            .iter()
            .map(|&(cfg, view)| TenantReport {
                tenant: cfg.name.clone(),
                residency: residency_text(&cfg.residency),
                trust_catalog_destinations: cfg.trust_catalog_destinations,
                allowed: view.allowed.iter().map(|r| r.label.clone()).collect(),
                baseline: view.baseline.iter().map(|r| r.label.clone()).collect(),
                excluded: filter.explain.then(|| view.excluded()),
                baseline_excluded: filter.explain.then(|| view.baseline_excluded()),
            })
            .collect();
        models.push(ModelReport {
            model: def.name.clone(),
            imported_model: def.intent.as_ref().and_then(|i| match &i.intent.model {
                strata_router::IntentModel::Imported(name) => Some(name.clone()),
                strata_router::IntentModel::Foundation(_) => None,
            }),
            strategy: serde_json::to_value(def.strategy)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            candidates: compiled.routes.iter().map(|r| candidate_for(r, &shown)).collect(),
            excluded: explain(&compiled.excluded),
            baseline: compiled.baseline.iter().map(|r| candidate_for(r, &shown)).collect(),
            baseline_excluded: explain(&compiled.baseline_excluded),
            fallbacks: def.fallbacks.iter().map(|&f| config.models[f].name.clone()).collect(),
            tenants,
        });
    }
    Ok(RoutesReport { models })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::ResidencyPolicy;

    #[test]
    fn residency_reads_as_words() {
        let text = |p: &[&str]| residency_text(&ResidencyPolicy::parse(p).unwrap());
        assert_eq!(text(&["any"]), "any region");
        assert_eq!(text(&["eu"]), "EU only");
        assert_eq!(text(&["us", "eu"]), "US or EU");
        assert_eq!(text(&["eu", "jp", "us-east-1"]), "EU, JP or us-east-1");
    }
}
