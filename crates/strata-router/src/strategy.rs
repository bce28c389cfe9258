//! The order in which a request tries its candidates.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// How to order candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Lowest `priority` first; the next only when it fails or cools down (equal priorities
    /// share load by weight).
    Priority,
    /// Random, in proportion to `weight`.
    #[default]
    Weighted,
    /// Uniformly random order per request.
    Shuffle,
    /// The deployment with the fewest requests in flight.
    LeastBusy,
    /// The deployment with the lowest latency moving average.
    Latency,
}

/// What the strategy may look at.
#[derive(Debug, Clone, Copy)]
pub struct CandidateView {
    pub weight: u32,
    pub priority: u32,
    pub in_flight: u32,
    pub latency: Option<Duration>,
    pub cooling_down: bool,
}

/// Candidate indexes in the order to try them. Cooling-down candidates are left out.
pub fn order_candidates(strategy: Strategy, candidates: &[CandidateView], rng: &mut impl Rng) -> Vec<usize> {
    let mut ready: Vec<usize> = (0..candidates.len()).filter(|&i| !candidates[i].cooling_down).collect();
    match strategy {
        Strategy::Priority => {
            // Same priority: spread by weight, so equal-priority shards share load.
            weighted_shuffle(&mut ready, candidates, rng);
            ready.sort_by_key(|&i| candidates[i].priority);
        }
        Strategy::Weighted => weighted_shuffle(&mut ready, candidates, rng),
        Strategy::Shuffle => ready.shuffle(rng),
        Strategy::LeastBusy => {
            ready.shuffle(rng);
            ready.sort_by_key(|&i| candidates[i].in_flight);
        }
        Strategy::Latency => {
            ready.shuffle(rng);
            // Unmeasured candidates first, so each gets a sample.
            ready.sort_by_key(|&i| candidates[i].latency.unwrap_or(Duration::ZERO));
        }
    }
    ready
}

/// Orders by repeated weighted draws without replacement (Efraimidis–Spirakis keys).
fn weighted_shuffle(items: &mut [usize], candidates: &[CandidateView], rng: &mut impl Rng) {
    let mut keyed: Vec<(f64, usize)> = items
        .iter()
        .map(|&i| {
            let w = f64::from(candidates[i].weight.max(1));
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            (u.powf(1.0 / w), i)
        })
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (slot, (_, i)) in items.iter_mut().zip(keyed) {
        *slot = i;
    }
}

/// A convenience for tests and callers without health data.
pub fn view(weight: u32, priority: u32) -> CandidateView {
    CandidateView {
        weight,
        priority,
        in_flight: 0,
        latency: None,
        cooling_down: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_order_follows_weights() {
        let cands = [view(3, 0), view(1, 0)];
        let mut rng = rand::rng();
        let firsts = (0..4000)
            .filter(|_| order_candidates(Strategy::Weighted, &cands, &mut rng)[0] == 0)
            .count();
        assert!((2700..3300).contains(&firsts), "{firsts} of 4000 should be about 3000");
    }

    #[test]
    fn priority_least_busy_latency_and_cooldown() {
        let mut rng = rand::rng();
        let cands = [view(1, 2), view(1, 0), view(1, 1)];
        assert_eq!(order_candidates(Strategy::Priority, &cands, &mut rng), vec![1, 2, 0]);
        let mut busy = [view(1, 0), view(1, 0)];
        busy[0].in_flight = 5;
        assert_eq!(order_candidates(Strategy::LeastBusy, &busy, &mut rng), vec![1, 0]);
        let mut slow = [view(1, 0), view(1, 0)];
        slow[0].latency = Some(Duration::from_millis(900));
        slow[1].latency = Some(Duration::from_millis(100));
        assert_eq!(order_candidates(Strategy::Latency, &slow, &mut rng), vec![1, 0]);
        let mut cooling = [view(1, 0), view(1, 0)];
        cooling[0].cooling_down = true;
        for s in [
            Strategy::Priority,
            Strategy::Weighted,
            Strategy::Shuffle,
            Strategy::LeastBusy,
            Strategy::Latency,
        ] {
            assert_eq!(order_candidates(s, &cooling, &mut rng), vec![1]);
        }
    }
}
