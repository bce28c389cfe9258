//! Per-candidate health: calls in flight, a latency moving average, and cooldown after repeated
//! failures. Shared by all requests; updated with atomics and one short lock per failure.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// When failures put a candidate in cooldown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooldownPolicy {
    /// This many failures within `window`…
    pub failures: u32,
    pub window: Duration,
    /// …skip the candidate for this long.
    pub duration: Duration,
}

/// Live health of one candidate.
#[derive(Debug)]
pub struct Health {
    in_flight: AtomicU32,
    /// Latency EWMA in microseconds; 0 means no sample yet.
    latency_ewma_us: AtomicU64,
    state: Mutex<FailureState>,
}

#[derive(Debug, Default)]
struct FailureState {
    recent: VecDeque<Instant>,
    cooldown_until: Option<Instant>,
}

/// Weight of a new latency sample in the moving average.
const EWMA_ALPHA: f64 = 0.2;

impl Default for Health {
    fn default() -> Self {
        Health {
            in_flight: AtomicU32::new(0),
            latency_ewma_us: AtomicU64::new(0),
            state: Mutex::new(FailureState::default()),
        }
    }
}

impl Health {
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Marks a call started; the guard marks it finished.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight { health: self }
    }

    /// The latency moving average, if any call has finished.
    pub fn latency(&self) -> Option<Duration> {
        match self.latency_ewma_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    pub fn record_success(&self, latency: Duration) {
        let sample = latency.as_micros().clamp(1, u128::from(u64::MAX)) as f64;
        let old = self.latency_ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old as f64 * (1.0 - EWMA_ALPHA) + sample * EWMA_ALPHA
        };
        self.latency_ewma_us.store(new.max(1.0) as u64, Ordering::Relaxed);
        let mut state = self.state.lock();
        state.recent.clear();
    }

    /// Counts a failure; returns true when it starts a cooldown.
    pub fn record_failure(&self, policy: &CooldownPolicy, now: Instant) -> bool {
        let mut state = self.state.lock();
        while state
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.window)
        {
            state.recent.pop_front();
        }
        state.recent.push_back(now);
        if state.recent.len() as u32 >= policy.failures {
            state.recent.clear();
            state.cooldown_until = Some(now + policy.duration);
            return true;
        }
        false
    }

    /// Puts the candidate in cooldown at once (e.g. the upstream said to wait).
    pub fn cool_down_for(&self, duration: Duration, now: Instant) {
        let mut state = self.state.lock();
        let until = now + duration;
        if state.cooldown_until.is_none_or(|u| u < until) {
            state.cooldown_until = Some(until);
        }
    }

    /// How long the cooldown lasts from `now`, if the candidate is cooling down.
    pub fn cooldown_left(&self, now: Instant) -> Option<Duration> {
        self.state
            .lock()
            .cooldown_until
            .filter(|until| now < *until)
            .map(|until| until - now)
    }

    pub fn cooling_down(&self, now: Instant) -> bool {
        self.state.lock().cooldown_until.is_some_and(|until| now < until)
    }
}

/// A call in flight; dropping it ends the call.
#[derive(Debug)]
pub struct InFlight<'a> {
    health: &'a Health,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.health.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_within_the_window_cool_down() {
        let h = Health::default();
        let policy = CooldownPolicy {
            failures: 3,
            window: Duration::from_secs(10),
            duration: Duration::from_secs(30),
        };
        let t0 = Instant::now();
        assert!(!h.record_failure(&policy, t0));
        assert!(!h.record_failure(&policy, t0 + Duration::from_secs(1)));
        assert!(h.record_failure(&policy, t0 + Duration::from_secs(2)));
        assert!(h.cooling_down(t0 + Duration::from_secs(3)));
        assert!(!h.cooling_down(t0 + Duration::from_secs(33)));
        // Failures spread wider than the window never add up.
        let h = Health::default();
        for i in 0..10 {
            assert!(!h.record_failure(&policy, t0 + Duration::from_secs(11 * i)));
        }
    }

    #[test]
    fn in_flight_and_latency_are_tracked() {
        let h = Health::default();
        {
            let _a = h.start();
            let _b = h.start();
            assert_eq!(h.in_flight(), 2);
        }
        assert_eq!(h.in_flight(), 0);
        assert_eq!(h.latency(), None);
        h.record_success(Duration::from_millis(100));
        h.record_success(Duration::from_millis(200));
        let l = h.latency().unwrap();
        assert!(
            l > Duration::from_millis(100) && l < Duration::from_millis(200),
            "{l:?}"
        );
    }
}
