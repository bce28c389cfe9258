//! Pattern 2, account sharding: 10 requests to each of two accounts (prod-us and sandbox), each
//! through its own `us.` Nova Pro profile; each account's requests spread over the profile's
//! regions on their own. Promised: 10 of 10 per account, all inside the destination set.

use std::collections::BTreeMap;

use serde_json::json;

use super::cris::{profile_destinations, PROFILE};
use super::harness::{count_by, expect_eq, percent, staged, table, Outcome, Stage};

const PER_ACCOUNT: usize = 10;

/// (label, logical model, API key, emulator account name)
const SHARDS: &[(&str, &str, &str)] = &[("Account 1", "shard-1", "prod-us"), ("Account 2", "shard-2", "sandbox")];

const CONFIG: &str = r#"
models:
  - name: shard-1
    deployments:
      - {account: prod-us, region: us-east-1, model: us.amazon.nova-pro-v1:0}
  - name: shard-2
    deployments:
      - {account: sandbox, region: us-east-1, model: us.amazon.nova-pro-v1:0}
tenants:
  - name: app
    keys: [sk-scenario-sharding]
    residency: [us]
    route_detail: full
"#;

pub async fn run() -> anyhow::Result<Outcome> {
    staged(CONFIG, None, experiment).await
}

async fn experiment(stage: &Stage) -> anyhow::Result<Outcome> {
    let destinations = profile_destinations(stage, PROFILE).await?;
    let groups: Vec<(&str, &str, usize)> = SHARDS
        .iter()
        .map(|s| ("sk-scenario-sharding", s.1, PER_ACCOUNT))
        .collect();
    let replies = stage.converse_groups(&groups).await?;
    let rows = stage.invocations().await?;

    let mut problems = Vec::new();
    let mut by_account = BTreeMap::new();
    let mut text =
        format!("Pattern 2: account sharding. {PER_ACCOUNT} requests to each of two accounts through {PROFILE}\n\n");
    for ((label, _, account), replies) in SHARDS.iter().zip(&replies) {
        let succeeded = replies.iter().filter(|r| r.ok()).count();
        let mine: Vec<_> = rows.iter().filter(|r| r.account_name == *account).cloned().collect();
        let by_region = count_by(&mine, |r| r.region.clone());
        let total: u64 = by_region.values().sum();
        expect_eq(
            &mut problems,
            &format!("{account}: requests that succeeded"),
            succeeded,
            PER_ACCOUNT,
        );
        expect_eq(
            &mut problems,
            &format!("{account}: invocations counted"),
            total,
            PER_ACCOUNT as u64,
        );
        for region in by_region.keys().filter(|r| !destinations.contains(r)) {
            problems.push(format!(
                "{account}: {region} ran a request but is not a destination of {PROFILE}"
            ));
        }
        let table_rows: Vec<Vec<String>> = by_region
            .iter()
            .map(|(region, n)| vec![region.clone(), n.to_string(), percent(*n, total)])
            .collect();
        text.push_str(&table(
            &format!("{label} ({account})"),
            &["Region", "Invocations", "Percentage"],
            &table_rows,
        ));
        text.push('\n');
        by_account.insert(
            account.to_string(),
            json!({"total": PER_ACCOUNT, "succeeded": succeeded, "by_region": by_region}),
        );
    }
    text.push_str("Each account spreads its own requests; its quotas are its own.\n");
    Ok(Outcome {
        json: json!({"profile": PROFILE, "destinations": destinations, "by_account": by_account}),
        table: text,
        problems,
    })
}
