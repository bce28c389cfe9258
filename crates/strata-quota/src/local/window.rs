//! The sliding minute of one scope: 61 one-second slots (the current second and the sixty
//! before it, so a second's admissions are counted for sixty seconds after its end, never
//! fewer). Requests and tokens admitted in any 60 s never pass the limits (tokens: by no more
//! than one request's excess over its estimate). `shared/reserve.lua` keeps the same window as
//! hash fields per second.

/// Slots in the window.
pub(crate) const SLOTS: u64 = 61;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Seconds since the epoch; a slot of another second is empty.
    second: u64,
    requests: u64,
    tokens: u64,
}

/// One scope's requests and tokens per second over the last 61 seconds.
#[derive(Debug)]
pub(crate) struct MinuteWindow {
    slots: [Slot; SLOTS as usize],
}

impl Default for MinuteWindow {
    fn default() -> Self {
        MinuteWindow {
            slots: [Slot::default(); SLOTS as usize],
        }
    }
}

impl MinuteWindow {
    /// The slot of `second` if it holds that second.
    fn slot(&self, second: u64) -> Option<&Slot> {
        let slot = &self.slots[(second % SLOTS) as usize];
        (slot.second == second).then_some(slot)
    }

    /// The live slots, oldest first.
    fn live(&self, now_s: u64) -> impl Iterator<Item = &Slot> {
        (now_s.saturating_sub(SLOTS - 1)..=now_s).filter_map(move |s| self.slot(s))
    }

    /// The live slots in slot order, not time order: for what does not depend on order, a plain
    /// pass over the array (no division per second; the totals and resets run on every
    /// reservation).
    fn live_unordered(&self, now_s: u64) -> impl Iterator<Item = &Slot> {
        let kept = now_s.saturating_sub(SLOTS - 1)..=now_s;
        self.slots.iter().filter(move |s| kept.contains(&s.second))
    }

    /// Requests and tokens counted in the window at `now_s`.
    pub(crate) fn totals(&self, now_s: u64) -> (u64, u64) {
        self.live_unordered(now_s)
            .fold((0, 0), |(r, t), s| (r + s.requests, t.saturating_add(s.tokens)))
    }

    /// The totals and, for the headroom's resets, the oldest live seconds with requests and with
    /// tokens: one pass over the slots (three passes, one per figure, were ~1.7k instructions
    /// of every governed answer, callgrind).
    pub(crate) fn tally(&self, now_s: u64) -> Tally {
        self.live_unordered(now_s).fold(Tally::default(), |mut t, s| {
            let older = |oldest: Option<u64>| Some(oldest.map_or(s.second, |o| o.min(s.second)));
            t.requests += s.requests;
            t.tokens = t.tokens.saturating_add(s.tokens);
            if s.requests > 0 {
                t.oldest_with_requests = older(t.oldest_with_requests);
            }
            if s.tokens > 0 {
                t.oldest_with_tokens = older(t.oldest_with_tokens);
            }
            t
        })
    }

    /// Milliseconds until enough of the oldest seconds have left for one more request.
    pub(crate) fn requests_retry(&self, now_ms: u64, rpm: u64) -> u64 {
        let (mut requests, _) = self.totals(now_ms / 1000);
        for s in self.live(now_ms / 1000) {
            requests -= s.requests;
            if requests < rpm {
                return leaves_in(s.second, now_ms);
            }
        }
        SLOTS * 1000
    }

    /// Milliseconds until enough of the oldest seconds have left for `need` more tokens.
    pub(crate) fn tokens_retry(&self, now_ms: u64, tpm: u64, need: u64) -> u64 {
        let (_, mut tokens) = self.totals(now_ms / 1000);
        for s in self.live(now_ms / 1000) {
            tokens = tokens.saturating_sub(s.tokens);
            if tokens.saturating_add(need) <= tpm {
                return leaves_in(s.second, now_ms);
            }
        }
        SLOTS * 1000
    }

    /// Counts a request and its tokens in the second `now_s`.
    pub(crate) fn take(&mut self, now_s: u64, requests: u64, tokens: u64) {
        let slot = &mut self.slots[(now_s % SLOTS) as usize];
        if slot.second != now_s {
            *slot = Slot {
                second: now_s,
                ..Slot::default()
            };
        }
        slot.requests += requests;
        slot.tokens = slot.tokens.saturating_add(tokens);
    }

    /// Changes what was counted in `second`, if that second is still kept.
    pub(crate) fn adjust(&mut self, second: u64, requests: i64, tokens: i64) {
        let slot = &mut self.slots[(second % SLOTS) as usize];
        if slot.second == second {
            slot.requests = slot.requests.saturating_add_signed(requests);
            slot.tokens = slot.tokens.saturating_add_signed(tokens);
        }
    }
}

/// What a window holds at one second: [`MinuteWindow::tally`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub requests: u64,
    pub tokens: u64,
    oldest_with_requests: Option<u64>,
    oldest_with_tokens: Option<u64>,
}

impl Tally {
    /// Milliseconds from `now_ms` until the oldest second with requests leaves the window (the
    /// `reset` of the requests headroom; 0 when none has requests).
    pub(crate) fn requests_reset(&self, now_ms: u64) -> u64 {
        self.oldest_with_requests.map_or(0, |second| leaves_in(second, now_ms))
    }

    /// The same for the oldest second with tokens.
    pub(crate) fn tokens_reset(&self, now_ms: u64) -> u64 {
        self.oldest_with_tokens.map_or(0, |second| leaves_in(second, now_ms))
    }
}

/// Milliseconds from `now_ms` until `second` leaves the window (at least 1).
fn leaves_in(second: u64, now_ms: u64) -> u64 {
    ((second + SLOTS) * 1000).saturating_sub(now_ms).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_is_counted_until_sixty_one_seconds_after_it_began() {
        let mut w = MinuteWindow::default();
        w.take(100, 1, 10);
        w.take(130, 1, 20);
        assert_eq!(w.totals(160), (2, 30));
        assert_eq!(w.totals(161), (1, 20), "second 100 left at 161");
        assert_eq!(w.requests_retry(140_500, 2), 20_500);
        assert_eq!(w.requests_retry(140_500, 1), 50_500, "both must leave");
        assert_eq!(w.tokens_retry(140_000, 30, 10), 21_000);
        assert_eq!(w.tokens_retry(140_000, 25, 10), 51_000);
        assert_eq!(w.tally(140).requests_reset(140_000), 21_000);
        assert_eq!(w.tally(140).tokens_reset(140_000), 21_000);
    }

    #[test]
    fn the_tally_sums_like_totals_and_finds_the_oldest_second_of_each_kind() {
        let mut w = MinuteWindow::default();
        w.take(100, 0, 10);
        w.take(120, 1, 0);
        w.take(150, 2, 5);
        let t = w.tally(150);
        assert_eq!((t.requests, t.tokens), w.totals(150));
        assert_eq!(t.requests_reset(150_000), 31_000, "second 120 leaves at 181");
        assert_eq!(t.tokens_reset(150_000), 11_000, "second 100 leaves at 161");
        let later = w.tally(161);
        assert_eq!(
            later.tokens_reset(161_000),
            50_000,
            "100 has left: 150 is the oldest with tokens"
        );
        assert_eq!(MinuteWindow::default().tally(150).requests_reset(150_000), 0);
    }

    #[test]
    fn adjusting_a_second_no_longer_kept_changes_nothing() {
        let mut w = MinuteWindow::default();
        w.take(100, 1, 10);
        w.take(161, 1, 5);
        w.adjust(100, 0, 50);
        assert_eq!(w.totals(161), (1, 5));
        w.adjust(161, -1, -5);
        assert_eq!(w.totals(161), (0, 0));
    }
}
