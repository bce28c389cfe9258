//! `strata serve`: runs the gateway on a config file, reloading it on SIGHUP or when the file
//! changes, and draining on SIGTERM / Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use strata_gateway::state::GatewayState;
use tokio::net::TcpListener;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Gateway config (YAML).
    #[arg(long)]
    pub config: PathBuf,
    /// Address to serve on (overrides `listen` in the config).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = strata_gateway::config::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listen = args.listen.unwrap_or(config.listen);
        let state = Arc::new(GatewayState::build(config).await?);
        state.reloads.started_from(Some(&args.config));
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!("strata gateway listening on http://{addr}");
        serve_gateway(listener, state).await
    })
}

/// How long requests in flight may take to finish after SIGTERM before open streams are ended
/// with an error event (the connections close shortly after).
const GRACE: Duration = Duration::from_secs(28);

/// Serves until SIGTERM / Ctrl-C, then drains: `/readyz` answers 503, no new connections are
/// taken, requests in flight finish (streams still open at the grace deadline end with an error
/// event), queued usage records are written and shared budgets settled. SIGHUP and changes of
/// the config file reload the config meanwhile.
pub async fn serve_gateway(listener: TcpListener, state: Arc<GatewayState>) -> anyhow::Result<()> {
    state.start_background();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watch = tokio::spawn(strata_gateway::reload::watch(Arc::clone(&state), stop_rx.clone()));
    let hangups = tokio::spawn(reload_on_hangup(Arc::clone(&state), stop_rx));
    let lifecycle = Arc::clone(&state.lifecycle);
    let shutdown = async move {
        super::sim::shutdown_signal().await;
        tracing::info!(grace_s = GRACE.as_secs(), "shutdown: draining requests in flight");
        lifecycle.start_draining();
        tokio::spawn(async move {
            tokio::time::sleep(GRACE).await;
            lifecycle.cut_streams();
        });
    };
    strata_gateway::server::serve(listener, Arc::clone(&state), shutdown).await?;
    let _ = stop_tx.send(true);
    let _ = watch.await;
    let _ = hangups.await;
    state.shutdown().await;
    Ok(())
}

/// Reloads the config on every SIGHUP until `stop` turns true.
async fn reload_on_hangup(state: Arc<GatewayState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "SIGHUP cannot be caught; reload through the file or the admin API");
                return;
            }
        };
        loop {
            tokio::select! {
                got = hangup.recv() => if got.is_none() { return },
                _ = stop.wait_for(|s| *s) => return,
            }
            let _ = strata_gateway::reload::reload(&state, strata_gateway::reload::Trigger::Signal).await;
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (state, stop.wait_for(|s| *s).await);
    }
}
