//! Requests-per-minute and tokens-per-minute buckets per account × region × model, with
//! cross-region (profile) quotas kept apart from in-region ones.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

use crate::fleet::Quota;

/// Which bucket a call draws from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuotaKey {
    pub account: usize,
    pub region: String,
    /// The model ID for in-region calls, the profile ID for profile calls.
    pub model: String,
    pub cross_region: bool,
}

#[derive(Debug)]
struct Buckets {
    quota: Quota,
    requests: f64,
    tokens: f64,
    refilled: Instant,
}

impl Buckets {
    fn new(quota: Quota, now: Instant) -> Self {
        Buckets {
            quota,
            requests: quota.rpm as f64,
            tokens: quota.tpm as f64,
            refilled: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let minutes = now.duration_since(self.refilled).as_secs_f64() / 60.0;
        self.requests = (self.requests + minutes * self.quota.rpm as f64).min(self.quota.rpm as f64);
        self.tokens = (self.tokens + minutes * self.quota.tpm as f64).min(self.quota.tpm as f64);
        self.refilled = now;
    }
}

/// All buckets; created lazily at their quota's full level.
#[derive(Debug, Default)]
pub struct QuotaBook {
    buckets: Mutex<HashMap<QuotaKey, Buckets>>,
}

impl QuotaBook {
    /// Takes one request and `tokens` tokens and returns the tokens taken, or refuses without
    /// taking anything. A request bigger than the whole token quota passes only when the bucket
    /// is full, and then takes all of it: a minute's worth is all a bucket can ever hold.
    pub fn try_acquire(&self, key: &QuotaKey, quota: Quota, tokens: u64) -> Option<u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let b = match buckets.get_mut(key) {
            Some(b) => b,
            None => buckets.entry(key.clone()).or_insert_with(|| Buckets::new(quota, now)),
        };
        if b.quota != quota {
            *b = Buckets::new(quota, now);
        }
        b.refill(now);
        let taken = tokens.min(u64::from(quota.tpm));
        if b.requests >= 1.0 && b.tokens >= taken as f64 {
            b.requests -= 1.0;
            b.tokens -= taken as f64;
            Some(taken)
        } else {
            None
        }
    }

    /// Gives back tokens reserved but not used.
    pub fn refund(&self, key: &QuotaKey, tokens: u64) {
        if let Some(b) = self.buckets.lock().get_mut(key) {
            b.tokens = (b.tokens + tokens as f64).min(b.quota.tpm as f64);
        }
    }

    /// The fraction of request quota left (1.0 when never used), for load-aware placement.
    pub fn free_fraction(&self, key: &QuotaKey) -> f64 {
        match self.buckets.lock().get_mut(key) {
            Some(b) => {
                b.refill(Instant::now());
                if b.quota.rpm == 0 {
                    0.0
                } else {
                    b.requests / b.quota.rpm as f64
                }
            }
            None => 1.0,
        }
    }

    pub fn clear(&self) {
        self.buckets.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_tokens_are_limited_separately() {
        let book = QuotaBook::default();
        let key = QuotaKey {
            account: 0,
            region: "us-east-1".into(),
            model: "m".into(),
            cross_region: false,
        };
        let quota = Quota { rpm: 2, tpm: 1000 };
        assert_eq!(book.try_acquire(&key, quota, 100), Some(100));
        assert_eq!(book.try_acquire(&key, quota, 100), Some(100));
        assert_eq!(book.try_acquire(&key, quota, 1), None, "third request in a minute");
        let other = QuotaKey {
            cross_region: true,
            ..key.clone()
        };
        let small = Quota { rpm: 10, tpm: 100 };
        assert_eq!(book.try_acquire(&other, small, 60), Some(60));
        assert_eq!(book.try_acquire(&other, small, 60), None, "tokens exhausted");
        book.refund(&other, 60);
        assert_eq!(book.try_acquire(&other, small, 60), Some(60));
        let huge = QuotaKey {
            model: "huge".into(),
            ..key
        };
        assert_eq!(
            book.try_acquire(&huge, small, 5000),
            Some(100),
            "a full bucket admits an oversize request once"
        );
        assert_eq!(book.try_acquire(&huge, small, 5000), None);
    }
}
