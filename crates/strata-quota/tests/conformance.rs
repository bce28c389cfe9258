//! One suite of rules run against `Quotas::local()` and against `Quotas::shared` on the Redis at
//! 127.0.0.1:6379 (each test in its own namespace, so tests run in parallel). The shared runs use
//! `FailMode::Closed` and check every grant is shared, so a Redis failure cannot pass as local.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{fresh_namespace, REDIS_URL};
use strata_quota::{Ask, Denied, FailMode, Grant, Limit, Limits, Nanos, Quotas, Refusal, Scope, Used, Window};

/// A `Quotas` under test and what it must be.
struct Subject {
    quotas: Quotas,
}

impl Subject {
    fn local(lease: Duration) -> Subject {
        Subject {
            quotas: Quotas::local().with_lease(lease),
        }
    }

    fn shared(test: &str, lease: Duration) -> Subject {
        let quotas = Quotas::shared(REDIS_URL, &fresh_namespace(test))
            .unwrap()
            .with_lease(lease)
            .with_redis_timeout(Duration::from_secs(10));
        Subject { quotas }
    }

    async fn reserve_in(&self, scopes: &[Scope<'_>], ask: Ask) -> Result<Grant, Refusal> {
        match self.quotas.reserve(scopes, ask, FailMode::Closed).await {
            Ok(grant) => {
                if !grant.is_free() {
                    assert_eq!(grant.is_shared(), self.quotas.is_shared(), "taken where the mode says");
                }
                Ok(grant)
            }
            Err(Denied::Limited(refusal)) => Err(refusal),
            Err(Denied::Unavailable(e)) => panic!("quota store unavailable: {e}"),
        }
    }

    async fn reserve(&self, limits: &Limits, ask: Ask) -> Result<Grant, Refusal> {
        self.reserve_in(&[Scope { key: "k", limits }], ask).await
    }

    async fn settle(&self, grant: Grant, used: Option<Used>) {
        self.quotas.settle(grant, used);
        self.quotas.flush().await;
    }

    async fn cancel(&self, grant: Grant) {
        self.quotas.cancel(grant);
        self.quotas.flush().await;
    }
}

fn ask(tokens: u64, cost: Nanos) -> Ask {
    Ask { tokens, cost }
}

fn used(tokens: u64, cost: Nanos) -> Option<Used> {
    Some(Used { tokens, cost })
}

/// A sliding-minute refusal: the oldest second leaves 60 to 61 s after it was counted.
fn assert_within_a_minute(refusal: &Refusal, limit: Limit) {
    assert_eq!(refusal.limit, limit, "{refusal:?}");
    assert!(
        refusal.retry_after > Duration::from_secs(50) && refusal.retry_after <= Duration::from_secs(61),
        "{refusal:?}"
    );
}

/// Milliseconds since the epoch on this machine (Redis runs on the same one).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn rpm_is_exact(s: Subject) {
    let limits = Limits {
        rpm: Some(5),
        ..Limits::default()
    };
    for _ in 0..5 {
        let grant = s.reserve(&limits, ask(10, 0)).await.unwrap();
        s.settle(grant, used(10, 0)).await;
    }
    let refused = s.reserve(&limits, ask(10, 0)).await.unwrap_err();
    assert_eq!(refused.scope, 0);
    assert_within_a_minute(&refused, Limit::Requests);
    assert_eq!(refused.headroom.requests.map(|w| w.remaining), Some(0));
}

async fn tpm_is_settled_with_real_usage(s: Subject) {
    let limits = Limits {
        tpm: Some(1000),
        ..Limits::default()
    };
    let first = s.reserve(&limits, ask(900, 0)).await.unwrap();
    assert_within_a_minute(&s.reserve(&limits, ask(200, 0)).await.unwrap_err(), Limit::Tokens);
    s.settle(first, used(100, 0)).await;
    let second = s.reserve(&limits, ask(800, 0)).await.unwrap();
    s.settle(second, used(800, 0)).await;
    assert!(s.reserve(&limits, ask(101, 0)).await.is_err(), "100 + 800 + 101 > 1000");
    let third = s.reserve(&limits, ask(100, 0)).await.unwrap();
    // Usage beyond the estimate counts in full.
    s.settle(third, used(300, 0)).await;
    assert!(
        s.reserve(&limits, ask(0, 0)).await.is_err(),
        "1200 tokens used: nothing fits"
    );
}

async fn one_request_larger_than_the_tpm_passes_alone(s: Subject) {
    let limits = Limits {
        tpm: Some(100),
        ..Limits::default()
    };
    let grant = s.reserve(&limits, ask(5000, 0)).await.unwrap();
    assert_eq!(grant.headroom.tokens.map(|w| (w.limit, w.remaining)), Some((100, 0)));
    assert!(s.reserve(&limits, ask(1, 0)).await.is_err());
    s.settle(grant, None).await;
}

async fn an_unknown_usage_keeps_the_estimate(s: Subject) {
    let limits = Limits {
        tpm: Some(1000),
        usd_per_day: Some(1000),
        ..Limits::default()
    };
    let grant = s.reserve(&limits, ask(800, 600)).await.unwrap();
    s.settle(grant, None).await;
    let refused = s.reserve(&limits, ask(300, 0)).await.unwrap_err();
    assert_eq!(refused.limit, Limit::Tokens);
    let refused = s.reserve(&limits, ask(0, 500)).await.unwrap_err();
    assert_eq!(refused.limit, Limit::DailyBudget);
    s.settle(s.reserve(&limits, ask(200, 400)).await.unwrap(), None).await;
}

async fn cancel_returns_everything(s: Subject) {
    let limits = Limits {
        rpm: Some(1),
        tpm: Some(100),
        concurrent: Some(1),
        usd_per_day: Some(100),
        usd_per_month: Some(100),
    };
    for _ in 0..3 {
        let grant = s.reserve(&limits, ask(100, 100)).await.unwrap();
        assert!(s.reserve(&limits, ask(0, 0)).await.is_err());
        s.cancel(grant).await;
    }
    let grant = s.reserve(&limits, ask(100, 100)).await.unwrap();
    assert_eq!(grant.headroom.requests.map(|w| w.remaining), Some(0));
    assert_eq!(grant.headroom.tokens.map(|w| w.remaining), Some(0));
    s.settle(grant, None).await;
}

async fn concurrency_is_held_until_settled(s: Subject) {
    let limits = Limits {
        concurrent: Some(2),
        ..Limits::default()
    };
    let a = s.reserve(&limits, ask(0, 0)).await.unwrap();
    let b = s.reserve(&limits, ask(0, 0)).await.unwrap();
    let refused = s.reserve(&limits, ask(0, 0)).await.unwrap_err();
    assert_eq!(
        (refused.limit, refused.retry_after),
        (Limit::Concurrent, Duration::from_secs(1))
    );
    assert_eq!(refused.headroom, Default::default(), "no requests or tokens limit");
    s.settle(a, None).await;
    let c = s.reserve(&limits, ask(0, 0)).await.unwrap();
    assert!(s.reserve(&limits, ask(0, 0)).await.is_err());
    s.cancel(b).await;
    s.settle(c, used(0, 0)).await;
    let _ = s.reserve(&limits, ask(0, 0)).await.unwrap();
    let _ = s.reserve(&limits, ask(0, 0)).await.unwrap();
}

async fn the_daily_budget_counts_reservations_in_flight(s: Subject) {
    let limits = Limits {
        usd_per_day: Some(1000),
        ..Limits::default()
    };
    let a = s.reserve(&limits, ask(0, 300)).await.unwrap();
    let b = s.reserve(&limits, ask(0, 300)).await.unwrap();
    let c = s.reserve(&limits, ask(0, 300)).await.unwrap();
    let before = now_ms();
    let refused = s.reserve(&limits, ask(0, 300)).await.unwrap_err();
    let after = now_ms();
    assert_eq!(refused.limit, Limit::DailyBudget);
    let midnight = (before / 86_400_000 + 1) * 86_400_000;
    let retry = refused.retry_after.as_millis() as u64;
    assert!(
        retry <= midnight - before + 1000 && retry + 1000 >= midnight.saturating_sub(after),
        "retry {retry} ms, midnight in {} ms",
        midnight - before
    );
    // Settled below its estimate: 100 spent + 600 reserved + 300 fits.
    s.settle(a, used(0, 100)).await;
    let d = s.reserve(&limits, ask(0, 300)).await.unwrap();
    assert!(s.reserve(&limits, ask(0, 1)).await.is_err());
    // An estimate larger than the cap reserves the cap.
    for g in [b, c, d] {
        s.cancel(g).await;
    }
    let big = [Scope {
        key: "big",
        limits: &limits,
    }];
    let whole = s.reserve_in(&big, ask(0, 5000)).await.unwrap();
    assert_eq!(
        s.reserve_in(&big, ask(0, 1)).await.unwrap_err().limit,
        Limit::DailyBudget
    );
    s.cancel(whole).await;
}

async fn the_monthly_budget_ends_with_the_month(s: Subject) {
    let limits = Limits {
        usd_per_month: Some(1_000_000_000),
        usd_per_day: Some(5_000_000_000),
        ..Limits::default()
    };
    let spent = s.reserve(&limits, ask(0, 900_000_000)).await.unwrap();
    s.settle(spent, used(0, 1_000_000_000)).await;
    let before = now_ms();
    let refused = s.reserve(&limits, ask(0, 1)).await.unwrap_err();
    let after = now_ms();
    assert_eq!(refused.limit, Limit::MonthlyBudget, "the month's cap frees last");
    // The month's end, from this machine's clock (Redis's runs on the same machine): a UTC
    // midnight between the two readings plus the wait (ms truncation aside).
    let retry = refused.retry_after.as_millis() as u64;
    assert!(retry <= 31 * 86_400_000, "{retry} ms");
    let end = (before + retry).div_ceil(86_400_000) * 86_400_000;
    assert!(
        end <= after + retry + 2,
        "no midnight in {}..={} ms",
        before + retry,
        after + retry
    );
    let month_after = strata_core::clock::utc_parts(std::time::UNIX_EPOCH + Duration::from_millis(end));
    assert_eq!(month_after.2, 1, "ends on the first of a month: {month_after:?}");
}

async fn scopes_are_taken_all_or_nothing(s: Subject) {
    let tenant = Limits {
        rpm: Some(10),
        tpm: Some(1000),
        ..Limits::default()
    };
    let deployment = Limits {
        rpm: Some(1),
        ..Limits::default()
    };
    let both = [
        Scope {
            key: "t:acme",
            limits: &tenant,
        },
        Scope {
            key: "d:claude",
            limits: &deployment,
        },
    ];
    let first = s.reserve_in(&both, ask(100, 0)).await.unwrap();
    let refused = s.reserve_in(&both, ask(100, 0)).await.unwrap_err();
    assert_eq!((refused.scope, refused.limit), (1, Limit::Requests));
    let requests = refused.headroom.requests.unwrap();
    let tokens = refused.headroom.tokens.unwrap();
    assert_eq!(
        (requests.remaining, tokens.remaining),
        (9, 900),
        "the tenant was left untouched"
    );
    let alone = s.reserve_in(&both[..1], ask(100, 0)).await.unwrap();
    assert_eq!(alone.headroom.requests.map(|w| w.remaining), Some(8));
    s.settle(first, None).await;
    s.settle(alone, None).await;
    // Unlimited scopes take nothing and leave the others working.
    let none = Limits::default();
    let free = s
        .reserve_in(
            &[Scope {
                key: "free",
                limits: &none,
            }],
            ask(1, 1),
        )
        .await;
    assert!(free.unwrap().is_free());
}

async fn headroom_follows_each_reservation(s: Subject) {
    let limits = Limits {
        rpm: Some(10),
        tpm: Some(1000),
        concurrent: Some(5),
        ..Limits::default()
    };
    let check = |w: Option<Window>, limit: u64, remaining: u64| {
        let w = w.unwrap();
        assert_eq!((w.limit, w.remaining), (limit, remaining), "{w:?}");
        assert!(
            w.reset > Duration::from_secs(59) && w.reset <= Duration::from_secs(61),
            "{w:?}"
        );
    };
    let a = s.reserve(&limits, ask(100, 0)).await.unwrap();
    check(a.headroom.requests, 10, 9);
    check(a.headroom.tokens, 1000, 900);
    let b = s.reserve(&limits, ask(200, 0)).await.unwrap();
    check(b.headroom.requests, 10, 8);
    check(b.headroom.tokens, 1000, 700);
    s.settle(a, used(50, 0)).await;
    let c = s.reserve(&limits, ask(0, 0)).await.unwrap();
    check(c.headroom.requests, 10, 7);
    check(c.headroom.tokens, 1000, 750);
    s.cancel(b).await;
    let d = s.reserve(&limits, ask(0, 0)).await.unwrap();
    check(d.headroom.requests, 10, 7);
    check(d.headroom.tokens, 1000, 950);
    let only_budget = Limits {
        usd_per_day: Some(10),
        ..Limits::default()
    };
    let e = s
        .reserve_in(
            &[
                Scope {
                    key: "b",
                    limits: &only_budget,
                },
                Scope {
                    key: "k",
                    limits: &limits,
                },
            ],
            ask(0, 0),
        )
        .await
        .unwrap();
    assert_eq!(e.headroom, Default::default(), "the first scope has no minute limits");
}

async fn an_unsettled_reservation_expires_with_its_lease(s: Subject) {
    let limits = Limits {
        concurrent: Some(1),
        usd_per_month: Some(100),
        ..Limits::default()
    };
    let started = Instant::now();
    // Never settled: as if its replica had crashed.
    drop(s.reserve(&limits, ask(0, 100)).await.unwrap());
    let refused = s.reserve(&limits, ask(0, 0)).await;
    if started.elapsed() < LEASE {
        assert!(refused.is_err(), "held while the lease runs");
    }
    let deadline = started + Duration::from_secs(60);
    loop {
        if let Ok(grant) = s.reserve(&limits, ask(0, 100)).await {
            assert!(
                started.elapsed() >= LEASE - Duration::from_millis(50),
                "freed before the lease ended"
            );
            s.settle(grant, used(0, 0)).await;
            break;
        }
        assert!(Instant::now() < deadline, "the lease never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Short, so the lease test is quick; every test runs with it (none holds a grant that long
/// except on purpose).
const LEASE: Duration = Duration::from_secs(2);

macro_rules! conformance {
    ($($rule:ident),* $(,)?) => {
        mod local {
            $(#[tokio::test] async fn $rule() { super::$rule(super::Subject::local(super::LEASE)).await })*
        }
        mod redis {
            $(#[tokio::test] async fn $rule() {
                super::$rule(super::Subject::shared(stringify!($rule), super::LEASE)).await
            })*
        }
    };
}

conformance!(
    rpm_is_exact,
    tpm_is_settled_with_real_usage,
    one_request_larger_than_the_tpm_passes_alone,
    an_unknown_usage_keeps_the_estimate,
    cancel_returns_everything,
    concurrency_is_held_until_settled,
    the_daily_budget_counts_reservations_in_flight,
    the_monthly_budget_ends_with_the_month,
    scopes_are_taken_all_or_nothing,
    headroom_follows_each_reservation,
    an_unsettled_reservation_expires_with_its_lease,
);
