//! What only shared mode promises: exact limits across replicas, and riding out a Redis that
//! stops and comes back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fresh_namespace, REDIS_URL};
use strata_quota::{Ask, Denied, FailMode, Limit, Limits, Quotas, Scope, Used};
use strata_test_support::PrivateRedis;

/// Two replicas sharing one namespace; generous timeouts, since these tests load Redis.
fn replicas(test: &str) -> [Arc<Quotas>; 2] {
    let namespace = fresh_namespace(test);
    let replica = || {
        Arc::new(
            Quotas::shared(REDIS_URL, &namespace)
                .unwrap()
                .with_redis_timeout(Duration::from_secs(10)),
        )
    };
    [replica(), replica()]
}

/// Runs `tasks` reservations at once, alternating between the replicas; returns the grants'
/// replica index and each refusal's limit.
async fn hammer(replicas: &[Arc<Quotas>; 2], limits: Limits, ask: Ask, tasks: usize) -> (Vec<usize>, Vec<Limit>) {
    let mut handles = Vec::new();
    for i in 0..tasks {
        let quotas = Arc::clone(&replicas[i % 2]);
        handles.push(tokio::spawn(async move {
            let scopes = [Scope {
                key: "t:acme",
                limits: &limits,
            }];
            match quotas.reserve(&scopes, ask, FailMode::Closed).await {
                Ok(grant) => {
                    assert!(grant.is_shared());
                    quotas.settle(
                        grant,
                        Some(Used {
                            tokens: ask.tokens,
                            cost: ask.cost,
                        }),
                    );
                    Ok(i % 2)
                }
                Err(Denied::Limited(refusal)) => Err(refusal.limit),
                Err(Denied::Unavailable(e)) => panic!("Redis unavailable: {e}"),
            }
        }));
    }
    let (mut granted, mut refused) = (Vec::new(), Vec::new());
    for handle in handles {
        match handle.await.unwrap() {
            Ok(replica) => granted.push(replica),
            Err(limit) => refused.push(limit),
        }
    }
    for r in replicas {
        r.flush().await;
    }
    (granted, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_together_admit_exactly_the_rpm() {
    let replicas = replicas("rpm_across_replicas");
    let limits = Limits {
        rpm: Some(37),
        ..Limits::default()
    };
    // Both replicas connected before the race starts.
    let warm = Limits {
        concurrent: Some(10),
        ..Limits::default()
    };
    for r in &replicas {
        let grant = r
            .reserve(
                &[Scope {
                    key: "warm",
                    limits: &warm,
                }],
                Ask::default(),
                FailMode::Closed,
            )
            .await;
        r.cancel(grant.unwrap());
    }
    let (granted, refused) = hammer(&replicas, limits, Ask { tokens: 1, cost: 0 }, 200).await;
    let by_first = granted.iter().filter(|r| **r == 0).count();
    assert_eq!(granted.len(), 37, "{by_first} granted through the first replica");
    assert!(refused.iter().all(|l| *l == Limit::Requests));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_overshoot_the_budget() {
    let replicas = replicas("budget_overshoot");
    let limits = Limits {
        usd_per_day: Some(10_000),
        usd_per_month: Some(1_000_000),
        ..Limits::default()
    };
    let (granted, refused) = hammer(&replicas, limits, Ask { tokens: 0, cost: 300 }, 100).await;
    // Real cost = estimate: 33 × 300 = 9 900 ≤ 10 000 < 34 × 300.
    assert_eq!(granted.len(), 33);
    assert!(refused.iter().all(|l| *l == Limit::DailyBudget));
    // Everything settled: the spend stands and the cap holds.
    let scopes = [Scope {
        key: "t:acme",
        limits: &limits,
    }];
    let over = replicas[0]
        .reserve(&scopes, Ask { tokens: 0, cost: 101 }, FailMode::Closed)
        .await;
    assert!(matches!(over, Err(Denied::Limited(r)) if r.limit == Limit::DailyBudget));
    let fits = replicas[1]
        .reserve(&scopes, Ask { tokens: 0, cost: 100 }, FailMode::Closed)
        .await;
    replicas[1].cancel(fits.unwrap());
    replicas[1].flush().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_concurrency_and_settles() {
    let replicas = replicas("concurrency_across_replicas");
    let limits = Limits {
        concurrent: Some(3),
        tpm: Some(1000),
        ..Limits::default()
    };
    let scopes = [Scope {
        key: "d:claude",
        limits: &limits,
    }];
    let ask = Ask { tokens: 300, cost: 0 };
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(replicas[i % 2].reserve(&scopes, ask, FailMode::Closed).await.unwrap());
    }
    let refused = replicas[1]
        .reserve(&scopes, Ask { tokens: 0, cost: 0 }, FailMode::Closed)
        .await;
    assert!(matches!(refused, Err(Denied::Limited(r)) if r.limit == Limit::Concurrent));
    // A grant settled by the other replica than the one that took it frees the same slot.
    replicas[1].settle(held.remove(0), Some(Used { tokens: 0, cost: 0 }));
    replicas[1].flush().await;
    let again = replicas[0].reserve(&scopes, ask, FailMode::Closed).await.unwrap();
    assert_eq!(
        again.headroom.tokens.map(|w| w.remaining),
        Some(100),
        "1000 − 0 − 300 − 300 − 300"
    );
}

/// Reserves until a grant comes from Redis (Redis is asked again after each back-off).
async fn until_shared(quotas: &Quotas, scopes: &[Scope<'_>]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match quotas.reserve(scopes, Ask::default(), FailMode::Closed).await {
            Ok(grant) => {
                assert!(grant.is_shared(), "fail-closed never grants locally");
                quotas.cancel(grant);
                return;
            }
            Err(Denied::Unavailable(_)) => {}
            Err(Denied::Limited(r)) => panic!("refused while waiting for Redis: {r:?}"),
        }
        assert!(Instant::now() < deadline, "Redis never used again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_redis_that_stops_and_comes_back_is_used_again_without_a_restart() {
    if !PrivateRedis::installed() {
        eprintln!("SKIPPED: redis-server is not installed; cannot stop and restart a private Redis");
        return;
    }
    let mut redis = PrivateRedis::reserve();
    // Nothing listens yet: building the Quotas must still succeed.
    let quotas = Quotas::shared(&redis.url(), "restart").unwrap();
    let limits = Limits {
        rpm: Some(3),
        concurrent: Some(10),
        ..Limits::default()
    };
    let scopes = [Scope {
        key: "t:acme",
        limits: &limits,
    }];
    let probe_limits = Limits {
        concurrent: Some(100),
        ..Limits::default()
    };
    let probe = [Scope {
        key: "probe",
        limits: &probe_limits,
    }];
    let closed = quotas.reserve(&scopes, Ask::default(), FailMode::Closed).await;
    assert!(matches!(closed, Err(Denied::Unavailable(_))), "{closed:?}");

    redis.start();
    until_shared(&quotas, &probe).await;
    let shared = quotas.reserve(&scopes, Ask::default(), FailMode::Open).await.unwrap();
    assert!(shared.is_shared());

    redis.stop();
    // The grant taken in Redis is settled into the void: counted as an error, never blocking.
    quotas.settle(shared, None);
    quotas.flush().await;
    // Fail-open: the same limits, kept in this process.
    for _ in 0..3 {
        let local = quotas.reserve(&scopes, Ask::default(), FailMode::Open).await.unwrap();
        assert!(!local.is_shared());
        quotas.settle(local, None);
    }
    let limited = quotas.reserve(&scopes, Ask::default(), FailMode::Open).await;
    assert!(
        matches!(limited, Err(Denied::Limited(r)) if r.limit == Limit::Requests),
        "{limited:?}"
    );
    // Fail-closed: refused.
    let closed = quotas.reserve(&scopes, Ask::default(), FailMode::Closed).await;
    assert!(matches!(closed, Err(Denied::Unavailable(_))), "{closed:?}");

    redis.start();
    until_shared(&quotas, &probe).await;
    // Redis started empty: its count of requests is its own, not the stop-gap's.
    let back = quotas.reserve(&scopes, Ask::default(), FailMode::Closed).await.unwrap();
    assert!(back.is_shared());
    assert_eq!(back.headroom.requests.map(|w| w.remaining), Some(2));
    quotas.cancel(back);
    quotas.flush().await;
    redis.stop();
}

#[tokio::test]
async fn failures_are_counted_and_redis_is_skipped_during_the_back_off() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    // Nothing listens on a port just freed.
    let nobody = PrivateRedis::reserve();
    let quotas = Quotas::shared(&nobody.url(), "down").unwrap();
    let limits = Limits {
        rpm: Some(1),
        ..Limits::default()
    };
    let scopes = [Scope {
        key: "t:acme",
        limits: &limits,
    }];
    for _ in 0..3 {
        let closed = quotas.reserve(&scopes, Ask::default(), FailMode::Closed).await;
        assert!(matches!(closed, Err(Denied::Unavailable(_))), "{closed:?}");
    }
    let open = quotas.reserve(&scopes, Ask::default(), FailMode::Open).await.unwrap();
    assert!(!open.is_shared());
    quotas.settle(open, None);
    let errors: Vec<(String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "strata_quota_shared_errors_total")
        .map(|(key, _, _, value)| {
            let labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let DebugValue::Counter(n) = value else {
                panic!("{value:?}")
            };
            (labels.join(","), n)
        })
        .collect();
    // One failed call; the rest skipped Redis during the back-off instead of failing again.
    assert_eq!(errors, vec![("fail_mode=closed".to_owned(), 1)]);
}

/// Script calls Redis ran without error (EVAL and EVALSHA), from its command statistics.
async fn scripts_run(url: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await
        .unwrap();
    info.lines()
        .filter(|line| line.starts_with("cmdstat_eval:") || line.starts_with("cmdstat_evalsha:"))
        .map(|line| {
            let field = |name: &str| -> u64 {
                line.split([':', ','])
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
                    .unwrap_or(0)
            };
            field("calls") - field("failed_calls") - field("rejected_calls")
        })
        .sum()
}

#[tokio::test]
async fn a_settle_rides_on_the_next_reservation() {
    if !PrivateRedis::installed() {
        eprintln!("SKIPPED: redis-server is not installed; cannot count one Redis's script calls");
        return;
    }
    let redis = PrivateRedis::running();
    let quotas = Quotas::shared(&redis.url(), "ride")
        .unwrap()
        .with_redis_timeout(Duration::from_secs(10));
    let limits = Limits {
        concurrent: Some(1),
        tpm: Some(100_000),
        ..Limits::default()
    };
    let scopes = [Scope {
        key: "t:acme",
        limits: &limits,
    }];
    let ask = Ask { tokens: 500, cost: 0 };
    for i in 0..20 {
        // One slot: each reservation is granted only if the previous settle ran before it.
        let grant = quotas
            .reserve(&scopes, ask, FailMode::Closed)
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e:?}"));
        quotas.settle(grant, Some(Used { tokens: 100, cost: 0 }));
    }
    quotas.flush().await;
    // 20 reservations, the last settle alone: not 20 reservations and 20 settles.
    assert_eq!(scripts_run(&redis.url()).await, 21);
    let after = quotas.reserve(&scopes, ask, FailMode::Closed).await.unwrap();
    assert_eq!(
        after.headroom.tokens.map(|w| w.remaining),
        Some(100_000 - 20 * 100 - 500),
        "every settle gave back its unused estimate"
    );
}

#[tokio::test]
async fn settles_riding_on_a_reservation_whose_request_is_dropped_still_reach_redis() {
    let quotas = Quotas::shared(REDIS_URL, &fresh_namespace("dropped_ride"))
        .unwrap()
        .with_redis_timeout(Duration::from_secs(10));
    let limits = Limits {
        concurrent: Some(1),
        ..Limits::default()
    };
    let scopes = [Scope {
        key: "t:acme",
        limits: &limits,
    }];
    let ask = Ask { tokens: 0, cost: 0 };
    let grant = quotas.reserve(&scopes, ask, FailMode::Closed).await.unwrap();
    quotas.settle(grant, Some(Used { tokens: 0, cost: 0 }));
    // Another request's reservation takes the queued settle along, and that request goes away
    // (its client hung up) before Redis answers: polled once, then dropped.
    let other = [Scope {
        key: "t:other",
        limits: &limits,
    }];
    let dropped = tokio::select! {
        biased;
        _ = quotas.reserve(&other, ask, FailMode::Closed) => false,
        () = std::future::ready(()) => true,
    };
    assert!(dropped, "the reservation was still waiting for Redis");
    tokio::time::timeout(Duration::from_secs(10), quotas.flush())
        .await
        .expect("flush returns: nothing is left pending");
    let again = quotas
        .reserve(&scopes, ask, FailMode::Closed)
        .await
        .expect("the settle reached Redis and freed the one slot");
    quotas.cancel(again);
}
