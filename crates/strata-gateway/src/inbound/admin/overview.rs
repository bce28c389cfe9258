//! `GET /admin/overview`: the fleet at a glance, the dashboard's first section — accounts ×
//! regions scanned and how fresh, models and profiles available, the last and next scan, recent
//! catalog changes, requests and errors in the last minute, baseline use and spend today.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use strata_core::{Catalog, Freshness};
use strata_discovery::{CatalogEvent, RoundReport};
use strata_store::{GroupBy, UsageQuery};

use super::require_admin_read;
use crate::state::GatewayState;
use crate::traffic::Counts;

/// How many recent catalog events the overview carries.
const RECENT_EVENTS: usize = 10;
/// How many failing scans it names.
const PROBLEMS: usize = 20;

/// One scan that is not fresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanProblem {
    pub account: String,
    pub region: String,
    /// `stale` (old data kept) or `failed` (no data).
    pub state: &'static str,
    pub error: String,
    /// Unix seconds of the failure.
    pub failed_at: u64,
}

/// What discovery scanned and how fresh it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scans {
    pub accounts: usize,
    pub regions: usize,
    /// Account × region pairs in the catalog.
    pub total: usize,
    pub fresh: usize,
    pub stale: usize,
    pub failed: usize,
    /// Unix seconds of the oldest and the newest successful scan (`None`: none yet).
    pub oldest_scan_at: Option<u64>,
    pub newest_scan_at: Option<u64>,
    /// The first few scans that are not fresh.
    pub problems: Vec<ScanProblem>,
}

/// A tenant as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantSummary {
    pub name: String,
    /// In words: `EU only`, `US or EU`, `any region`.
    pub residency: String,
    /// The logical models it may use (`None`: all).
    pub models: Option<Vec<String>>,
    /// The accounts it is pinned to (`None`: all).
    pub accounts: Option<Vec<String>>,
}

/// The config's tenants, for people.
pub fn tenant_summaries(config: &crate::config::Config) -> Vec<TenantSummary> {
    let names = |set: &Option<std::collections::HashSet<usize>>, of: &dyn Fn(usize) -> String| {
        set.as_ref().map(|set| {
            let mut v: Vec<String> = set.iter().map(|&i| of(i)).collect();
            v.sort();
            v
        })
    };
    config
        .tenants
        .iter()
        .map(|t| TenantSummary {
            name: t.name.clone(),
            residency: crate::routes::report::residency_text(&t.residency),
            models: names(&t.models, &|i| config.models[i].name.clone()),
            accounts: names(&t.accounts, &|i| config.accounts[i].name.clone()),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overview {
    /// Unix seconds when this was made (ages are relative to it).
    pub now: u64,
    pub discovery_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<strata_discovery::Role>,
    pub scans: Scans,
    /// Distinct foundation models some account may invoke somewhere (on demand or by profile).
    pub models_available: usize,
    /// Distinct active inference profiles listed.
    pub profiles_available: usize,
    pub imported_models: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_round: Option<RoundReport>,
    /// Unix seconds when the next scan is due (`None`: discovery off or no round yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_scan_at: Option<u64>,
    pub events: Vec<CatalogEvent>,
    /// Logical model names, in config order (the route explorer's picker).
    pub logical_models: Vec<String>,
    pub tenants: Vec<TenantSummary>,
    pub candidates: usize,
    /// Requests in the last minute (this replica).
    pub last_minute: Counts,
    /// Requests served by a baseline target in the last minute.
    pub baseline_last_minute: u64,
    /// Sum of the usage records' cost since UTC midnight (`None`: the store could not be read).
    pub spend_today_usd: Option<f64>,
    pub requests_today: Option<u64>,
}

/// The catalog part of the overview.
pub fn scans(catalog: &Catalog) -> (Scans, usize, usize, usize) {
    let mut s = Scans::default();
    let mut regions = BTreeSet::new();
    let (mut models, mut profiles, mut imported) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for scan in catalog.scans() {
        s.total += 1;
        regions.insert(scan.region.clone());
        let problem = match &scan.freshness {
            Freshness::Fresh => {
                s.fresh += 1;
                None
            }
            Freshness::Stale { failed_at, error } => {
                s.stale += 1;
                Some(("stale", *failed_at, error))
            }
            Freshness::Missing { failed_at, error } => {
                s.failed += 1;
                Some(("failed", *failed_at, error))
            }
        };
        if let Some((state, failed_at, error)) = problem {
            if s.problems.len() < PROBLEMS {
                s.problems.push(ScanProblem {
                    account: scan.account.clone(),
                    region: scan.region.to_string(),
                    state,
                    error: error.clone(),
                    failed_at,
                });
            }
        }
        if scan.has_data() {
            s.oldest_scan_at = Some(s.oldest_scan_at.map_or(scan.scanned_at, |o| o.min(scan.scanned_at)));
            s.newest_scan_at = Some(s.newest_scan_at.map_or(scan.scanned_at, |n| n.max(scan.scanned_at)));
        }
        models.extend(
            scan.models
                .keys()
                .filter(|m| scan.availability(m).invocable())
                .map(String::as_str),
        );
        profiles.extend(scan.profiles.values().filter(|p| p.active()).map(|p| p.id.to_string()));
        if let Some(list) = scan.imported.models() {
            imported.extend(list.values().map(|m| m.name.as_str()));
        }
    }
    s.accounts = catalog.accounts().count();
    s.regions = regions.len();
    (s, models.len(), profiles.len(), imported.len())
}

/// Unix milliseconds of the last UTC midnight before `now_ms`.
pub fn utc_midnight_ms(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(86_400_000)
}

pub async fn handler(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if let Err(r) = require_admin_read(&state, &headers) {
        return *r;
    }
    let g = state.gateway();
    let now = crate::traffic::now_seconds();
    let catalog = state.catalog();
    let (scans, models_available, profiles_available, imported_models) = scans(&catalog);
    let discovery = state.discovery();
    let last_round = state
        .routes_round
        .load_full()
        .as_deref()
        .cloned()
        .or_else(|| discovery.as_ref().and_then(|d| d.last_round()));
    let next_scan_at = match (&discovery, &last_round) {
        (Some(d), Some(r)) => Some(r.finished_at + d.refresh_interval().as_secs()),
        _ => None,
    };
    let mut events = discovery.as_ref().map(|d| d.events()).unwrap_or_default();
    events.sort_by_key(|e| std::cmp::Reverse(e.at));
    events.truncate(RECENT_EVENTS);
    let today = g
        .store
        .usage(&UsageQuery {
            tenant: None,
            model: None,
            since_ms: Some(utc_midnight_ms(crate::tenants::keys::now_ms())),
            group_by: GroupBy::Tenant,
        })
        .await;
    let (spend_today_usd, requests_today) = match today {
        Ok(rows) => (
            Some(rows.iter().map(|r| r.cost_usd).sum()),
            Some(rows.iter().map(|r| r.requests).sum()),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "admin: the usage query for the overview failed");
            (None, None)
        }
    };
    axum::Json(Overview {
        now,
        discovery_enabled: discovery.is_some(),
        role: discovery.as_ref().map(|d| d.role()),
        scans,
        models_available,
        profiles_available,
        imported_models,
        last_round,
        next_scan_at,
        events,
        logical_models: g.config.models.iter().map(|m| m.name.clone()).collect(),
        tenants: tenant_summaries(&g.config),
        candidates: g.routes.load().size(),
        last_minute: g.traffic.total(now),
        baseline_last_minute: g.traffic.baseline(now).requests,
        spend_today_usd,
        requests_today,
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use strata_core::catalog::{Access, InferenceType, Lifecycle, ModelEntry, ProfileEntry};
    use strata_core::{Region, RegionScan};

    fn scan(account: &str, region: &str, granted: bool) -> RegionScan {
        let r = Region::parse(region).unwrap();
        let mut s = RegionScan {
            quotas: Default::default(),
            account: account.into(),
            region: r.clone(),
            scanned_at: 1_000,
            freshness: Freshness::Fresh,
            models: BTreeMap::new(),
            profiles: BTreeMap::new(),
            imported: Default::default(),
        };
        s.models.insert(
            "m.one".into(),
            ModelEntry {
                id: "m.one".into(),
                name: String::new(),
                provider: "P".into(),
                lifecycle: Lifecycle::Active,
                inference_types: BTreeSet::from([InferenceType::OnDemand]),
                streaming: true,
                access: Some(Access {
                    authorized: granted,
                    ..Access::GRANTED
                }),
            },
        );
        s.profiles
            .insert("us.m.one".into(), ProfileEntry::system("us.m.one", "m.one", [r]));
        s
    }

    #[test]
    fn counts_scans_by_freshness_and_what_is_available() {
        let mut c = Catalog::default();
        c.insert(scan("a", "us-east-1", true));
        c.insert(scan("a", "us-west-2", false).into_stale(2_000, "throttled".into()));
        c.insert(RegionScan::missing(
            "b",
            Region::parse("us-east-1").unwrap(),
            3_000,
            "denied".into(),
        ));
        let (s, models, profiles, imported) = scans(&c);
        assert_eq!((s.accounts, s.regions, s.total), (2, 2, 3));
        assert_eq!((s.fresh, s.stale, s.failed), (1, 1, 1));
        assert_eq!((s.oldest_scan_at, s.newest_scan_at), (Some(1_000), Some(1_000)));
        assert_eq!(s.problems.len(), 2);
        assert_eq!(s.problems[0].state, "stale");
        assert_eq!(s.problems[1].error, "denied");
        assert_eq!((models, profiles, imported), (1, 1, 0));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["problems"][0]["region"], "us-west-2");
    }

    #[test]
    fn an_empty_catalog_has_nothing() {
        let (s, models, ..) = scans(&Catalog::default());
        assert_eq!((s.total, models), (0, 0));
        assert_eq!(s.oldest_scan_at, None);
    }

    #[test]
    fn midnight_is_utc() {
        assert_eq!(utc_midnight_ms(86_400_000 * 3 + 5_000), 86_400_000 * 3);
        assert_eq!(utc_midnight_ms(86_400_000 * 3), 86_400_000 * 3);
    }
}
