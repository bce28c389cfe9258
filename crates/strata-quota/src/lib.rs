//! Tenant and deployment limits: requests and tokens per sliding minute, requests in flight, and
//! spend per UTC day and month, counted per scope (a tenant, a tenant's model, a deployment).
//!
//! A request reserves its estimate in all its scopes at once before the call (all or nothing)
//! and settles with its real usage after it. [`Quotas::local`] keeps the counts in this process;
//! [`Quotas::shared`] keeps them in Redis, where one Lua script per reservation makes the limits
//! exact across any number of gateway replicas. Both follow the same rules (one conformance
//! suite runs against both); when Redis cannot be asked, the [`FailMode`] decides between the
//! same limits kept locally as a stop-gap and a refusal.
//!
//! Reservations that are never settled (a replica crashed) stop holding their concurrency slot
//! and reserved spend after a lease (10 minutes unless set with [`Quotas::with_lease`]).

mod grant;
mod local;
mod period;
mod shared;
mod types;

use std::sync::Arc;
use std::time::Duration;

pub use grant::Grant;
pub use types::{Ask, Denied, FailMode, Headroom, Limit, Limits, Nanos, QuotaError, Refusal, Scope, Used, Window};

use grant::Held;
use local::{Clock, Ending, LocalStore};
use shared::SharedStore;

/// The default lease of a reservation in flight.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(600);

/// The one entry point: reserve, settle, cancel. `Send + Sync`; share it in an `Arc`.
#[derive(Debug)]
pub struct Quotas {
    /// The store in local mode; the stop-gap while Redis cannot be asked in shared mode.
    local: LocalStore,
    shared: Option<Arc<SharedStore>>,
}

impl Quotas {
    /// Limits kept in this process only.
    pub fn local() -> Quotas {
        Quotas::with_clock(Clock::System, None)
    }

    /// Limits shared through Redis at `redis_url`, every key under `namespace:`.
    ///
    /// Fails only on a malformed URL: Redis is first asked at the first reservation, so the
    /// gateway starts while Redis is down and applies its fail mode until Redis answers.
    pub fn shared(redis_url: &str, namespace: &str) -> Result<Quotas, QuotaError> {
        let store = SharedStore::new(redis_url, namespace, DEFAULT_LEASE)?;
        Ok(Quotas::with_clock(Clock::System, Some(store)))
    }

    fn with_clock(clock: Clock, shared: Option<SharedStore>) -> Quotas {
        Quotas {
            local: LocalStore::new(clock, DEFAULT_LEASE),
            shared: shared.map(Arc::new),
        }
    }

    /// Sets how long an unsettled reservation holds its concurrency slot and reserved spend.
    /// Call before the first reservation.
    pub fn with_lease(mut self, lease: Duration) -> Quotas {
        self.local.set_lease(lease);
        if let Some(store) = self.shared.as_mut().and_then(Arc::get_mut) {
            store.set_lease(lease);
        }
        self
    }

    /// Sets how long a Redis call may take before it counts as failed (default 250 ms: a dead
    /// Redis must not stall requests). Call before the first reservation.
    pub fn with_redis_timeout(mut self, timeout: Duration) -> Quotas {
        if let Some(store) = self.shared.as_mut().and_then(Arc::get_mut) {
            store.set_timeout(timeout);
        }
        self
    }

    /// Whether the limits are shared through Redis.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Reserves one request and `ask` in every scope, atomically: all scopes or none (in shared
    /// mode, one Lua script call: one round trip). Unlimited scopes take nothing.
    pub async fn reserve(&self, scopes: &[Scope<'_>], ask: Ask, fail: FailMode) -> Result<Grant, Denied> {
        if scopes.iter().all(|s| s.limits.is_unlimited()) {
            return Ok(Grant::free());
        }
        if let Some(store) = &self.shared {
            // Boxed: the Redis call's future (~800 bytes) would otherwise be part of every
            // reservation's, and so of every request's future for as long as it waits on its
            // upstream, shared limits or not (`-Zprint-type-sizes`: 888 → 96 bytes here).
            match Box::pin(store.reserve(scopes, ask, fail)).await {
                Ok(Ok((grant, headroom))) => return Ok(Grant::new(Held::Shared(grant), headroom)),
                Ok(Err(refusal)) => return Err(Denied::Limited(refusal)),
                Err(unavailable) if fail == FailMode::Closed => return Err(Denied::Unavailable(unavailable)),
                Err(_) => {}
            }
        }
        match self.local.reserve(scopes, ask) {
            Ok((grant, headroom)) => Ok(Grant::new(Held::Local(grant), headroom)),
            Err(refusal) => Err(Denied::Limited(refusal)),
        }
    }

    /// Replaces the estimate with the real usage (`None`: usage unknown, the estimate stands)
    /// and frees the concurrency slot. Never blocks: in shared mode the settle rides on this
    /// replica's next reservation, or is sent alone within milliseconds ([`Quotas::flush`]
    /// sends it now and waits for it).
    pub fn settle(&self, grant: Grant, used: Option<Used>) {
        let ending = match used {
            Some(u) => Ending::Used {
                tokens: u.tokens,
                cost: u.cost,
            },
            None => Ending::Estimate,
        };
        self.end(grant, ending);
    }

    /// Undoes a reservation entirely (the request was not sent).
    pub fn cancel(&self, grant: Grant) {
        self.end(grant, Ending::Cancel);
    }

    fn end(&self, grant: Grant, ending: Ending) {
        match grant.into_held() {
            Held::Nothing => {}
            Held::Local(grant) => self.local.end(grant, ending),
            Held::Shared(grant) => {
                if let Some(store) = &self.shared {
                    store.queue_end(grant, ending);
                }
            }
        }
    }

    /// Sends the settles and cancels waiting in shared mode and waits until every one queued so
    /// far has been answered (shutdown, tests).
    pub async fn flush(&self) {
        if let Some(store) = &self.shared {
            store.settled().await;
        }
    }
}

#[cfg(test)]
mod tests;
