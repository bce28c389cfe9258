//! `strata demo`: the emulator and a gateway in one process, on a built-in config, so a
//! newcomer sees routing, residency and fallbacks work within a minute.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use strata_gateway::state::GatewayState;
use strata_sim::{Fleet, SimOptions, SimState};

mod tls;

const DEMO_CONFIG: &str = include_str!("demo.yaml");

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Gateway address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Gateway HTTPS address (a certificate made at start; its CA is written to
    /// `<temp dir>/strata-demo-<port>/ca.pem`).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub tls_listen: SocketAddr,
    /// Emulator address.
    #[arg(long, default_value = "127.0.0.1:4566")]
    pub sim_listen: SocketAddr,
    /// Run the emulator without its latency model (answers at once).
    #[arg(long)]
    pub zero_latency: bool,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let sim_listener = tokio::net::TcpListener::bind(args.sim_listen)
            .await
            .with_context(|| format!("cannot listen on {} for the emulator (try --sim-listen)", args.sim_listen))?;
        let sim_addr = sim_listener.local_addr()?;
        let sim_state = Arc::new(SimState::new(Fleet::builtin()?, SimOptions { zero_latency: args.zero_latency }));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut sim_stop = stop_rx.clone();
        let sim_task = tokio::spawn(strata_sim::serve(sim_listener, sim_state, async move {
            let _ = sim_stop.changed().await;
        }));

        let sim_url = format!("http://{sim_addr}");
        let config = strata_gateway::config::from_text(DEMO_CONFIG, "<demo config>", |name| match name {
            "SIM" => Some(sim_url.clone()),
            _ => None,
        })?;
        let server = config.server.clone();
        let state = Arc::new(GatewayState::build(config).await?);
        // One scan before the first request, so every intent has its candidates at once.
        state.refresh().await;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {} for the gateway (try --listen)", args.listen))?;
        let addr = listener.local_addr()?;
        let tls_listener = tokio::net::TcpListener::bind(args.tls_listen)
            .await
            .with_context(|| format!("cannot listen on {} for HTTPS (try --tls-listen)", args.tls_listen))?;
        let tls_addr = tls_listener.local_addr()?;
        let demo_tls = tls::generate(tls_addr.port())?;
        println!("Strata demo: a gateway in front of an emulated Bedrock fleet (4 accounts, many regions).");
        println!();
        println!("gateway:   http://{addr}");
        println!("tls:       https://{tls_addr}  (AWS_CA_BUNDLE={})", demo_tls.ca_file.display());
        println!("emulator:  {sim_url}");
        println!("dashboard: http://{addr}/dashboard");
        println!("metrics:   http://{addr}/metrics");
        println!();
        println!("API keys:  sk-demo-us (tenant us-apps, US residency), sk-demo-eu (tenant eu-bank, EU residency),");
        println!("           sk-demo-global (tenant lab, any region), sk-demo-admin (admin)");
        println!("guardrail: us-apps calls, and every local-llama call, run under the Bedrock guardrail");
        println!("           strata-demo-blocklist (blocks \"contraband\"; local-llama via ApplyGuardrail)");
        print_sigv4_keys(&state.gateway().config, addr);
        println!("models:    claude-sonnet-4, claude-sonnet-4-5, claude-haiku, nova-pro, llama-70b,");
        println!("           local-llama (an OpenAI-compatible upstream: the emulator's vLLM mode)");
        println!("           titan-embed, cohere-embed (POST /v1/embeddings)");
        println!("           apexguru (imported Qwen 13B, InvokeModel), eu-support (imported Llama 8B): custom");
        println!("           models kept warm; their state at /admin/custom-models and on the dashboard");
        println!("routes:    {} candidates discovered over 4 accounts x 22 regions", state.gateway().routes.load().size());
        println!();
        println!("clients:   openai     OpenAI(base_url=\"http://{addr}/v1\", api_key=\"sk-demo-us\")   # chat, responses, embeddings");
        println!("           anthropic  Anthropic(base_url=\"http://{addr}\", api_key=\"sk-demo-us\")");
        println!("           boto3      endpoint_url=\"http://{addr}\" with a SigV4 pair above, or AWS_BEARER_TOKEN_BEDROCK=sk-demo-us");
        println!("                      with endpoint_url=\"https://{tls_addr}\" and AWS_CA_BUNDLE as above");
        println!("           sagemaker  boto3.client(\"sagemaker-runtime\", endpoint_url=\"http://{addr}\", SigV4 pair above)");
        println!("                      .invoke_endpoint(EndpointName=\"apexguru\", Body=b'{{\"inputs\": \"hello\"}}')   # -> apexguru");
        println!();
        println!("try:");
        println!("  curl -s http://{addr}/model/claude-sonnet-4/converse -H 'Authorization: Bearer sk-demo-eu' \\");
        println!("       -H 'content-type: application/json' -d '{{\"messages\":[{{\"role\":\"user\",\"content\":[{{\"text\":\"hello\"}}]}}]}}'");
        println!("  curl -s {sim_url}/_sim/stats     # which account and region ran it");
        println!("  curl -s http://{addr}/v1/messages -H 'x-api-key: sk-demo-eu' -H 'content-type: application/json' \\");
        println!("       -d '{{\"model\":\"claude-sonnet-4\",\"max_tokens\":100,\"messages\":[{{\"role\":\"user\",\"content\":\"hello\"}}]}}'   # Anthropic's API");
        println!(
            "  curl -s --cacert {} https://{tls_addr}/v1/models -H 'Authorization: Bearer sk-demo-us'   # HTTPS, HTTP/2",
            demo_tls.ca_file.display()
        );
        println!("  curl -s 'http://{addr}/admin/routes?tenant=eu-bank&explain=true' -H 'Authorization: Bearer sk-demo-admin'");
        println!("  curl -s 'http://{addr}/admin/usage?group_by=tenant' -H 'Authorization: Bearer sk-demo-admin'   # requests, tokens, cost");
        println!();
        println!("Ctrl-C stops.");
        let listeners = vec![
            strata_http::Listener::plain(listener),
            strata_http::Listener::tls(tls_listener, demo_tls.server),
        ];
        super::serve::serve_gateway(listeners, Arc::clone(&state), &server).await?;
        let _ = stop_tx.send(true);
        let _ = sim_task.await;
        Ok(())
    })
}

/// The tenants' SigV4 pairs, for boto3 with ordinary credentials over plain http.
fn print_sigv4_keys(config: &strata_gateway::config::Config, addr: SocketAddr) {
    let mut pairs: Vec<_> = config.tenant_sigv4_keys.values().collect();
    pairs.sort_by_key(|k| k.tenant);
    for (i, k) in pairs.iter().enumerate() {
        let label = if i == 0 { "sigv4:" } else { "" };
        let tenant = &config.tenants[k.tenant].name;
        println!("{label:<10} {tenant:<8} {} / {}", k.id, k.secret.expose());
    }
    if let Some(k) = pairs.first() {
        println!(
            "           (boto3: aws_access_key_id={}, aws_secret_access_key=…, endpoint_url=http://{addr}, any region_name)",
            k.id
        );
    }
}
