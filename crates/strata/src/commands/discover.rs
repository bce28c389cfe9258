//! `strata discover`: one scan of every account × region, printed as an availability matrix
//! (model × region per account, imported models in rows of their own) or as the catalog's JSON.

use std::collections::BTreeSet;
use std::fmt::Write;

use clap::Args;
use strata_core::{Catalog, Freshness, Region};

use super::scan::{load, CatalogArgs};

#[derive(Args, Debug)]
pub struct DiscoverArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// Print the catalog as JSON (the same shape as the gateway's cache file).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DiscoverArgs) -> anyhow::Result<()> {
    let scanned = load(&args.catalog, !args.json)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&*scanned.catalog)?);
        return Ok(());
    }
    let accounts: Vec<String> = scanned.config.accounts.iter().map(|a| a.name.clone()).collect();
    print!("{}", matrix(&scanned.catalog, &accounts));
    let scans: Vec<_> = scanned.catalog.scans().collect();
    let failed = scans
        .iter()
        .filter(|s| !matches!(s.freshness, Freshness::Fresh))
        .count();
    println!(
        "{} account x region scans in {:.1} s, {} failed",
        scans.len(),
        scanned.seconds,
        failed
    );
    Ok(())
}

/// A short column name for a region: `us-east-1` → `use1`, `eu-central-2` → `euc2`.
fn short(region: &Region) -> String {
    let parts: Vec<&str> = region.as_str().split('-').collect();
    let mut out = String::new();
    if let Some(first) = parts.first() {
        out.push_str(first);
    }
    for p in &parts[1..parts.len().saturating_sub(1)] {
        // Compass compounds keep two letters, so ap-south-1 (aps1) and ap-southeast-1 (apse1) differ.
        let compound = ["northeast", "northwest", "southeast", "southwest"].contains(p);
        out.extend(p.chars().step_by(5).take(if compound { 2 } else { 1 }));
    }
    if let Some(last) = parts.last() {
        out.push_str(last);
    }
    out
}

/// How an imported model's row is marked.
const IMPORTED: &str = " (imported)";

/// The matrix of every account: one row per model, one column per region.
pub fn matrix(catalog: &Catalog, accounts: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "legend: ● on demand, access granted   ◆ through a profile only, access granted   × listed, no access   ? access unknown   · not offered   (stale) last scan failed\n        (imported) rows: models brought in with Custom Model Import, by name; ● imported there, ? imported models unknown there"
    );
    for account in accounts {
        let scans: Vec<_> = catalog.scans_of(account).collect();
        let models: BTreeSet<&String> = scans.iter().flat_map(|s| s.models.keys()).collect();
        let imported = catalog.imported_names(account);
        let width = models
            .iter()
            .map(|m| m.len())
            .chain(imported.iter().map(|m| m.len() + IMPORTED.len()))
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(out, "\naccount {account}");
        let _ = write!(out, "  {:width$} ", "model");
        for s in &scans {
            let _ = write!(out, " {:>5}", short(&s.region));
        }
        let _ = writeln!(out);
        for model in &models {
            let _ = write!(out, "  {model:width$} ");
            for s in &scans {
                let _ = write!(out, " {:>5}", s.availability(model).symbol());
            }
            let _ = writeln!(out);
        }
        for name in &imported {
            let _ = write!(out, "  {:width$} ", format!("{name}{IMPORTED}"));
            for s in &scans {
                let _ = write!(out, " {:>5}", s.imported_availability(name).symbol());
            }
            let _ = writeln!(out);
        }
        for s in scans.iter().filter(|s| s.has_data()) {
            if let Some(reason) = s.imported.unknown() {
                let _ = writeln!(out, "  ! {}: imported models unknown: {reason}", s.region);
            }
        }
        let stale: Vec<String> = scans
            .iter()
            .filter_map(|s| match &s.freshness {
                Freshness::Fresh => None,
                Freshness::Stale { error, .. } => Some(format!("{} (stale: {error})", s.region)),
                Freshness::Missing { error, .. } => Some(format!("{} (no data: {error})", s.region)),
            })
            .collect();
        for line in stale {
            let _ = writeln!(out, "  ! {line}");
        }
        let profiles: usize = scans.iter().map(|s| s.profiles.len()).sum();
        let _ = writeln!(
            out,
            "  {profiles} inference profiles callable across {} regions",
            scans.len()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_models_have_rows_of_their_own_and_unknown_listings_are_said() {
        use strata_core::{ImportedModelEntry, ImportedModels, RegionScan};
        let listed = |r: &str| {
            let mut s = RegionScan::missing("prod-us", Region::parse(r).unwrap(), 0, String::new());
            s.freshness = Freshness::Fresh;
            s.imported = ImportedModels::listed([ImportedModelEntry {
                arn: format!("arn:aws:bedrock:{r}:111111111111:imported-model/abcdefghij12"),
                name: "apexguru-qwen".into(),
                architecture: None,
                created_at: 0,
                instruct_supported: None,
                model_units_per_copy: None,
            }]);
            s
        };
        let mut catalog = Catalog::default();
        catalog.insert(listed("us-east-1"));
        let mut west = listed("us-west-2");
        west.imported = ImportedModels::listed([]);
        catalog.insert(west);
        let mut eu = listed("eu-west-1");
        eu.imported = ImportedModels::Unknown {
            reason: "ListImportedModels was refused".into(),
        };
        catalog.insert(eu);
        let text = matrix(&catalog, &["prod-us".to_string()]);
        let row = text.lines().find(|l| l.contains("apexguru-qwen (imported)")).unwrap();
        // Columns in region order: eu-west-1, us-east-1, us-west-2.
        let cells: Vec<&str> = row.split_whitespace().skip(2).collect();
        assert_eq!(cells, vec!["?", "●", "·"], "{text}");
        assert!(
            text.contains("eu-west-1: imported models unknown: ListImportedModels was refused"),
            "{text}"
        );
    }

    #[test]
    fn short_region_names() {
        assert_eq!(short(&Region::parse("us-east-1").unwrap()), "use1");
        assert_eq!(short(&Region::parse("ap-southeast-4").unwrap()), "apse4");
        assert_eq!(short(&Region::parse("ap-south-1").unwrap()), "aps1");
        assert_eq!(short(&Region::parse("ap-northeast-1").unwrap()), "apne1");
        assert_eq!(short(&Region::parse("us-gov-west-1").unwrap()), "usgw1");
    }
}
