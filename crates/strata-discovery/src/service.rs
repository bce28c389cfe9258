//! The refresh loop: scan every interval (with jitter), merge over the last catalog (failed
//! scans keep their data, marked stale), diff into events, persist, and hand the new catalog to
//! whoever compiles routes from it. The latest catalog is read lock-free.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use rand::Rng;
use serde::{Deserialize, Serialize};
use strata_core::Catalog;

use crate::collector::{unix_now, Collector, RoundProgress};
use crate::diff::{diff, CatalogEvent};
use crate::settings::DiscoverySettings;
use crate::store;

/// Events kept for the admin API.
const EVENTS_KEPT: usize = 2_000;

/// The histogram of scan rounds' durations in seconds (recorded by the replica that scanned).
pub const ROUND_SECONDS: &str = "strata_discovery_duration_seconds";

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundReport {
    /// Unix seconds when the round finished.
    pub finished_at: u64,
    pub duration_ms: u64,
    pub scanned: usize,
    pub failed: usize,
    pub events: usize,
}

/// What a replica does in discovery. Without shared state every replica is `Local`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Scans on its own: no other replica is coordinated with.
    Local,
    /// Holds the shared lock: scans and publishes what it found.
    Leader,
    /// Another replica leads: loads what it publishes, never calls the control plane.
    Follower,
    /// The shared store is unreachable: scans on its own until the store is back.
    Fallback,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Local => "local",
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Fallback => "fallback",
        }
    }
}

/// The discovery service: the collector, the latest catalog and recent events.
#[derive(Debug)]
pub struct Discovery {
    collector: Collector,
    catalog: ArcSwap<Catalog>,
    events: Mutex<VecDeque<CatalogEvent>>,
    last_round: Mutex<Option<RoundReport>>,
    /// Serialises rounds (a manual refresh and the loop never overlap).
    round_lock: tokio::sync::Mutex<()>,
    cache_file: Option<PathBuf>,
    refresh: Duration,
    role: Mutex<Role>,
}

impl Discovery {
    /// A service starting from the cached catalog, if the settings name one and it can be read,
    /// else from nothing.
    pub fn from_cache(collector: Collector, settings: &DiscoverySettings) -> Discovery {
        let initial = match settings.cache_path().map(|path| (path, store::load(path))) {
            Some((path, Ok(Some(cached)))) => {
                tracing::info!(path = %path.display(), "routing from the cached catalog until the first scan ends");
                cached
            }
            Some((_, Err(e))) => {
                tracing::warn!(error = %e, "cached catalog ignored");
                Catalog::default()
            }
            Some((_, Ok(None))) | None => Catalog::default(),
        };
        Discovery::new(collector, settings, initial)
    }

    /// A service starting from `initial`.
    pub fn new(collector: Collector, settings: &DiscoverySettings, initial: Catalog) -> Discovery {
        Discovery {
            collector,
            catalog: ArcSwap::from_pointee(initial),
            events: Mutex::new(VecDeque::new()),
            last_round: Mutex::new(None),
            round_lock: tokio::sync::Mutex::new(()),
            cache_file: settings.cache_path().map(Path::to_path_buf),
            refresh: Duration::from_secs(settings.refresh_seconds),
            role: Mutex::new(Role::Local),
        }
    }

    /// The latest catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// Recent events, oldest first.
    pub fn events(&self) -> Vec<CatalogEvent> {
        self.events.lock().iter().cloned().collect()
    }

    pub fn last_round(&self) -> Option<RoundReport> {
        self.last_round.lock().clone()
    }

    pub fn refresh_interval(&self) -> Duration {
        self.refresh
    }

    /// What this replica does in discovery (scans alone, leads, follows, or scans because the
    /// shared store is unreachable).
    pub fn role(&self) -> Role {
        *self.role.lock()
    }

    /// Set by whoever coordinates replicas ([`crate::shared`]); a lone replica stays `Local`.
    pub fn set_role(&self, role: Role) {
        *self.role.lock() = role;
    }

    /// Runs one round and publishes its catalog; returns the new catalog and its events.
    pub async fn refresh_once(&self, progress: &(dyn Fn(RoundProgress) + Sync)) -> (Arc<Catalog>, Vec<CatalogEvent>) {
        let _one_round = self.round_lock.lock().await;
        let started = Instant::now();
        let scans = self.collector.scan_round(progress).await;
        let failed = scans
            .iter()
            .filter(|s| !matches!(s.freshness, strata_core::Freshness::Fresh))
            .count();
        let scanned = scans.len();
        metrics::histogram!(ROUND_SECONDS).record(started.elapsed().as_secs_f64());
        let next = self.catalog.load_full().merged(scans);
        let report = RoundReport {
            finished_at: unix_now(),
            duration_ms: started.elapsed().as_millis() as u64,
            scanned,
            failed,
            events: 0,
        };
        self.install(next, report)
    }

    /// Takes a catalog another replica scanned exactly as if this replica's own round had
    /// produced it: the same diff into events, cache file and round report (whose `events`
    /// counts the changes seen here, which is what `/admin/events` shows).
    pub async fn adopt(&self, catalog: Catalog, report: RoundReport) -> (Arc<Catalog>, Vec<CatalogEvent>) {
        let _one_round = self.round_lock.lock().await;
        self.install(catalog, report)
    }

    /// Diffs `next` against the current catalog, logs and keeps the events, caches and swaps it
    /// in. Callers hold the round lock.
    fn install(&self, next: Catalog, mut report: RoundReport) -> (Arc<Catalog>, Vec<CatalogEvent>) {
        let old = self.catalog.load_full();
        let next = Arc::new(next);
        let events = diff(&old, &next, unix_now());
        if old.is_empty() {
            tracing::info!(
                events = events.len(),
                scanned = report.scanned,
                failed = report.failed,
                "first catalog built"
            );
        } else {
            for e in &events {
                tracing::info!(account = %e.account, region = %e.region, event = ?e.change, "catalog changed");
            }
        }
        {
            let mut kept = self.events.lock();
            kept.extend(events.iter().cloned());
            while kept.len() > EVENTS_KEPT {
                kept.pop_front();
            }
        }
        if let Some(path) = &self.cache_file {
            if let Err(e) = store::save(path, &next) {
                tracing::warn!(error = %e, "catalog not cached");
            }
        }
        self.catalog.store(Arc::clone(&next));
        report.events = events.len();
        *self.last_round.lock() = Some(report);
        (next, events)
    }

    /// Refreshes forever (first round at once), calling `publish` after each round, until
    /// `shutdown` turns true.
    pub async fn run(
        self: Arc<Self>,
        publish: impl Fn(Arc<Catalog>, &[CatalogEvent]) + Send + Sync,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let round = self.refresh_once(&|_| {});
            let (catalog, events) = tokio::select! {
                r = round => r,
                _ = shutdown.changed() => return,
            };
            publish(catalog, &events);
            let jitter = rand::rng().random_range(0.9..1.1);
            let wait = self.refresh.mul_f64(jitter);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
