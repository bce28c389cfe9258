//! Whether a custom (imported) model is loaded where a target calls it: Bedrock evicts an
//! imported model's copies after an idle period, and the next call meets a cold start
//! (`ModelNotReadyException`) until the model is loaded again. One [`Warmth`] per target, shared
//! by every logical model that reaches it and by the keep-warm task, updated by every call's
//! outcome. Only imported-model targets have one.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;

/// What is known of a target's model right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarmState {
    /// It answered within the eviction window.
    Warm,
    /// It answered "not ready" (within the eviction window) and has not answered since: Bedrock
    /// is loading it.
    Loading,
    /// Never called, or idle for longer than the eviction window: the next call may meet a
    /// cold start.
    Cold,
}

impl WarmState {
    pub const ALL: [WarmState; 3] = [WarmState::Warm, WarmState::Loading, WarmState::Cold];

    pub fn label(self) -> &'static str {
        match self {
            WarmState::Warm => "warm",
            WarmState::Loading => "loading",
            WarmState::Cold => "cold",
        }
    }
}

/// Live state of one target's model.
#[derive(Debug, Default)]
pub struct Warmth {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Inner {
    /// The latest call that got an answer.
    answered: Option<Instant>,
    /// The first "not ready" since the latest answer.
    loading_since: Option<Instant>,
    /// The latest call of any outcome.
    invoked: Option<Instant>,
    /// The latest keep-warm call.
    kept_warm: Option<Instant>,
    /// A keep-warm call is in flight.
    pinging: bool,
    cold_starts: u64,
    keep_warm_calls: u64,
}

/// A snapshot for the admin API and the dashboard (times as Unix milliseconds).
#[derive(Debug, Clone, Serialize)]
pub struct WarmthView {
    pub state: WarmState,
    pub last_invocation_ms: Option<u64>,
    pub last_answer_ms: Option<u64>,
    pub loading_since_ms: Option<u64>,
    pub last_keep_warm_ms: Option<u64>,
    /// "Not ready" answers met so far.
    pub cold_starts: u64,
    pub keep_warm_calls: u64,
}

impl Warmth {
    /// The model answered a call (`keep_warm`: one of the keep-warm task's).
    pub fn answered(&self, now: Instant, keep_warm: bool) {
        let mut s = self.inner.lock();
        s.answered = Some(now);
        s.invoked = Some(now);
        s.loading_since = None;
        if keep_warm {
            s.kept_warm = Some(now);
        }
    }

    /// The model answered "not ready": it is loading.
    pub fn not_ready(&self, now: Instant, keep_warm: bool) {
        let mut s = self.inner.lock();
        s.invoked = Some(now);
        s.loading_since.get_or_insert(now);
        s.cold_starts += 1;
        if keep_warm {
            s.kept_warm = Some(now);
        }
    }

    /// A call failed some other way: it was still an invocation, but says nothing of warmth.
    pub fn invoked(&self, now: Instant) {
        self.inner.lock().invoked = Some(now);
    }

    /// The state at `now`, given how long Bedrock keeps an idle model loaded.
    pub fn state(&self, now: Instant, evicted_after: Duration) -> WarmState {
        state_of(&self.inner.lock(), now, evicted_after)
    }

    /// Whether a keep-warm call is due: nothing answered within `interval` (real traffic that
    /// kept the model warm makes the call unnecessary), none is in flight, and, while the model
    /// is loading, the latest call was at least `poll` ago. When due, the call is marked as in
    /// flight until [`Warmth::ping_done`].
    pub fn take_ping(&self, now: Instant, interval: Duration, poll: Duration) -> bool {
        let mut s = self.inner.lock();
        if s.pinging {
            return false;
        }
        let idle_enough = s.answered.is_none_or(|t| now.saturating_duration_since(t) >= interval);
        let loading_wait =
            s.loading_since.is_some() && s.invoked.is_some_and(|t| now.saturating_duration_since(t) < poll);
        if idle_enough && !loading_wait {
            s.pinging = true;
            s.keep_warm_calls += 1;
            return true;
        }
        false
    }

    /// The keep-warm call taken by [`Warmth::take_ping`] has ended (its outcome recorded apart).
    pub fn ping_done(&self) {
        self.inner.lock().pinging = false;
    }

    pub fn view(&self, now: Instant, evicted_after: Duration) -> WarmthView {
        let s = *self.inner.lock();
        let wall = SystemTime::now();
        let unix_ms = |t: Option<Instant>| {
            t.and_then(|t| wall.checked_sub(now.saturating_duration_since(t)))
                .and_then(|w| w.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64)
        };
        WarmthView {
            state: state_of(&s, now, evicted_after),
            last_invocation_ms: unix_ms(s.invoked),
            last_answer_ms: unix_ms(s.answered),
            loading_since_ms: unix_ms(s.loading_since),
            last_keep_warm_ms: unix_ms(s.kept_warm),
            cold_starts: s.cold_starts,
            keep_warm_calls: s.keep_warm_calls,
        }
    }
}

fn state_of(s: &Inner, now: Instant, evicted_after: Duration) -> WarmState {
    // A load nobody asked after within the eviction window says nothing any more: whatever
    // loaded has been unloaded since.
    let recent = |t: Option<Instant>| t.is_some_and(|t| now.saturating_duration_since(t) < evicted_after);
    if s.loading_since.is_some() && recent(s.invoked) {
        return WarmState::Loading;
    }
    match s.answered {
        Some(t) if now.saturating_duration_since(t) < evicted_after => WarmState::Warm,
        _ => WarmState::Cold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVICT: Duration = Duration::from_secs(900);
    const EVERY: Duration = Duration::from_secs(840);
    const POLL: Duration = Duration::from_secs(5);

    #[test]
    fn a_target_is_cold_until_it_answers_and_again_after_the_eviction_window() {
        let w = Warmth::default();
        let t0 = Instant::now();
        assert_eq!(w.state(t0, EVICT), WarmState::Cold);
        w.answered(t0, false);
        assert_eq!(w.state(t0 + Duration::from_secs(60), EVICT), WarmState::Warm);
        assert_eq!(w.state(t0 + EVICT, EVICT), WarmState::Cold);
    }

    #[test]
    fn not_ready_means_loading_until_an_answer() {
        let w = Warmth::default();
        let t0 = Instant::now();
        w.not_ready(t0, false);
        w.not_ready(t0 + POLL, false);
        assert_eq!(w.state(t0 + POLL, EVICT), WarmState::Loading);
        let v = w.view(t0 + POLL, EVICT);
        assert_eq!(v.cold_starts, 2);
        assert!(v.loading_since_ms.is_some());
        // Asked after no more: cold once the eviction window has passed.
        assert_eq!(w.state(t0 + POLL + EVICT, EVICT), WarmState::Cold);
        w.answered(t0 + POLL * 3, false);
        assert_eq!(w.state(t0 + POLL * 3, EVICT), WarmState::Warm);
        assert!(w.view(t0 + POLL * 3, EVICT).loading_since_ms.is_none());
    }

    #[test]
    fn keep_warm_is_skipped_while_traffic_keeps_the_model_warm() {
        let w = Warmth::default();
        let t0 = Instant::now();
        // Never answered: due at once.
        assert!(w.take_ping(t0, EVERY, POLL));
        // One in flight at a time.
        assert!(!w.take_ping(t0, EVERY, POLL));
        w.answered(t0, true);
        w.ping_done();
        // Real traffic at t0 + 600 s pushes the next ping to t0 + 600 s + interval.
        w.answered(t0 + Duration::from_secs(600), false);
        assert!(!w.take_ping(t0 + EVERY, EVERY, POLL));
        assert!(w.take_ping(t0 + Duration::from_secs(600) + EVERY, EVERY, POLL));
        assert_eq!(w.view(t0, EVICT).keep_warm_calls, 2);
    }

    #[test]
    fn a_loading_model_is_polled_no_faster_than_the_poll_interval() {
        let w = Warmth::default();
        let t0 = Instant::now();
        assert!(w.take_ping(t0, EVERY, POLL));
        w.not_ready(t0, true);
        w.ping_done();
        assert!(!w.take_ping(t0 + POLL / 2, EVERY, POLL));
        assert!(w.take_ping(t0 + POLL, EVERY, POLL));
    }
}
