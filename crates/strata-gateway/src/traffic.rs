//! The last minute of traffic, in memory, for the dashboard and `GET /admin/traffic`: requests,
//! errors and tokens over a rolling 60 s window, for the whole gateway, per tenant and per
//! target (each upstream attempt counts for the route it called). Fed once per request by the
//! account layer; lock-light: a look-up under a read lock (a write lock only the first time a
//! tenant or target is seen), then relaxed atomics in one-second buckets.
//!
//! A bucket is reused every 60 s: the first writer of a new second resets it. Two writers
//! racing on that reset may lose a count; the window is a live view, not the books (the usage
//! store is).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::Serialize;

use crate::config::{Config, Target};
use crate::request::execute::Outcome;
use crate::request::record::Record;

/// Seconds the window covers.
pub const WINDOW_SECONDS: u64 = 60;

#[derive(Debug, Default)]
struct Bucket {
    /// The unix second this bucket counts (`0`: never used).
    second: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    tokens: AtomicU64,
}

/// Counts over the last [`WINDOW_SECONDS`] in one-second buckets.
#[derive(Debug)]
pub struct Window {
    buckets: [Bucket; WINDOW_SECONDS as usize],
}

impl Default for Window {
    fn default() -> Self {
        Window {
            buckets: std::array::from_fn(|_| Bucket::default()),
        }
    }
}

/// What a window counted in the last minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
    pub tokens: u64,
}

impl Window {
    /// Counts one event at unix second `now`.
    pub fn add(&self, now: u64, error: bool, tokens: u64) {
        let bucket = &self.buckets[(now % WINDOW_SECONDS) as usize];
        let seen = bucket.second.load(Ordering::Acquire);
        if seen != now
            && bucket
                .second
                .compare_exchange(seen, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            bucket.requests.store(0, Ordering::Relaxed);
            bucket.errors.store(0, Ordering::Relaxed);
            bucket.tokens.store(0, Ordering::Relaxed);
        }
        bucket.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            bucket.errors.fetch_add(1, Ordering::Relaxed);
        }
        bucket.tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    /// The counts of the last minute as of unix second `now` (the current second included).
    pub fn last_minute(&self, now: u64) -> Counts {
        let mut counts = Counts::default();
        for bucket in &self.buckets {
            let second = bucket.second.load(Ordering::Acquire);
            if second == 0 || second > now || now - second >= WINDOW_SECONDS {
                continue;
            }
            counts.requests += bucket.requests.load(Ordering::Relaxed);
            counts.errors += bucket.errors.load(Ordering::Relaxed);
            counts.tokens += bucket.tokens.load(Ordering::Relaxed);
        }
        counts
    }
}

/// One target's window, with where it is.
#[derive(Debug, Default)]
struct TargetWindow {
    account: String,
    region: String,
    window: Window,
}

/// A target's last minute: the route label, its account and region (empty for OpenAI-compatible
/// providers) and its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetCounts {
    pub target: String,
    pub account: String,
    pub region: String,
    /// `requests` are attempts here; `errors` the attempts that failed.
    #[serde(flatten)]
    pub counts: Counts,
}

/// The gateway's traffic windows; kept across config reloads.
#[derive(Debug, Default)]
pub struct Traffic {
    all: Window,
    /// Requests a baseline target answered.
    baseline: Window,
    tenants: RwLock<HashMap<String, Arc<Window>>>,
    targets: RwLock<HashMap<String, Arc<TargetWindow>>>,
}

/// The current unix second.
pub fn now_seconds() -> u64 {
    u64::try_from(crate::tenants::keys::now_ms() / 1000).unwrap_or(0)
}

impl Traffic {
    /// Counts one finished request (called once, by the account layer).
    pub fn record(&self, config: &Config, r: &Record) {
        self.record_at(now_seconds(), config, r);
    }

    fn record_at(&self, now: u64, config: &Config, r: &Record) {
        let error = r.error.is_some();
        let tokens = r.usage.map(|u| u.total()).unwrap_or(0);
        self.all.add(now, error, tokens);
        if r.baseline {
            self.baseline.add(now, error, tokens);
        }
        if let Some(tenant) = r.tenant.and_then(|t| config.tenants.get(t)) {
            self.tenant_window(&tenant.name).add(now, error, tokens);
        }
        for a in &r.attempts {
            let window = self.target_window(&a.route.label, || match &a.route.target {
                Target::Bedrock { account, region, .. } => (
                    config
                        .accounts
                        .get(*account)
                        .map(|x| x.name.clone())
                        .unwrap_or_default(),
                    region.to_string(),
                ),
                Target::OpenAi { .. } => (String::new(), String::new()),
            });
            let ok = a.outcome == Outcome::Ok;
            window.window.add(now, !ok, if ok { tokens } else { 0 });
        }
    }

    fn tenant_window(&self, name: &str) -> Arc<Window> {
        if let Some(w) = self.tenants.read().get(name) {
            return Arc::clone(w);
        }
        Arc::clone(self.tenants.write().entry(name.to_string()).or_default())
    }

    fn target_window(&self, label: &str, place: impl FnOnce() -> (String, String)) -> Arc<TargetWindow> {
        if let Some(w) = self.targets.read().get(label) {
            return Arc::clone(w);
        }
        let (account, region) = place();
        Arc::clone(self.targets.write().entry(label.to_string()).or_insert_with(|| {
            Arc::new(TargetWindow {
                account,
                region,
                window: Window::default(),
            })
        }))
    }

    /// Every request in the last minute.
    pub fn total(&self, now: u64) -> Counts {
        self.all.last_minute(now)
    }

    /// Requests a baseline target answered in the last minute.
    pub fn baseline(&self, now: u64) -> Counts {
        self.baseline.last_minute(now)
    }

    /// One tenant's last minute (zero when it sent nothing).
    pub fn tenant(&self, name: &str, now: u64) -> Counts {
        self.tenants
            .read()
            .get(name)
            .map(|w| w.last_minute(now))
            .unwrap_or_default()
    }

    /// Targets with attempts in the last minute, busiest first.
    pub fn targets(&self, now: u64) -> Vec<TargetCounts> {
        let mut out: Vec<TargetCounts> = self
            .targets
            .read()
            .iter()
            .map(|(label, w)| TargetCounts {
                target: label.clone(),
                account: w.account.clone(),
                region: w.region.clone(),
                counts: w.window.last_minute(now),
            })
            .filter(|t| t.counts.requests > 0)
            .collect();
        out.sort_by(|a, b| b.counts.requests.cmp(&a.counts.requests).then(a.target.cmp(&b.target)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_forgets_what_is_older_than_a_minute() {
        let w = Window::default();
        w.add(1_000, false, 10);
        w.add(1_000, true, 0);
        w.add(1_030, false, 5);
        assert_eq!(
            w.last_minute(1_030),
            Counts {
                requests: 3,
                errors: 1,
                tokens: 15
            }
        );
        assert_eq!(w.last_minute(1_059).requests, 3);
        assert_eq!(w.last_minute(1_060).requests, 1, "second 1000 is out at 1060");
        assert_eq!(w.last_minute(1_090), Counts::default());
    }

    #[test]
    fn a_reused_bucket_starts_from_zero() {
        let w = Window::default();
        w.add(1_000, true, 7);
        w.add(1_060, false, 1); // same bucket, a minute later
        assert_eq!(
            w.last_minute(1_060),
            Counts {
                requests: 1,
                errors: 0,
                tokens: 1
            }
        );
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let w = Arc::new(Window::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let w = Arc::clone(&w);
                std::thread::spawn(move || (0..1000).for_each(|_| w.add(5_000, false, 1)))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(w.last_minute(5_010).requests, 4000);
    }
}
