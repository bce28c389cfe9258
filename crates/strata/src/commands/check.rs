//! `strata check`: validates a config against the live catalog and exits non-zero when a
//! target, tenant or baseline entry cannot work as written.

use clap::Args;
use strata_gateway::routes::check::{check, Severity};

use super::scan::{load, CatalogArgs};

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    #[arg(long)]
    pub json: bool,
}

/// Returns whether the config passed (no errors).
pub fn run(args: CheckArgs) -> anyhow::Result<bool> {
    let scanned = load(&args.catalog, !args.json)?;
    let table = scanned.routes();
    let findings = check(&scanned.config, &scanned.catalog, &table);
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = findings.len() - errors;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"errors": errors, "warnings": warnings, "findings": findings})
            )?
        );
    } else {
        for f in &findings {
            let label = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            println!("{label}: {}: {}", f.at, f.message);
        }
        println!(
            "{}: {errors} error(s), {warnings} warning(s); {} candidates compiled",
            args.catalog.config.display(),
            table.size()
        );
    }
    Ok(errors == 0)
}
