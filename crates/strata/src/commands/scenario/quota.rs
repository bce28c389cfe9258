//! Pattern 5, multi-tenant quota isolation: consumers A (3 requests a minute), B and C (10
//! each) send 5 requests each, all at once, to one shared model → A: 3 answered, 2 refused
//! 429; B and C: 5 answered. One tenant's budget never spends another's.

use std::collections::BTreeMap;

use serde_json::json;

use super::harness::{expect_eq, percent, staged, table, Outcome, Stage};

const PER_CONSUMER: usize = 5;

/// (consumer, API key, RPM, kind as the seed labels it)
const CONSUMERS: &[(&str, &str, u64, &str)] = &[
    ("A", "sk-scenario-quota-a", 3, "Noisy"),
    ("B", "sk-scenario-quota-b", 10, "Normal"),
    ("C", "sk-scenario-quota-c", 10, "Normal"),
];

const CONFIG: &str = r#"
models:
  - name: shared
    deployments:
      - {account: prod-us, region: us-east-1, model: us.anthropic.claude-haiku-4-5-20251001-v1:0}
tenants:
  - {name: A, keys: [sk-scenario-quota-a], residency: [us], rpm: 3}
  - {name: B, keys: [sk-scenario-quota-b], residency: [us], rpm: 10}
  - {name: C, keys: [sk-scenario-quota-c], residency: [us], rpm: 10}
"#;

pub async fn run() -> anyhow::Result<Outcome> {
    staged(CONFIG, None, experiment).await
}

async fn experiment(stage: &Stage) -> anyhow::Result<Outcome> {
    let groups: Vec<(&str, &str, usize)> = CONSUMERS.iter().map(|c| (c.1, "shared", PER_CONSUMER)).collect();
    let replies = stage.converse_groups(&groups).await?;

    let mut problems = Vec::new();
    let mut consumers = BTreeMap::new();
    let mut rows = Vec::new();
    for ((name, _, rpm, kind), replies) in CONSUMERS.iter().zip(&replies) {
        let succeeded = replies.iter().filter(|r| r.ok()).count();
        let rate_limited = replies.iter().filter(|r| r.status == 429).count();
        let failed = replies.len() - succeeded;
        let want = PER_CONSUMER.min(usize::try_from(*rpm).unwrap_or(usize::MAX));
        expect_eq(&mut problems, &format!("consumer {name}: succeeded"), succeeded, want);
        expect_eq(
            &mut problems,
            &format!("consumer {name}: rate limited (429)"),
            rate_limited,
            PER_CONSUMER - want,
        );
        for r in replies.iter().filter(|r| !r.ok() && r.status != 429) {
            problems.push(format!(
                "consumer {name}: a request failed ({}): {}",
                r.status,
                r.error.as_deref().unwrap_or("")
            ));
        }
        consumers.insert(
            name.to_string(),
            json!({"rpm": rpm, "total": replies.len(), "succeeded": succeeded, "rate_limited": rate_limited}),
        );
        rows.push(vec![
            name.to_string(),
            kind.to_string(),
            rpm.to_string(),
            percent(succeeded as u64, replies.len() as u64),
            replies.len().to_string(),
            succeeded.to_string(),
            failed.to_string(),
            rate_limited.to_string(),
        ]);
    }
    let mut text =
        format!("Pattern 5: multi-tenant quota isolation. {PER_CONSUMER} concurrent requests per consumer\n\n");
    text.push_str(&table(
        "Quota isolation analysis",
        &[
            "Consumer",
            "Type",
            "RPM",
            "Success rate",
            "Total",
            "Success",
            "Failed",
            "Rate limited",
        ],
        &rows,
    ));
    Ok(Outcome {
        json: json!({"consumers": consumers}),
        table: text,
        problems,
    })
}
