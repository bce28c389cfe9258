//! `GET /admin/traffic`: the last minute of requests by region, account and target (attempts
//! and failed attempts, from [`crate::traffic`]) with the calls in flight now, and each tenant's
//! use of its limits: requests and tokens this minute against its RPM / TPM, spend today and
//! this month (usage records) against its budgets. Counts are this replica's; spend is the
//! store's, shared by every replica writing to it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use strata_store::{GroupBy, UsageQuery};

use super::require_admin_read;
use crate::config::Config;
use crate::routes::RouteTable;
use crate::state::GatewayState;
use crate::traffic::{Counts, TargetCounts, Traffic};

/// Requests of one region or account in the last minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub name: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub in_flight: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    #[serde(flatten)]
    pub counts: TargetCounts,
    pub in_flight: u64,
}

/// A tenant's use of its limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantUse {
    pub tenant: String,
    pub requests_last_minute: u64,
    pub errors_last_minute: u64,
    pub tokens_last_minute: u64,
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
    pub spend_today_usd: Option<f64>,
    pub spend_month_usd: Option<f64>,
    pub budget_day_usd: Option<f64>,
    pub budget_month_usd: Option<f64>,
}

/// An upstream quota (Service Quotas, or the config's) and how much of it is in use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaUse {
    /// `account/region/model-or-profile`.
    pub target: String,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    /// Attempts sent there in the last minute (this replica).
    pub requests_last_minute: u64,
    /// What the quota left at the last reservation, refilled since (requests; thousands of
    /// tokens where only tokens are limited): every replica's use, under `headroom`.
    pub headroom: Option<u64>,
    /// The share of the quota in use (cut by throttles within it).
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficReport {
    pub now: u64,
    pub window_seconds: u64,
    pub total: Counts,
    pub in_flight: u64,
    pub regions: Vec<Group>,
    pub accounts: Vec<Group>,
    pub targets: Vec<Target>,
    pub tenants: Vec<TenantUse>,
    /// Every upstream quota a route counts against.
    pub quotas: Vec<QuotaUse>,
}

/// Calls in flight now per target label: each distinct health counted once (logical models
/// reaching one target may share its health, or keep their own).
fn in_flight(config: &Config, table: &RouteTable) -> HashMap<String, (String, String, u64)> {
    let mut out: HashMap<String, (String, String, u64)> = HashMap::new();
    let mut counted = std::collections::HashSet::new();
    for route in table.models.iter().flat_map(|m| m.routes.iter().chain(&m.baseline)) {
        let entry = out.entry(route.label.clone()).or_insert_with(|| {
            let region = route.region().map(|r| r.to_string()).unwrap_or_default();
            let account = match &route.target {
                crate::config::Target::Bedrock { account, .. } => config
                    .accounts
                    .get(*account)
                    .map(|a| a.name.clone())
                    .unwrap_or_default(),
                crate::config::Target::OpenAi { .. } => String::new(),
            };
            (account, region, 0)
        });
        if counted.insert(Arc::as_ptr(&route.health) as usize) {
            entry.2 += u64::from(route.health.in_flight());
        }
    }
    out
}

/// Sums per key, busiest first.
fn grouped(entries: impl Iterator<Item = (String, Counts, u64)>) -> Vec<Group> {
    let mut by: BTreeMap<String, Group> = BTreeMap::new();
    for (name, c, flying) in entries.filter(|(name, ..)| !name.is_empty()) {
        let g = by.entry(name.clone()).or_insert_with(|| Group {
            name,
            counts: Counts::default(),
            in_flight: 0,
        });
        g.counts.requests += c.requests;
        g.counts.errors += c.errors;
        g.counts.tokens += c.tokens;
        g.in_flight += flying;
    }
    let mut out: Vec<Group> = by
        .into_values()
        .filter(|g| g.counts.requests > 0 || g.in_flight > 0)
        .collect();
    out.sort_by(|a, b| {
        (b.counts.requests + b.in_flight)
            .cmp(&(a.counts.requests + a.in_flight))
            .then(a.name.cmp(&b.name))
    });
    out
}

/// The report without spend (filled from the store by the handler).
pub fn report(config: &Config, table: &RouteTable, traffic: &Traffic, now: u64) -> TrafficReport {
    let flying = in_flight(config, table);
    let counted = traffic.targets(now);
    let mut targets: Vec<Target> = counted
        .iter()
        .map(|t| Target {
            in_flight: flying.get(&t.target).map_or(0, |f| f.2),
            counts: t.clone(),
        })
        .collect();
    // Targets busy now but with nothing finished this minute.
    for (label, (account, region, n)) in &flying {
        if *n > 0 && !counted.iter().any(|t| &t.target == label) {
            targets.push(Target {
                counts: TargetCounts {
                    target: label.clone(),
                    account: account.clone(),
                    region: region.clone(),
                    counts: Counts::default(),
                },
                in_flight: *n,
            });
        }
    }
    let regions = grouped(
        targets
            .iter()
            .map(|t| (t.counts.region.clone(), t.counts.counts, t.in_flight)),
    );
    let accounts = grouped(
        targets
            .iter()
            .map(|t| (t.counts.account.clone(), t.counts.counts, t.in_flight)),
    );
    let usd = |n: Option<u64>| n.map(|n| n as f64 / 1e9);
    let tenants = config
        .tenants
        .iter()
        .map(|t| {
            let c = traffic.tenant(&t.name, now);
            TenantUse {
                tenant: t.name.clone(),
                requests_last_minute: c.requests,
                errors_last_minute: c.errors,
                tokens_last_minute: c.tokens,
                rpm_limit: t.limits.rpm,
                tpm_limit: t.limits.tpm,
                spend_today_usd: None,
                spend_month_usd: None,
                budget_day_usd: usd(t.limits.nanos_per_day),
                budget_month_usd: usd(t.limits.nanos_per_month),
            }
        })
        .collect();
    let now_ms = now.saturating_mul(1000);
    let mut quotas: BTreeMap<String, QuotaUse> = BTreeMap::new();
    for route in table.models.iter().flat_map(|m| m.routes.iter().chain(&m.baseline)) {
        let Some(c) = &route.capacity else { continue };
        let q = quotas.entry(c.key.to_string()).or_insert_with(|| QuotaUse {
            target: c.key.to_string(),
            rpm: c.rpm,
            tpm: c.tpm,
            requests_last_minute: counted
                .iter()
                .filter(|t| *t.target == *c.key)
                .map(|t| t.counts.requests)
                .sum(),
            headroom: None,
            share: 1.0,
        });
        // Routes of several logical models share the quota: the least room any saw, the
        // smallest share.
        if let Some(room) = route.capacity_state.room(now_ms) {
            q.headroom = Some(q.headroom.map_or(room, |h| h.min(room)));
        }
        q.share = q.share.min(route.capacity_state.share(now_ms));
    }
    TrafficReport {
        now,
        window_seconds: crate::traffic::WINDOW_SECONDS,
        total: traffic.total(now),
        in_flight: targets.iter().map(|t| t.in_flight).sum(),
        regions,
        accounts,
        targets,
        tenants,
        quotas: quotas.into_values().collect(),
    }
}

/// Unix milliseconds of the first of this UTC month.
fn month_start_ms(now_ms: i64) -> i64 {
    let (y, m, _) = strata_core::clock::civil_from_days(now_ms.div_euclid(86_400_000));
    strata_core::clock::days_from_civil(y, m, 1) * 86_400_000
}

/// Cost per tenant since `since_ms`, from the usage records.
async fn spend_since(state: &GatewayState, since_ms: i64) -> Option<HashMap<String, f64>> {
    let q = UsageQuery {
        tenant: None,
        model: None,
        since_ms: Some(since_ms),
        group_by: GroupBy::Tenant,
    };
    match state.gateway().store.usage(&q).await {
        Ok(rows) => Some(rows.into_iter().filter_map(|r| Some((r.tenant?, r.cost_usd))).collect()),
        Err(e) => {
            tracing::warn!(error = %e, "admin: the usage query for traffic failed");
            None
        }
    }
}

pub async fn handler(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if let Err(r) = require_admin_read(&state, &headers) {
        return *r;
    }
    let g = state.gateway();
    let mut out = report(&g.config, &g.routes.load(), &g.traffic, crate::traffic::now_seconds());
    let now_ms = crate::tenants::keys::now_ms();
    let today = spend_since(&state, super::overview::utc_midnight_ms(now_ms)).await;
    let month = spend_since(&state, month_start_ms(now_ms)).await;
    for t in &mut out.tenants {
        t.spend_today_usd = today.as_ref().map(|s| s.get(&t.tenant).copied().unwrap_or(0.0));
        t.spend_month_usd = month.as_ref().map(|s| s.get(&t.tenant).copied().unwrap_or(0.0));
    }
    axum::Json(out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_starts_on_the_first_utc() {
        // 2026-11-30T12:00Z → 2026-11-01T00:00Z
        let now = strata_core::clock::days_from_civil(2026, 11, 30) * 86_400_000 + 43_200_000;
        assert_eq!(
            month_start_ms(now),
            strata_core::clock::days_from_civil(2026, 11, 1) * 86_400_000
        );
    }

    #[test]
    fn groups_sum_and_drop_the_idle() {
        let c = |r| Counts {
            requests: r,
            errors: 1,
            tokens: 10,
        };
        let g = grouped(
            vec![
                ("eu-west-1".to_string(), c(2), 0),
                ("eu-west-1".to_string(), c(3), 1),
                ("us-east-1".to_string(), Counts::default(), 0),
                (String::new(), c(9), 0),
            ]
            .into_iter(),
        );
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].name, "eu-west-1");
        assert_eq!(
            (
                g[0].counts.requests,
                g[0].counts.errors,
                g[0].counts.tokens,
                g[0].in_flight
            ),
            (5, 2, 20, 1)
        );
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(json[0]["requests"], 5);
    }
}
