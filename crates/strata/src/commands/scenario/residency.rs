//! Data residency under failure: an EU tenant's Nova Pro in prod-eu (in-region in eu-west-2, the
//! `eu.` profile from the other EU regions; the fleet also offers it in the US and APAC) while the
//! emulator fails EU regions and its catalog changes under the gateway. Promised: every request
//! succeeds inside the EU or fails with a clear error; none runs outside the EU (counted by the
//! emulator, whatever the gateway believes).
//!
//! Phases (10 requests each, sent at once):
//! 1. the `eu.` profile now also sends to us-east-1 (a catalog change the gateway's next scan
//!    sees): the profile leaves the tenant's routes, eu-west-2 in-region serves.
//! 2. the profile back to its EU regions (rescanned); Nova Pro lying in eu-west-2 (advertised,
//!    calls refused as invalid) and eu-central-1 down (503): the profile, from its other source
//!    regions, serves in the EU regions still up.
//! 3. every EU region of the profile down too: nothing in the EU is left, so every request fails
//!    with a clear error (no answer from elsewhere).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::harness::{count_by, staged, table, Outcome, Reply, Stage};

const KEY: &str = "sk-scenario-residency";
const REQUESTS: usize = 10;
const EU_PROFILE: &str = "eu.amazon.nova-pro-v1:0";
const EU_DESTINATIONS: &[&str] = &["eu-central-1", "eu-north-1", "eu-west-1", "eu-west-3"];

const CONFIG: &str = r#"
models:
  - name: nova-pro
    strategy: priority
    discover:
      model: amazon.nova-pro-v1:0
      layers: [in_region, geography, global]
      accounts: [prod-eu]
tenants:
  - name: eu-bank
    keys: [sk-scenario-residency]
    residency: [eu]
    route_detail: full
routing:
  timeout_ms: 20000
  retries: {max_attempts: 6, base_delay_ms: 1, max_delay_ms: 5}
"#;

fn in_eu(region: &str) -> bool {
    region.starts_with("eu-")
}

pub async fn run() -> anyhow::Result<Outcome> {
    staged(CONFIG, None, experiment).await
}

struct Phase {
    name: &'static str,
    expect_success: bool,
}

async fn experiment(stage: &Stage) -> anyhow::Result<Outcome> {
    let phases = [
        Phase {
            name: "eu. profile also sends to us-east-1 (rescanned)",
            expect_success: true,
        },
        Phase {
            name: "nova-pro lying in eu-west-2, eu-central-1 down",
            expect_success: true,
        },
        Phase {
            name: "every EU region down (no EU target left)",
            expect_success: false,
        },
    ];
    let mut problems = Vec::new();
    let mut phase_json = Vec::new();
    let mut rows = Vec::new();
    let mut seen = 0_u64;
    for (i, phase) in phases.iter().enumerate() {
        match i {
            0 => {
                let mut widened = EU_DESTINATIONS.to_vec();
                widened.push("us-east-1");
                set_profile(stage, &widened).await?;
            }
            1 => {
                set_profile(stage, EU_DESTINATIONS).await?;
                stage
                    .sim_post(
                        "/_sim/faults",
                        json!({"kind": "catalog_lie", "region": "eu-west-2", "model": "amazon.nova-pro-v1:0"}),
                    )
                    .await?;
                outage(stage, "eu-central-1").await?;
            }
            _ => {
                for region in EU_DESTINATIONS {
                    outage(stage, region).await?;
                }
            }
        }
        let replies = stage.converse_together(KEY, "nova-pro", REQUESTS).await?;
        let succeeded = replies.iter().filter(|r| r.ok()).count();
        let unclear = replies.iter().filter(|r| !r.ok() && !clear_failure(r)).count();
        if phase.expect_success && succeeded != REQUESTS {
            problems.push(format!(
                "phase {}: {succeeded} of {REQUESTS} succeeded, all should",
                i + 1
            ));
        }
        if !phase.expect_success && succeeded != 0 {
            problems.push(format!("phase {}: {succeeded} succeeded with no EU target left", i + 1));
        }
        if unclear > 0 {
            problems.push(format!("phase {}: {unclear} failures without a clear error", i + 1));
        }
        // The emulator's counters since the last phase: where this phase's attempts ran.
        let all = stage.invocations().await?;
        let total: u64 = all.iter().map(|r| r.count).sum();
        let by_region = count_by(&all, |r| r.region.clone());
        let phase_by_region = phase_delta(&by_region, &phase_json);
        let statuses = failure_statuses(&replies);
        rows.push(vec![
            format!("{}", i + 1),
            phase.name.to_string(),
            format!("{succeeded}/{REQUESTS}"),
            regions_text(&phase_by_region),
            statuses.clone(),
        ]);
        phase_json.push(json!({
            "phase": phase.name,
            "total": REQUESTS,
            "succeeded": succeeded,
            "failed": REQUESTS - succeeded,
            "failure_statuses": statuses,
            "errors": distinct_errors(&replies),
            "by_region": phase_by_region,
            "attempts": total - seen,
        }));
        seen = total;
    }

    let all = stage.invocations().await?;
    let by_region = count_by(&all, |r| r.region.clone());
    // Every attempt the emulator saw, failed ones too, must have been sent inside the EU.
    let violations: u64 = all.iter().filter(|r| !in_eu(&r.region)).map(|r| r.count).sum();
    if violations > 0 {
        problems.push(format!("{violations} invocations ran outside the EU"));
    }
    let mut text = format!("Data residency under failure: EU tenant, {REQUESTS} concurrent requests per phase\n\n");
    text.push_str(&table(
        "Phases",
        &["#", "Injected", "Succeeded", "Executed in (successes)", "Failures"],
        &rows,
    ));
    text.push_str(&format!("\nInvocations outside the EU: {violations}\n"));
    Ok(Outcome {
        json: json!({"by_region": by_region, "violations": violations, "phases": phase_json}),
        table: text,
        problems,
    })
}

/// Changes the `eu.` profile's destinations in the emulator, then rescans so the gateway knows.
async fn set_profile(stage: &Stage, destinations: &[&str]) -> anyhow::Result<()> {
    stage
        .sim_post(
            "/_sim/catalog/profiles",
            json!({"id": EU_PROFILE, "destinations": destinations}),
        )
        .await?;
    stage.state.refresh().await;
    Ok(())
}

async fn outage(stage: &Stage, region: &str) -> anyhow::Result<()> {
    stage
        .sim_post("/_sim/faults", json!({"kind": "outage", "region": region}))
        .await
        .map(|_| ())
}

/// A failure the client can act on: an error status with a message.
fn clear_failure(r: &Reply) -> bool {
    r.status >= 400 && r.error.as_deref().is_some_and(|m| !m.trim().is_empty())
}

/// The distinct error messages the client got.
fn distinct_errors(replies: &[Reply]) -> Vec<String> {
    let mut errors: Vec<String> = replies.iter().filter_map(|r| r.error.clone()).collect();
    errors.sort();
    errors.dedup();
    errors
}

fn failure_statuses(replies: &[Reply]) -> String {
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for r in replies.iter().filter(|r| !r.ok()) {
        *by_status.entry(r.status).or_insert(0) += 1;
    }
    if by_status.is_empty() {
        return "-".to_string();
    }
    by_status
        .iter()
        .map(|(s, n)| format!("{n} x {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// This phase's successes per region: the running totals less the earlier phases'.
fn phase_delta(now: &BTreeMap<String, u64>, earlier: &[Value]) -> BTreeMap<String, u64> {
    let mut delta = now.clone();
    for phase in earlier {
        if let Some(map) = phase["by_region"].as_object() {
            for (region, n) in map {
                if let Some(v) = delta.get_mut(region) {
                    *v = v.saturating_sub(n.as_u64().unwrap_or(0));
                }
            }
        }
    }
    delta.retain(|_, n| *n > 0);
    delta
}

fn regions_text(by_region: &BTreeMap<String, u64>) -> String {
    if by_region.is_empty() {
        return "-".to_string();
    }
    by_region
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
