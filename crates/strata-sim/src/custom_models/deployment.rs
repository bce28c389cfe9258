//! One imported model's serving state: cold, loading, or warm with copies that scale out under
//! load and back in when the load no longer needs them.
//!
//! Pure logic over an explicit `now`, so tests drive it with made-up instants:
//! - a model with no copies is **cold**; the first call starts loading its first copy and is
//!   refused (ModelNotReadyException), as is every call until that copy is loaded;
//! - a warm model unused for the eviction window loses every copy (cold again);
//! - a call takes a place on the least busy loaded copy (at most `concurrency_per_copy` each);
//!   when the demand (in flight + waiting + this call) exceeds `scale_out_in_flight` per copy,
//!   another copy starts loading (its own load time), up to `max_copies`; a call that finds
//!   every loaded copy full waits for a place;
//! - a copy beyond the first is retired once the demand has not needed it for
//!   `scale_in_idle` and nothing runs on it.

use std::time::{Duration, Instant, SystemTime};

use crate::fleet::CustomModelSettings;

/// Cold, loading (first copy on its way) or warm (some copy loaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Cold,
    Loading,
    Warm,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Cold => "cold",
            Phase::Loading => "loading",
            Phase::Warm => "warm",
        }
    }
}

#[derive(Debug, Clone)]
struct Copy {
    id: u64,
    ready_at: Instant,
    in_flight: u32,
}

/// What a call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A place on a copy, with the requests now running on it (this one included).
    Place { copy: u64, in_flight: u32 },
    /// The model is cold or loading: refuse with ModelNotReadyException.
    NotReady,
    /// Every loaded copy is full: wait (until a place frees, or the next copy loads at
    /// `next_ready`).
    Wait { next_ready: Option<Instant> },
}

/// The serving state of one imported model.
#[derive(Debug, Clone)]
pub struct Deployment {
    parameters_billion: f64,
    copies: Vec<Copy>,
    next_copy_id: u64,
    /// The last time the model was used or finished loading (for eviction).
    last_active: Instant,
    /// `needed_at[k]`: the last time the demand needed `k + 1` copies.
    needed_at: Vec<Instant>,
    waiting: u32,
    pub invocations: u64,
    pub cold_start_refusals: u64,
    pub last_invocation: Option<SystemTime>,
    pub peak_copies: u32,
}

impl Deployment {
    /// A deployment, cold or with one loaded copy.
    pub fn new(parameters_billion: f64, warm: bool, now: Instant) -> Self {
        let mut d = Deployment {
            parameters_billion,
            copies: Vec::new(),
            next_copy_id: 0,
            last_active: now,
            needed_at: vec![now],
            waiting: 0,
            invocations: 0,
            cold_start_refusals: 0,
            last_invocation: None,
            peak_copies: 0,
        };
        if warm {
            d.add_copy(now);
        }
        d
    }

    fn add_copy(&mut self, ready_at: Instant) {
        self.copies.push(Copy {
            id: self.next_copy_id,
            ready_at,
            in_flight: 0,
        });
        self.next_copy_id += 1;
    }

    pub fn phase(&self, now: Instant) -> Phase {
        if self.copies.is_empty() {
            Phase::Cold
        } else if self.copies.iter().any(|c| c.ready_at <= now) {
            Phase::Warm
        } else {
            Phase::Loading
        }
    }

    /// Loaded copies.
    pub fn copies(&self, now: Instant) -> u32 {
        self.copies.iter().filter(|c| c.ready_at <= now).count() as u32
    }

    pub fn copies_loading(&self, now: Instant) -> u32 {
        self.copies.iter().filter(|c| c.ready_at > now).count() as u32
    }

    pub fn in_flight(&self) -> u32 {
        self.copies.iter().map(|c| c.in_flight).sum()
    }

    pub fn waiting(&self) -> u32 {
        self.waiting
    }

    /// Applies eviction and scale-in due at `now`.
    pub fn refresh(&mut self, now: Instant, s: &CustomModelSettings) {
        let busy = self.in_flight() > 0 || self.waiting > 0;
        if !busy && self.phase(now) == Phase::Warm {
            let idle_since = self
                .copies
                .iter()
                .map(|c| c.ready_at)
                .max()
                .map_or(self.last_active, |r| r.max(self.last_active));
            if now.saturating_duration_since(idle_since) >= s.eviction_idle() {
                self.copies.clear();
                self.needed_at.truncate(1);
                return;
            }
        }
        while self.copies.len() > 1 {
            let k = self.copies.len() - 1;
            let unneeded = self
                .needed_at
                .get(k)
                .is_none_or(|t| now.saturating_duration_since(*t) >= s.scale_in_idle());
            if unneeded && self.copies[k].in_flight == 0 {
                self.copies.pop();
            } else {
                break;
            }
        }
        self.needed_at.truncate(self.copies.len().max(1));
    }

    /// A call arrives (or a waiting call tries again, `waiting == true`).
    pub fn admit(&mut self, now: Instant, s: &CustomModelSettings, waiting: bool) -> Admission {
        self.refresh(now, s);
        let admission = self.place(now, s, waiting);
        match (admission, waiting) {
            (Admission::Wait { .. }, false) => self.waiting += 1,
            (Admission::Place { .. } | Admission::NotReady, true) => self.waiting = self.waiting.saturating_sub(1),
            _ => {}
        }
        admission
    }

    fn place(&mut self, now: Instant, s: &CustomModelSettings, waiting: bool) -> Admission {
        match self.phase(now) {
            Phase::Cold => {
                self.add_copy(now + s.load_time(self.parameters_billion));
                self.last_active = now;
                self.cold_start_refusals += 1;
                return Admission::NotReady;
            }
            Phase::Loading => {
                self.cold_start_refusals += 1;
                return Admission::NotReady;
            }
            Phase::Warm => {}
        }
        let demand = self.in_flight() + self.waiting + u32::from(!waiting);
        let needed = demand.div_ceil(s.scale_out_in_flight).clamp(1, s.max_copies) as usize;
        for k in 0..needed {
            match self.needed_at.get_mut(k) {
                Some(t) => *t = now,
                None => self.needed_at.push(now),
            }
        }
        while self.copies.len() < needed {
            self.add_copy(now + s.load_time(self.parameters_billion));
        }
        let best = self
            .copies
            .iter_mut()
            .filter(|c| c.ready_at <= now && c.in_flight < s.concurrency_per_copy)
            .min_by_key(|c| c.in_flight);
        match best {
            Some(copy) => {
                copy.in_flight += 1;
                let admission = Admission::Place {
                    copy: copy.id,
                    in_flight: copy.in_flight,
                };
                self.invocations += 1;
                self.last_active = now;
                self.last_invocation = Some(SystemTime::now());
                self.peak_copies = self.peak_copies.max(self.copies(now));
                admission
            }
            None => Admission::Wait {
                next_ready: self.copies.iter().map(|c| c.ready_at).filter(|r| *r > now).min(),
            },
        }
    }

    /// A waiting call gave up.
    pub fn abandon_wait(&mut self) {
        self.waiting = self.waiting.saturating_sub(1);
    }

    /// A call placed on `copy` finished.
    pub fn release(&mut self, copy: u64, now: Instant) {
        if let Some(c) = self.copies.iter_mut().find(|c| c.id == copy) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
        self.last_active = now;
    }

    /// Evicts now: every copy is dropped (calls running finish on their own).
    pub fn evict(&mut self) {
        self.copies.clear();
        self.needed_at.truncate(1);
    }

    /// Makes the model warm now with one loaded copy (no-op when it has a loaded copy).
    pub fn warm(&mut self, now: Instant) {
        if self.phase(now) != Phase::Warm {
            self.copies.clear();
            self.add_copy(now);
        }
        self.last_active = now;
    }
}

/// The time one request takes on a copy: first token, then each output token, the whole slowed
/// by the other requests on the copy, jittered and scaled. Returns (first token, per token).
pub fn request_timing(
    s: &CustomModelSettings,
    parameters_billion: f64,
    in_flight_on_copy: u32,
    jitter_draw: f64,
) -> (Duration, Duration) {
    let load = 1.0 + s.slowdown_per_in_flight * f64::from(in_flight_on_copy.saturating_sub(1));
    let jitter = 1.0 + s.jitter * jitter_draw.clamp(-1.0, 1.0);
    let factor = load * jitter * s.time_scale / 1000.0;
    let ms = |x: f64| Duration::try_from_secs_f64((x * factor).max(0.0)).unwrap_or(Duration::MAX);
    (
        ms(s.first_token_ms),
        ms(s.ms_per_token_per_billion * parameters_billion),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CustomModelSettings {
        CustomModelSettings {
            load_base_seconds: 10.0,
            load_seconds_per_billion: 0.0,
            eviction_idle_seconds: 900.0,
            scale_in_idle_seconds: 60.0,
            scale_out_in_flight: 2,
            concurrency_per_copy: 3,
            max_copies: 3,
            ..CustomModelSettings::default()
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn cold_model_refuses_until_loaded_then_serves() {
        let s = settings();
        let t0 = Instant::now();
        let mut d = Deployment::new(13.0, false, t0);
        assert_eq!(d.phase(t0), Phase::Cold);
        assert_eq!(d.admit(t0, &s, false), Admission::NotReady);
        assert_eq!(d.phase(t0), Phase::Loading);
        assert_eq!(d.admit(t0 + secs(5), &s, false), Admission::NotReady);
        assert_eq!(d.cold_start_refusals, 2);
        // Loading started with the first call: ready 10 s after it, not after the second.
        assert!(matches!(
            d.admit(t0 + secs(10), &s, false),
            Admission::Place { in_flight: 1, .. }
        ));
        assert_eq!(d.phase(t0 + secs(10)), Phase::Warm);
        assert_eq!(d.invocations, 1);
    }

    #[test]
    fn idle_past_the_eviction_window_goes_cold() {
        let s = settings();
        let t0 = Instant::now();
        let mut d = Deployment::new(8.0, true, t0);
        let Admission::Place { copy, .. } = d.admit(t0, &s, false) else {
            panic!("warm model refused");
        };
        d.release(copy, t0 + secs(1));
        // 14 minutes later: still warm (a keep-warm call every 14 minutes holds it).
        assert!(matches!(d.admit(t0 + secs(841), &s, false), Admission::Place { .. }));
        let Admission::Place { copy, .. } = d.admit(t0 + secs(841), &s, false) else {
            panic!();
        };
        d.release(copy, t0 + secs(842));
        d.release(0, t0 + secs(842));
        d.refresh(t0 + secs(842 + 899), &s);
        assert_eq!(d.phase(t0 + secs(842 + 899)), Phase::Warm);
        d.refresh(t0 + secs(842 + 900), &s);
        assert_eq!(d.phase(t0 + secs(842 + 900)), Phase::Cold);
    }

    #[test]
    fn busy_model_is_never_evicted() {
        let s = settings();
        let t0 = Instant::now();
        let mut d = Deployment::new(8.0, true, t0);
        assert!(matches!(d.admit(t0, &s, false), Admission::Place { .. }));
        d.refresh(t0 + secs(10_000), &s);
        assert_eq!(d.phase(t0 + secs(10_000)), Phase::Warm);
    }

    #[test]
    fn copies_scale_out_with_demand_and_back_in_when_unneeded() {
        let s = settings();
        let t0 = Instant::now();
        let mut d = Deployment::new(8.0, true, t0);
        // Two calls fit one copy (scale_out_in_flight = 2); the third asks for a second copy.
        let mut places = Vec::new();
        for _ in 0..2 {
            places.push(d.admit(t0, &s, false));
        }
        assert_eq!(d.copies_loading(t0), 0);
        places.push(d.admit(t0, &s, false));
        assert_eq!(d.copies_loading(t0), 1);
        // The copy is full at 3; a fourth call waits until the new copy loads.
        let wait = d.admit(t0, &s, false);
        assert_eq!(
            wait,
            Admission::Wait {
                next_ready: Some(t0 + secs(10))
            }
        );
        assert_eq!(d.waiting(), 1);
        let later = t0 + secs(10);
        assert!(matches!(
            d.admit(later, &s, true),
            Admission::Place { in_flight: 1, .. }
        ));
        assert_eq!((d.copies(later), d.waiting()), (2, 0));
        // Never more than max_copies.
        for _ in 0..10 {
            let _ = d.admit(later, &s, false);
        }
        assert_eq!(d.copies(later) + d.copies_loading(later), 3);
        // Everything finishes; after scale_in_idle the extra copies go, the first stays.
        for copy in 0..3 {
            for _ in 0..3 {
                d.release(copy, later);
            }
        }
        let mut waiting = d.waiting();
        while waiting > 0 {
            d.abandon_wait();
            waiting -= 1;
        }
        d.refresh(later + secs(59), &s);
        assert_eq!(d.copies(later + secs(59)), 3);
        d.refresh(later + secs(60), &s);
        assert_eq!(d.copies(later + secs(60)), 1);
        assert_eq!(d.peak_copies, 2);
    }

    #[test]
    fn calls_go_to_the_least_busy_copy() {
        let s = CustomModelSettings {
            scale_out_in_flight: 1,
            load_base_seconds: 0.0,
            load_seconds_per_billion: 0.0,
            ..settings()
        };
        let t0 = Instant::now();
        let mut d = Deployment::new(8.0, true, t0);
        let a = d.admit(t0, &s, false);
        let b = d.admit(t0, &s, false);
        match (a, b) {
            (Admission::Place { copy: ca, .. }, Admission::Place { copy: cb, in_flight }) => {
                assert_ne!(ca, cb);
                assert_eq!(in_flight, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn evict_and_warm_by_hand() {
        let s = settings();
        let t0 = Instant::now();
        let mut d = Deployment::new(8.0, true, t0);
        d.evict();
        assert_eq!(d.phase(t0), Phase::Cold);
        d.warm(t0);
        assert!(matches!(d.admit(t0, &s, false), Admission::Place { .. }));
    }

    #[test]
    fn requests_slow_gently_with_the_copy_load() {
        let s = CustomModelSettings::default();
        let (first1, per1) = request_timing(&s, 13.0, 1, 0.0);
        let (first11, per11) = request_timing(&s, 13.0, 11, 0.0);
        assert_eq!(first1, Duration::from_millis(450));
        assert!((per1.as_secs_f64() - 0.0455).abs() < 1e-9);
        let ratio = per11.as_secs_f64() / per1.as_secs_f64();
        assert!((ratio - 1.45).abs() < 1e-9, "{ratio}");
        assert!(first11 > first1);
        let scaled = CustomModelSettings { time_scale: 0.01, ..s };
        assert_eq!(request_timing(&scaled, 13.0, 1, 0.0).0, Duration::from_micros(4500));
        // Jitter stays within 1 ± jitter.
        let (hi, _) = request_timing(&s, 13.0, 1, 1.0);
        assert_eq!(hi, Duration::from_secs_f64(0.45 * 1.3));
    }
}
