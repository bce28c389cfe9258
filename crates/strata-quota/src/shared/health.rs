//! Whether Redis is worth asking: after a failure it is skipped for a short back-off (so a dead
//! Redis costs one timeout per back-off, not one per request), then asked again, so it is used
//! again without a restart once it answers. Failures are counted and logged at most once per
//! warning interval.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::types::FailMode;

/// Redis calls that failed (connection refused, timeout, script error), by fail mode.
pub(crate) const SHARED_ERRORS: &str = "strata_quota_shared_errors_total";

const BACKOFF: Duration = Duration::from_secs(1);
const WARN_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct Health {
    origin: Instant,
    /// Milliseconds since `origin` before which Redis is not asked.
    skip_until: AtomicU64,
    /// Milliseconds since `origin` of the last warning, plus one (0: never warned).
    last_warning: AtomicU64,
    down: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            origin: Instant::now(),
            skip_until: AtomicU64::new(0),
            last_warning: AtomicU64::new(0),
            down: AtomicBool::new(false),
        }
    }
}

impl Health {
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether Redis may be asked now (not in a back-off).
    pub(crate) fn may_ask(&self) -> bool {
        self.elapsed_ms() >= self.skip_until.load(Ordering::Relaxed)
    }

    /// Records a failed call: counted, logged now and then, and Redis skipped for a while.
    pub(crate) fn failed(&self, what: &str, error: &str, fail: FailMode) {
        metrics::counter!(SHARED_ERRORS, "fail_mode" => fail.label()).increment(1);
        let now = self.elapsed_ms();
        self.skip_until
            .store(now.saturating_add(BACKOFF.as_millis() as u64), Ordering::Relaxed);
        self.down.store(true, Ordering::Relaxed);
        let last = self.last_warning.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last - 1) >= WARN_EVERY.as_millis() as u64;
        if due
            && self
                .last_warning
                .compare_exchange(last, now + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                what,
                error,
                fail_mode = fail.label(),
                "quota store (Redis) failed; limits are applied {} until it answers",
                match fail {
                    FailMode::Open => "in this process",
                    FailMode::Closed => "by refusing requests",
                }
            );
        }
    }

    /// Records a call that succeeded.
    pub(crate) fn answered(&self) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("quota store (Redis) answers again; limits are shared");
        }
    }
}
