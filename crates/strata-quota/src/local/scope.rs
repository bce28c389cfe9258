//! One scope's state in this process: its sliding minute, its day and month budgets and its
//! reservations in flight. `shared/reserve.lua` and `shared/settle.lua` do exactly this on Redis;
//! keep the two in step (the conformance suite runs against both).

use std::collections::HashMap;

use super::window::{MinuteWindow, SLOTS};
use crate::period::{self, Period};
use crate::types::{Ask, Headroom, Limit, Limits, Window};
use std::time::Duration;

/// A budget's current period: what was spent in it and what is reserved by requests in flight.
#[derive(Debug, Default)]
struct PeriodBudget {
    index: u64,
    spent: u64,
    reserved: u64,
}

impl PeriodBudget {
    /// Starts a new period when `index` is past the kept one.
    fn roll(&mut self, index: u64) {
        if self.index != index {
            *self = PeriodBudget {
                index,
                ..PeriodBudget::default()
            };
        }
    }

    fn fits(&self, cap: u64, amount: u64) -> bool {
        u128::from(self.spent) + u128::from(self.reserved) + u128::from(amount) <= u128::from(cap)
    }

    /// Returns a reservation of period `index` (released: it still held its amount) and
    /// counts what was spent.
    fn settle(&mut self, index: u64, released: Option<u64>, spent: u64) {
        if self.index == index {
            if let Some(amount) = released {
                self.reserved = self.reserved.saturating_sub(amount);
            }
            self.spent = self.spent.saturating_add(spent);
        }
    }
}

/// A reservation in flight, expiring at `expires_ms` if never settled.
#[derive(Debug, Clone, Copy)]
struct Lease {
    expires_ms: u64,
    day: PeriodAmount,
    month: PeriodAmount,
}

/// What a reservation holds of a budget period (`index` is `None` without that budget).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PeriodAmount {
    pub index: Option<u64>,
    pub amount: u64,
}

/// What a reservation took in one scope, to settle or cancel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Taken {
    pub second: u64,
    pub requests: u64,
    pub tokens: u64,
    /// The TPM when taken (usage settled beyond a whole window of it counts as that much).
    pub tpm: Option<u32>,
    pub lease: Option<u64>,
    pub day: PeriodAmount,
    pub month: PeriodAmount,
}

/// How a reservation ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ending {
    /// The call ran and used this much.
    Used { tokens: u64, cost: u64 },
    /// The call ran; its usage is unknown, so the estimate stands.
    Estimate,
    /// The call never ran: everything is given back.
    Cancel,
}

#[derive(Debug, Default)]
pub(crate) struct ScopeState {
    window: MinuteWindow,
    day: PeriodBudget,
    month: PeriodBudget,
    leases: HashMap<u64, Lease>,
    /// No lease expires before this (a lower bound, so most reserves skip the scan).
    earliest_expiry: u64,
}

impl ScopeState {
    /// Moves the budgets to the current periods and drops the leases that expired, giving back
    /// what they reserved.
    pub(crate) fn prepare(&mut self, now_ms: u64, day: Period, month: Period) {
        self.day.roll(day.index);
        self.month.roll(month.index);
        if self.leases.is_empty() || now_ms < self.earliest_expiry {
            return;
        }
        let (mut earliest, day_budget, month_budget) = (u64::MAX, &mut self.day, &mut self.month);
        self.leases.retain(|_, lease| {
            if lease.expires_ms > now_ms {
                earliest = earliest.min(lease.expires_ms);
                return true;
            }
            for (budget, held) in [(&mut *day_budget, lease.day), (&mut *month_budget, lease.month)] {
                if let Some(index) = held.index {
                    budget.settle(index, Some(held.amount), 0);
                }
            }
            false
        });
        self.earliest_expiry = earliest;
    }

    /// The limit without room for `ask` and when it frees (in ms), if any. Of several, the one
    /// that frees last (ties: the first in [`Limit`]'s order), since the request needs them all.
    pub(crate) fn refusal(
        &self,
        limits: &Limits,
        ask: Ask,
        now_ms: u64,
        day: Period,
        month: Period,
    ) -> Option<(Limit, u64)> {
        let now_s = now_ms / 1000;
        let (requests, tokens) = self.window.totals(now_s);
        let mut worst: Option<(Limit, u64)> = None;
        let mut refuse = |limit: Limit, retry_ms: u64| {
            if worst.is_none_or(|(_, r)| retry_ms > r) {
                worst = Some((limit, retry_ms));
            }
        };
        if let Some(rpm) = limits.rpm.map(u64::from) {
            if requests >= rpm {
                refuse(Limit::Requests, self.window.requests_retry(now_ms, rpm));
            }
        }
        if let Some(tpm) = limits.tpm.map(u64::from) {
            let need = ask.tokens.min(tpm);
            if tokens.saturating_add(need) > tpm {
                refuse(Limit::Tokens, self.window.tokens_retry(now_ms, tpm, need));
            }
        }
        if let Some(concurrent) = limits.concurrent {
            if self.leases.len() >= concurrent as usize {
                refuse(Limit::Concurrent, 1000);
            }
        }
        if let Some(cap) = limits.usd_per_day {
            if !self.day.fits(cap, ask.cost.min(cap)) {
                refuse(Limit::DailyBudget, day.end_ms.saturating_sub(now_ms).max(1));
            }
        }
        if let Some(cap) = limits.usd_per_month {
            if !self.month.fits(cap, ask.cost.min(cap)) {
                refuse(Limit::MonthlyBudget, month.end_ms.saturating_sub(now_ms).max(1));
            }
        }
        worst
    }

    /// Takes `ask` (checked by [`Self::refusal`]).
    pub(crate) fn take(&mut self, limits: &Limits, ask: Ask, now_ms: u64, lease: (u64, u64)) -> Taken {
        let now_s = now_ms / 1000;
        let requests = u64::from(limits.rpm.is_some());
        let tokens = limits.tpm.map_or(0, |tpm| ask.tokens.min(u64::from(tpm)));
        // The second is kept even for zero tokens: a settle then finds it and counts the usage.
        if limits.rpm.is_some() || limits.tpm.is_some() {
            self.window.take(now_s, requests, tokens);
        }
        let held = |budget: &mut PeriodBudget, cap: Option<u64>| {
            cap.map_or(PeriodAmount::default(), |cap| {
                let amount = ask.cost.min(cap);
                budget.reserved = budget.reserved.saturating_add(amount);
                PeriodAmount {
                    index: Some(budget.index),
                    amount,
                }
            })
        };
        let day = held(&mut self.day, limits.usd_per_day);
        let month = held(&mut self.month, limits.usd_per_month);
        let lease = limits.needs_lease().then(|| {
            let (id, expires_ms) = lease;
            self.leases.insert(id, Lease { expires_ms, day, month });
            self.earliest_expiry = self.earliest_expiry.min(expires_ms);
            id
        });
        Taken {
            second: now_s,
            requests,
            tokens,
            tpm: limits.tpm,
            lease,
            day,
            month,
        }
    }

    /// Ends a reservation.
    pub(crate) fn end(&mut self, taken: &Taken, ending: Ending) {
        let (requests, tokens) = match ending {
            Ending::Used { tokens, .. } => {
                let cap = taken.tpm.map_or(0, |tpm| u64::from(tpm) * SLOTS);
                (0, signed(tokens.min(cap)) - signed(taken.tokens))
            }
            Ending::Estimate => (0, 0),
            Ending::Cancel => (-signed(taken.requests), -signed(taken.tokens)),
        };
        if requests != 0 || tokens != 0 {
            self.window.adjust(taken.second, requests, tokens);
        }
        let released = taken.lease.is_some_and(|id| self.leases.remove(&id).is_some());
        for (budget, held) in [(&mut self.day, taken.day), (&mut self.month, taken.month)] {
            let Some(index) = held.index else { continue };
            let spent = match ending {
                Ending::Used { cost, .. } => cost,
                Ending::Estimate => held.amount,
                Ending::Cancel => 0,
            };
            budget.settle(index, released.then_some(held.amount), spent);
        }
    }

    /// The requests and tokens windows of this scope's limits.
    pub(crate) fn headroom(&self, limits: &Limits, now_ms: u64) -> Headroom {
        let tally = self.window.tally(now_ms / 1000);
        let window = |limit: u32, used: u64, reset_ms: u64| Window {
            limit: u64::from(limit),
            remaining: u64::from(limit).saturating_sub(used),
            reset: Duration::from_millis(reset_ms),
        };
        Headroom {
            requests: limits
                .rpm
                .map(|rpm| window(rpm, tally.requests, tally.requests_reset(now_ms))),
            tokens: limits
                .tpm
                .map(|tpm| window(tpm, tally.tokens, tally.tokens_reset(now_ms))),
        }
    }
}

/// The periods a reservation at `now_ms` falls in.
pub(crate) fn periods(now_ms: u64) -> (Period, Period) {
    (period::day(now_ms), period::month(now_ms))
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
