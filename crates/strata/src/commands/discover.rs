//! `strata discover`: one scan of every account × region, printed as an availability matrix
//! (model × region per account, imported models in rows of their own, a line on each region's
//! Service Quotas; every quota with `--quotas`) or as the catalog's JSON.

use std::collections::BTreeSet;
use std::fmt::Write;

use clap::Args;
use strata_core::{Catalog, Freshness, Quotas, Region};

use super::scan::{load, CatalogArgs};

#[derive(Args, Debug)]
pub struct DiscoverArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// Print the catalog as JSON (the same shape as the gateway's cache file).
    #[arg(long)]
    pub json: bool,
    /// Also print every Service Quotas quota per account × region (requests and tokens per
    /// minute per model or profile, with codes), and the config's `quotas:` overrides.
    #[arg(long)]
    pub quotas: bool,
}

pub fn run(args: DiscoverArgs) -> anyhow::Result<()> {
    let scanned = load(&args.catalog, !args.json)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&*scanned.catalog)?);
        return Ok(());
    }
    let accounts: Vec<String> = scanned.config.accounts.iter().map(|a| a.name.clone()).collect();
    print!("{}", matrix(&scanned.catalog, &accounts));
    if args.quotas {
        let overrides: Vec<Override> = scanned
            .config
            .quotas
            .iter()
            .map(|o| Override {
                account: scanned.config.accounts[o.account].name.clone(),
                region: o.region.clone(),
                model: o.model_id.clone(),
                rpm: o.rpm,
                tpm: o.tpm,
            })
            .collect();
        print!("{}", quota_detail(&scanned.catalog, &accounts, &overrides));
    }
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
        for s in scans.iter().filter(|s| s.has_data()) {
            let _ = writeln!(out, "  {}", quota_summary(s));
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

/// One region's quotas in a line: how many models and profiles have one, and those not mapped.
fn quota_summary(scan: &strata_core::RegionScan) -> String {
    match &scan.quotas {
        Quotas::Unknown { reason } => format!("quotas {}: unknown: {reason}", scan.region),
        Quotas::Listed { by_id, unmatched } => {
            let profiles = by_id.keys().filter(|id| scan.profiles.contains_key(*id)).count();
            let no_rpm = by_id.values().filter(|q| q.rpm.is_none()).count();
            let mut line = format!(
                "quotas {}: {} models, {profiles} profiles",
                scan.region,
                by_id.len() - profiles
            );
            if no_rpm > 0 {
                let _ = write!(line, ", {no_rpm} without requests per minute");
            }
            if !unmatched.is_empty() {
                let _ = write!(line, ", {} not mapped to a model", unmatched.len());
            }
            line
        }
    }
}

/// A config `quotas:` entry, by account name.
pub struct Override {
    pub account: String,
    pub region: Region,
    pub model: String,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

/// Every quota per account × region: model or profile, requests and tokens per minute, codes;
/// the quotas not mapped to a model by name; the config's overrides.
pub fn quota_detail(catalog: &Catalog, accounts: &[String], overrides: &[Override]) -> String {
    let show = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let mut out = String::new();
    for account in accounts {
        for s in catalog.scans_of(account).filter(|s| s.has_data()) {
            let _ = writeln!(out, "\nquotas {account}/{}", s.region);
            match &s.quotas {
                Quotas::Unknown { reason } => {
                    let _ = writeln!(out, "  unknown: {reason}");
                }
                Quotas::Listed { by_id, unmatched } => {
                    let width = by_id.keys().map(String::len).max().unwrap_or(5).max(5);
                    let _ = writeln!(out, "  {:width$}  {:>10}  {:>12}  codes", "model", "rpm", "tpm");
                    for (id, q) in by_id {
                        let codes: Vec<&str> = [&q.rpm_code, &q.tpm_code]
                            .into_iter()
                            .flatten()
                            .map(String::as_str)
                            .collect();
                        let _ = writeln!(
                            out,
                            "  {id:width$}  {:>10}  {:>12}  {}",
                            show(q.rpm),
                            show(q.tpm),
                            codes.join(" ")
                        );
                    }
                    for (name, q) in unmatched {
                        let _ = writeln!(out, "  not mapped: {name} = {} ({})", q.value, q.code);
                    }
                }
            }
            for o in overrides
                .iter()
                .filter(|o| o.account == *account && o.region == s.region)
            {
                let _ = writeln!(
                    out,
                    "  config: {} rpm {} tpm {} (overrides what is listed)",
                    o.model,
                    show(o.rpm),
                    show(o.tpm)
                );
            }
        }
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
    fn quotas_are_summed_up_per_region_and_listed_on_request() {
        use std::collections::BTreeMap;
        use strata_core::{QuotaEntry, RegionScan, UnmatchedQuota};
        let mut s = RegionScan::missing("prod-us", Region::parse("us-east-1").unwrap(), 0, String::new());
        s.freshness = Freshness::Fresh;
        s.quotas = Quotas::Listed {
            by_id: BTreeMap::from([(
                "m.one".to_string(),
                QuotaEntry {
                    rpm: None,
                    tpm: Some(4000),
                    rpm_code: None,
                    tpm_code: Some("L-12345678".into()),
                },
            )]),
            unmatched: BTreeMap::from([(
                "Other quota".to_string(),
                UnmatchedQuota {
                    code: "L-0".into(),
                    value: 3,
                },
            )]),
        };
        let mut eu = RegionScan::missing("prod-us", Region::parse("eu-west-1").unwrap(), 0, String::new());
        eu.freshness = Freshness::Fresh;
        let mut catalog = Catalog::default();
        catalog.insert(s);
        catalog.insert(eu);
        let accounts = ["prod-us".to_string()];
        let text = matrix(&catalog, &accounts);
        assert!(
            text.contains(
                "quotas us-east-1: 1 models, 0 profiles, 1 without requests per minute, 1 not mapped to a model"
            ),
            "{text}"
        );
        assert!(text.contains("quotas eu-west-1: unknown: not listed yet"), "{text}");
        let overrides = [Override {
            account: "prod-us".into(),
            region: Region::parse("us-east-1").unwrap(),
            model: "m.one".into(),
            rpm: Some(9),
            tpm: None,
        }];
        let detail = quota_detail(&catalog, &accounts, &overrides);
        let row = detail.lines().find(|l| l.trim_start().starts_with("m.one")).unwrap();
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            vec!["m.one", "-", "4000", "L-12345678"]
        );
        assert!(detail.contains("not mapped: Other quota = 3 (L-0)"), "{detail}");
        assert!(detail.contains("config: m.one rpm 9 tpm -"), "{detail}");
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
