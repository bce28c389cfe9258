//! The verified baseline: every primary candidate's data is wrong. Claude Sonnet 4 is
//! discovered through the `us.` profile in prod-us and sandbox; after the gateway's scan the
//! emulator makes prod-us's catalog lie (advertised, calls refused as invalid) and revokes
//! sandbox's access. Requests are then served by the configured baseline target (Nova Pro in
//! prod-us us-east-1), never by the EU baseline entry (residency-checked for a US tenant).

use serde_json::json;

use super::harness::{count_by, expect_eq, staged, table, Outcome, Stage};

const KEY: &str = "sk-scenario-baseline";
const REQUESTS: usize = 10;
const SONNET: &str = "anthropic.claude-sonnet-4-20250514-v1:0";
pub const BASELINE: &str = "amazon.nova-pro-v1:0";

const CONFIG: &str = r#"
models:
  - name: claude-sonnet-4
    strategy: priority
    discover:
      model: anthropic.claude-sonnet-4-20250514-v1:0
      layers: [geography]
      accounts: [prod-us, sandbox]
baseline:
  us:
    - {account: prod-us, region: us-east-1, model: amazon.nova-pro-v1:0, models: [claude-sonnet-4]}
  eu:
    - {account: prod-eu, region: eu-west-2, model: amazon.nova-pro-v1:0, models: [claude-sonnet-4]}
tenants:
  - name: us-apps
    keys: [sk-scenario-baseline]
    residency: [us]
    route_detail: full
routing:
  retries: {max_attempts: 4, base_delay_ms: 1, max_delay_ms: 5}
"#;

pub async fn run() -> anyhow::Result<Outcome> {
    staged(CONFIG, None, experiment).await
}

async fn experiment(stage: &Stage) -> anyhow::Result<Outcome> {
    stage
        .sim_post(
            "/_sim/faults",
            json!({"kind": "catalog_lie", "account": "prod-us", "model": SONNET}),
        )
        .await?;
    stage
        .sim_post(
            "/_sim/faults",
            json!({"kind": "revoke_access", "account": "sandbox", "model": SONNET}),
        )
        .await?;
    let replies = stage.converse_together(KEY, "claude-sonnet-4", REQUESTS).await?;
    let succeeded = replies.iter().filter(|r| r.ok()).count();
    let baseline = replies.iter().filter(|r| r.ok() && r.baseline).count();
    let served_by: Vec<String> = replies.iter().filter_map(|r| r.route.clone()).collect();
    let rows = stage.invocations().await?;
    let by_region = count_by(&rows, |r| r.region.clone());
    let outside_us: u64 = rows
        .iter()
        .filter(|r| !r.region.starts_with("us-"))
        .map(|r| r.count)
        .sum();
    let sonnet_ok: u64 = rows
        .iter()
        .filter(|r| r.model.contains("claude-sonnet-4") && (200..300).contains(&r.status))
        .map(|r| r.count)
        .sum();

    let mut problems = Vec::new();
    expect_eq(&mut problems, "requests that succeeded", succeeded, REQUESTS);
    expect_eq(&mut problems, "requests served by the baseline", baseline, REQUESTS);
    expect_eq(&mut problems, "invocations outside the US", outside_us, 0);
    expect_eq(&mut problems, "primary candidates that answered", sonnet_ok, 0);
    for r in replies.iter().filter(|r| r.ok()) {
        if r.model() != Some(BASELINE) {
            problems.push(format!("served by {:?}, not the baseline target", r.route));
        }
    }

    let mut refused = std::collections::BTreeMap::new();
    for r in rows.iter().filter(|r| !(200..300).contains(&r.status)) {
        *refused
            .entry(format!("{} {} ({})", r.account_name, r.region, r.status))
            .or_insert(0) += r.count;
    }
    let table_rows: Vec<Vec<String>> = refused
        .iter()
        .map(|(what, n)| vec![what.clone(), n.to_string()])
        .collect();
    let mut text = format!(
        "Verified baseline: {REQUESTS} concurrent requests for claude-sonnet-4, every primary wrong\n\
         (prod-us: catalog lie, sandbox: access revoked)\n\n"
    );
    text.push_str(&table(
        "Primary attempts refused",
        &["Account, region (status)", "Attempts"],
        &table_rows,
    ));
    text.push_str(&format!(
        "\nServed by the baseline (prod-us us-east-1 {BASELINE}): {baseline} of {REQUESTS}; succeeded {succeeded} of {REQUESTS}; outside the US: {outside_us}\n"
    ));
    Ok(Outcome {
        json: json!({
            "total": REQUESTS,
            "succeeded": succeeded,
            "baseline": baseline,
            "baseline_target": format!("prod-us/us-east-1/{BASELINE}"),
            "by_region": by_region,
            "violations": outside_us,
            "routes": served_by,
        }),
        table: text,
        problems,
    })
}
