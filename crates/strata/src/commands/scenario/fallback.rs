//! Pattern 3, model fallback: the primary deployment has a budget of 3 requests a minute, the
//! fallback model 25; 10 requests sent at once → the gateway's admission lets 3 reach the
//! primary and sends 7 to the fallback, 10 of 10 answered. Exact: the budgets count a sliding
//! minute and the scenario runs well within one.

use serde_json::json;

use super::harness::{expect_eq, percent, replies_by_model, staged, table, Outcome, Stage};

pub const PRIMARY: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
pub const FALLBACK: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const REQUESTS: usize = 10;

const CONFIG: &str = r#"
models:
  - name: primary
    deployments:
      - {account: prod-us, region: us-east-1, model: us.anthropic.claude-sonnet-4-20250514-v1:0, rpm: 3}
    fallbacks: [fallback]
  - name: fallback
    deployments:
      - {account: prod-us, region: us-east-1, model: us.anthropic.claude-haiku-4-5-20251001-v1:0, rpm: 25}
tenants:
  - name: app
    keys: [sk-scenario-fallback]
    residency: [us]
    route_detail: full
"#;

pub async fn run() -> anyhow::Result<Outcome> {
    staged(CONFIG, None, experiment).await
}

async fn experiment(stage: &Stage) -> anyhow::Result<Outcome> {
    let replies = stage
        .converse_together("sk-scenario-fallback", "primary", REQUESTS)
        .await?;
    let succeeded = replies.iter().filter(|r| r.ok()).count();
    let by_model = replies_by_model(&replies);
    let count = |m: &str| by_model.get(m).copied().unwrap_or(0);

    let mut problems = Vec::new();
    expect_eq(&mut problems, "requests that succeeded", succeeded, REQUESTS);
    expect_eq(&mut problems, "requests served by the primary", count(PRIMARY), 3);
    expect_eq(&mut problems, "requests served by the fallback", count(FALLBACK), 7);

    let rows = vec![
        vec![
            "primary (3 RPM)".to_string(),
            PRIMARY.to_string(),
            count(PRIMARY).to_string(),
            percent(count(PRIMARY), REQUESTS as u64),
        ],
        vec![
            "fallback (25 RPM)".to_string(),
            FALLBACK.to_string(),
            count(FALLBACK).to_string(),
            percent(count(FALLBACK), REQUESTS as u64),
        ],
    ];
    let mut text = format!("Pattern 3: model fallback. {REQUESTS} concurrent requests to `primary`\n\n");
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
            "roles": {PRIMARY: "primary", FALLBACK: "fallback"},
        }),
        table: text,
        problems,
    })
}
