//! The gateway's shared state: what the request path uses ([`Gateway`]: the checked config, the
//! compiled routes (swapped atomically when discovery publishes a new catalog), admission, the
//! upstream clients), the discovery service that feeds it, and the process's lifecycle. A
//! config reload ([`crate::reload`]) builds a new [`Gateway`] and swaps it whole.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use strata_core::Catalog;
use strata_discovery::shared::{SharedDiscovery, SharedSettings};
use strata_discovery::{CatalogEvent, Collector, Discovery, DiscoveryAccount};
use strata_quota::Quotas;
use strata_store::Store;

use crate::config::file::SharedConfig;
use crate::config::Config;
use crate::lifecycle::Lifecycle;
use crate::request::admit::Admission;
use crate::request::execute::Policy;
use crate::request::Gateway;
use crate::routes::RouteTable;
use crate::upstream::{SetupError, Upstreams};

/// How long shutdown waits for the usage writer.
const USAGE_DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// How often keys created through another replica's admin API are picked up.
pub const KEY_RELOAD_EVERY: Duration = Duration::from_secs(5);

/// Why the gateway could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Upstream(#[from] SetupError),
    #[error("shared limits: {0}")]
    Limits(#[from] strata_quota::QuotaError),
    #[error("usage database: {0}")]
    Store(#[from] strata_store::StoreError),
    #[error(transparent)]
    Traces(#[from] crate::traces::TracesError),
}

pub struct GatewayState {
    /// Swapped whole by a config reload; a request keeps the one it started with.
    gateway: ArcSwap<Gateway>,
    /// Present when discovery is enabled and there are accounts to scan (rebuilt by a reload
    /// that changes what it scans).
    discovery: ArcSwapOption<Discovery>,
    /// Present when discovery runs and replicas share Redis (`shared:` in the config): only
    /// the replica holding the lock scans; the others apply what it publishes.
    shared: ArcSwapOption<SharedDiscovery>,
    /// The discovery round the current routes were compiled from: a round is shown as done
    /// only once requests route by it.
    pub routes_round: arc_swap::ArcSwapOption<strata_discovery::RoundReport>,
    /// Serving, draining, past the drain deadline.
    pub lifecycle: Arc<Lifecycle>,
    /// Where the config comes from and how its reloads went.
    pub reloads: crate::reload::history::Reloads,
    /// The running discovery loop, so a reload can replace it.
    discovery_task: parking_lot::Mutex<Option<BackgroundTask>>,
    /// Held while routes are compiled and swapped (discovery's publish, a reload's swap).
    swap: parking_lot::Mutex<()>,
    /// Dashboard sign-ins.
    pub sessions: crate::tenants::sessions::Sessions,
    /// Stops the background loops (discovery, key reload) at shutdown.
    stop: tokio::sync::watch::Sender<bool>,
}

/// A spawned loop and the switch that stops it.
struct BackgroundTask {
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for GatewayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let gateway = self.gateway();
        f.debug_struct("GatewayState")
            .field("models", &gateway.config.models.len())
            .field("tenants", &gateway.config.tenants.len())
            .finish_non_exhaustive()
    }
}

impl GatewayState {
    /// Builds clients and compiles routes from the cached catalog (if any). No scan runs yet:
    /// call [`GatewayState::start_background`] (the binary does) or [`GatewayState::refresh`].
    pub async fn build(config: Config) -> Result<Self, BuildError> {
        let _ = crate::telemetry::prometheus();
        let upstreams = Arc::new(Upstreams::build(&config).await?);
        let discovery = running_discovery(&config, &upstreams).map(Arc::new);
        let shared = match (&discovery, &config.shared) {
            (Some(d), Some(s)) => shared_discovery(d, s),
            _ => None,
        };
        let catalog = discovery.as_ref().map(|d| d.catalog()).unwrap_or_default();
        let quotas = match &config.shared {
            Some(shared) => Quotas::shared(&shared.redis_url, &shared.namespace)?,
            None => Quotas::local(),
        };
        let url = config
            .usage_database_url
            .as_deref()
            .unwrap_or(crate::config::IN_MEMORY_DATABASE);
        let store = Store::open(url).await?;
        let traces = crate::traces::Traces::start(config.traces.as_ref(), |name| std::env::var(name).ok())?;
        let kept = Kept {
            traces: traces.map(Arc::new),
            usage: store.usage_writer(config.usage_queue),
            store,
            quotas: Arc::new(quotas),
            lifecycle: Arc::new(Lifecycle::default()),
            upstreams,
            traffic: Arc::default(),
        };
        let gateway = assemble(config, &catalog, None, &kept).await?;
        crate::telemetry::catalog_published(&catalog, &[]);
        crate::access_log::catalog(&gateway.config.access_log, &catalog);
        Ok(GatewayState {
            gateway: ArcSwap::from_pointee(gateway),
            discovery: ArcSwapOption::new(discovery),
            shared: ArcSwapOption::new(shared),
            routes_round: ArcSwapOption::empty(),
            lifecycle: kept.lifecycle,
            reloads: crate::reload::history::Reloads::default(),
            discovery_task: parking_lot::Mutex::new(None),
            sessions: Default::default(),
            swap: parking_lot::Mutex::new(()),
            stop: tokio::sync::watch::channel(false).0,
        })
    }

    /// What requests use now.
    pub fn gateway(&self) -> Arc<Gateway> {
        self.gateway.load_full()
    }

    /// The discovery service, when discovery runs.
    pub fn discovery(&self) -> Option<Arc<Discovery>> {
        self.discovery.load_full()
    }

    /// Starts the background loops: discovery (one round at once unless a cached catalog
    /// was loaded), the key reload and keep-warm. They stop at [`GatewayState::shutdown`].
    pub fn start_background(self: &Arc<Self>) {
        tokio::spawn(Arc::clone(self).run_key_reload(KEY_RELOAD_EVERY, self.stop.subscribe()));
        let state = Arc::clone(self);
        tokio::spawn(crate::keep_warm::run(
            move || (state.gateway(), state.catalog()),
            self.stop.subscribe(),
        ));
        self.restart_discovery();
    }

    /// (Re)starts the discovery loop for the current discovery service.
    fn restart_discovery(self: &Arc<Self>) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut process_stop = self.stop.subscribe();
        let handle = tokio::spawn({
            let state = Arc::clone(self);
            async move {
                tokio::select! {
                    () = Arc::clone(&state).run_discovery(stopped) => {}
                    _ = process_stop.wait_for(|s| *s) => {}
                }
            }
        });
        let previous = self.discovery_task.lock().replace(BackgroundTask { stop, handle });
        if let Some(previous) = previous {
            let _ = previous.stop.send(true);
        }
    }

    /// Swaps in a new config: builds a new [`Gateway`] (reusing the upstream clients and the
    /// discovery service unless the sections they come from changed), compiles its routes from
    /// the current catalog and swaps it whole; requests in flight finish on the old one.
    /// Returns the sections that changed.
    pub async fn apply(self: &Arc<Self>, config: Config) -> Result<Vec<&'static str>, BuildError> {
        let old = self.gateway();
        let mut changed = Vec::new();
        let upstreams = if config.sections.upstreams == old.config.sections.upstreams {
            Arc::clone(&old.upstreams)
        } else {
            changed.push("upstreams");
            Arc::new(Upstreams::build(&config).await?)
        };
        let discovery_changed = config.sections.discovery != old.config.sections.discovery;
        if config.sections.at_start != old.config.sections.at_start {
            changed.push("listen/server/usage/shared/admin.listen/telemetry (take effect at restart)");
        }
        let new_discovery = if discovery_changed {
            changed.push("discovery");
            let catalog = self.catalog();
            let discovery = running_discovery(&config, &upstreams).map(|d| {
                // Start from what is known (the new accounts are scanned by the next round).
                if d.catalog().scans().next().is_none() {
                    let collector = collector_for(&config, &upstreams);
                    Discovery::new(collector, &config.discovery, (*catalog).clone())
                } else {
                    d
                }
            });
            Some(discovery.map(Arc::new))
        } else {
            None
        };
        let catalog = match &new_discovery {
            Some(d) => d.as_ref().map(|d| d.catalog()).unwrap_or_default(),
            None => self.catalog(),
        };
        let kept = Kept {
            store: old.store.clone(),
            usage: old.usage.clone(),
            quotas: Arc::clone(old.admission.quotas()),
            lifecycle: Arc::clone(&self.lifecycle),
            upstreams,
            traces: old.traces.clone(),
            traffic: Arc::clone(&old.traffic),
        };
        let previous = old.routes.load_full();
        let gateway = assemble(config, &catalog, Some(&previous), &kept).await?;
        let shared_config = gateway.config.shared.clone();
        {
            // Discovery may have published a newer catalog while this one was built: compile
            // from it, and swap under the lock `publish` takes, so neither swap is lost.
            let _swap = self.swap.lock();
            if new_discovery.is_none() {
                let latest = self.catalog();
                if !Arc::ptr_eq(&latest, &catalog) {
                    let table = RouteTable::compile(&gateway.config, &latest, Some(&gateway.routes.load_full()));
                    crate::telemetry::quotas_published(table.quotas().into_iter());
                    gateway.routes.store(Arc::new(table));
                }
            }
            self.gateway.store(Arc::new(gateway));
        }
        if let Some(discovery) = new_discovery {
            let shared = match (&discovery, &shared_config) {
                (Some(d), Some(s)) => shared_discovery(d, s),
                _ => None,
            };
            self.discovery.store(discovery);
            self.shared.store(shared);
            self.restart_discovery();
        }
        Ok(changed)
    }

    /// After the server has drained: writes every usage record still queued, settles the
    /// shared budgets still in flight, closes the database and writes out the access log.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.discovery_task.lock().take();
        if let Some(task) = task {
            let _ = task.stop.send(true);
            let _ = task.handle.await;
        }
        let g = self.gateway();
        match g.usage.close(USAGE_DRAIN_DEADLINE).await {
            Ok(written) => tracing::info!(records = written, "usage records written"),
            Err(e) => tracing::error!(error = %e, "usage records could not all be written before exit"),
        }
        g.admission.quotas().flush().await;
        g.store.close().await;
        // The drained requests' access log lines.
        let _ = tokio::task::spawn_blocking(|| crate::access_log::flush(Duration::from_secs(1))).await;
        if let Some(traces) = g.traces.clone() {
            // The last requests' spans are queued by now (their exits ran in the drain).
            let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
        }
    }

    /// Reloads the keys created at run time every `every` (other replicas' changes), until
    /// `shutdown` turns true.
    pub async fn run_key_reload(self: Arc<Self>, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
            let g = self.gateway();
            if let Err(e) = g.keys.reload(&g.store, &g.config).await {
                tracing::warn!(error = %e, "keys could not be reloaded from the database");
            }
        }
    }

    /// The catalog routes are compiled from (empty without discovery).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.discovery().map(|d| d.catalog()).unwrap_or_default()
    }

    /// Recompiles routes from `catalog` and swaps them in; requests in flight keep the table
    /// they started with.
    pub fn publish(&self, catalog: &Catalog, events: &[CatalogEvent]) {
        let _swap = self.swap.lock();
        let gateway = self.gateway();
        let previous = gateway.routes.load_full();
        let table = RouteTable::compile(&gateway.config, catalog, Some(&previous));
        tracing::info!(
            candidates = table.size(),
            events = events.len(),
            "routes recompiled from the catalog"
        );
        crate::telemetry::quotas_published(table.quotas().into_iter());
        gateway.routes.store(Arc::new(table));
        self.routes_round
            .store(self.discovery().and_then(|d| d.last_round()).map(Arc::new));
        crate::telemetry::catalog_published(catalog, events);
        crate::access_log::catalog(&gateway.config.access_log, catalog);
    }

    /// Runs one discovery round now and publishes it (a follower of shared discovery loads
    /// the leader's latest catalog instead of scanning).
    pub async fn refresh(&self) {
        if let Some(shared) = self.shared.load_full() {
            shared
                .refresh_now(|catalog, events| self.publish(&catalog, events))
                .await;
        } else if let Some(d) = self.discovery() {
            let (catalog, events) = d.refresh_once(&|_| {}).await;
            self.publish(&catalog, &events);
        }
    }

    /// The refresh loop, until `shutdown` turns true. Does nothing without discovery. With
    /// shared discovery the loop scans only while this replica leads.
    async fn run_discovery(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        let Some(discovery) = self.discovery() else {
            return;
        };
        let state = Arc::clone(&self);
        let publish = move |catalog: Arc<Catalog>, events: &[CatalogEvent]| state.publish(&catalog, events);
        match self.shared.load_full() {
            Some(shared) => {
                tracing::info!(
                    replica = shared.replica_id(),
                    "discovery: shared through Redis; this replica follows until it holds the lock"
                );
                shared.run(publish, shutdown).await;
            }
            None => {
                tracing::info!(role = discovery.role().as_str(), "discovery: this replica scans alone");
                discovery.run(publish, shutdown).await;
            }
        }
    }
}

/// Shared discovery for a config with `shared:`. The URL was checked with the config, so a
/// failure here is unexpected: it is logged and the replica scans alone rather than not start.
fn shared_discovery(discovery: &Arc<Discovery>, shared: &SharedConfig) -> Option<Arc<SharedDiscovery>> {
    let settings = SharedSettings {
        redis_url: shared.redis_url.clone(),
        namespace: shared.namespace.clone(),
    };
    match SharedDiscovery::new(Arc::clone(discovery), &settings) {
        Ok(s) => Some(Arc::new(s)),
        Err(e) => {
            tracing::error!(error = %e, "shared discovery not started; this replica scans alone");
            None
        }
    }
}

/// The parts a reload keeps: the database, the usage writer, the shared counters, the
/// lifecycle, the span exporter, and the upstream clients (unless their sections changed).
struct Kept {
    store: Store,
    usage: strata_store::UsageWriter,
    quotas: Arc<Quotas>,
    lifecycle: Arc<Lifecycle>,
    upstreams: Arc<Upstreams>,
    /// The span exporter (its section takes effect at restart).
    traces: Option<Arc<crate::traces::Traces>>,
    traffic: Arc<crate::traffic::Traffic>,
}

/// A [`Gateway`] for `config`: routes compiled from `catalog` (carrying health from
/// `previous`), admission over the kept counters, keys from the config and the database.
async fn assemble(
    config: Config,
    catalog: &Catalog,
    previous: Option<&RouteTable>,
    kept: &Kept,
) -> Result<Gateway, BuildError> {
    let routes = RouteTable::compile(&config, catalog, previous);
    crate::telemetry::quotas_published(routes.quotas().into_iter());
    let metrics = config
        .models
        .iter()
        .map(|_| crate::telemetry::ModelMetrics::new(config.tenants.len()))
        .collect();
    let keys = crate::tenants::KeyRing::new(&config);
    keys.reload(&kept.store, &config).await?;
    Ok(Gateway {
        keys,
        store: kept.store.clone(),
        usage: kept.usage.clone(),
        metrics,
        policy: Policy::from_config(&config.routing),
        admission: Admission::new(Arc::clone(&kept.quotas), &config),
        lifecycle: Arc::clone(&kept.lifecycle),
        config,
        routes: ArcSwap::from_pointee(routes),
        upstreams: Arc::clone(&kept.upstreams),
        traces: kept.traces.clone(),
        traffic: Arc::clone(&kept.traffic),
    })
}

/// The discovery service the gateway runs for a config: none when discovery is off or there
/// are no accounts.
fn running_discovery(config: &Config, upstreams: &Upstreams) -> Option<Discovery> {
    (config.discovery.enabled && !config.accounts.is_empty()).then(|| discovery_for(config, upstreams))
}

/// The discovery service for a config, starting from the cached catalog when there is one.
pub fn discovery_for(config: &Config, upstreams: &Upstreams) -> Discovery {
    Discovery::from_cache(collector_for(config, upstreams), &config.discovery)
}

/// What scans the config's accounts.
fn collector_for(config: &Config, upstreams: &Upstreams) -> Collector {
    let accounts: Vec<DiscoveryAccount> = config
        .accounts
        .iter()
        .zip(&upstreams.bedrock.accounts)
        .map(|(a, creds)| DiscoveryAccount {
            name: a.name.clone(),
            credentials: creds.provider(),
        })
        .collect();
    Collector::new(&config.discovery, &accounts, config.aws.endpoint_url.as_deref())
}
