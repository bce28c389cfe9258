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
    /// Random, in proportion to what each target's upstream quota leaves this minute (the
    /// quota minus what every replica sent there); targets with no room left go last. Targets
    /// of unknown quota count as the average room of the others (by weight when none is known).
    Headroom,
}

/// What the strategy may look at.
#[derive(Debug, Clone, Copy)]
pub struct CandidateView {
    pub weight: u32,
    pub priority: u32,
    pub in_flight: u32,
    pub latency: Option<Duration>,
    pub cooling_down: bool,
    /// What its upstream quota leaves this minute (`None`: unknown, or no quota known).
    pub headroom: Option<u64>,
}

/// Candidate indexes in the order to try them. Cooling-down candidates are left out.
pub fn order_candidates(strategy: Strategy, candidates: &[CandidateView], rng: &mut impl Rng) -> Vec<usize> {
    let mut ready: Vec<usize> = (0..candidates.len()).filter(|&i| !candidates[i].cooling_down).collect();
    match strategy {
        Strategy::Priority => {
            // Same priority: spread by weight, so equal-priority shards share load.
            weighted_shuffle(&mut ready, |i| weight(candidates, i), rng);
            ready.sort_by_key(|&i| candidates[i].priority);
        }
        Strategy::Weighted => weighted_shuffle(&mut ready, |i| weight(candidates, i), rng),
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
        Strategy::Headroom => {
            // Room 0 draws a key of 0: the roomless go last.
            let room = room(ready.iter().copied(), candidates);
            weighted_shuffle(&mut ready, room, rng);
        }
    }
    ready
}

/// A candidate's weight under [`Strategy::Headroom`]: its room, the average room of `ready`
/// where its own is unknown, its `weight` when no room is known at all.
fn room(ready: impl Iterator<Item = usize>, candidates: &[CandidateView]) -> impl Fn(usize) -> u64 + '_ {
    let (sum, known) = ready
        .filter_map(|i| candidates[i].headroom)
        .fold((0u64, 0u64), |(s, n), r| (s.saturating_add(r), n + 1));
    let average = (known > 0).then(|| (sum / known).max(1));
    move |i| match average {
        Some(average) => candidates[i].headroom.unwrap_or(average),
        None => weight(candidates, i),
    }
}

/// A candidate's configured weight (at least 1).
fn weight(candidates: &[CandidateView], i: usize) -> u64 {
    u64::from(candidates[i].weight.max(1))
}

/// The candidate to try first, in one pass and with one random draw (the common case: the first
/// try answers). Same distribution as the head of [`order_candidates`].
pub fn pick_first(strategy: Strategy, candidates: &[CandidateView], rng: &mut impl Rng) -> Option<usize> {
    let ready = || (0..candidates.len()).filter(|&i| !candidates[i].cooling_down);
    match strategy {
        Strategy::Weighted => weighted_pick(ready(), |i| weight(candidates, i), rng),
        Strategy::Priority => {
            let best = ready().map(|i| candidates[i].priority).min()?;
            weighted_pick(
                ready().filter(|&i| candidates[i].priority == best),
                |i| weight(candidates, i),
                rng,
            )
        }
        Strategy::Shuffle => uniform_pick(ready(), rng),
        Strategy::LeastBusy => {
            let best = ready().map(|i| candidates[i].in_flight).min()?;
            uniform_pick(ready().filter(|&i| candidates[i].in_flight == best), rng)
        }
        Strategy::Latency => {
            let key = |i: usize| candidates[i].latency.unwrap_or(Duration::ZERO);
            let best = ready().map(key).min()?;
            uniform_pick(ready().filter(|&i| key(i) == best), rng)
        }
        Strategy::Headroom => {
            // Every ready candidate out of room: the first, whose reservation will say so.
            weighted_pick(ready(), room(ready(), candidates), rng).or_else(|| ready().next())
        }
    }
}

/// One index drawn in proportion to `weight` (`None` when every weight is 0).
fn weighted_pick(
    items: impl Iterator<Item = usize> + Clone,
    weight: impl Fn(usize) -> u64,
    rng: &mut impl Rng,
) -> Option<usize> {
    let total: u64 = items.clone().map(&weight).sum();
    if total == 0 {
        return None;
    }
    let mut point = rng.random_range(0..total);
    for i in items {
        let w = weight(i);
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    None
}

/// One index drawn uniformly (reservoir sampling, one pass).
fn uniform_pick(items: impl Iterator<Item = usize>, rng: &mut impl Rng) -> Option<usize> {
    let mut chosen = None;
    for (seen, i) in items.enumerate() {
        if rng.random_range(0..=seen) == 0 {
            chosen = Some(i);
        }
    }
    chosen
}

/// The order to try candidates in, worked out lazily: the first by [`pick_first`], the rest
/// (by [`order_candidates`], without the first) only if the first failed.
#[derive(Debug)]
pub struct CandidateOrder<'a> {
    strategy: Strategy,
    candidates: &'a [CandidateView],
    first: Option<Option<usize>>,
    rest: Option<std::vec::IntoIter<usize>>,
}

impl<'a> CandidateOrder<'a> {
    pub fn new(strategy: Strategy, candidates: &'a [CandidateView]) -> Self {
        CandidateOrder {
            strategy,
            candidates,
            first: None,
            rest: None,
        }
    }
}

impl Iterator for CandidateOrder<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let mut rng = rand::rng();
        match self.first {
            None => {
                let first = pick_first(self.strategy, self.candidates, &mut rng);
                self.first = Some(first);
                first
            }
            Some(first) => {
                let rest = self.rest.get_or_insert_with(|| {
                    let mut order = order_candidates(self.strategy, self.candidates, &mut rng);
                    order.retain(|&i| Some(i) != first);
                    order.into_iter()
                });
                rest.next()
            }
        }
    }
}

/// Orders by repeated weighted draws without replacement (Efraimidis–Spirakis keys).
fn weighted_shuffle(items: &mut [usize], weight: impl Fn(usize) -> u64, rng: &mut impl Rng) {
    let mut keyed: Vec<(f64, usize)> = items
        .iter()
        .map(|&i| {
            let w = weight(i) as f64;
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
        headroom: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Strategy; 6] = [
        Strategy::Priority,
        Strategy::Weighted,
        Strategy::Shuffle,
        Strategy::LeastBusy,
        Strategy::Latency,
        Strategy::Headroom,
    ];

    fn room(headroom: Option<u64>) -> CandidateView {
        CandidateView { headroom, ..view(1, 0) }
    }

    #[test]
    fn headroom_spreads_in_proportion_to_room_and_puts_the_full_last() {
        let mut rng = rand::rng();
        let cands = [room(Some(60)), room(Some(120)), room(Some(180))];
        let mut firsts = [0usize; 3];
        for _ in 0..6000 {
            if let Some(i) = pick_first(Strategy::Headroom, &cands, &mut rng) {
                firsts[i] += 1;
            }
        }
        for (i, expected) in [1000usize, 2000, 3000].into_iter().enumerate() {
            assert!(firsts[i].abs_diff(expected) < 250, "{firsts:?}");
        }
        let full = [room(Some(0)), room(Some(5)), room(None)];
        for _ in 0..200 {
            let order = order_candidates(Strategy::Headroom, &full, &mut rng);
            assert_eq!(order.len(), 3);
            assert_eq!(order[2], 0, "no room goes last: {order:?}");
            assert_ne!(pick_first(Strategy::Headroom, &full, &mut rng), Some(0));
        }
        // Nothing known: by weight.
        let weights = [view(3, 0), view(1, 0)];
        let firsts = (0..4000)
            .filter(|_| pick_first(Strategy::Headroom, &weights, &mut rng) == Some(0))
            .count();
        assert!((2700..3300).contains(&firsts), "{firsts}");
    }

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
    fn the_first_pick_follows_weights_and_the_lazy_order_covers_everyone_once() {
        let cands = [view(3, 0), view(1, 0), view(1, 1)];
        let mut rng = rand::rng();
        let firsts = (0..4000)
            .filter(|_| pick_first(Strategy::Priority, &cands, &mut rng) == Some(0))
            .count();
        assert!((2700..3300).contains(&firsts), "{firsts} of 4000 should be about 3000");
        for s in ALL {
            let mut all: Vec<usize> = CandidateOrder::new(s, &cands).collect();
            all.sort();
            assert_eq!(all, vec![0, 1, 2], "{s:?}");
        }
        let mut cooling = cands;
        cooling[0].cooling_down = true;
        cooling[1].cooling_down = true;
        assert_eq!(
            CandidateOrder::new(Strategy::Weighted, &cooling).collect::<Vec<_>>(),
            vec![2]
        );
        cooling[2].cooling_down = true;
        assert_eq!(CandidateOrder::new(Strategy::Weighted, &cooling).next(), None);
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
        for s in ALL {
            assert_eq!(order_candidates(s, &cooling, &mut rng), vec![1]);
        }
    }
}
