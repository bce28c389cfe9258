//! Requests-per-minute and tokens-per-minute budgets over a sliding minute: what a limiter
//! admitted is counted for at least sixty seconds, so the requests and tokens admitted in any
//! minute never pass the budget (tokens: by more than what one request used beyond its
//! estimate). Tokens are reserved from an estimate before the call and settled with the real
//! usage after it.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Per-minute limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

impl Budget {
    pub fn unlimited(self) -> bool {
        self.rpm.is_none() && self.tpm.is_none()
    }
}

/// One-second slots: the current second and the sixty before it (61, so that a second's
/// admissions are still counted sixty seconds after its end, never fewer).
const SLOTS: usize = 61;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Seconds since the limiter's origin; a slot of another second is empty.
    second: u64,
    requests: u32,
    tokens: u64,
}

/// What a limiter took for one request, to settle later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    second: u64,
    /// Tokens taken from the budget.
    pub tokens: u64,
}

/// The local limiter of one budget (a deployment, a tenant).
#[derive(Debug)]
pub struct LocalLimiter {
    budget: Budget,
    origin: Instant,
    slots: Mutex<[Slot; SLOTS]>,
}

impl LocalLimiter {
    pub fn new(budget: Budget) -> Self {
        LocalLimiter {
            budget,
            origin: Instant::now(),
            slots: Mutex::new([Slot::default(); SLOTS]),
        }
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs()
    }

    /// Takes one request and `tokens` estimated tokens (at most the whole budget, so that one
    /// large request can still pass alone), or says how long until there is room.
    pub fn try_take(&self, tokens: u64, now: Instant) -> Result<Reservation, Duration> {
        let second = self.second(now);
        if self.budget.unlimited() {
            return Ok(Reservation { second, tokens: 0 });
        }
        let tpm = self.budget.tpm.map(u64::from);
        let need = tpm.map_or(0, |t| tokens.min(t));
        let mut slots = self.slots.lock();
        let live = |s: &Slot| s.second + (SLOTS as u64) > second && s.second <= second;
        let (mut requests, mut used) = (0u64, 0u64);
        for s in slots.iter().filter(|s| live(s)) {
            requests += u64::from(s.requests);
            used = used.saturating_add(s.tokens);
        }
        let fits = |requests: u64, used: u64| {
            self.budget.rpm.is_none_or(|rpm| requests < u64::from(rpm)) && tpm.is_none_or(|t| used + need <= t)
        };
        if !fits(requests, used) {
            // The wait: until enough of the oldest seconds have left the window.
            let mut live: Vec<Slot> = slots.iter().copied().filter(|s| live(s)).collect();
            live.sort_by_key(|s| s.second);
            let elapsed = now.saturating_duration_since(self.origin);
            for s in live {
                requests -= u64::from(s.requests);
                used = used.saturating_sub(s.tokens);
                if fits(requests, used) {
                    let leaves = Duration::from_secs(s.second + SLOTS as u64);
                    return Err(leaves.saturating_sub(elapsed).max(Duration::from_millis(1)));
                }
            }
            return Err(Duration::from_secs(SLOTS as u64));
        }
        let slot = &mut slots[(second % SLOTS as u64) as usize];
        if slot.second != second {
            *slot = Slot {
                second,
                ..Slot::default()
            };
        }
        slot.requests += 1;
        slot.tokens = slot.tokens.saturating_add(need);
        Ok(Reservation { second, tokens: need })
    }

    /// Settles a reservation with the tokens really used (what was taken is replaced by it).
    pub fn settle(&self, reservation: Reservation, used: u64) {
        let Some(tpm) = self.budget.tpm else {
            return;
        };
        let mut slots = self.slots.lock();
        let slot = &mut slots[(reservation.second % SLOTS as u64) as usize];
        if slot.second == reservation.second {
            // Used tokens count in full, even beyond the budget: later requests wait for them.
            let used = used.min(u64::from(tpm).saturating_mul(SLOTS as u64));
            slot.tokens = (slot.tokens.saturating_sub(reservation.tokens)).saturating_add(used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_for_a_whole_minute() {
        let l = LocalLimiter::new(Budget {
            rpm: Some(2),
            tpm: None,
        });
        let t0 = l.origin;
        assert!(l.try_take(10, t0).is_ok());
        assert!(l.try_take(10, t0 + Duration::from_secs(30)).is_ok());
        let wait = l.try_take(10, t0 + Duration::from_secs(40)).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(21),
            "the first request's second leaves at 61 s"
        );
        assert!(l.try_take(10, t0 + Duration::from_secs(59)).is_err());
        assert!(l.try_take(10, t0 + Duration::from_secs(61)).is_ok());
        assert!(LocalLimiter::new(Budget::default()).try_take(u64::MAX, t0).is_ok());
    }

    #[test]
    fn tokens_are_reserved_then_settled() {
        let l = LocalLimiter::new(Budget {
            rpm: None,
            tpm: Some(100),
        });
        let t0 = l.origin;
        let a = l.try_take(80, t0).unwrap();
        assert!(l.try_take(80, t0).is_err());
        l.settle(a, 10);
        let b = l.try_take(80, t0).unwrap();
        // Used more than reserved: the excess counts too.
        l.settle(b, 90);
        assert!(l.try_take(1, t0 + Duration::from_secs(1)).is_err());
        assert!(l.try_take(1, t0 + Duration::from_secs(61)).is_ok());
        // One request larger than the budget passes alone.
        let l = LocalLimiter::new(Budget {
            rpm: None,
            tpm: Some(100),
        });
        assert_eq!(l.try_take(500, l.origin).unwrap().tokens, 100);
    }

    #[test]
    fn admitted_tokens_in_any_minute_stay_within_the_budget() {
        // A steady sender every 250 ms for three minutes, each using exactly its estimate.
        let l = LocalLimiter::new(Budget {
            rpm: None,
            tpm: Some(1000),
        });
        let t0 = l.origin;
        let mut admitted: Vec<(Duration, u64)> = Vec::new();
        for i in 0..720u64 {
            let at = Duration::from_millis(250 * i);
            if let Ok(r) = l.try_take(70, t0 + at) {
                l.settle(r, 70);
                admitted.push((at, 70));
            }
        }
        for (start, _) in &admitted {
            let in_minute: u64 = admitted
                .iter()
                .filter(|(t, _)| *t >= *start && *t < *start + Duration::from_secs(60))
                .map(|(_, n)| n)
                .sum();
            assert!(in_minute <= 1000, "{in_minute} tokens in the minute from {start:?}");
        }
        assert!(admitted.len() > 30);
    }
}
