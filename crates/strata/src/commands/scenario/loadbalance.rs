//! Pattern 4, load balancing with fallback: two primary deployments under `shuffle`, 3 requests
//! a minute each, and a fallback model at 25; 10 requests sent at once → 3 and 3 on the
//! primaries (each up to its budget, whatever order the shuffle drew) and 4 on the fallback.

use serde_json::json;

use super::harness::{expect_eq, percent, replies_by_model, staged, table, Outcome, Stage};

pub const PRIMARY_A: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
pub const PRIMARY_B: &str = "us.amazon.nova-pro-v1:0";
pub const FALLBACK: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const REQUESTS: usize = 10;

const CONFIG: &str = r#"
models:
  - name: balanced
    strategy: shuffle
    deployments:
      - {account: prod-us, region: us-east-1, model: us.anthropic.claude-sonnet-4-20250514-v1:0, rpm: 3}
      - {account: prod-us, region: us-east-1, model: us.amazon.nova-pro-v1:0, rpm: 3}
    fallbacks: [fallback]
  - name: fallback
    deployments:
      - {account: prod-us, region: us-east-1, model: us.anthropic.claude-haiku-4-5-20251001-v1:0, rpm: 25}
tenants:
  - name: app
    keys: [sk-scenario-loadbalance]
    residency: [us]
    route_detail: full
"#;

pub async fn run() -> anyhow::Result<Outcome> {
    staged(CONFIG, None, experiment).await
}

async fn experiment(stage: &Stage) -> anyhow::Result<Outcome> {
    let replies = stage
        .converse_together("sk-scenario-loadbalance", "balanced", REQUESTS)
        .await?;
    let succeeded = replies.iter().filter(|r| r.ok()).count();
    let by_model = replies_by_model(&replies);
    let count = |m: &str| by_model.get(m).copied().unwrap_or(0);

    let mut problems = Vec::new();
    expect_eq(&mut problems, "requests that succeeded", succeeded, REQUESTS);
    expect_eq(&mut problems, "requests served by primary A", count(PRIMARY_A), 3);
    expect_eq(&mut problems, "requests served by primary B", count(PRIMARY_B), 3);
    expect_eq(&mut problems, "requests served by the fallback", count(FALLBACK), 4);

    let row = |role: &str, model: &str| {
        vec![
            role.to_string(),
            model.to_string(),
            count(model).to_string(),
            percent(count(model), REQUESTS as u64),
        ]
    };
    let rows = vec![
        row("primary A (3 RPM)", PRIMARY_A),
        row("primary B (3 RPM)", PRIMARY_B),
        row("fallback (25 RPM)", FALLBACK),
    ];
    let mut text =
        format!("Pattern 4: load balancing (shuffle) with fallback. {REQUESTS} concurrent requests to `balanced`\n\n");
    text.push_str(&table(
        "Model distribution",
        &["Model", "Deployment", "Requests", "Percentage"],
        &rows,
    ));
    text.push_str(&format!(
        "\nSuccess rate: {} ({succeeded} of {REQUESTS})\n",
        percent(succeeded as u64, REQUESTS as u64)
    ));
    Ok(Outcome {
        json: json!({
            "total": REQUESTS,
            "succeeded": succeeded,
            "by_model": by_model,
            "roles": {PRIMARY_A: "primary", PRIMARY_B: "primary", FALLBACK: "fallback"},
        }),
        table: text,
        problems,
    })
}
