//! Exponential backoff with full jitter (AWS's recommended form), honouring `retry-after`.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait before retry number `retry` (1 for the first retry): a uniform draw in
    /// `[0, min(max, base * 2^(retry-1))]`, but never less than the upstream's `retry-after`
    /// (capped at `max`).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(retry);
        let drawn = if ceiling.is_zero() {
            Duration::ZERO
        } else {
            rng.random_range(Duration::ZERO..=ceiling)
        };
        self.at_least(drawn, retry_after)
    }

    /// Like [`Backoff::delay`], but drawn from the upper half (`[ceiling/2, ceiling]`): for
    /// polling something known to become ready (a loading model), where a near-zero wait would
    /// only ask again too soon.
    pub fn poll_delay(&self, retry: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(retry);
        self.at_least(rng.random_range(ceiling / 2..=ceiling), retry_after)
    }

    /// `base * 2^(retry-1)`, at most `max`.
    fn ceiling(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(20);
        self.base.saturating_mul(1u32 << exp).min(self.max)
    }

    /// `drawn`, but never less than the upstream's `retry-after` (capped at `max`).
    fn at_least(&self, drawn: Duration, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(after) => drawn.max(after.min(self.max)),
            None => drawn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_the_cap_and_respect_retry_after() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let mut rng = rand::rng();
        for retry in 1..10 {
            let d = b.delay(retry, None, &mut rng);
            let cap = Duration::from_millis(100 * (1 << (retry - 1))).min(Duration::from_secs(1));
            assert!(d <= cap, "{retry}: {d:?} > {cap:?}");
        }
        assert!(b.delay(1, Some(Duration::from_millis(700)), &mut rng) >= Duration::from_millis(700));
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(60)), &mut rng),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn polling_waits_at_least_half_the_ceiling() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let mut rng = rand::rng();
        for retry in 1..10 {
            let d = b.poll_delay(retry, None, &mut rng);
            let cap = Duration::from_millis(100 * (1 << (retry - 1))).min(Duration::from_secs(1));
            assert!(
                d >= cap / 2 && d <= cap,
                "{retry}: {d:?} outside [{:?}, {cap:?}]",
                cap / 2
            );
        }
    }
}
