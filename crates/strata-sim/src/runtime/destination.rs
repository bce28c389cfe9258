//! Which destination region runs a profile call, as cross-region inference decides it: at
//! random, weighted by each destination's spare capacity (its capacity less the calls of the
//! model it runs now) times the share of calls it is not throttling. Regions in outage are never
//! chosen; a throttled region gets less traffic in proportion (none when it throttles every
//! call). When no destination has spare capacity, calls overflow by capacity; when every one
//! throttles everything, one is still chosen (so the caller sees the throttling).
//!
//! Missing access in a destination does not steer: AWS picks the region first and the call
//! then fails there with AccessDeniedException naming it (see `placement::admit`).

use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::Rng;

/// What placement knows about one destination region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Destination {
    /// Calls of a model the region runs at once before it counts as full.
    pub capacity: u32,
    /// Calls of the model running there now (in-region and cross-region).
    pub in_flight: u32,
    /// Share of calls a throttle fault refuses there (0 to 1).
    pub throttled: f64,
    /// An outage fault: never chosen.
    pub down: bool,
}

impl Destination {
    fn passing(&self) -> f64 {
        1.0 - self.throttled.clamp(0.0, 1.0)
    }

    fn headroom(&self) -> f64 {
        f64::from(self.capacity.saturating_sub(self.in_flight)) * self.passing()
    }

    fn overflow(&self) -> f64 {
        f64::from(self.capacity) * self.passing()
    }

    fn capacity(&self) -> f64 {
        f64::from(self.capacity)
    }
}

/// Weightings tried in turn until one gives some destination a positive weight.
const TIERS: [fn(&Destination) -> f64; 4] = [
    Destination::headroom,
    Destination::overflow,
    Destination::capacity,
    |_| 1.0,
];

/// The index of the chosen destination; `None` when every destination is down.
pub fn choose<R: Rng + ?Sized>(destinations: &[Destination], rng: &mut R) -> Option<usize> {
    TIERS.iter().find_map(|weight| {
        let weights = destinations.iter().map(|d| if d.down { 0.0 } else { weight(d) });
        WeightedIndex::new(weights).ok().map(|w| w.sample(rng))
    })
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    const DRAWS: usize = 20_000;

    fn idle(capacity: u32) -> Destination {
        Destination {
            capacity,
            in_flight: 0,
            throttled: 0.0,
            down: false,
        }
    }

    /// Shares of `DRAWS` choices, from a fixed seed.
    fn shares(destinations: &[Destination]) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(13);
        let mut counts = vec![0usize; destinations.len()];
        for _ in 0..DRAWS {
            counts[choose(destinations, &mut rng).unwrap()] += 1;
        }
        counts.iter().map(|&c| c as f64 / DRAWS as f64).collect()
    }

    fn near(got: &[f64], want: &[f64]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 0.03, "shares {got:?}, expected about {want:?}");
        }
    }

    #[test]
    fn idle_destinations_share_calls_by_capacity() {
        near(&shares(&[idle(10), idle(60), idle(30)]), &[0.1, 0.6, 0.3]);
        near(&shares(&[idle(20), idle(20)]), &[0.5, 0.5]);
    }

    #[test]
    fn calls_in_flight_take_capacity() {
        let busy = Destination {
            in_flight: 50,
            ..idle(60)
        };
        near(&shares(&[idle(10), busy, idle(30)]), &[0.2, 0.2, 0.6]);
        // more in flight than capacity counts as full, not as negative
        let over = Destination {
            in_flight: 90,
            ..idle(60)
        };
        near(&shares(&[idle(10), over, idle(30)]), &[0.25, 0.0, 0.75]);
    }

    #[test]
    fn a_region_down_is_never_chosen_and_the_rest_keep_their_ratio() {
        let down = Destination { down: true, ..idle(60) };
        near(&shares(&[idle(10), down, idle(30)]), &[0.25, 0.0, 0.75]);
        let all_down = [down, down];
        assert_eq!(choose(&all_down, &mut StdRng::seed_from_u64(1)), None);
        assert_eq!(choose(&[], &mut StdRng::seed_from_u64(1)), None);
    }

    #[test]
    fn throttling_moves_traffic_in_proportion() {
        let half = Destination {
            throttled: 0.5,
            ..idle(60)
        };
        near(&shares(&[idle(10), half, idle(30)]), &[1.0 / 7.0, 3.0 / 7.0, 3.0 / 7.0]);
        let full = Destination {
            throttled: 1.0,
            ..idle(60)
        };
        near(&shares(&[idle(10), full, idle(30)]), &[0.25, 0.0, 0.75]);
    }

    #[test]
    fn when_every_region_is_full_calls_overflow_by_capacity() {
        let full = |c| Destination {
            in_flight: c,
            ..idle(c)
        };
        near(&shares(&[full(10), full(60), full(30)]), &[0.1, 0.6, 0.3]);
        // ... still around a region that throttles everything
        let throttled = Destination {
            throttled: 1.0,
            ..full(60)
        };
        near(&shares(&[full(10), throttled, full(30)]), &[0.25, 0.0, 0.75]);
    }

    #[test]
    fn some_region_answers_when_all_throttle_or_have_no_capacity() {
        let t = |c| Destination {
            throttled: 1.0,
            ..idle(c)
        };
        near(&shares(&[t(10), t(30)]), &[0.25, 0.75]);
        near(&shares(&[idle(0), idle(0)]), &[0.5, 0.5]);
        // a region with capacity 0 is drained while another has some
        near(&shares(&[idle(0), idle(5)]), &[0.0, 1.0]);
    }
}
