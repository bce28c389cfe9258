//! Admission: a request takes its share of a budget before it runs and settles it with what it
//! really used after. Budgets are a tenant's (RPM/TPM over all its requests) and a deployment's
//! (one logical model's use of one target). [`LocalAdmission`] keeps them in this process; a
//! shared implementation (Redis) takes the same calls when replicas must agree.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use strata_router::{Budget, LocalLimiter, Reservation};

use crate::routes::Route;

/// What a budget belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// A tenant (index into `Config::tenants`).
    Tenant(usize),
    /// A logical model's use of one target: the route carries the budget and its key.
    Deployment(&'a Route),
}

/// A refusal: the budget has no room for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// When there may be room again.
    pub retry_after: Duration,
}

/// A share of a budget, held until settled.
#[derive(Debug)]
#[must_use = "a permit is settled with the real usage"]
pub struct Permit {
    held: Held,
}

#[derive(Debug)]
enum Held {
    /// Nothing was taken (no budget).
    Nothing,
    Local(Arc<LocalLimiter>, Reservation),
}

impl Permit {
    /// A permit that holds nothing (unlimited).
    pub fn free() -> Self {
        Permit { held: Held::Nothing }
    }

    /// Whether the permit holds nothing to settle.
    pub fn is_free(&self) -> bool {
        matches!(self.held, Held::Nothing)
    }

    /// Tokens reserved.
    pub fn tokens(&self) -> u64 {
        match &self.held {
            Held::Nothing => 0,
            Held::Local(_, r) => r.tokens,
        }
    }
}

/// Takes and settles budgets.
pub trait Admission: Send + Sync {
    /// Reserves one request and `tokens` estimated tokens in `scope`'s budget.
    fn reserve<'a>(&'a self, scope: Scope<'a>, tokens: u64) -> BoxFuture<'a, Result<Permit, Refused>>;

    /// Replaces the estimate with the tokens really used; `None` when the usage is unknown (the
    /// estimate stands).
    fn settle(&self, permit: Permit, used: Option<u64>);
}

/// Budgets kept in this process: each tenant's, and each route's own (carried across route
/// compilations by logical model and target).
#[derive(Debug)]
pub struct LocalAdmission {
    tenants: Vec<Arc<LocalLimiter>>,
}

impl LocalAdmission {
    /// One budget per tenant, indexed like `Config::tenants`.
    pub fn new(tenants: impl IntoIterator<Item = Budget>) -> Self {
        LocalAdmission {
            tenants: tenants.into_iter().map(|b| Arc::new(LocalLimiter::new(b))).collect(),
        }
    }

    fn limiter<'a>(&'a self, scope: Scope<'a>) -> Option<&'a Arc<LocalLimiter>> {
        match scope {
            Scope::Tenant(t) => self.tenants.get(t),
            Scope::Deployment(route) => Some(&route.limiter),
        }
    }

    /// The same as [`Admission::reserve`], without a future.
    pub fn reserve_now(&self, scope: Scope<'_>, tokens: u64) -> Result<Permit, Refused> {
        let Some(limiter) = self.limiter(scope).filter(|l| !l.budget().unlimited()) else {
            return Ok(Permit::free());
        };
        match limiter.try_take(tokens, Instant::now()) {
            Ok(r) => Ok(Permit {
                held: Held::Local(Arc::clone(limiter), r),
            }),
            Err(retry_after) => Err(Refused { retry_after }),
        }
    }
}

impl Admission for LocalAdmission {
    fn reserve<'a>(&'a self, scope: Scope<'a>, tokens: u64) -> BoxFuture<'a, Result<Permit, Refused>> {
        Box::pin(std::future::ready(self.reserve_now(scope, tokens)))
    }

    fn settle(&self, permit: Permit, used: Option<u64>) {
        if let (Held::Local(limiter, reservation), Some(used)) = (permit.held, used) {
            limiter.settle(reservation, used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(rpm: Option<u32>, tpm: Option<u32>) -> Budget {
        Budget { rpm, tpm }
    }

    #[tokio::test]
    async fn tenants_are_limited_and_settled_with_real_usage() {
        let a = LocalAdmission::new([budget(Some(3), None), budget(None, Some(1000)), Budget::default()]);
        for _ in 0..3 {
            let p = a.reserve(Scope::Tenant(0), 10).await.unwrap();
            a.settle(p, Some(10));
        }
        let refused = a.reserve(Scope::Tenant(0), 10).await.unwrap_err();
        assert!(refused.retry_after > Duration::from_secs(59));
        // TPM: the estimate is held until settled, then only the real usage counts.
        let p = a.reserve(Scope::Tenant(1), 900).await.unwrap();
        assert_eq!(p.tokens(), 900);
        assert!(a.reserve(Scope::Tenant(1), 200).await.is_err());
        a.settle(p, Some(100));
        let q = a.reserve(Scope::Tenant(1), 800).await.unwrap();
        a.settle(q, None);
        assert!(
            a.reserve(Scope::Tenant(1), 200).await.is_err(),
            "an unknown usage keeps the estimate"
        );
        // Unlimited tenants and unknown tenants hold nothing.
        assert_eq!(a.reserve(Scope::Tenant(2), u64::MAX).await.unwrap().tokens(), 0);
        assert_eq!(a.reserve(Scope::Tenant(9), 1).await.unwrap().tokens(), 0);
    }
}
