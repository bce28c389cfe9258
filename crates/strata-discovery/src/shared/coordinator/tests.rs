//! Replicas coordinating through the real Redis (127.0.0.1:6379, a namespace per test), and
//! through a private `redis-server` that a test stops and restarts. The replicas' discovery has
//! no accounts, so a "scan" calls no control plane and keeps the catalog it started from: what
//! is checked is who scans, what is published and what the others apply.

use std::sync::atomic::{AtomicUsize, Ordering};

use strata_core::{Region, RegionScan};

use strata_test_support::PrivateRedis;

use super::*;
use crate::collector::Collector;
use crate::settings::DiscoverySettings;
use crate::shared::testing::{link, namespace};

fn discovery(initial: Catalog) -> Arc<Discovery> {
    let settings = DiscoverySettings {
        refresh_seconds: 1,
        persist: false,
        ..DiscoverySettings::default()
    };
    Arc::new(Discovery::new(Collector::new(&settings, &[], None), &settings, initial))
}

fn replica_on(link: RedisLink, keys: &Keys, id: &str, initial: Catalog, ttl_ms: u64) -> SharedDiscovery {
    SharedDiscovery::with_lock(
        discovery(initial),
        link,
        keys.clone(),
        id.to_string(),
        Duration::from_millis(ttl_ms),
    )
}

fn replica(keys: &Keys, id: &str, initial: Catalog, ttl_ms: u64) -> SharedDiscovery {
    replica_on(link(), keys, id, initial, ttl_ms)
}

fn scanned_catalog() -> Catalog {
    let mut c = Catalog::default();
    c.insert(RegionScan::missing(
        "prod",
        Region::parse("eu-west-1").unwrap(),
        5,
        "x".into(),
    ));
    c.insert(RegionScan::missing(
        "prod",
        Region::parse("us-east-1").unwrap(),
        6,
        "y".into(),
    ));
    c
}

/// Checks `done` every 25 ms (after a heartbeat of `beating`, if given) until it holds, at most
/// `seconds`.
async fn eventually(seconds: u64, beating: Option<&SharedDiscovery>, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if let Some(replica) = beating {
            replica.heartbeat().await;
        }
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn the_leader_scans_and_publishes_and_the_follower_applies_it_without_scanning() {
    let keys = Keys::new(&namespace("lead-follow"));
    let a = replica(&keys, "a", scanned_catalog(), 60_000);
    let b = replica(&keys, "b", Catalog::default(), 60_000);
    assert_eq!(
        b.discovery().role(),
        Role::Follower,
        "a follower until it knows it leads"
    );
    assert!(a.heartbeat().await.is_none(), "nothing published yet");
    assert!(b.heartbeat().await.is_none());
    assert_eq!(
        (a.discovery().role(), b.discovery().role()),
        (Role::Leader, Role::Follower)
    );
    assert!(a.scan_due(), "a leader with nothing published scans at once");
    assert!(!b.scan_due(), "a follower never scans");

    let (scanned, _) = a.scan().await;
    let published = PublishedCatalog::new(link(), keys.clone());
    assert_eq!(published.version().await.unwrap(), 1);
    let (adopted, events) = b.heartbeat().await.expect("the follower applies the publication");
    assert_eq!(*adopted, *scanned);
    assert_eq!(*b.discovery().catalog(), scanned_catalog());
    let (ours, theirs) = (b.discovery().last_round().unwrap(), a.discovery().last_round().unwrap());
    assert_eq!(
        (ours.finished_at, ours.scanned, ours.events),
        (theirs.finished_at, theirs.scanned, events.len())
    );
    // Nothing new: neither applies anything, and the leader never re-applies its own.
    assert!(b.heartbeat().await.is_none());
    assert!(a.heartbeat().await.is_none());
    assert!(!b.scan_due());
    a.step_down().await;
    assert_eq!(a.discovery().role(), Role::Follower);
}

#[tokio::test]
async fn a_new_leader_starts_from_the_published_catalog_and_scans_within_the_interval() {
    let keys = Keys::new(&namespace("takeover"));
    let old = replica(&keys, "old", scanned_catalog(), 300);
    // The heir's own lock, once it has it, outlives this test's pauses.
    let heir = replica(&keys, "heir", Catalog::default(), 5_000);
    old.heartbeat().await;
    old.scan().await;
    let first = old.discovery().last_round().unwrap();
    heir.heartbeat().await.expect("published catalog applied");
    assert_eq!(heir.discovery().role(), Role::Follower);
    // The leader dies: no release, no more renewals.
    drop(old);
    assert!(
        eventually(10, Some(&heir), || heir.discovery().role() == Role::Leader).await,
        "the lock never passed to the heir"
    );
    assert_eq!(
        *heir.discovery().catalog(),
        scanned_catalog(),
        "the heir starts from the published catalog"
    );
    // It scans on the old leader's cadence: due within one refresh interval (1 s) of the last
    // publication.
    assert!(eventually(10, Some(&heir), || heir.scan_due()).await);
    heir.scan().await;
    let published = PublishedCatalog::new(link(), keys.clone())
        .load()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(published.version, 2);
    assert!(published.report.finished_at >= first.finished_at);
    // A replica joining later starts from what the heir published.
    let late = replica(&keys, "late", Catalog::default(), 300);
    late.heartbeat().await.expect("published catalog applied");
    assert_eq!(
        (late.discovery().role(), &*late.discovery().catalog()),
        (Role::Follower, &scanned_catalog())
    );
    heir.step_down().await;
}

#[tokio::test]
async fn the_loop_leads_follows_and_releases_the_lock_on_shutdown() {
    let keys = Keys::new(&namespace("loop"));
    let leader = Arc::new(replica(&keys, "leader", scanned_catalog(), 3_000));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let published_here = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&published_here);
    let leading = tokio::spawn(Arc::clone(&leader).run(
        move |_, _| {
            count.fetch_add(1, Ordering::SeqCst);
        },
        stopped.clone(),
    ));
    let store = PublishedCatalog::new(link(), keys.clone());
    let mut version = 0;
    for _ in 0..400 {
        version = store.version().await.unwrap();
        if version > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(version > 0, "the leader never published");

    let follower = Arc::new(replica(&keys, "follower", Catalog::default(), 3_000));
    let applied = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&applied);
    let following = tokio::spawn(Arc::clone(&follower).run(
        move |_, _| {
            count.fetch_add(1, Ordering::SeqCst);
        },
        stopped,
    ));
    assert!(eventually(10, None, || applied.load(Ordering::SeqCst) > 0).await);
    assert_eq!(*follower.discovery().catalog(), scanned_catalog());
    assert_eq!(follower.discovery().role(), Role::Follower);
    assert!(
        published_here.load(Ordering::SeqCst) > 0,
        "the leader's own rounds reach its routes too"
    );

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), leading)
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), following)
        .await
        .unwrap()
        .unwrap();
    let lock = Leadership::new(link(), &keys, "probe".into(), Duration::from_secs(1));
    assert_eq!(lock.holder().await.unwrap(), None, "a clean shutdown releases the lock");
}

#[tokio::test]
async fn without_redis_a_replica_scans_alone_and_shares_again_when_redis_is_back() {
    let mut redis = PrivateRedis::running();
    let keys = Keys::new(&namespace("fallback"));
    let a = replica_on(
        RedisLink::connect(&redis.url()).unwrap(),
        &keys,
        "a",
        scanned_catalog(),
        60_000,
    );
    a.heartbeat().await;
    assert_eq!(a.discovery().role(), Role::Leader);

    redis.stop();
    assert!(
        eventually(10, Some(&a), || a.discovery().role() == Role::Fallback).await,
        "Redis gone, yet the replica did not fall back"
    );
    assert!(a.scan_due(), "a replica without Redis scans itself");
    a.scan().await;
    assert!(a.discovery().last_round().is_some());

    redis.start();
    assert!(
        eventually(15, Some(&a), || a.discovery().role() == Role::Leader).await,
        "Redis back, yet the replica did not rejoin"
    );
    // The new Redis is empty: the replica leads it and publishes its next round there.
    a.scan().await;
    let store = PublishedCatalog::new(RedisLink::connect(&redis.url()).unwrap(), keys.clone());
    assert_eq!(store.version().await.unwrap(), 1);
    assert_eq!(store.load().await.unwrap().unwrap().catalog, scanned_catalog());
}
