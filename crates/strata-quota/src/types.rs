//! The vocabulary of the crate: what a scope's limits are, what a request asks for and used,
//! and what a refusal says. Plain data, shared by the local and the shared store.

use std::time::Duration;

/// Nano-USD: costs and budgets as integers, so sums are exact (one USD is 10⁹).
pub type Nanos = u64;

/// The limits of one scope; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests admitted in any sliding minute.
    pub rpm: Option<u32>,
    /// Tokens admitted in any sliding minute (estimates until settled, then real usage).
    pub tpm: Option<u32>,
    /// Requests in flight at once.
    pub concurrent: Option<u32>,
    /// Spend per UTC day.
    pub usd_per_day: Option<Nanos>,
    /// Spend per UTC calendar month.
    pub usd_per_month: Option<Nanos>,
}

impl Limits {
    /// Whether nothing is limited (such a scope takes nothing and costs nothing).
    pub fn is_unlimited(&self) -> bool {
        self.rpm.is_none()
            && self.tpm.is_none()
            && self.concurrent.is_none()
            && self.usd_per_day.is_none()
            && self.usd_per_month.is_none()
    }

    /// Whether a reservation in this scope is held in flight (a lease): only what a crashed
    /// replica could leave taken forever needs one.
    pub(crate) fn needs_lease(&self) -> bool {
        self.concurrent.is_some() || self.usd_per_day.is_some() || self.usd_per_month.is_some()
    }
}

/// One budget a request is counted in: its key names it across replicas (for example
/// `t:acme`, `t:acme:m:claude`, `d:claude:prod/us-east-1/…`).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub key: &'a str,
    pub limits: &'a Limits,
}

/// The estimate reserved before the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ask {
    pub tokens: u64,
    pub cost: Nanos,
}

/// The real usage after the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Used {
    pub tokens: u64,
    pub cost: Nanos,
}

/// Which limit refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    Requests,
    Tokens,
    Concurrent,
    DailyBudget,
    MonthlyBudget,
}

impl Limit {
    /// The code the Lua script returns for each limit (and the order ties are broken in).
    pub(crate) fn from_code(code: i64) -> Option<Limit> {
        Some(match code {
            1 => Limit::Requests,
            2 => Limit::Tokens,
            3 => Limit::Concurrent,
            4 => Limit::DailyBudget,
            5 => Limit::MonthlyBudget,
            _ => return None,
        })
    }
}

/// One sliding-minute limit as OpenAI's `x-ratelimit-*` headers describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u64,
    pub remaining: u64,
    /// When the oldest counted second leaves the window (so `remaining` grows again).
    pub reset: Duration,
}

/// The first scope's requests and tokens windows (`None` where that scope has no such limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Headroom {
    pub requests: Option<Window>,
    pub tokens: Option<Window>,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Index into the scopes passed to `reserve`: the first that had no room.
    pub scope: usize,
    /// Of that scope's limits without room, the one that frees last.
    pub limit: Limit,
    /// When that limit has room again (concurrency: a guess of one second).
    pub retry_after: Duration,
    /// The first scope's windows as they stand (nothing was taken).
    pub headroom: Headroom,
}

/// A reservation that was not granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// A limit has no room.
    Limited(Refusal),
    /// The shared store could not be asked and the fail mode is closed.
    Unavailable(String),
}

/// What to do when the shared store (Redis) cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Apply the same limits in this process until Redis answers again.
    Open,
    /// Refuse with [`Denied::Unavailable`].
    Closed,
}

impl FailMode {
    /// The metrics label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            FailMode::Open => "open",
            FailMode::Closed => "closed",
        }
    }
}

/// Errors building a [`crate::Quotas`].
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error("invalid Redis URL for quotas (expected redis://host:port/db): {0}")]
    BadUrl(#[source] redis::RedisError),
}
