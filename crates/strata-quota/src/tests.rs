//! Local mode on a clock the tests move: what takes a minute, a day or a month to observe. The
//! rules both modes share are in `tests/conformance.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;

/// 2025-03-31T23:59:00Z: one minute before both a day and a month end.
const MARCH_31_23_59: u64 = 1_743_465_540_000;

struct Manual {
    quotas: Quotas,
    now: Arc<AtomicU64>,
}

impl Manual {
    fn at(ms: u64) -> Manual {
        let now = Arc::new(AtomicU64::new(ms));
        Manual {
            quotas: Quotas::with_clock(Clock::Manual(Arc::clone(&now)), None),
            now,
        }
    }

    fn advance(&self, by: Duration) {
        self.now.fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }

    async fn reserve(&self, limits: &Limits, ask: Ask) -> Result<Grant, Refusal> {
        let scopes = [Scope { key: "k", limits }];
        match self.quotas.reserve(&scopes, ask, FailMode::Closed).await {
            Ok(grant) => Ok(grant),
            Err(Denied::Limited(refusal)) => Err(refusal),
            Err(Denied::Unavailable(e)) => panic!("local mode is never unavailable: {e}"),
        }
    }
}

fn ask(tokens: u64, cost: Nanos) -> Ask {
    Ask { tokens, cost }
}

#[tokio::test]
async fn requests_are_counted_for_a_whole_minute() {
    let m = Manual::at(MARCH_31_23_59 - 30_000);
    let limits = Limits {
        rpm: Some(2),
        ..Limits::default()
    };
    m.quotas.settle(m.reserve(&limits, ask(1, 0)).await.unwrap(), None);
    m.advance(Duration::from_secs(30));
    m.quotas.settle(m.reserve(&limits, ask(1, 0)).await.unwrap(), None);
    m.advance(Duration::from_secs(10));
    let refused = m.reserve(&limits, ask(1, 0)).await.unwrap_err();
    assert_eq!(refused.limit, Limit::Requests);
    assert_eq!(
        refused.retry_after,
        Duration::from_secs(21),
        "the first second leaves at 61 s"
    );
    m.advance(Duration::from_secs(19));
    assert!(m.reserve(&limits, ask(1, 0)).await.is_err(), "59 s after the first");
    m.advance(Duration::from_secs(2));
    assert!(m.reserve(&limits, ask(1, 0)).await.is_ok(), "61 s after the first");
}

#[tokio::test]
async fn admitted_tokens_in_any_minute_stay_within_the_limit() {
    // A sender every 250 ms for three minutes, each using exactly its estimate.
    let m = Manual::at(MARCH_31_23_59);
    let limits = Limits {
        tpm: Some(1000),
        ..Limits::default()
    };
    let mut admitted = Vec::new();
    for i in 0..720u64 {
        if let Ok(grant) = m.reserve(&limits, ask(70, 0)).await {
            m.quotas.settle(grant, Some(Used { tokens: 70, cost: 0 }));
            admitted.push(i * 250);
        }
        m.advance(Duration::from_millis(250));
    }
    for start in &admitted {
        let in_minute = admitted
            .iter()
            .filter(|t| **t >= *start && **t < start + 60_000)
            .count() as u64
            * 70;
        assert!(in_minute <= 1000, "{in_minute} tokens in the minute from {start} ms");
    }
    assert!(admitted.len() > 30, "{} admitted", admitted.len());
}

#[tokio::test]
async fn usage_beyond_the_estimate_counts_until_its_second_leaves() {
    let m = Manual::at(MARCH_31_23_59);
    let limits = Limits {
        tpm: Some(100),
        ..Limits::default()
    };
    let grant = m.reserve(&limits, ask(10, 0)).await.unwrap();
    m.quotas.settle(grant, Some(Used { tokens: 150, cost: 0 }));
    m.advance(Duration::from_secs(1));
    let refused = m.reserve(&limits, ask(1, 0)).await.unwrap_err();
    assert_eq!(
        (refused.limit, refused.retry_after),
        (Limit::Tokens, Duration::from_secs(60))
    );
    m.advance(Duration::from_secs(60));
    assert!(m.reserve(&limits, ask(1, 0)).await.is_ok());
}

#[tokio::test]
async fn a_settle_after_its_second_left_the_window_changes_nothing() {
    let m = Manual::at(MARCH_31_23_59);
    let limits = Limits {
        tpm: Some(100),
        ..Limits::default()
    };
    let late = m.reserve(&limits, ask(100, 0)).await.unwrap();
    m.advance(Duration::from_secs(61));
    let now = m.reserve(&limits, ask(100, 0)).await.unwrap();
    m.quotas.settle(late, Some(Used { tokens: 0, cost: 0 }));
    assert_eq!(now.headroom.tokens.map(|w| w.remaining), Some(0));
    assert!(
        m.reserve(&limits, ask(1, 0)).await.is_err(),
        "the late settle gave nothing back"
    );
}

#[tokio::test]
async fn budgets_start_again_with_the_day_and_the_month() {
    let m = Manual::at(MARCH_31_23_59);
    let daily = Limits {
        usd_per_day: Some(1000),
        ..Limits::default()
    };
    let monthly = Limits {
        usd_per_month: Some(1000),
        ..Limits::default()
    };
    for limits in [&daily, &monthly] {
        let scopes = [Scope { key: "spent", limits }];
        let grant = m.quotas.reserve(&scopes, ask(0, 1000), FailMode::Closed).await.unwrap();
        m.quotas.settle(grant, None);
    }
    let scopes = |limits| [Scope { key: "spent", limits }];
    for (limits, limit) in [(&daily, Limit::DailyBudget), (&monthly, Limit::MonthlyBudget)] {
        match m.quotas.reserve(&scopes(limits), ask(0, 1), FailMode::Closed).await {
            Err(Denied::Limited(r)) => {
                assert_eq!(
                    (r.limit, r.retry_after),
                    (limit, Duration::from_secs(60)),
                    "until midnight UTC"
                );
            }
            other => panic!("expected a budget refusal, got {other:?}"),
        }
    }
    m.advance(Duration::from_secs(60));
    for limits in [&daily, &monthly] {
        assert!(m
            .quotas
            .reserve(&scopes(limits), ask(0, 1000), FailMode::Closed)
            .await
            .is_ok());
    }
}

#[tokio::test]
async fn unsettled_reservations_free_their_slot_and_spend_when_the_lease_expires() {
    let m = Manual::at(MARCH_31_23_59 - 3_600_000);
    let quotas = m.quotas.with_lease(Duration::from_secs(60));
    let m = Manual { quotas, now: m.now };
    let limits = Limits {
        concurrent: Some(1),
        usd_per_day: Some(100),
        ..Limits::default()
    };
    let forgotten = m.reserve(&limits, ask(0, 100)).await.unwrap();
    m.advance(Duration::from_millis(59_999));
    let refused = m.reserve(&limits, ask(0, 1)).await.unwrap_err();
    assert_eq!(refused.limit, Limit::DailyBudget, "the budget frees last");
    m.advance(Duration::from_millis(1));
    let next = m.reserve(&limits, ask(0, 100)).await.unwrap();
    // The late settle still counts what was spent, but gives back no reservation twice.
    m.quotas.settle(forgotten, Some(Used { tokens: 0, cost: 0 }));
    assert!(
        m.reserve(&limits, ask(0, 1)).await.is_err(),
        "the second still holds its slot"
    );
    m.quotas.settle(next, Some(Used { tokens: 0, cost: 40 }));
    assert!(m.reserve(&limits, ask(0, 60)).await.is_ok());
}
