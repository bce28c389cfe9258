//! What `discover`, `routes` and `check` share: a config, a catalog (scanned now with a progress
//! bar, or read from a file) and the routes compiled from both.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use strata_core::Catalog;
use strata_gateway::config::Config;
use strata_gateway::routes::RouteTable;

#[derive(Args, Debug, Clone)]
pub struct CatalogArgs {
    /// Gateway config (YAML).
    #[arg(long)]
    pub config: PathBuf,
    /// Use this catalog (JSON, as `strata discover --json` or a gateway's cache file writes)
    /// instead of scanning.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
}

/// A loaded config and its catalog.
pub struct Scanned {
    pub config: Config,
    pub catalog: Arc<Catalog>,
    pub seconds: f64,
}

impl Scanned {
    pub fn routes(&self) -> RouteTable {
        RouteTable::compile(&self.config, &self.catalog, None)
    }
}

/// Loads the config and scans (or reads) the catalog. `progress` shows a bar on stderr.
pub fn load(args: &CatalogArgs, progress: bool) -> anyhow::Result<Scanned> {
    let config = strata_gateway::config::load(&args.config)?;
    if let Some(path) = &args.catalog {
        let catalog =
            strata_discovery::store::load(path)?.with_context(|| format!("no catalog file at {}", path.display()))?;
        return Ok(Scanned {
            config,
            catalog: Arc::new(catalog),
            seconds: 0.0,
        });
    }
    if config.accounts.is_empty() {
        anyhow::bail!("{}: no accounts to scan", args.config.display());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let upstreams = strata_gateway::upstream::Upstreams::build(&config).await?;
        let discovery = strata_gateway::state::discovery_for(&config, &upstreams);
        let bar = if progress {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "scanning {pos}/{len} account x region [{bar:30}] {elapsed} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let started = std::time::Instant::now();
        let (catalog, _events) = discovery
            .refresh_once(&|p| {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
                if p.failed > 0 {
                    bar.set_message(format!("{} failed", p.failed));
                }
            })
            .await;
        bar.finish_and_clear();
        Ok(Scanned {
            config,
            catalog,
            seconds: started.elapsed().as_secs_f64(),
        })
    })
}
