//! What every scenario shares: an emulator and a gateway in this process on free loopback ports
//! (the gateway's config is the scenario's YAML after the common accounts), a real HTTP client
//! that fires requests together, the emulator's invocation counters, and the printed table.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{json, Value};
use strata_gateway::state::GatewayState;
use strata_sim::{Fleet, SimOptions, SimState};
use tokio::sync::{watch, Barrier};
use tokio::task::JoinHandle;

/// The accounts and settings every scenario's gateway starts from.
const BASE_CONFIG: &str = include_str!("base.yaml");

/// A scenario's result: its JSON object, its table for people, and every way it departed from
/// what the pattern promises (none: the scenario passed).
pub struct Outcome {
    pub json: Value,
    pub table: String,
    pub problems: Vec<String>,
}

/// One answer the client got.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// `x-strata-route` (the scenarios' tenants see `full`: `account/region/model-id`).
    pub route: Option<String>,
    /// Served by the verified baseline (`x-strata-baseline: true`).
    pub baseline: bool,
    /// The error's message, when the answer was not a success.
    pub error: Option<String>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The model ID the gateway called (last part of a `full` route label).
    pub fn model(&self) -> Option<&str> {
        self.route.as_deref().and_then(|r| r.rsplit('/').next())
    }
}

/// One row of the emulator's `/_sim/stats` invocations.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub account_name: String,
    pub region: String,
    pub model: String,
    pub status: u16,
    pub count: u64,
}

/// The emulator and the gateway, running until [`Stage::stop`].
pub struct Stage {
    pub gateway_url: String,
    pub sim_url: String,
    pub state: Arc<GatewayState>,
    client: reqwest::Client,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Runs `experiment` on a stage started from `models_and_tenants` (a zero-latency emulator; its
/// custom-model settings changed first when given), and stops the stage whatever the experiment's
/// result.
pub async fn staged(
    models_and_tenants: &str,
    custom_models: Option<Value>,
    experiment: impl AsyncFnOnce(&Stage) -> anyhow::Result<Outcome>,
) -> anyhow::Result<Outcome> {
    let setup: Vec<(&str, Value)> = custom_models.map(|v| ("/_sim/custom-models", v)).into_iter().collect();
    staged_after(models_and_tenants, &setup, experiment).await
}

/// [`staged`], with the emulator's admin API given `setup` (`(path, body)` POSTs, in order)
/// before the gateway starts and scans it.
pub async fn staged_after<T>(
    models_and_tenants: &str,
    setup: &[(&str, Value)],
    experiment: impl AsyncFnOnce(&Stage) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let stage = Stage::start_with(models_and_tenants, SimOptions { zero_latency: true }, setup).await?;
    let result = experiment(&stage).await;
    stage.stop().await;
    result
}

impl Stage {
    /// Starts the built-in fleet's emulator and a gateway on `models_and_tenants` (YAML appended
    /// to the common accounts), the emulator's admin API given `setup` first (custom-model
    /// settings, quotas…: so the gateway's first scan and keep-warm calls already see them); the
    /// gateway has scanned the fleet once before this returns.
    pub async fn start_with(
        models_and_tenants: &str,
        sim: SimOptions,
        setup: &[(&str, Value)],
    ) -> anyhow::Result<Stage> {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();

        let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on a loopback port for the emulator")?;
        let sim_url = format!("http://{}", sim_listener.local_addr()?);
        let sim_state = Arc::new(SimState::new(Fleet::builtin()?, sim));
        let mut sim_stop = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let served = strata_sim::serve(sim_listener, sim_state, async move {
                let _ = sim_stop.wait_for(|s| *s).await;
            })
            .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the scenario's emulator stopped");
            }
        }));

        for (path, body) in setup {
            let response = reqwest::Client::new()
                .post(format!("{sim_url}{path}"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .with_context(|| format!("emulator POST {path}"))?;
            json_body(response, path).await?;
        }

        let text = format!("{BASE_CONFIG}\n{models_and_tenants}");
        let config = strata_gateway::config::from_text(&text, "<scenario config>", |name| match name {
            "SIM" => Some(sim_url.clone()),
            _ => None,
        })?;
        let server = config.server.clone();
        let state = Arc::new(GatewayState::build(config).await?);
        state.refresh().await;
        state.start_background();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on a loopback port for the gateway")?;
        let gateway_url = format!("http://{}", listener.local_addr()?);
        let options = strata_gateway::server::serve_options(&server, state.lifecycle.drain().clone());
        let mut gw_stop = stopped.clone();
        let served_state = Arc::clone(&state);
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = gw_stop.wait_for(|s| *s).await;
            };
            let listeners = vec![strata_http::Listener::plain(listener)];
            if let Err(e) = strata_gateway::server::serve(listeners, None, served_state, shutdown, options).await {
                tracing::error!(error = %e, "the scenario's gateway stopped");
            }
        }));

        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Stage {
            gateway_url,
            sim_url,
            state,
            client,
            stop,
            tasks,
        })
    }

    /// `n` Converse calls sent together: each waits at a barrier until all are ready.
    pub async fn converse_together(&self, key: &str, model: &str, n: usize) -> anyhow::Result<Vec<Reply>> {
        self.converse_groups(&[(key, model, n)])
            .await
            .map(|mut groups| groups.pop().unwrap_or_default())
    }

    /// Several groups of calls (`(key, model, count)`), all released at once; replies by group.
    pub async fn converse_groups(&self, groups: &[(&str, &str, usize)]) -> anyhow::Result<Vec<Vec<Reply>>> {
        self.call_groups(groups, "converse", converse_body()).await
    }

    /// `n` Converse calls at an even pace over `over` (a steady load, not a burst).
    pub async fn converse_paced(
        &self,
        key: &str,
        model: &str,
        n: usize,
        over: std::time::Duration,
    ) -> anyhow::Result<Vec<Reply>> {
        let body = converse_body();
        let gap = over / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        let mut tick = tokio::time::interval(gap.max(std::time::Duration::from_micros(100)));
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            tick.tick().await;
            let (client, url, key, model, body) = (
                self.client.clone(),
                self.gateway_url.clone(),
                key.to_string(),
                model.to_string(),
                body.clone(),
            );
            handles.push(tokio::spawn(async move {
                call(&client, &url, &key, &model, "converse", &body).await
            }));
        }
        let mut replies = Vec::with_capacity(n);
        for handle in handles {
            replies.push(handle.await.context("a client task failed")??);
        }
        Ok(replies)
    }

    /// `n` InvokeModel calls with `body` (the target's native body) sent together.
    pub async fn invoke_together(&self, key: &str, model: &str, n: usize, body: Value) -> anyhow::Result<Vec<Reply>> {
        self.call_groups(&[(key, model, n)], "invoke", body)
            .await
            .map(|mut groups| groups.pop().unwrap_or_default())
    }

    async fn call_groups(
        &self,
        groups: &[(&str, &str, usize)],
        action: &'static str,
        body: Value,
    ) -> anyhow::Result<Vec<Vec<Reply>>> {
        let total: usize = groups.iter().map(|g| g.2).sum();
        let barrier = Arc::new(Barrier::new(total));
        let mut handles = Vec::new();
        for (group, (key, model, count)) in groups.iter().enumerate() {
            for _ in 0..*count {
                let (client, url) = (self.client.clone(), self.gateway_url.clone());
                let (key, model, barrier) = (key.to_string(), model.to_string(), Arc::clone(&barrier));
                let body = body.clone();
                handles.push((
                    group,
                    tokio::spawn(async move {
                        barrier.wait().await;
                        call(&client, &url, &key, &model, action, &body).await
                    }),
                ));
            }
        }
        let mut replies = vec![Vec::new(); groups.len()];
        for (group, handle) in handles {
            replies[group].push(handle.await.context("a client task failed")??);
        }
        Ok(replies)
    }

    /// GET an emulator admin path (`/_sim/…`) as JSON.
    pub async fn sim_get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.sim_url))
            .send()
            .await
            .with_context(|| format!("emulator GET {path}"))?;
        json_body(response, path).await
    }

    /// POST JSON to an emulator admin path; a refusal is an error.
    pub async fn sim_post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}{path}", self.sim_url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("emulator POST {path}"))?;
        json_body(response, path).await
    }

    /// The emulator's runtime invocations so far.
    pub async fn invocations(&self) -> anyhow::Result<Vec<Invocation>> {
        let stats = self.sim_get("/_sim/stats").await?;
        let rows = stats["invocations"].as_array().cloned().unwrap_or_default();
        Ok(rows
            .iter()
            .map(|r| Invocation {
                account_name: r["account_name"].as_str().unwrap_or_default().to_string(),
                region: r["region"].as_str().unwrap_or_default().to_string(),
                model: r["model"].as_str().unwrap_or_default().to_string(),
                status: r["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(0),
                count: r["count"].as_u64().unwrap_or(0),
            })
            .collect())
    }

    /// Stops the gateway (draining) and the emulator.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.state.shutdown().await;
    }
}

fn converse_body() -> Value {
    json!({
        "messages": [{"role": "user", "content": [{"text": "Say hello in one word."}]}],
        "inferenceConfig": {"maxTokens": 16}
    })
}

/// One Bedrock runtime call (`action`: `converse`, `invoke`) of a logical model.
async fn call(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    model: &str,
    action: &str,
    body: &Value,
) -> anyhow::Result<Reply> {
    let response = client
        .post(format!("{base}/model/{model}/{action}"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .with_context(|| format!("cannot reach the scenario's gateway at {base}"))?;
    let status = response.status().as_u16();
    let route = response
        .headers()
        .get("x-strata-route")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let baseline = response.headers().get("x-strata-baseline").is_some_and(|v| v == "true");
    let text = response.text().await.unwrap_or_default();
    let error = (!(200..300).contains(&status)).then(|| {
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or(text)
    });
    Ok(Reply {
        status,
        route,
        baseline,
        error,
    })
}

async fn json_body(response: reqwest::Response, path: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("emulator {path}: body"))?;
    if !status.is_success() {
        anyhow::bail!("emulator {path} answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("emulator {path}: not JSON"))
}

/// Successful invocations counted per key (`key` picks it from a row).
pub fn count_by(rows: &[Invocation], key: impl Fn(&Invocation) -> String) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in rows.iter().filter(|r| (200..300).contains(&r.status)) {
        *counts.entry(key(r)).or_insert(0) += r.count;
    }
    counts
}

/// Replies counted by the model ID that served them.
pub fn replies_by_model(replies: &[Reply]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in replies.iter().filter(|r| r.ok()) {
        *counts.entry(r.model().unwrap_or("?").to_string()).or_insert(0) += 1;
    }
    counts
}

/// `part` of `whole` as a whole percentage.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".to_string();
    }
    format!("{}%", (part * 100 + whole / 2) / whole)
}

/// A plain text table: a title line, then columns padded to their widest cell.
pub fn table(title: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    let mut out = format!("{title}\n");
    out.push_str(&line(headers.iter().map(|h| h.to_string()).collect()));
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// The check every count scenario makes: `what` should be `want`.
pub fn expect_eq<T: PartialEq + std::fmt::Debug>(problems: &mut Vec<String>, what: &str, got: T, want: T) {
    if got != want {
        problems.push(format!("{what}: got {got:?}, the pattern promises {want:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, route: Option<&str>) -> Reply {
        Reply {
            status,
            route: route.map(str::to_string),
            baseline: false,
            error: None,
        }
    }

    #[test]
    fn percentages_round_to_whole_numbers() {
        assert_eq!(percent(7, 10), "70%");
        assert_eq!(percent(1, 3), "33%");
        assert_eq!(percent(2, 3), "67%");
        assert_eq!(percent(0, 0), "0%");
    }

    #[test]
    fn replies_are_counted_by_the_model_that_served_them() {
        let replies = [
            reply(200, Some("prod-us/us-east-1/us.amazon.nova-pro-v1:0")),
            reply(200, Some("prod-us/us-east-1/us.amazon.nova-pro-v1:0")),
            reply(200, Some("sandbox/us-west-2/amazon.nova-lite-v1:0")),
            reply(429, Some("prod-us/us-east-1/us.amazon.nova-pro-v1:0")),
        ];
        let counts = replies_by_model(&replies);
        assert_eq!(counts.get("us.amazon.nova-pro-v1:0"), Some(&2));
        assert_eq!(counts.get("amazon.nova-lite-v1:0"), Some(&1));
        assert_eq!(counts.len(), 2);
    }

    #[test]
    fn only_successful_invocations_count() {
        let row = |region: &str, status: u16, count: u64| Invocation {
            account_name: "prod-us".into(),
            region: region.into(),
            model: "m".into(),
            status,
            count,
        };
        let rows = [
            row("us-east-1", 200, 3),
            row("us-east-1", 503, 4),
            row("us-west-2", 200, 1),
        ];
        let by_region = count_by(&rows, |r| r.region.clone());
        assert_eq!(by_region.get("us-east-1"), Some(&3));
        assert_eq!(by_region.get("us-west-2"), Some(&1));
    }

    #[test]
    fn tables_pad_columns_to_the_widest_cell() {
        let text = table("T", &["Region", "N"], &[vec!["us-east-1".into(), "10".into()]]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, ["T", "  Region     N", "  ---------  --", "  us-east-1  10"]);
    }
}
