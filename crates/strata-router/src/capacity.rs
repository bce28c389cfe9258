//! What a target's upstream quota leaves this minute, as last seen, and what the gateway has
//! learned of its real capacity.
//!
//! The remaining room is read from each reservation against the target's quota (counted in
//! `strata-quota`, shared by every replica with Redis), so the `headroom` strategy can spread
//! requests in proportion to it without asking the counters for every candidate. Between two
//! reservations the room is assumed to refill at the quota's rate (a sliding minute).
//!
//! Learned capacity is additive increase, multiplicative decrease: an upstream throttle (a 429
//! the quota said should not happen: another client shares the account, or the quota data is
//! wrong) cuts the share of the quota the gateway uses by [`CUT`]; each quiet minute gives back
//! [`RAISE`], up to the whole quota. A new route table (new quota data) starts at the whole quota.

use std::sync::atomic::{AtomicU64, Ordering};

/// The share of the quota kept after a throttle.
pub const CUT: f64 = 0.7;
/// The share given back per minute without a throttle.
pub const RAISE: f64 = 0.1;
/// The least share of the quota the gateway keeps using.
pub const FLOOR: f64 = 0.1;
const MINUTE_MS: u64 = 60_000;
/// Shares are kept in millionths.
const ONE: u64 = 1_000_000;

/// One target's room and learned share (lock-free; shared by the requests that use it).
#[derive(Debug)]
pub struct CapacityState {
    /// Millionths of the quota the gateway may use, as of the last throttle.
    share: AtomicU64,
    /// When the last throttle was seen (unix ms; 0: never).
    throttled_at: AtomicU64,
    /// The room left at the last reservation, the window's limit, and when (unix ms; 0: never).
    remaining: AtomicU64,
    limit: AtomicU64,
    seen_at: AtomicU64,
}

impl Default for CapacityState {
    fn default() -> Self {
        CapacityState {
            share: AtomicU64::new(ONE),
            throttled_at: AtomicU64::new(0),
            remaining: AtomicU64::new(0),
            limit: AtomicU64::new(0),
            seen_at: AtomicU64::new(0),
        }
    }
}

impl CapacityState {
    /// The share of the quota to use now: cut by throttles, given back per quiet minute.
    pub fn share(&self, now_ms: u64) -> f64 {
        let at = self.throttled_at.load(Ordering::Relaxed);
        let base = self.share.load(Ordering::Relaxed) as f64 / ONE as f64;
        if at == 0 {
            return base;
        }
        let quiet_minutes = now_ms.saturating_sub(at) / MINUTE_MS;
        (base + quiet_minutes as f64 * RAISE).min(1.0)
    }

    /// The upstream throttled a call: use less of the quota from now on.
    pub fn throttled(&self, now_ms: u64) {
        let cut = (self.share(now_ms) * CUT).max(FLOOR);
        self.share.store((cut * ONE as f64) as u64, Ordering::Relaxed);
        self.throttled_at.store(now_ms.max(1), Ordering::Relaxed);
    }

    /// A reservation saw `remaining` of `limit` left in the window.
    pub fn observe(&self, remaining: u64, limit: u64, now_ms: u64) {
        self.remaining.store(remaining, Ordering::Relaxed);
        self.limit.store(limit, Ordering::Relaxed);
        self.seen_at.store(now_ms.max(1), Ordering::Relaxed);
    }

    /// The room left now: the last seen room refilled at the limit's rate since; `None` before
    /// any reservation.
    pub fn room(&self, now_ms: u64) -> Option<u64> {
        let seen = self.seen_at.load(Ordering::Relaxed);
        if seen == 0 {
            return None;
        }
        let limit = self.limit.load(Ordering::Relaxed);
        let refilled = limit.saturating_mul(now_ms.saturating_sub(seen)) / MINUTE_MS;
        Some(
            self.remaining
                .load(Ordering::Relaxed)
                .saturating_add(refilled)
                .min(limit),
        )
    }
}

/// A quota scaled by the learned share (at least 1 where there is a quota).
pub fn scaled(quota: Option<u32>, share: f64) -> Option<u32> {
    quota.map(|q| ((f64::from(q) * share) as u32).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_cut_and_quiet_minutes_give_back() {
        let s = CapacityState::default();
        assert_eq!(s.share(1_000), 1.0);
        s.throttled(1_000);
        assert!((s.share(1_000) - 0.7).abs() < 1e-6);
        s.throttled(2_000);
        assert!((s.share(2_000) - 0.49).abs() < 1e-6);
        assert!((s.share(2_000 + MINUTE_MS) - 0.59).abs() < 1e-6);
        assert_eq!(s.share(2_000 + 10 * MINUTE_MS), 1.0);
        for i in 0..50 {
            s.throttled(3_000 + i);
        }
        assert!((s.share(3_100) - FLOOR).abs() < 1e-6);
    }

    #[test]
    fn room_refills_at_the_limits_rate() {
        let s = CapacityState::default();
        assert_eq!(s.room(5), None);
        s.observe(10, 120, 1_000);
        assert_eq!(s.room(1_000), Some(10));
        assert_eq!(s.room(1_000 + 30_000), Some(70));
        assert_eq!(s.room(1_000 + 90_000), Some(120));
    }

    #[test]
    fn scaled_quotas_keep_one() {
        assert_eq!(scaled(Some(60), 0.5), Some(30));
        assert_eq!(scaled(Some(1), 0.1), Some(1));
        assert_eq!(scaled(None, 0.5), None);
    }
}
