//! Pattern 1, cross-region inference: 10 requests through the `us.` Nova Pro profile; the
//! emulator says which region ran each. The spread is the emulator's placement (skewed by
//! capacity and load, as AWS's is), so only the destination set and 10 of 10 are promised.

use std::collections::BTreeMap;

use serde_json::json;

use super::harness::{count_by, expect_eq, percent, staged, table, Outcome, Stage};

pub const PROFILE: &str = "us.amazon.nova-pro-v1:0";
const REQUESTS: usize = 10;

const CONFIG: &str = r#"
models:
  - name: nova-pro-us
    deployments:
      - {account: prod-us, region: us-east-1, model: us.amazon.nova-pro-v1:0}
tenants:
  - name: app
    keys: [sk-scenario-cris]
    residency: [us]
    route_detail: full
"#;

pub async fn run() -> anyhow::Result<Outcome> {
    staged(CONFIG, None, experiment).await
}

async fn experiment(stage: &Stage) -> anyhow::Result<Outcome> {
    let destinations = profile_destinations(stage, PROFILE).await?;
    let replies = stage
        .converse_together("sk-scenario-cris", "nova-pro-us", REQUESTS)
        .await?;
    let succeeded = replies.iter().filter(|r| r.ok()).count();
    let rows = stage.invocations().await?;
    let by_region: BTreeMap<String, u64> = count_by(
        &rows.into_iter().filter(|r| r.model == PROFILE).collect::<Vec<_>>(),
        |r| r.region.clone(),
    );

    let mut problems = Vec::new();
    expect_eq(&mut problems, "requests that succeeded", succeeded, REQUESTS);
    expect_eq(
        &mut problems,
        "invocations the emulator counted",
        by_region.values().sum::<u64>(),
        REQUESTS as u64,
    );
    for region in by_region.keys().filter(|r| !destinations.contains(r)) {
        problems.push(format!("{region} ran a request but is not a destination of {PROFILE}"));
    }
    for r in replies.iter().filter(|r| !r.ok()) {
        problems.push(format!(
            "a request failed ({}): {}",
            r.status,
            r.error.as_deref().unwrap_or("")
        ));
    }

    let total = by_region.values().sum::<u64>();
    let table_rows: Vec<Vec<String>> = by_region
        .iter()
        .map(|(region, n)| vec![region.clone(), n.to_string(), percent(*n, total)])
        .collect();
    let mut text = format!(
        "Pattern 1: cross-region inference. {REQUESTS} requests through {PROFILE}\n(destinations: {})\n\n",
        destinations.join(", ")
    );
    text.push_str(&table(
        "Invocations by executing region",
        &["Region", "Invocations", "Percentage"],
        &table_rows,
    ));
    text.push_str(&format!(
        "\n{succeeded} of {REQUESTS} succeeded, every one inside the profile's destination set.\n"
    ));
    Ok(Outcome {
        json: json!({
            "profile": PROFILE,
            "destinations": destinations,
            "total": REQUESTS,
            "succeeded": succeeded,
            "by_region": by_region,
        }),
        table: text,
        problems,
    })
}

/// The profile's destination regions as the emulator's fleet has them now.
pub async fn profile_destinations(stage: &Stage, profile: &str) -> anyhow::Result<Vec<String>> {
    let fleet = stage.sim_get("/_sim/fleet").await?;
    let mut found = None;
    find_profile(&fleet, profile, &mut found);
    let destinations = found.ok_or_else(|| anyhow::anyhow!("the emulator's fleet has no profile {profile}"))?;
    Ok(destinations)
}

fn find_profile(value: &serde_json::Value, profile: &str, found: &mut Option<Vec<String>>) {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("id").and_then(|v| v.as_str()) == Some(profile) {
                if let Some(d) = map.get("destinations").and_then(|v| v.as_array()) {
                    *found = Some(d.iter().filter_map(|r| r.as_str().map(str::to_string)).collect());
                    return;
                }
            }
            map.values().for_each(|v| find_profile(v, profile, found));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| find_profile(v, profile, found)),
        _ => {}
    }
}
