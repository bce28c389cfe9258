//! Admission: a request takes its share of every budget it falls under before it runs, and
//! settles it with what it really used after. Budgets are a tenant's (requests and tokens per
//! minute, requests in flight, spend per day and month), the tenant's use of one logical model,
//! and a deployment's (one logical model's use of one target). The counting itself is
//! `strata-quota`'s: in this process, or in Redis so that every replica enforces one limit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use strata_quota::{Ask, Denied, FailMode, Grant, Headroom, Limit, Limits, Quotas, Scope, Used};

use crate::config::file::FailMode as ConfiguredFailMode;
use crate::config::{Config, TenantLimits};
use crate::error::{Class, GatewayError};
use strata_router::pricing::TokenCounts;

use super::route::Plan;
use crate::call::{Estimate, Usage};
use crate::routes::Route;

/// A share of the budgets, held until the request ends and settled then.
#[derive(Debug)]
#[must_use = "a permit is settled with the real usage"]
pub struct Permit {
    grant: Option<Grant>,
}

impl Permit {
    /// A permit that holds nothing (unlimited).
    pub fn free() -> Self {
        Permit { grant: None }
    }

    /// Whether the permit holds nothing to settle.
    pub fn is_free(&self) -> bool {
        self.grant.as_ref().is_none_or(Grant::is_free)
    }

    /// What is left of the first budget (the tenant's), for `x-ratelimit-*` headers.
    pub fn headroom(&self) -> Option<&Headroom> {
        self.grant.as_ref().map(|g| &g.headroom)
    }
}

/// The scopes of one tenant, named and limited once when the config is loaded.
#[derive(Debug)]
struct TenantScopes {
    key: Box<str>,
    limits: Limits,
    /// Per logical model (index into `Config::models`).
    models: HashMap<usize, (Box<str>, Limits)>,
    fail: FailMode,
}

/// Reserves and settles budgets.
#[derive(Debug)]
pub struct Admission {
    quotas: Arc<Quotas>,
    tenants: Vec<TenantScopes>,
}

/// Converts the config's limits.
pub fn limits(l: &TenantLimits) -> Limits {
    Limits {
        rpm: l.rpm,
        tpm: l.tpm,
        concurrent: l.max_concurrent,
        usd_per_day: l.nanos_per_day,
        usd_per_month: l.nanos_per_month,
    }
}

impl Admission {
    /// Budgets for the tenants of `config`, counted by `quotas`.
    pub fn new(quotas: Arc<Quotas>, config: &Config) -> Self {
        let tenants = config
            .tenants
            .iter()
            .map(|t| TenantScopes {
                key: format!("t:{}", t.name).into(),
                limits: limits(&t.limits),
                models: t
                    .model_limits
                    .iter()
                    .map(|(&m, l)| {
                        (
                            m,
                            (format!("t:{}:m:{}", t.name, config.models[m].name).into(), limits(l)),
                        )
                    })
                    .collect(),
                fail: match t.on_shared_failure {
                    ConfiguredFailMode::Open => FailMode::Open,
                    ConfiguredFailMode::Closed => FailMode::Closed,
                },
            })
            .collect();
        Admission { quotas, tenants }
    }

    /// Deployment budgets only (no tenant is limited), counted in this process.
    pub fn deployments_only() -> Self {
        Admission {
            quotas: Arc::new(Quotas::local()),
            tenants: Vec::new(),
        }
    }

    /// Budgets counted in this process, for tenants of `config`.
    pub fn local(config: &Config) -> Self {
        Admission::new(Arc::new(Quotas::local()), config)
    }

    pub fn quotas(&self) -> &Arc<Quotas> {
        &self.quotas
    }

    /// Reserves one request of `tenant` on logical model `model`: the tenant's budget and its
    /// budget for that model, all or none.
    pub async fn tenant(&self, tenant: usize, model: usize, ask: Ask, names: &Config) -> Result<Permit, GatewayError> {
        let Some(t) = self.tenants.get(tenant) else {
            return Ok(Permit::free());
        };
        let model_scope = t.models.get(&model);
        if t.limits.is_unlimited() && model_scope.is_none() {
            return Ok(Permit::free());
        }
        let tenant_scope = Scope {
            key: &t.key,
            limits: &t.limits,
        };
        let both;
        let scopes: &[Scope<'_>] = match model_scope {
            Some((key, limits)) => {
                both = [tenant_scope, Scope { key, limits }];
                &both
            }
            None => std::slice::from_ref(&tenant_scope),
        };
        match self.quotas.reserve(scopes, ask, t.fail).await {
            Ok(grant) => Ok(Permit { grant: Some(grant) }),
            Err(denied) => Err(refusal(denied, &names.tenants[tenant].name, ask, |scope| {
                let limits = match (scope, model_scope) {
                    (1, Some((_, limits))) => limits,
                    _ => &t.limits,
                };
                let what = if scope == 0 {
                    String::new()
                } else {
                    format!(" on model '{}'", names.models[model].name)
                };
                (*limits, what)
            })),
        }
    }

    /// Reserves one request on a deployment: with `quota` (the `headroom` strategy), its
    /// upstream quota too (the account's, shared by every logical model reaching the target,
    /// scaled by the share learned usable); always the deployment's own budget. `Err` holds
    /// when it may have room again. What the quota leaves is noted on the route. A budget that
    /// cannot be asked is limited in this process meanwhile.
    pub async fn deployment(&self, route: &Route, ask: Ask, quota: bool) -> Result<Permit, Duration> {
        let capacity = route.capacity.as_ref().filter(|_| quota).map(|c| {
            let now_ms = crate::tenants::keys::now_ms().max(0) as u64;
            (c, c.limits(route.capacity_state.share(now_ms)), now_ms)
        });
        let cap = route.region_cap.as_ref().filter(|_| quota).map(|c| (c, c.limits(1.0)));
        let mut scopes = Vec::with_capacity(3);
        if let Some((c, limits, _)) = &capacity {
            scopes.push(Scope { key: &c.key, limits });
        }
        if let Some((c, limits)) = &cap {
            scopes.push(Scope { key: &c.key, limits });
        }
        if !route.limits.is_unlimited() {
            scopes.push(Scope {
                key: &route.quota_key,
                limits: &route.limits,
            });
        }
        if scopes.is_empty() {
            return Ok(Permit::free());
        }
        let (result, headroom) = match self.quotas.reserve(&scopes, ask, FailMode::Open).await {
            Ok(grant) => {
                let headroom = grant.headroom;
                (Ok(Permit { grant: Some(grant) }), Some(headroom))
            }
            Err(Denied::Limited(r)) => (Err(r.retry_after), Some(r.headroom)),
            Err(Denied::Unavailable(_)) => (Err(Duration::from_secs(1)), None),
        };
        if let (Some((_, _, now_ms)), Some(h)) = (capacity, headroom) {
            // The first scope is the quota's: its requests window, else its tokens in thousands.
            let seen = match (h.requests, h.tokens) {
                (Some(w), _) => Some((w.remaining, w.limit)),
                (None, Some(w)) => Some((w.remaining / 1000, w.limit / 1000)),
                (None, None) => None,
            };
            if let (Some((remaining, limit)), Some(c)) = (seen, &route.capacity) {
                route.capacity_state.observe(remaining, limit, now_ms);
                route
                    .metrics
                    .quota_room(&c.key, remaining, route.capacity_state.share(now_ms));
            }
        }
        result
    }

    /// Replaces the estimate with what was really used; `None` when the usage is unknown (the
    /// estimate stands).
    pub fn settle(&self, permit: Permit, used: Option<Used>) {
        if let Some(grant) = permit.grant {
            self.quotas.settle(grant, used);
        }
    }

    /// Gives back everything a permit took: the request was never sent.
    pub fn cancel(&self, permit: Permit) {
        if let Some(grant) = permit.grant {
            self.quotas.cancel(grant);
        }
    }
}

/// The most the estimate could cost on any candidate of `plan` (a budget must hold whichever
/// target serves); 0 when no candidate has a known price.
pub fn estimated_cost(plan: &Plan, estimate: Estimate) -> u64 {
    let tokens = TokenCounts {
        input: estimate.input,
        output: estimate.output,
        ..TokenCounts::default()
    };
    plan.groups
        .iter()
        .flat_map(|g| &g.routes)
        .filter_map(|r| r.price.and_then(|p| p.cost(tokens)))
        .max()
        .unwrap_or(0)
}

/// The real cost of a request served by `route`; 0 when its price is unknown.
pub fn real_cost(route: &Route, usage: Usage) -> Option<u64> {
    route.price?.cost(TokenCounts {
        input: usage.input,
        output: usage.output,
        cache_read: usage.cache_read,
        cache_write: usage.cache_write,
    })
}

/// The error for a refusal, naming the limit in words.
fn refusal(denied: Denied, tenant: &str, ask: Ask, scope: impl Fn(usize) -> (Limits, String)) -> GatewayError {
    let r = match denied {
        Denied::Limited(r) => r,
        Denied::Unavailable(why) => {
            return GatewayError::gateway(
                Class::LimitsUnavailable,
                format!(
                "tenant '{tenant}' cannot be admitted: its shared limits cannot be checked ({why}); try again shortly"
            ),
            )
            .with_retry_after(Duration::from_secs(1))
        }
    };
    crate::telemetry::rate_limited(
        tenant,
        match r.limit {
            Limit::Requests => "requests",
            Limit::Tokens => "tokens",
            Limit::Concurrent => "concurrent",
            Limit::DailyBudget => "usd_per_day",
            Limit::MonthlyBudget => "usd_per_month",
        },
    );
    let (limits, on) = scope(r.scope);
    let wait = r.retry_after.as_secs_f64().ceil().max(1.0);
    let usd = |n: Option<u64>| n.map_or(0.0, |n| n as f64 / 1e9);
    let (class, what) = match r.limit {
        Limit::Requests => (
            Class::RateLimited,
            format!("its limit of {} requests per minute", limits.rpm.unwrap_or(0)),
        ),
        Limit::Tokens => (
            Class::RateLimited,
            format!("its limit of {} tokens per minute", limits.tpm.unwrap_or(0)),
        ),
        Limit::Concurrent => (
            Class::RateLimited,
            format!("its limit of {} concurrent requests", limits.concurrent.unwrap_or(0)),
        ),
        Limit::DailyBudget | Limit::MonthlyBudget => {
            let (cap, period) = match r.limit {
                Limit::DailyBudget => (limits.usd_per_day, "day"),
                _ => (limits.usd_per_month, "month"),
            };
            return GatewayError::gateway(
                Class::BudgetExceeded,
                format!(
                    "tenant '{tenant}' has no room left in its budget of {:.2} USD per {period} for this request (estimated at up to {:.4} USD); the budget renews in {wait:.0} s",
                    usd(cap),
                    usd(Some(ask.cost)),
                ),
            )
            .with_retry_after(r.retry_after)
            .with_headroom(r.headroom);
        }
    };
    GatewayError::gateway(
        class,
        format!("tenant '{tenant}' is over {what}{on}; try again in {wait:.0} s"),
    )
    .with_retry_after(r.retry_after)
    .with_headroom(r.headroom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml_tenants: &str) -> Config {
        let text = format!(
            "models:\n  - name: m\n    deployments:\n      - provider: p\n        model: x\nproviders:\n  - name: p\n    type: openai\n    base_url: http://127.0.0.1:9/v1\ntenants:\n{yaml_tenants}"
        );
        crate::config::from_text(&text, "test.yaml", |_| None).unwrap()
    }

    #[tokio::test]
    async fn tenants_are_limited_and_refusals_name_the_limit() {
        let c = config("  - name: a\n    keys: [sk-a-00000]\n    rpm: 2\n  - name: b\n    keys: [sk-b-00000]\n");
        let a = Admission::local(&c);
        let ask = Ask { tokens: 10, cost: 0 };
        for _ in 0..2 {
            let p = a.tenant(0, 0, ask, &c).await.unwrap();
            assert_eq!(p.headroom().and_then(|h| h.requests.as_ref()).map(|w| w.limit), Some(2));
            a.settle(p, Some(Used { tokens: 10, cost: 0 }));
        }
        let e = a.tenant(0, 0, ask, &c).await.unwrap_err();
        assert_eq!(e.class, Class::RateLimited);
        assert!(
            e.message
                .contains("tenant 'a' is over its limit of 2 requests per minute"),
            "{}",
            e.message
        );
        assert!(e.retry_after.unwrap() > Duration::from_secs(50));
        // An unlimited tenant holds nothing.
        assert!(a.tenant(1, 0, ask, &c).await.unwrap().is_free());
    }

    #[tokio::test]
    async fn model_limits_and_budgets_refuse_with_their_own_words() {
        let c = config(
            "  - name: a\n    keys: [sk-a-00000]\n    budget: {usd_per_day: 1}\n    model_limits:\n      - {model: m, max_concurrent: 1}\n",
        );
        let a = Admission::local(&c);
        let held = a.tenant(0, 0, Ask { tokens: 1, cost: 0 }, &c).await.unwrap();
        let e = a.tenant(0, 0, Ask { tokens: 1, cost: 0 }, &c).await.unwrap_err();
        assert_eq!(e.class, Class::RateLimited);
        assert!(
            e.message.contains("1 concurrent requests on model 'm'"),
            "{}",
            e.message
        );
        a.cancel(held);
        let p = a
            .tenant(
                0,
                0,
                Ask {
                    tokens: 1,
                    cost: 600_000_000,
                },
                &c,
            )
            .await
            .unwrap();
        a.settle(
            p,
            Some(Used {
                tokens: 1,
                cost: 900_000_000,
            }),
        );
        let e = a
            .tenant(
                0,
                0,
                Ask {
                    tokens: 1,
                    cost: 200_000_000,
                },
                &c,
            )
            .await
            .unwrap_err();
        assert_eq!(e.class, Class::BudgetExceeded);
        assert!(
            e.message.contains("no room left in its budget of 1.00 USD per day"),
            "{}",
            e.message
        );
    }
}
