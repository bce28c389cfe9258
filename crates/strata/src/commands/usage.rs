//! `strata usage`: requests, errors, tokens and cost per tenant, model or day, read from the
//! usage database the config names — the same rows as `GET /admin/usage`, as a table.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strata_gateway::inbound::admin::usage::query;
use strata_store::{Store, UsageRow};

#[derive(Args, Debug)]
pub struct UsageArgs {
    /// Gateway config (YAML); its `usage.database_url` (or the database beside it) is read.
    #[arg(long)]
    pub config: PathBuf,
    /// Only records since: a duration back from now (30m, 12h, 7d), a date (2026-11-30) or unix ms.
    #[arg(long, default_value = "1d")]
    pub since: String,
    /// One row per `tenant`, `model`, `day` or `tenant_model`.
    #[arg(long, default_value = "tenant_model")]
    pub group_by: String,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    /// Print `{"rows": […]}` as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: UsageArgs) -> anyhow::Result<()> {
    let config = strata_gateway::config::load(&args.config)?;
    let url = config
        .usage_database_url
        .clone()
        .unwrap_or_else(|| strata_gateway::config::IN_MEMORY_DATABASE.to_string());
    let q = query(args.tenant, args.model, Some(&args.since), Some(&args.group_by)).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let rows = runtime.block_on(async {
        let store = Store::open(&url).await.with_context(|| format!("cannot open {url}"))?;
        let rows = store.usage(&q).await?;
        store.close().await;
        anyhow::Ok(rows)
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "rows": rows }))?
        );
    } else {
        print!("{}", table(&rows, &args.since));
    }
    Ok(())
}

fn table(rows: &[UsageRow], since: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let total = |f: fn(&UsageRow) -> u64| rows.iter().map(f).sum::<u64>();
    let cost: f64 = rows.iter().map(|r| r.cost_usd).sum();
    let _ = writeln!(
        out,
        "usage since {since}: {} requests, {} errors, {} rate limited, {} tokens in, {} out, {cost:.4} USD",
        total(|r| r.requests),
        total(|r| r.errors),
        total(|r| r.rate_limited),
        total(|r| r.input_tokens),
        total(|r| r.output_tokens),
    );
    if rows.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\n{:<20} {:<24} {:<10} {:>9} {:>7} {:>7} {:>12} {:>12} {:>11}",
        "TENANT", "MODEL", "DAY", "REQUESTS", "ERRORS", "LIMITED", "TOKENS IN", "TOKENS OUT", "COST USD"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<20} {:<24} {:<10} {:>9} {:>7} {:>7} {:>12} {:>12} {:>11.4}",
            r.tenant.as_deref().unwrap_or("-"),
            r.model.as_deref().unwrap_or("-"),
            r.day.as_deref().unwrap_or("-"),
            r.requests,
            r.errors,
            r.rate_limited,
            r.input_tokens,
            r.output_tokens,
            r.cost_usd
        );
    }
    out
}
