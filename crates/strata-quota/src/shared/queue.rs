//! Settles waiting for a ride: each is sent in front of the next reservation's script call
//! (settle.lua runs before reserve.lua in one script), so under traffic a request costs Redis one
//! round trip, not a reservation and a settle. When no reservation comes within [`FLUSH_AFTER`],
//! a flush sends what waits on its own.
//!
//! A settle that rides on a call which fails is dropped, never sent twice (the call may have run
//! before its answer was lost, and a settle applied twice would give back twice): its
//! reservation stands until its window or lease ends, as when a settle call of its own fails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::SharedGrant;
use crate::local::Ending;

/// How long a settle waits for a reservation to ride on before it is sent alone. Short next to
/// the one-minute windows; at 100 requests a second and more per replica, most settles ride.
pub(crate) const FLUSH_AFTER: Duration = Duration::from_millis(10);

/// Most settles in front of one reservation, so a backlog never slows a request much.
pub(crate) const MOST_CARRIED: usize = 64;

/// Most settles in one flush call.
pub(crate) const MOST_FLUSHED: usize = 512;

#[derive(Debug, Default)]
pub(crate) struct SettleQueue {
    waiting: Mutex<Vec<(SharedGrant, Ending)>>,
    /// A flush is due (spawned and not yet started taking).
    flush_due: AtomicBool,
}

impl SettleQueue {
    /// Queues a settle; true when no flush is due yet, so the caller must schedule one.
    pub(crate) fn push(&self, grant: SharedGrant, ending: Ending) -> bool {
        self.lock().push((grant, ending));
        !self.flush_due.swap(true, Ordering::AcqRel)
    }

    /// Takes up to `most` of the oldest waiting settles.
    pub(crate) fn take(&self, most: usize) -> Vec<(SharedGrant, Ending)> {
        let mut waiting = self.lock();
        let n = waiting.len().min(most);
        waiting.drain(..n).collect()
    }

    /// The due flush has started: a settle queued from now on schedules the next one.
    pub(crate) fn flush_started(&self) {
        self.flush_due.store(false, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(SharedGrant, Ending)>> {
        // A panic while holding this lock leaves a valid Vec: go on with it.
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::FailMode;

    fn grant(second: i64) -> SharedGrant {
        SharedGrant {
            second,
            fail: FailMode::Open,
            taken: Vec::new(),
        }
    }

    #[test]
    fn only_the_first_push_after_a_flush_started_asks_for_a_flush() {
        let queue = SettleQueue::default();
        assert!(queue.push(grant(1), Ending::Estimate));
        assert!(!queue.push(grant(2), Ending::Cancel));
        queue.flush_started();
        assert!(queue.push(grant(3), Ending::Estimate));
    }

    #[test]
    fn take_hands_out_the_oldest_first_and_at_most_what_is_asked() {
        let queue = SettleQueue::default();
        for second in 1..=5 {
            queue.push(grant(second), Ending::Estimate);
        }
        let first: Vec<i64> = queue.take(2).iter().map(|(g, _)| g.second).collect();
        assert_eq!(first, [1, 2]);
        let rest: Vec<i64> = queue.take(10).iter().map(|(g, _)| g.second).collect();
        assert_eq!(rest, [3, 4, 5]);
        assert!(queue.take(10).is_empty());
    }
}
