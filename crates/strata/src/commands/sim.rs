//! `strata sim`: runs the Bedrock emulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use strata_sim::fleet::generate::GenerateSpec;
use strata_sim::{Fleet, SimOptions, SimState};

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:4566")]
    pub listen: SocketAddr,
    /// Fleet file (YAML or JSON); the built-in fleet when absent.
    #[arg(long)]
    pub fleet: Option<PathBuf>,
    /// No time to first token and no pacing (for benchmarks).
    #[arg(long)]
    pub zero_latency: bool,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the fleet (accounts with credentials, regions, models, profiles) as JSON and exit.
    #[arg(long)]
    pub print_fleet: bool,
    /// Print a generated fleet file (YAML) and exit: `accounts=30,regions=17` plus optional
    /// `seed=N`, `cp_latency_ms=…`, `cp_jitter=…`, `cp_rps=…`, `cp_burst=…`.
    #[arg(long, value_name = "SPEC", conflicts_with_all = ["fleet", "print_fleet"])]
    pub generate_fleet: Option<String>,
    /// Seed for --generate-fleet (account IDs and keys); overrides `seed=` in the spec.
    #[arg(long, requires = "generate_fleet")]
    pub seed: Option<u64>,
}

pub fn load_fleet(path: Option<&PathBuf>) -> anyhow::Result<Fleet> {
    Ok(match path {
        Some(p) => Fleet::load(p)?,
        None => Fleet::builtin()?,
    })
}

/// Prints the fleet file `--generate-fleet` describes.
fn print_generated(spec: &str, seed: Option<u64>) -> anyhow::Result<()> {
    let mut spec = GenerateSpec::parse(spec)?;
    if let Some(seed) = seed {
        spec.seed = seed;
    }
    print!("{}", strata_sim::fleet::generate::generate_yaml(&spec)?);
    Ok(())
}

pub fn run(args: SimArgs) -> anyhow::Result<()> {
    if let Some(spec) = &args.generate_fleet {
        return print_generated(spec, args.seed);
    }
    let fleet = load_fleet(args.fleet.as_ref())?;
    if args.print_fleet {
        println!("{}", serde_json::to_string_pretty(&fleet.to_file())?);
        return Ok(());
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = builder.enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState::new(
            fleet,
            SimOptions {
                zero_latency: args.zero_latency,
            },
        ));
        eprintln!("strata sim listening on http://{addr}");
        strata_sim::serve(listener, state, shutdown_signal()).await?;
        Ok(())
    })
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
