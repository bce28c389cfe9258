//! The gateway's shared state: what the request path uses ([`Gateway`]: the checked config, the
//! compiled routes (swapped atomically when discovery publishes a new catalog), admission, the
//! upstream clients) and the discovery service that feeds it.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use strata_core::Catalog;
use strata_discovery::shared::{SharedDiscovery, SharedSettings};
use strata_discovery::{CatalogEvent, Collector, Discovery, DiscoveryAccount};
use strata_quota::Quotas;
use strata_store::Store;

use crate::config::file::SharedConfig;
use crate::config::Config;
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
}

pub struct GatewayState {
    pub gateway: Arc<Gateway>,
    /// Present when discovery is enabled and there are accounts to scan.
    pub discovery: Option<Arc<Discovery>>,
    /// Present when discovery runs and replicas share Redis (`shared:` in the config): only
    /// the replica holding the lock scans; the others apply what it publishes.
    pub shared: Option<Arc<SharedDiscovery>>,
    /// The discovery round the current routes were compiled from: a round is shown as done
    /// only once requests route by it.
    pub routes_round: arc_swap::ArcSwapOption<strata_discovery::RoundReport>,
}

impl std::fmt::Debug for GatewayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayState")
            .field("models", &self.gateway.config.models.len())
            .field("tenants", &self.gateway.config.tenants.len())
            .finish_non_exhaustive()
    }
}

impl GatewayState {
    /// Builds clients and compiles routes from the cached catalog (if any). No scan runs yet:
    /// call [`GatewayState::run_discovery`] (the binary starts it) or [`GatewayState::refresh`].
    pub async fn build(config: Config) -> Result<Self, BuildError> {
        let _ = crate::telemetry::prometheus();
        let upstreams = Upstreams::build(&config).await?;
        let discovery = if config.discovery.enabled && !config.accounts.is_empty() {
            Some(Arc::new(discovery_for(&config, &upstreams)))
        } else {
            None
        };
        let shared = match (&discovery, &config.shared) {
            (Some(d), Some(s)) => shared_discovery(d, s),
            _ => None,
        };
        let catalog = discovery.as_ref().map(|d| d.catalog()).unwrap_or_default();
        let routes = RouteTable::compile(&config, &catalog, None);
        crate::telemetry::catalog_published(&catalog, &[]);
        let metrics = config
            .models
            .iter()
            .map(|_| crate::telemetry::ModelMetrics::new(config.tenants.len()))
            .collect();
        let quotas = match &config.shared {
            Some(shared) => Quotas::shared(&shared.redis_url, &shared.namespace)?,
            None => Quotas::local(),
        };
        let admission = Admission::new(Arc::new(quotas), &config);
        let url = config
            .usage_database_url
            .as_deref()
            .unwrap_or(crate::config::IN_MEMORY_DATABASE);
        let store = Store::open(url).await?;
        let usage = store.usage_writer(config.usage_queue);
        let keys = crate::tenants::KeyRing::new(&config);
        keys.reload(&store, &config).await?;
        let gateway = Gateway {
            keys,
            store,
            usage,
            metrics,
            policy: Policy::from_config(&config.routing),
            admission,
            config,
            routes: ArcSwap::from_pointee(routes),
            upstreams,
        };
        Ok(GatewayState {
            gateway: Arc::new(gateway),
            discovery,
            shared,
            routes_round: arc_swap::ArcSwapOption::empty(),
        })
    }

    /// After the server has drained: writes every usage record still queued, settles the
    /// shared budgets still in flight and closes the database.
    pub async fn shutdown(&self) {
        let g = &self.gateway;
        match g.usage.close(USAGE_DRAIN_DEADLINE).await {
            Ok(written) => tracing::info!(records = written, "usage records written"),
            Err(e) => tracing::error!(error = %e, "usage records could not all be written before exit"),
        }
        g.admission.quotas().flush().await;
        g.store.close().await;
    }

    /// Reloads the keys created at run time every `every` (other replicas' changes), until
    /// `shutdown` turns true.
    pub async fn run_key_reload(self: Arc<Self>, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
            let g = &self.gateway;
            if let Err(e) = g.keys.reload(&g.store, &g.config).await {
                tracing::warn!(error = %e, "keys could not be reloaded from the database");
            }
        }
    }

    /// The catalog routes are compiled from (empty without discovery).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.discovery.as_ref().map(|d| d.catalog()).unwrap_or_default()
    }

    /// Recompiles routes from `catalog` and swaps them in; requests in flight keep the table
    /// they started with.
    pub fn publish(&self, catalog: &Catalog, events: &[CatalogEvent]) {
        let gateway = &self.gateway;
        let previous = gateway.routes.load_full();
        let table = RouteTable::compile(&gateway.config, catalog, Some(&previous));
        tracing::info!(
            candidates = table.size(),
            events = events.len(),
            "routes recompiled from the catalog"
        );
        gateway.routes.store(Arc::new(table));
        self.routes_round
            .store(self.discovery.as_ref().and_then(|d| d.last_round()).map(Arc::new));
        crate::telemetry::catalog_published(catalog, events);
    }

    /// Runs one discovery round now and publishes it (a follower of shared discovery loads
    /// the leader's latest catalog instead of scanning).
    pub async fn refresh(&self) {
        if let Some(shared) = &self.shared {
            shared
                .refresh_now(|catalog, events| self.publish(&catalog, events))
                .await;
        } else if let Some(d) = &self.discovery {
            let (catalog, events) = d.refresh_once(&|_| {}).await;
            self.publish(&catalog, &events);
        }
    }

    /// The refresh loop, until `shutdown` turns true. Does nothing without discovery. With
    /// shared discovery the loop scans only while this replica leads.
    pub async fn run_discovery(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        let Some(discovery) = self.discovery.clone() else {
            return;
        };
        let state = Arc::clone(&self);
        let publish = move |catalog: Arc<Catalog>, events: &[CatalogEvent]| state.publish(&catalog, events);
        match self.shared.clone() {
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

/// The discovery service for a config, starting from the cached catalog when there is one.
pub fn discovery_for(config: &Config, upstreams: &Upstreams) -> Discovery {
    let settings = &config.discovery;
    let accounts: Vec<DiscoveryAccount> = config
        .accounts
        .iter()
        .zip(&upstreams.bedrock.accounts)
        .map(|(a, creds)| DiscoveryAccount {
            name: a.name.clone(),
            credentials: creds.provider(),
        })
        .collect();
    let collector = Collector::new(settings, &accounts, config.aws.endpoint_url.as_deref());
    Discovery::from_cache(collector, settings)
}
