//! Limits kept in this process: the store of `Quotas::local()` and the stop-gap of a shared
//! `Quotas` while Redis cannot be asked.
//!
//! One mutex over all scopes: a reservation checks every scope and then takes from each under
//! one lock, so it is all or nothing, and the work under the lock is a scan of 61 slots per
//! scope. Scopes are found by key without allocating; a key's state is created on its first use
//! and kept (keys come from configuration, so they are a bounded set).

mod scope;
mod window;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use smallvec::SmallVec;

pub(crate) use scope::Ending;
use scope::{periods, ScopeState, Taken};

use crate::types::{Ask, Headroom, Refusal, Scope};

/// Where local time comes from: the system clock, or (tests) a clock the test moves.
#[derive(Debug, Clone, Default)]
pub(crate) enum Clock {
    #[default]
    System,
    #[cfg_attr(not(test), allow(dead_code))]
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// Milliseconds since the epoch (UTC, for budget periods).
    pub(crate) fn now_ms(&self) -> u64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            Clock::Manual(ms) => ms.load(Ordering::Relaxed),
        }
    }
}

/// What a local reservation took, scope by scope.
#[derive(Debug)]
pub(crate) struct LocalGrant {
    taken: SmallVec<[(u32, Taken); 3]>,
}

#[derive(Debug, Default)]
struct Table {
    index: HashMap<Box<str>, u32>,
    states: Vec<ScopeState>,
    next_lease: u64,
}

impl Table {
    fn state_of(&mut self, key: &str) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = u32::try_from(self.states.len()).unwrap_or(u32::MAX);
        self.states.push(ScopeState::default());
        self.index.insert(key.into(), i);
        i
    }
}

/// The scopes' states in this process.
#[derive(Debug)]
pub(crate) struct LocalStore {
    table: Mutex<Table>,
    clock: Clock,
    lease: Duration,
}

impl LocalStore {
    pub(crate) fn new(clock: Clock, lease: Duration) -> Self {
        LocalStore {
            table: Mutex::new(Table::default()),
            clock,
            lease,
        }
    }

    pub(crate) fn set_lease(&mut self, lease: Duration) {
        self.lease = lease;
    }

    /// Reserves `ask` in every scope or in none.
    pub(crate) fn reserve(&self, scopes: &[Scope<'_>], ask: Ask) -> Result<(LocalGrant, Headroom), Refusal> {
        let now_ms = self.clock.now_ms();
        let (day, month) = periods(now_ms);
        let mut table = self.table.lock();
        let mut found: SmallVec<[Option<u32>; 4]> = SmallVec::new();
        for scope in scopes {
            if scope.limits.is_unlimited() {
                found.push(None);
                continue;
            }
            let i = table.state_of(scope.key);
            found.push(Some(i));
            if let Some(state) = table.states.get_mut(i as usize) {
                state.prepare(now_ms, day, month);
            }
        }
        let headroom = |table: &Table| match (scopes.first(), found.first()) {
            (Some(scope), Some(Some(i))) => table
                .states
                .get(*i as usize)
                .map(|s| s.headroom(scope.limits, now_ms))
                .unwrap_or_default(),
            _ => Headroom::default(),
        };
        for (n, (scope, i)) in scopes.iter().zip(&found).enumerate() {
            let Some(state) = i.and_then(|i| table.states.get(i as usize)) else {
                continue;
            };
            if let Some((limit, retry_ms)) = state.refusal(scope.limits, ask, now_ms, day, month) {
                return Err(Refusal {
                    scope: n,
                    limit,
                    retry_after: Duration::from_millis(retry_ms),
                    headroom: headroom(&table),
                });
            }
        }
        let expires_ms = now_ms.saturating_add(u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX));
        let mut taken = SmallVec::new();
        for (scope, i) in scopes.iter().zip(&found) {
            let Some(i) = *i else { continue };
            let id = table.next_lease;
            table.next_lease += 1;
            if let Some(state) = table.states.get_mut(i as usize) {
                taken.push((i, state.take(scope.limits, ask, now_ms, (id, expires_ms))));
            }
        }
        Ok((LocalGrant { taken }, headroom(&table)))
    }

    /// Ends a reservation: settled with its usage, with its estimate, or cancelled.
    pub(crate) fn end(&self, grant: LocalGrant, ending: Ending) {
        let mut table = self.table.lock();
        for (i, taken) in &grant.taken {
            if let Some(state) = table.states.get_mut(*i as usize) {
                state.end(taken, ending);
            }
        }
    }
}
