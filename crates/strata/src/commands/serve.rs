//! `strata serve`: runs the gateway on a config file, reloading it on SIGHUP or when the file
//! changes, and draining on SIGTERM / Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

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
        let server = config.server.clone();
        let tls = match &server.tls {
            Some(tls) => Some((
                tls.listen,
                strata_http::TlsServer::from_files(tls.files.clone()).context("server.tls")?,
            )),
            None => None,
        };
        let state = Arc::new(GatewayState::build(config).await?);
        state.reloads.started_from(Some(&args.config));
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!("strata gateway listening on http://{addr}");
        let mut listeners = vec![strata_http::Listener::plain(listener)];
        if let Some((tls_listen, tls)) = tls {
            let listener = TcpListener::bind(tls_listen)
                .await
                .with_context(|| format!("cannot listen on {tls_listen} (server.tls_listen)"))?;
            eprintln!("strata gateway listening on https://{}", listener.local_addr()?);
            listeners.push(strata_http::Listener::tls(listener, tls));
        }
        serve_gateway(listeners, state, &server).await
    })
}

/// Serves until SIGTERM / Ctrl-C, then drains: no new connections are taken, `/readyz` answers
/// 503, requests in flight finish within `server.shutdown_grace_seconds` (streams still open at
/// that deadline end with an error event; the connections close shortly after), queued usage
/// records are written and shared budgets settled. SIGHUP and changes of the config file
/// reload the config meanwhile.
pub async fn serve_gateway(
    listeners: Vec<strata_http::Listener>,
    state: Arc<GatewayState>,
    server: &strata_gateway::config::ServerSettings,
) -> anyhow::Result<()> {
    state.start_background();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watch = tokio::spawn(strata_gateway::reload::watch(Arc::clone(&state), stop_rx.clone()));
    let hangups = tokio::spawn(reload_on_hangup(Arc::clone(&state), stop_rx));
    // The lifecycle reads the drain the edge fires: `/readyz` turns 503 when it starts, open
    // streams end with an error event at its deadline.
    let options = strata_gateway::server::serve_options(server, state.lifecycle.drain().clone());
    let grace = server.shutdown_grace;
    let shutdown = async move {
        super::sim::shutdown_signal().await;
        tracing::info!(grace_s = grace.as_secs(), "shutdown: draining requests in flight");
    };
    let admin = match state.gateway().config.admin_listen {
        Some(at) => {
            let listener = TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} (admin.listen)"))?;
            eprintln!(
                "strata admin surface (admin API, dashboard, metrics) on http://{}",
                listener.local_addr()?
            );
            Some(strata_http::Listener::plain(listener))
        }
        None => None,
    };
    strata_gateway::server::serve(listeners, admin, Arc::clone(&state), shutdown, options).await?;
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
