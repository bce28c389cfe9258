//! A candidate's own requests-per-minute and tokens-per-minute budget, enforced before the call
//! (GCRA-style buckets refilled continuously).

use std::time::Instant;

use parking_lot::Mutex;

/// Per-minute limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

#[derive(Debug)]
struct Levels {
    requests: f64,
    tokens: f64,
    at: Instant,
}

/// The local limiter of one candidate.
#[derive(Debug)]
pub struct LocalLimiter {
    budget: Budget,
    levels: Mutex<Levels>,
}

impl LocalLimiter {
    pub fn new(budget: Budget) -> Self {
        let levels = Levels {
            requests: f64::from(budget.rpm.unwrap_or(0)),
            tokens: f64::from(budget.tpm.unwrap_or(0)),
            at: Instant::now(),
        };
        LocalLimiter {
            budget,
            levels: Mutex::new(levels),
        }
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Takes one request and `tokens` estimated tokens, or nothing.
    pub fn try_take(&self, tokens: u64, now: Instant) -> bool {
        if self.budget.rpm.is_none() && self.budget.tpm.is_none() {
            return true;
        }
        let mut l = self.levels.lock();
        let minutes = now.saturating_duration_since(l.at).as_secs_f64() / 60.0;
        l.at = now;
        if let Some(rpm) = self.budget.rpm {
            l.requests = (l.requests + minutes * f64::from(rpm)).min(f64::from(rpm));
        }
        if let Some(tpm) = self.budget.tpm {
            l.tokens = (l.tokens + minutes * f64::from(tpm)).min(f64::from(tpm));
        }
        let need_tokens = match self.budget.tpm {
            Some(tpm) => (tokens as f64).min(f64::from(tpm)),
            None => 0.0,
        };
        let requests_ok = self.budget.rpm.is_none() || l.requests >= 1.0;
        let tokens_ok = self.budget.tpm.is_none() || l.tokens >= need_tokens;
        if requests_ok && tokens_ok {
            if self.budget.rpm.is_some() {
                l.requests -= 1.0;
            }
            l.tokens -= need_tokens;
            true
        } else {
            false
        }
    }

    /// Settles the token estimate against what the call really used.
    pub fn settle(&self, estimated: u64, actual: u64) {
        if let Some(tpm) = self.budget.tpm {
            let mut l = self.levels.lock();
            l.tokens = (l.tokens + estimated as f64 - actual as f64).min(f64::from(tpm));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rpm_and_tpm_limit_and_refill() {
        let t0 = Instant::now();
        let l = LocalLimiter::new(Budget {
            rpm: Some(2),
            tpm: Some(1000),
        });
        assert!(l.try_take(10, t0));
        assert!(l.try_take(10, t0));
        assert!(!l.try_take(10, t0));
        assert!(
            l.try_take(10, t0 + Duration::from_secs(30)),
            "half a minute refills one request"
        );
        let t = LocalLimiter::new(Budget {
            rpm: None,
            tpm: Some(100),
        });
        assert!(t.try_take(80, t0));
        assert!(!t.try_take(80, t0));
        t.settle(80, 10);
        assert!(t.try_take(80, t0));
        assert!(LocalLimiter::new(Budget::default()).try_take(u64::MAX, t0));
    }
}
