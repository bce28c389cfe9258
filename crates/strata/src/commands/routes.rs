//! `strata routes`: the candidates each logical model compiles to, per tenant, and with
//! `--explain` every exclusion and its reason — the same data as `GET /admin/routes`.

use std::fmt::Write;

use clap::Args;
use strata_gateway::routes::report::{routes_report, RouteFilter, RoutesReport};

use super::scan::{load, CatalogArgs};

#[derive(Args, Debug)]
pub struct RoutesArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// Only this tenant's view.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this logical model.
    #[arg(long)]
    pub model: Option<String>,
    /// Show every excluded target and why.
    #[arg(long)]
    pub explain: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: RoutesArgs) -> anyhow::Result<()> {
    let scanned = load(&args.catalog, !args.json)?;
    let table = scanned.routes();
    let filter = RouteFilter {
        tenant: args.tenant,
        model: args.model,
        explain: args.explain,
    };
    let report = routes_report(&scanned.config, &table, &filter)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

fn text(report: &RoutesReport) -> String {
    let mut out = String::new();
    for m in &report.models {
        let _ = writeln!(
            out,
            "model {}{} (strategy {}, {} candidates, {} baseline{})",
            m.model,
            match &m.imported_model {
                Some(name) => format!(" = imported model {name}"),
                None => String::new(),
            },
            m.strategy,
            m.candidates.len(),
            m.baseline.len(),
            if m.fallbacks.is_empty() {
                String::new()
            } else {
                format!(", falls back to {}", m.fallbacks.join(", "))
            }
        );
        for c in m.candidates.iter().chain(&m.baseline) {
            let _ = writeln!(
                out,
                "  {:<9} {:<10} p{} w{} {}  runs in: {}{}",
                c.origin,
                c.layer,
                c.priority,
                c.weight,
                c.target,
                c.runs_in.join(", "),
                if c.stale { "  (stale)" } else { "" }
            );
        }
        for (what, list) in [("excluded", &m.excluded), ("baseline excluded", &m.baseline_excluded)] {
            for e in list.iter().flatten() {
                let _ = writeln!(out, "  {what}  {}: {}", e.target, e.reason);
            }
        }
        // Which rule admitted a target for a tenant, from the candidate view.
        let rule = |tenant: &str, target: &str| {
            m.candidates
                .iter()
                .chain(&m.baseline)
                .find(|c| c.target == target)
                .and_then(|c| c.admitted_by.get(tenant))
                .copied()
                .unwrap_or("?")
        };
        for t in &m.tenants {
            let _ = writeln!(
                out,
                "  tenant {} (residency {}{}): {} allowed, {} baseline",
                t.tenant,
                t.residency,
                if t.trust_catalog_destinations {
                    ", trusts catalog destinations"
                } else {
                    ""
                },
                t.allowed.len(),
                t.baseline.len()
            );
            for a in &t.allowed {
                let _ = writeln!(out, "    allowed   {a}  (by {})", rule(&t.tenant, a));
            }
            for b in &t.baseline {
                let _ = writeln!(out, "    baseline  {b}  (by {})", rule(&t.tenant, b));
            }
            for e in t.excluded.iter().flatten().chain(t.baseline_excluded.iter().flatten()) {
                let _ = writeln!(out, "    excluded  {}: {}", e.target, e.reason);
            }
        }
        let _ = writeln!(out);
    }
    out
}
