//! `strata serve`: runs the gateway on a config file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use strata_gateway::state::GatewayState;

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
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!("strata gateway listening on http://{addr}");
        let mut listeners = vec![strata_http::Listener::plain(listener)];
        if let Some((tls_listen, tls)) = tls {
            let listener = tokio::net::TcpListener::bind(tls_listen)
                .await
                .with_context(|| format!("cannot listen on {tls_listen} (server.tls_listen)"))?;
            eprintln!("strata gateway listening on https://{}", listener.local_addr()?);
            listeners.push(strata_http::Listener::tls(listener, tls));
        }
        let drain = strata_http::Drain::new();
        let options = strata_gateway::server::serve_options(&server, drain);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let key_reload =
            tokio::spawn(Arc::clone(&state).run_key_reload(strata_gateway::state::KEY_RELOAD_EVERY, stop_rx.clone()));
        let discovery = tokio::spawn(Arc::clone(&state).run_discovery(stop_rx));
        strata_gateway::server::serve(listeners, Arc::clone(&state), super::sim::shutdown_signal(), options).await?;
        let _ = stop_tx.send(true);
        let _ = discovery.await;
        let _ = key_reload.await;
        state.shutdown().await;
        Ok(())
    })
}
