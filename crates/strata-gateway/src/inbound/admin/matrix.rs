//! `GET /admin/matrix?account=NAME&model=TEXT&provider=NAME`: the availability matrix, compact
//! (the dashboard's grid; `/admin/catalog` is the whole catalog). Model × region for one account,
//! or merged across every account (no `account`, or `account=all`): each cell says how the model
//! is reached there — in-region on demand, through a geography profile, through a global profile
//! — and the access state; cells of stale scans are marked. Profiles' destinations are listed
//! once, by profile ID, for the cells to refer to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use strata_core::catalog::{Availability, ProfileEntry};
use strata_core::{Catalog, Freshness, Geography, Region, RegionScan};

use super::{error_response, require_admin_read};
use crate::error::{Class, GatewayError};
use crate::state::GatewayState;

#[derive(Debug, Default, Deserialize)]
pub struct MatrixParams {
    /// One account; absent or `all`: merged across accounts.
    pub account: Option<String>,
    /// Case-insensitive text the model ID or name must contain.
    pub model: Option<String>,
    /// Only models of this provider (`imported` for Custom Model Import).
    pub provider: Option<String>,
}

/// A column: one region, and how fresh its scan(s) are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub region: String,
    /// `fresh`, `stale` (a later scan failed; old data shown) or `missing` (never scanned
    /// successfully); merged: the worst of the accounts'.
    pub state: &'static str,
    /// Unix seconds of the oldest successful scan behind the column (0: none).
    pub scanned_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One model in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// In-region availability: `on_demand`, `profile_only`, `no_access`, `unknown`,
    /// `not_offered` (merged: the best of the accounts').
    pub access: &'static str,
    /// The matrix symbol for `access` (● ◆ × ? ·).
    pub symbol: &'static str,
    /// Active geography profiles (`us.`, `eu.`, …) with this region as a source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub geography: Vec<String>,
    /// Active `global.` profiles with this region as a source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub global: Vec<String>,
    /// The data comes from a scan that has since failed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// Why access is missing or unknown, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Merged view: accounts that may invoke it here, of the accounts that scanned the region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub model: String,
    pub provider: String,
    /// Cells by column; `None` where the model is not offered at all.
    pub cells: Vec<Option<Cell>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    /// Every account in the catalog (for the account picker).
    pub accounts: Vec<String>,
    /// The account shown, or `all` (merged).
    pub account: String,
    pub providers: Vec<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// Destination regions of every profile a cell names.
    pub profiles: BTreeMap<String, Vec<String>>,
}

/// What a query names that the catalog does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown account '{0}' (known: {1})")]
pub struct UnknownAccount(String, String);

fn access_name(a: Availability) -> &'static str {
    match a {
        Availability::OnDemand => "on_demand",
        Availability::ProfileOnly => "profile_only",
        Availability::NoAccess => "no_access",
        Availability::Unknown => "unknown",
        Availability::NotOffered => "not_offered",
    }
}

/// Higher is better: the merged cell shows the best account's.
fn rank(a: Availability) -> u8 {
    match a {
        Availability::OnDemand => 4,
        Availability::ProfileOnly => 3,
        Availability::Unknown => 2,
        Availability::NoAccess => 1,
        Availability::NotOffered => 0,
    }
}

fn state_of(f: &Freshness) -> (&'static str, u8) {
    match f {
        Freshness::Fresh => ("fresh", 0),
        Freshness::Stale { .. } => ("stale", 1),
        Freshness::Missing { .. } => ("missing", 2),
    }
}

fn error_of(f: &Freshness) -> Option<String> {
    match f {
        Freshness::Fresh => None,
        Freshness::Stale { error, .. } | Freshness::Missing { error, .. } => Some(error.clone()),
    }
}

/// A scan's active profiles by the model they run (built once per scan, not per cell).
type ProfilesByModel<'a> = HashMap<&'a str, Vec<&'a ProfileEntry>>;

fn profiles_by_model(scan: &RegionScan) -> ProfilesByModel<'_> {
    let mut out: ProfilesByModel<'_> = HashMap::new();
    for p in scan.profiles.values().filter(|p| p.active()) {
        for m in &p.models {
            out.entry(m.as_str()).or_default().push(p);
        }
    }
    out
}

/// One account's cell for `model` in `scan`.
fn cell(
    scan: &RegionScan,
    by_model: &ProfilesByModel<'_>,
    model: &str,
    imported: bool,
    profiles: &mut BTreeMap<String, Vec<String>>,
) -> Cell {
    let access = if imported {
        scan.imported_availability(model)
    } else {
        scan.availability(model)
    };
    let (mut geography, mut global) = (Vec::new(), Vec::new());
    if !imported {
        for p in by_model.get(model).into_iter().flatten() {
            let id = p.id.to_string();
            let prefix = id.split('.').next().unwrap_or_default();
            if !profiles.contains_key(&id) {
                profiles.insert(id.clone(), p.destinations.regions().map(Region::to_string).collect());
            }
            if Geography::from_prefix(prefix) == Some(Geography::Global) {
                global.push(id);
            } else {
                geography.push(id);
            }
        }
    }
    let why = match (access, imported) {
        (Availability::NoAccess | Availability::Unknown, false) => match scan.access(model) {
            strata_core::catalog::AccessState::Denied(w) | strata_core::catalog::AccessState::Unknown(w) => Some(w),
            strata_core::catalog::AccessState::Granted => None,
        },
        (Availability::Unknown, true) => scan.imported.unknown().map(str::to_string),
        _ => None,
    };
    Cell {
        access: access_name(access),
        symbol: access.symbol(),
        geography,
        global,
        stale: !matches!(scan.freshness, Freshness::Fresh),
        why,
        accounts: None,
    }
}

/// The matrix of `catalog` for `params`.
pub fn matrix(catalog: &Catalog, params: &MatrixParams) -> Result<Matrix, UnknownAccount> {
    let accounts: Vec<String> = catalog.accounts().map(|(a, _)| a.to_string()).collect();
    let account = params.account.as_deref().filter(|a| !a.is_empty() && *a != "all");
    if let Some(a) = account {
        if !accounts.iter().any(|x| x == a) {
            return Err(UnknownAccount(a.to_string(), accounts.join(", ")));
        }
    }
    let scans: Vec<&RegionScan> = catalog
        .scans()
        .filter(|s| account.is_none_or(|a| s.account == a))
        .collect();
    // Columns: every region scanned, in order; merged, the worst freshness.
    let mut by_region: BTreeMap<&Region, Vec<(&RegionScan, ProfilesByModel<'_>)>> = BTreeMap::new();
    for s in &scans {
        by_region.entry(&s.region).or_default().push((s, profiles_by_model(s)));
    }
    let columns: Vec<Column> = by_region
        .iter()
        .map(|(region, list)| {
            let worst = list.iter().map(|(s, _)| s).max_by_key(|s| state_of(&s.freshness).1);
            Column {
                region: region.to_string(),
                state: worst.map(|s| state_of(&s.freshness).0).unwrap_or("missing"),
                scanned_at: list
                    .iter()
                    .filter(|(s, _)| s.has_data())
                    .map(|(s, _)| s.scanned_at)
                    .min()
                    .unwrap_or(0),
                error: worst.and_then(|s| error_of(&s.freshness)),
            }
        })
        .collect();
    // Rows: every model any scan lists (foundation, then imported by name), filtered.
    let mut models: BTreeMap<(String, bool), String> = BTreeMap::new();
    for s in &scans {
        for (id, m) in &s.models {
            models.entry((id.clone(), false)).or_insert_with(|| m.provider.clone());
        }
        if let Some(imported) = s.imported.models() {
            for m in imported.values() {
                models
                    .entry((m.name.clone(), true))
                    .or_insert_with(|| "imported".to_string());
            }
        }
    }
    let providers: Vec<String> = models.values().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let text = params.model.as_deref().map(str::to_lowercase).filter(|t| !t.is_empty());
    let provider = params.provider.as_deref().filter(|p| !p.is_empty() && *p != "all");
    let mut profiles = BTreeMap::new();
    let mut rows = Vec::new();
    for ((model, imported), prov) in &models {
        if text.as_deref().is_some_and(|t| !model.to_lowercase().contains(t)) {
            continue;
        }
        if provider.is_some_and(|p| !p.eq_ignore_ascii_case(prov)) {
            continue;
        }
        let cells = by_region
            .values()
            .map(|list| {
                let mut best: Option<(Cell, u8)> = None;
                let (mut invocable, mut scanned) = (0, 0);
                for (s, by_model) in list {
                    let c = cell(s, by_model, model, *imported, &mut profiles);
                    scanned += 1;
                    let a = match c.access {
                        "on_demand" => Availability::OnDemand,
                        "profile_only" => Availability::ProfileOnly,
                        "no_access" => Availability::NoAccess,
                        "unknown" => Availability::Unknown,
                        _ => Availability::NotOffered,
                    };
                    if a.invocable() {
                        invocable += 1;
                    }
                    let r = rank(a) * 2 + u8::from(!c.geography.is_empty() || !c.global.is_empty());
                    if best.as_ref().is_none_or(|(_, b)| r > *b) {
                        best = Some((c, r));
                    }
                }
                let (mut c, _) = best?;
                if c.access == "not_offered" && c.geography.is_empty() && c.global.is_empty() {
                    return None;
                }
                if account.is_none() {
                    c.accounts = Some((invocable, scanned));
                }
                Some(c)
            })
            .collect();
        rows.push(Row {
            model: model.clone(),
            provider: prov.clone(),
            cells,
        });
    }
    Ok(Matrix {
        accounts,
        account: account.unwrap_or("all").to_string(),
        providers,
        columns,
        rows,
        profiles,
    })
}

pub async fn handler(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
    params: Result<Query<MatrixParams>, QueryRejection>,
) -> Response {
    if let Err(r) = require_admin_read(&state, &headers) {
        return *r;
    }
    let Ok(Query(p)) = params else {
        return error_response(&GatewayError::client(
            Class::Invalid,
            "query parameters: account=NAME|all, model=TEXT, provider=NAME",
        ));
    };
    match matrix(&state.catalog(), &p) {
        Ok(m) => axum::Json(m).into_response(),
        Err(e) => error_response(&GatewayError::client(Class::NotFound, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::catalog::{Access, InferenceType, Lifecycle, ModelEntry};

    fn region(name: &str) -> Region {
        Region::parse(name).unwrap()
    }

    fn scan(account: &str, r: &str, access: Option<Access>, fresh: bool) -> RegionScan {
        let mut s = RegionScan {
            quotas: Default::default(),
            account: account.into(),
            region: region(r),
            scanned_at: 100,
            freshness: Freshness::Fresh,
            models: BTreeMap::new(),
            profiles: BTreeMap::new(),
            imported: Default::default(),
        };
        s.models.insert(
            "anthropic.claude".into(),
            ModelEntry {
                id: "anthropic.claude".into(),
                name: "Claude".into(),
                provider: "Anthropic".into(),
                lifecycle: Lifecycle::Active,
                inference_types: BTreeSet::from([InferenceType::OnDemand]),
                streaming: true,
                access,
            },
        );
        s.profiles.insert(
            "eu.anthropic.claude".into(),
            ProfileEntry::system(
                "eu.anthropic.claude",
                "anthropic.claude",
                [region("eu-west-1"), region("eu-central-1")],
            ),
        );
        s.profiles.insert(
            "global.anthropic.claude".into(),
            ProfileEntry::system(
                "global.anthropic.claude",
                "anthropic.claude",
                [region("eu-west-1"), region("us-east-1")],
            ),
        );
        if !fresh {
            s = s.into_stale(200, "throttled".into());
        }
        s
    }

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.insert(scan("a", "eu-west-1", Some(Access::GRANTED), true));
        let denied = Access {
            authorized: false,
            ..Access::GRANTED
        };
        c.insert(scan("b", "eu-west-1", Some(denied.clone()), true));
        c.insert(scan("b", "eu-central-1", Some(denied), false));
        c
    }

    #[test]
    fn one_account_shows_its_own_cells_profiles_and_reasons() {
        let m = matrix(
            &catalog(),
            &MatrixParams {
                account: Some("b".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(m.account, "b");
        assert_eq!(m.accounts, ["a", "b"]);
        let regions: Vec<&str> = m.columns.iter().map(|c| c.region.as_str()).collect();
        assert_eq!(regions, ["eu-central-1", "eu-west-1"]);
        assert_eq!(m.columns[0].state, "stale");
        assert_eq!(m.columns[0].error.as_deref(), Some("throttled"));
        assert_eq!(m.columns[1].state, "fresh");
        let row = &m.rows[0];
        assert_eq!(
            (row.model.as_str(), row.provider.as_str()),
            ("anthropic.claude", "Anthropic")
        );
        let stale = row.cells[0].as_ref().unwrap();
        assert_eq!(stale.access, "no_access");
        assert!(stale.stale);
        assert!(stale.why.as_deref().unwrap().contains("not authorized"), "{stale:?}");
        assert_eq!(stale.geography, ["eu.anthropic.claude"]);
        assert_eq!(stale.global, ["global.anthropic.claude"]);
        assert_eq!(m.profiles["eu.anthropic.claude"], ["eu-central-1", "eu-west-1"]);
        assert!(stale.accounts.is_none());
    }

    #[test]
    fn merged_shows_the_best_account_and_counts_them() {
        let m = matrix(&catalog(), &MatrixParams::default()).unwrap();
        assert_eq!(m.account, "all");
        // eu-west-1: a may invoke (granted), b may not.
        let west = m.rows[0].cells[1].as_ref().unwrap();
        assert_eq!((west.access, west.symbol), ("on_demand", "●"));
        assert_eq!(west.accounts, Some((1, 2)));
        assert!(!west.stale);
        // The merged column is as fresh as its worst scan.
        assert_eq!(m.columns[0].state, "stale");
    }

    #[test]
    fn filters_and_unknown_accounts() {
        let none = matrix(
            &catalog(),
            &MatrixParams {
                model: Some("llama".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(none.rows.is_empty());
        let some = matrix(
            &catalog(),
            &MatrixParams {
                model: Some("CLAUDE".into()),
                provider: Some("anthropic".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(some.rows.len(), 1);
        let json = serde_json::to_value(&some).unwrap();
        assert_eq!(json["rows"][0]["cells"][1]["symbol"], "●");
        assert!(matrix(
            &catalog(),
            &MatrixParams {
                account: Some("zzz".into()),
                ..Default::default()
            }
        )
        .is_err());
    }

    #[test]
    fn a_fleet_of_30_accounts_22_regions_100_models_stays_compact() {
        let regions: Vec<Region> = strata_core::region::BEDROCK_REGIONS
            .iter()
            .copied()
            .map(region)
            .collect();
        let mut c = Catalog::default();
        for a in 0..30 {
            for r in &regions {
                let mut s = RegionScan {
                    quotas: Default::default(),
                    account: format!("acct-{a:02}"),
                    region: r.clone(),
                    scanned_at: 100,
                    freshness: Freshness::Fresh,
                    models: BTreeMap::new(),
                    profiles: BTreeMap::new(),
                    imported: Default::default(),
                };
                for m in 0..100 {
                    let id = format!("vendor{}.model-{m:03}", m % 7);
                    s.models.insert(
                        id.clone(),
                        ModelEntry {
                            id: id.clone(),
                            name: String::new(),
                            provider: format!("Vendor {}", m % 7),
                            lifecycle: Lifecycle::Active,
                            inference_types: BTreeSet::from([InferenceType::OnDemand]),
                            streaming: true,
                            access: Some(Access::GRANTED),
                        },
                    );
                    let profile = format!("us.{id}");
                    s.profiles.insert(
                        profile.clone(),
                        ProfileEntry::system(&profile, &id, regions.iter().take(3).cloned()),
                    );
                }
                c.insert(s);
            }
        }
        let m = matrix(&c, &MatrixParams::default()).unwrap();
        assert_eq!((m.rows.len(), m.columns.len(), m.accounts.len()), (100, 22, 30));
        assert_eq!(m.rows[0].cells[0].as_ref().unwrap().accounts, Some((30, 30)));
        let bytes = serde_json::to_vec(&m).unwrap().len();
        assert!(bytes < 1_000_000, "{bytes} bytes for the merged matrix");
        let filtered = matrix(
            &c,
            &MatrixParams {
                model: Some("model-04".into()),
                account: Some("acct-07".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(filtered.rows.len(), 10);
    }
}
