//! Who scans. Every heartbeat a replica keeps or takes the lock, then catches up with the
//! published catalog: a follower applies each new publication exactly as its own round
//! (same diff, events, cache file and report), and a replica that becomes leader starts from
//! what its predecessor published, on its predecessor's cadence, not from empty. Only the
//! leader scans, and publishes what it found; a replica that cannot reach Redis scans on its
//! own (role `fallback`) and rejoins at the first heartbeat that reaches Redis again.
//!
//! Timing: the lock lives one refresh interval at most (30 s at most, so a dead leader is
//! replaced quickly even with a long interval) and is renewed every heartbeat, a third of
//! that (2 s at most), which is also how often followers look for a new version.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;
use strata_core::Catalog;
use tokio::task::JoinHandle;

use super::leadership::Leadership;
use super::link::RedisLink;
use super::published::PublishedCatalog;
use super::{replica_id, Keys, SharedError, SharedSettings, FALLBACKS, LEADER};
use crate::collector::unix_now;
use crate::diff::CatalogEvent;
use crate::service::{Discovery, Role};

/// The longest the lock outlives a dead leader.
const MAX_LOCK_TTL: Duration = Duration::from_secs(30);
/// The longest between two heartbeats.
const MAX_HEARTBEAT: Duration = Duration::from_secs(2);

/// What a heartbeat applied: a published catalog and the events it caused here.
pub type Adopted = (Arc<Catalog>, Vec<CatalogEvent>);

/// One replica's discovery when replicas share Redis.
#[derive(Debug)]
pub struct SharedDiscovery {
    discovery: Arc<Discovery>,
    leadership: Leadership,
    published: PublishedCatalog,
    heartbeat: Duration,
    progress: Mutex<Progress>,
}

#[derive(Debug)]
struct Progress {
    /// The role last announced in the log (None before the first heartbeat).
    announced: Option<Role>,
    /// The published version this replica last applied or wrote.
    seen_version: u64,
    /// When this replica scans next, should it lead (or fall back).
    next_scan: Instant,
}

impl SharedDiscovery {
    /// Coordinates `discovery` with the other replicas using `settings`' Redis. Nothing is sent
    /// to Redis yet; until the first heartbeat the replica counts as a follower (it never
    /// scans before it knows it leads).
    pub fn new(discovery: Arc<Discovery>, settings: &SharedSettings) -> Result<SharedDiscovery, SharedError> {
        let link = RedisLink::connect(&settings.redis_url)?;
        let ttl = discovery.refresh_interval().clamp(Duration::from_secs(1), MAX_LOCK_TTL);
        Ok(SharedDiscovery::with_lock(
            discovery,
            link,
            Keys::new(&settings.namespace),
            replica_id(),
            ttl,
        ))
    }

    /// Like [`SharedDiscovery::new`] with every part chosen by the caller (tests use a short
    /// lock so takeovers are quick).
    pub fn with_lock(
        discovery: Arc<Discovery>,
        link: RedisLink,
        keys: Keys,
        id: String,
        ttl: Duration,
    ) -> SharedDiscovery {
        discovery.set_role(Role::Follower);
        SharedDiscovery {
            leadership: Leadership::new(link.clone(), &keys, id, ttl),
            published: PublishedCatalog::new(link, keys),
            heartbeat: (ttl / 3).min(MAX_HEARTBEAT),
            progress: Mutex::new(Progress {
                announced: None,
                seen_version: 0,
                next_scan: Instant::now(),
            }),
            discovery,
        }
    }

    pub fn discovery(&self) -> &Arc<Discovery> {
        &self.discovery
    }

    /// This replica's id (the lock's value while it leads).
    pub fn replica_id(&self) -> &str {
        self.leadership.id()
    }

    /// Keeps or takes the lock (or finds Redis away), then applies a newer published catalog
    /// if there is one. Returns what was applied.
    pub async fn heartbeat(&self) -> Option<Adopted> {
        let role = match self.leadership.hold().await {
            Ok(true) => Role::Leader,
            Ok(false) => Role::Follower,
            Err(e) => {
                self.enter(Role::Fallback, Some(&e), None);
                return None;
            }
        };
        if self.progress.lock().announced != Some(role) {
            let leader = match role {
                Role::Follower => self.leadership.holder().await.ok().flatten(),
                _ => None,
            };
            self.enter(role, None, leader.as_deref());
        }
        match self.catch_up().await {
            Ok(adopted) => adopted,
            Err(e) => {
                tracing::warn!(error = %e, "published catalog not loaded; retried at the next heartbeat");
                None
            }
        }
    }

    /// Whether this replica should scan now: it leads (or cannot reach Redis) and its next
    /// round is due.
    pub fn scan_due(&self) -> bool {
        matches!(self.discovery.role(), Role::Leader | Role::Fallback)
            && Instant::now() >= self.progress.lock().next_scan
    }

    /// Scans the control plane, and publishes the result while this replica still leads.
    pub async fn scan(&self) -> Adopted {
        let (catalog, events) = self.discovery.refresh_once(&|_| {}).await;
        let jitter = rand::rng().random_range(0.9..1.1);
        self.progress.lock().next_scan = Instant::now() + self.discovery.refresh_interval().mul_f64(jitter);
        if self.discovery.role() != Role::Leader {
            return (catalog, events);
        }
        let Some(report) = self.discovery.last_round() else {
            return (catalog, events);
        };
        match self.published.publish(self.leadership.id(), &catalog, &report).await {
            Ok(Some(version)) => {
                self.progress.lock().seen_version = version;
                tracing::debug!(version, "catalog published for the other replicas");
            }
            Ok(None) => tracing::info!("the discovery lock moved to another replica during the scan; not published"),
            Err(e) => tracing::warn!(error = %e, "catalog not published; the other replicas keep the previous one"),
        }
        (catalog, events)
    }

    /// A refresh asked for now (the admin API): a follower loads the latest publication, a
    /// leader (or a replica without Redis) scans. `publish` gets each catalog applied.
    pub async fn refresh_now(&self, publish: impl Fn(Arc<Catalog>, &[CatalogEvent])) {
        if let Some((catalog, events)) = self.heartbeat().await {
            publish(catalog, &events);
        }
        if self.discovery.role() != Role::Follower {
            let (catalog, events) = self.scan().await;
            publish(catalog, &events);
        }
    }

    /// Heartbeats, scans when due and applies publications until `shutdown` turns true; then
    /// gives the lock up so another replica leads at once. Scans run beside the heartbeat, so
    /// a long round never lets the lock expire.
    pub async fn run(
        self: Arc<Self>,
        publish: impl Fn(Arc<Catalog>, &[CatalogEvent]) + Send + Sync,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut beat = tokio::time::interval(self.heartbeat);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut scan: Option<JoinHandle<Adopted>> = None;
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    if let Some((catalog, events)) = self.heartbeat().await {
                        publish(catalog, &events);
                    }
                    if scan.is_none() && self.scan_due() {
                        let me = Arc::clone(&self);
                        scan = Some(tokio::spawn(async move { me.scan().await }));
                    }
                }
                finished = until_done(&mut scan) => {
                    scan = None;
                    match finished {
                        Ok((catalog, events)) => publish(catalog, &events),
                        Err(e) => tracing::warn!(error = %e, "discovery round ended abnormally"),
                    }
                }
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
        if let Some(round) = scan {
            round.abort();
        }
        self.step_down().await;
    }

    /// Releases the lock if this replica holds it.
    pub async fn step_down(&self) {
        if self.discovery.role() != Role::Leader {
            return;
        }
        match self.leadership.release().await {
            Ok(true) => tracing::info!(replica = self.leadership.id(), "discovery lock released"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "discovery lock not released; it expires by itself"),
        }
        // Quietly: a replica shutting down follows nobody.
        self.progress.lock().announced = Some(Role::Follower);
        self.discovery.set_role(Role::Follower);
        metrics::gauge!(LEADER).set(0.0);
    }

    /// Applies the published catalog if it is new to this replica and not older than its own
    /// last round (a replica that scanned alone while Redis was away may have newer data).
    async fn catch_up(&self) -> Result<Option<Adopted>, SharedError> {
        let version = self.published.version().await?;
        // `!=`, not `>`: a Redis that lost its data starts counting again from 1.
        if version == self.progress.lock().seen_version {
            return Ok(None);
        }
        let Some(published) = self.published.load().await? else {
            self.progress.lock().seen_version = version;
            return Ok(None);
        };
        self.progress.lock().seen_version = published.version;
        let finished_at = published.report.finished_at;
        if let Some(ours) = self.discovery.last_round().filter(|r| r.finished_at > finished_at) {
            tracing::debug!(
                ours = ours.finished_at,
                published = finished_at,
                "published catalog older than ours; kept ours"
            );
            return Ok(None);
        }
        // The next scan, should this replica lead, keeps the publisher's cadence.
        let due_in = (finished_at + self.discovery.refresh_interval().as_secs()).saturating_sub(unix_now());
        self.progress.lock().next_scan = Instant::now() + Duration::from_secs(due_in);
        tracing::debug!(version = published.version, "published catalog applied");
        Ok(Some(self.discovery.adopt(published.catalog, published.report).await))
    }

    /// Records and announces a change of role.
    fn enter(&self, role: Role, error: Option<&SharedError>, leader: Option<&str>) {
        let was = {
            let mut progress = self.progress.lock();
            let was = progress.announced;
            progress.announced = Some(role);
            was
        };
        self.discovery.set_role(role);
        if was == Some(role) {
            return;
        }
        metrics::gauge!(LEADER).set(if role == Role::Leader { 1.0 } else { 0.0 });
        let replica = self.leadership.id();
        match role {
            Role::Leader => tracing::info!(
                replica,
                role = role.as_str(),
                "discovery: this replica leads; it scans the control plane and publishes the catalog"
            ),
            Role::Follower => tracing::info!(
                replica,
                role = role.as_str(),
                leader = leader.unwrap_or("unknown"),
                "discovery: this replica follows; it loads the leader's catalog and never scans"
            ),
            Role::Fallback => {
                metrics::counter!(FALLBACKS).increment(1);
                tracing::warn!(
                    replica,
                    role = role.as_str(),
                    error = error.map(|e| e.to_string()).unwrap_or_default(),
                    "discovery: Redis is unreachable; scanning the control plane locally until it is back"
                );
            }
            Role::Local => {}
        }
    }
}

/// The finished scan, or never when there is none (a `select!` branch that stays quiet).
async fn until_done(scan: &mut Option<JoinHandle<Adopted>>) -> Result<Adopted, tokio::task::JoinError> {
    match scan {
        Some(round) => round.await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
