//! `strata scenario NAME [--json]`: the seeds' experiments, each in one command. A scenario
//! starts the emulator and a gateway in this process with the seed's settings, runs the
//! experiment through the real HTTP path with a concurrent client, prints the seed's table (or
//! one JSON object) and exits 2 when the result departs from what the pattern promises.

use anyhow::Context;
use clap::Args;

mod baseline;
mod capacity;
mod coldstart;
mod cris;
mod fallback;
mod harness;
mod loadbalance;
mod quota;
mod residency;
mod sharding;

use harness::Outcome;

#[derive(Args, Debug)]
pub struct ScenarioArgs {
    /// The scenario to run, or `list`.
    pub name: String,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// For scenarios with a steady load (`capacity`): run it for this many real minutes at
    /// its rate, instead of one minute's load compressed into seconds (the default, 0).
    #[arg(long, default_value_t = 0)]
    pub minutes: u32,
}

/// Every scenario, in the order they are listed, with its one-line summary.
const SCENARIOS: &[(&str, &str)] = &[
    (
        "cris",
        "10 requests through a US cross-region profile: where each ran, all in the profile's regions",
    ),
    (
        "fallback",
        "primary at 3 RPM, fallback at 25 RPM, 10 concurrent: 3 primary + 7 fallback, 10 of 10",
    ),
    (
        "loadbalance",
        "two primaries under shuffle (3 RPM each) and a fallback, 10 concurrent: 3 / 3 / 4",
    ),
    (
        "quota",
        "tenants A (3 RPM), B and C (10 RPM), 5 concurrent each: A 3 ok / 2 rate limited",
    ),
    (
        "sharding",
        "10 requests to each of two accounts, each spreading over its profile's regions",
    ),
    (
        "residency",
        "an EU tenant under EU outages and catalog changes: served in the EU or refused, never elsewhere",
    ),
    (
        "baseline",
        "every primary candidate wrong (catalog lie, access revoked): the verified baseline serves",
    ),
    (
        "capacity",
        "three accounts at 60/120/180 RPM, 80 % load: headroom splits 1:2:3 with no 429s, weighted meets them, failover stays in quota",
    ),
    (
        "coldstart",
        "imported models evicted: requests absorb the cold start; keep-warm outlasts the eviction window",
    ),
];

pub fn run(args: ScenarioArgs) -> anyhow::Result<()> {
    if args.name == "list" {
        if args.json {
            let list: Vec<_> = SCENARIOS
                .iter()
                .map(|(name, about)| serde_json::json!({"name": name, "about": about}))
                .collect();
            println!("{}", serde_json::Value::Array(list));
        } else {
            for (name, about) in SCENARIOS {
                println!("{name:<12} {about}");
            }
        }
        return Ok(());
    }
    if !SCENARIOS.iter().any(|(name, _)| *name == args.name) {
        let names: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
        anyhow::bail!("no scenario named {:?}; there are: {}", args.name, names.join(", "));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(run_named(&args.name, args.minutes))?;
    let passed = outcome.problems.is_empty();
    if args.json {
        let mut json = outcome.json;
        if let Some(object) = json.as_object_mut() {
            object.insert("scenario".into(), args.name.clone().into());
            object.insert("passed".into(), passed.into());
            object.insert("problems".into(), outcome.problems.clone().into());
        }
        println!("{json}");
    } else {
        print!("{}", outcome.table);
        println!();
        if passed {
            println!("PASS: {}", args.name);
        }
    }
    if !passed {
        for problem in &outcome.problems {
            eprintln!("scenario {}: {problem}", args.name);
        }
        eprintln!("FAIL: {} departs from what the pattern promises", args.name);
        std::process::exit(2);
    }
    Ok(())
}

async fn run_named(name: &str, minutes: u32) -> anyhow::Result<Outcome> {
    match name {
        "cris" => cris::run().await,
        "fallback" => fallback::run().await,
        "loadbalance" => loadbalance::run().await,
        "quota" => quota::run().await,
        "sharding" => sharding::run().await,
        "residency" => residency::run().await,
        "baseline" => baseline::run().await,
        "coldstart" => coldstart::run().await,
        "capacity" => capacity::run(minutes).await,
        other => anyhow::bail!("no scenario named {other:?}"),
    }
}
