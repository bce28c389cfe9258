//! Control-plane rate limiting: one token bucket per (account, region), as AWS's control-plane
//! quotas are per account per region. A bucket starts full (`burst` tokens), refills at `rps`
//! tokens a second up to `burst`, and a call takes one token or is throttled.
//!
//! Invariant: `0 ≤ tokens ≤ burst`. Time is passed in, so the arithmetic is tested without
//! sleeping; the lock is held only for one bucket update.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

use crate::fleet::control_plane::RateLimit;

/// One bucket.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(limit: RateLimit, now: Instant) -> Self {
        TokenBucket {
            tokens: limit.burst,
            updated: now,
        }
    }

    /// Refills for the time since the last call, then takes one token if there is one.
    pub fn try_take(&mut self, limit: RateLimit, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * limit.per_second).min(limit.burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The buckets of every (account, region) that has called.
#[derive(Debug, Default)]
pub struct ControlPlaneBuckets {
    buckets: Mutex<HashMap<(usize, String), TokenBucket>>,
}

impl ControlPlaneBuckets {
    /// Takes a token from the caller's bucket (creating it full); false means throttled.
    pub fn try_take(&self, account: usize, region: &str, limit: RateLimit, now: Instant) -> bool {
        let mut buckets = self.buckets.lock();
        if let Some(bucket) = buckets.get_mut(&(account, region.to_string())) {
            return bucket.try_take(limit, now);
        }
        let mut bucket = TokenBucket::full(limit, now);
        let taken = bucket.try_take(limit, now);
        buckets.insert((account, region.to_string()), bucket);
        taken
    }

    /// Forgets every bucket (they start full again), e.g. when the limit changes.
    pub fn clear(&self) {
        self.buckets.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const LIMIT: RateLimit = RateLimit {
        per_second: 2.0,
        burst: 3.0,
    };

    #[test]
    fn a_full_bucket_allows_a_burst_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(LIMIT, t0);
        assert!((0..3).all(|_| bucket.try_take(LIMIT, t0)));
        assert!(!bucket.try_take(LIMIT, t0));
        // Half a second at 2/s is one token.
        assert!(bucket.try_take(LIMIT, t0 + Duration::from_millis(500)));
        assert!(!bucket.try_take(LIMIT, t0 + Duration::from_millis(500)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| bucket.try_take(LIMIT, later)).count(), 3);
    }

    #[test]
    fn a_clock_going_backwards_adds_nothing() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut bucket = TokenBucket::full(LIMIT, t0);
        assert!((0..3).all(|_| bucket.try_take(LIMIT, t0)));
        assert!(!bucket.try_take(LIMIT, t0 - Duration::from_secs(1)));
    }

    #[test]
    fn buckets_are_per_account_and_region() {
        let buckets = ControlPlaneBuckets::default();
        let now = Instant::now();
        let drain = |account, region| {
            (0..10)
                .filter(|_| buckets.try_take(account, region, LIMIT, now))
                .count()
        };
        assert_eq!(drain(0, "us-east-1"), 3);
        assert_eq!(drain(0, "us-west-2"), 3);
        assert_eq!(drain(1, "us-east-1"), 3);
        assert_eq!(drain(0, "us-east-1"), 0);
        buckets.clear();
        assert_eq!(drain(0, "us-east-1"), 3);
    }
}
