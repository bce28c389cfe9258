//! Capacity-aware routing (issue 15): three accounts whose Service Quotas give Nova Pro in
//! us-east-1 60, 120 and 180 requests a minute, and a steady load at 80 % of their sum. Under
//! `strategy: headroom` the gateway reads the quotas through discovery and spreads the load
//! close to 1 : 2 : 3 with no upstream throttle; the same load under `weighted` (equal weights)
//! meets Bedrock's 429s and retries. Then the 60-RPM account goes down: its share moves to the
//! other two, none past its quota.
//!
//! By default a minute's load is sent over [`LOAD_SECONDS`]: both the emulator's quotas and the
//! gateway's counters count per minute, so compressing the minute changes nothing of who may
//! take what. `--minutes N` runs the load at its real rate for N minutes instead (the steady
//! state, windows sliding). Each phase runs on a fresh emulator and gateway.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::harness::{percent, staged_after, table, Outcome, Stage};

const MODEL: &str = "amazon.nova-pro-v1:0";
const REGION: &str = "us-east-1";
const KEY: &str = "sk-scenario-capacity";
/// The accounts and their requests-per-minute quotas.
const QUOTAS: [(&str, u64); 3] = [("prod-us", 60), ("prod-eu", 120), ("sandbox", 180)];
const LOAD_SECONDS: u64 = 6;

fn config(strategy: &str) -> String {
    let deployments: String = QUOTAS
        .iter()
        .map(|(account, _)| format!("\n      - {{account: {account}, region: {REGION}, model: {MODEL}}}"))
        .collect();
    format!(
        r#"
models:
  - name: spread
    strategy: {strategy}
    deployments:{deployments}
tenants:
  - name: app
    keys: [{KEY}]
    residency: [us]
    route_detail: full
routing:
  retries: {{max_attempts: 3, base_delay_ms: 1, max_delay_ms: 5}}
"#
    )
}

/// The emulator's quotas (and, for failover, the first account's outage), before the gateway
/// scans it.
fn setup(down: Option<&str>) -> Vec<(&'static str, Value)> {
    let mut posts: Vec<(&'static str, Value)> = QUOTAS
        .iter()
        .map(|(account, rpm)| {
            (
                "/_sim/quotas",
                json!({"account": account, "region": REGION, "model": MODEL, "rpm": rpm, "tpm": 10_000_000}),
            )
        })
        .collect();
    if let Some(account) = down {
        posts.push((
            "/_sim/faults",
            json!({"kind": "outage", "account": account, "region": REGION, "model": MODEL}),
        ));
    }
    posts
}

/// One phase's counts, from the emulator's stats.
struct Phase {
    total: usize,
    succeeded: usize,
    throttles: u64,
    by_account: BTreeMap<String, u64>,
}

impl Phase {
    /// Requests past each account's quota over `minutes` (plus what its bucket refills, one
    /// quota per minute).
    fn over_quota(&self, minutes: u64) -> u64 {
        QUOTAS
            .iter()
            .map(|(a, q)| {
                self.by_account
                    .get(*a)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(q * minutes)
            })
            .sum()
    }

    fn json(&self, over_quota: Option<u64>) -> Value {
        let mut v = json!({
            "total": self.total,
            "succeeded": self.succeeded,
            "upstream_throttles": self.throttles,
            "by_account": self.by_account,
        });
        if let Some(over) = over_quota {
            v["over_quota"] = json!(over);
        }
        v
    }
}

async fn load(stage: &Stage, total: usize, over: Duration) -> anyhow::Result<Phase> {
    let replies = stage.converse_paced(KEY, "spread", total, over).await?;
    let mut by_account: BTreeMap<String, u64> = QUOTAS.iter().map(|(a, _)| (a.to_string(), 0)).collect();
    let mut throttles = 0;
    for row in stage.invocations().await? {
        if row.model != MODEL {
            continue;
        }
        match row.status {
            200..=299 => *by_account.entry(row.account_name).or_insert(0) += row.count,
            429 => throttles += row.count,
            _ => {}
        }
    }
    Ok(Phase {
        total,
        succeeded: replies.iter().filter(|r| r.ok()).count(),
        throttles,
        by_account,
    })
}

pub async fn run(minutes: u32) -> anyhow::Result<Outcome> {
    let sum: u64 = QUOTAS.iter().map(|(_, q)| q).sum();
    let per_minute = usize::try_from(sum * 8 / 10)?;
    let (total, over) = match minutes {
        0 => (per_minute, Duration::from_secs(LOAD_SECONDS)),
        m => (per_minute * m as usize, Duration::from_secs(60 * u64::from(m))),
    };
    let h = staged_after(&config("headroom"), &setup(None), async |s| load(s, total, over).await).await?;
    let w = staged_after(&config("weighted"), &setup(None), async |s| load(s, total, over).await).await?;
    let f = staged_after(&config("headroom"), &setup(Some(QUOTAS[0].0)), async |s| {
        load(s, total, over).await
    })
    .await?;
    let minutes = u64::from(minutes.max(1));

    let mut problems = Vec::new();
    if h.throttles != 0 || h.succeeded != h.total {
        problems.push(format!(
            "headroom: {} of {} succeeded with {} upstream throttles (want all, none)",
            h.succeeded, h.total, h.throttles
        ));
    }
    for (account, quota) in QUOTAS {
        let got = h.by_account.get(account).copied().unwrap_or(0);
        let want = total as u64 * quota / sum;
        // Close to 1 : 2 : 3: each within a fifth of its share, none past its quota.
        if got > quota * minutes || got.abs_diff(want) > want / 5 + 2 {
            problems.push(format!(
                "headroom: {account} served {got}, want about {want} (quota {quota})"
            ));
        }
    }
    if f.over_quota(minutes) > 0 || f.succeeded * 100 < f.total * 99 {
        problems.push(format!(
            "failover: {} of {} succeeded, {} past a quota (want ≥ 99 %, none)",
            f.succeeded,
            f.total,
            f.over_quota(minutes)
        ));
    }
    if f.by_account.get(QUOTAS[0].0).copied().unwrap_or(0) > 0 {
        problems.push(format!("failover: the account that is down served {:?}", f.by_account));
    }

    let row = |name: &str, p: &Phase| {
        let mut cells = vec![
            name.to_string(),
            percent(p.succeeded as u64, p.total as u64),
            p.throttles.to_string(),
        ];
        cells.extend(
            QUOTAS
                .iter()
                .map(|(a, _)| p.by_account.get(*a).copied().unwrap_or(0).to_string()),
        );
        cells
    };
    let headers = [
        "Phase",
        "Success",
        "Upstream 429s",
        "prod-us (60 RPM)",
        "prod-eu (120 RPM)",
        "sandbox (180 RPM)",
    ];
    let mut text = format!(
        "Capacity-aware routing: {total} requests (80 % of {sum} RPM of quota) over {} s to `spread`, \
three accounts' Nova Pro in {REGION}\n\n",
        over.as_secs()
    );
    text.push_str(&table(
        "Load by account",
        &headers,
        &[
            row("headroom", &h),
            row("weighted (equal)", &w),
            row("headroom, prod-us down", &f),
        ],
    ));
    Ok(Outcome {
        json: json!({
            "minutes": minutes,
            "headroom": h.json(None),
            "weighted": w.json(None),
            "failover": f.json(Some(f.over_quota(minutes))),
        }),
        table: text,
        problems,
    })
}
