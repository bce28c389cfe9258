//! `strata check`: the config held against the catalog, with findings a person can act on —
//! accounts whose scans fail, regions that are not scanned, models no account offers, pinned
//! profiles whose destinations lack access, tenants left with no allowed candidate, and
//! baseline targets that are not invocable. Pinned and baseline targets are judged by
//! [`strata_router::verify_configured`], the same verdict route compilation uses.

use serde::Serialize;
use strata_core::{Catalog, Freshness, Region};
pub use strata_router::Severity;

use strata_router::{Intent, IntentModel};

use crate::config::{Config, Target};
use crate::routes::report::residency_text;
use crate::routes::RouteTable;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Where in the config (`models[0] (claude)`, `baseline.eu[1]`, `accounts: prod-eu`).
    pub at: String,
    pub message: String,
}

fn error(at: impl Into<String>, message: impl Into<String>) -> Finding {
    Finding {
        severity: Severity::Error,
        at: at.into(),
        message: message.into(),
    }
}

fn warning(at: impl Into<String>, message: impl Into<String>) -> Finding {
    Finding {
        severity: Severity::Warning,
        at: at.into(),
        message: message.into(),
    }
}

/// Every finding, errors first.
pub fn check(config: &Config, catalog: &Catalog, table: &RouteTable) -> Vec<Finding> {
    let mut out = Vec::new();
    let scanned_regions = config.discovery.regions();
    for a in &config.accounts {
        let scans: Vec<_> = catalog.scans_of(&a.name).collect();
        let failed: Vec<_> = scans
            .iter()
            .filter(|s| !matches!(s.freshness, Freshness::Fresh))
            .collect();
        if scans.is_empty() {
            out.push(error(
                format!("accounts: {}", a.name),
                "never scanned (is discovery enabled?)",
            ));
        } else if failed.len() == scans.len() {
            let why = match &failed[0].freshness {
                Freshness::Stale { error, .. } | Freshness::Missing { error, .. } => error.clone(),
                Freshness::Fresh => String::new(),
            };
            out.push(error(
                format!("accounts: {}", a.name),
                format!("every region scan failed; check its credentials and role: {why}"),
            ));
        } else {
            for s in failed {
                if let Freshness::Stale { error: e, .. } | Freshness::Missing { error: e, .. } = &s.freshness {
                    out.push(warning(
                        format!("accounts: {}", a.name),
                        format!("scan of {} failed ({e}); its last good data is used", s.region),
                    ));
                }
            }
        }
    }
    for (mi, m) in config.models.iter().enumerate() {
        let at = format!("models[{mi}] ({})", m.name);
        if let Some(intent) = &m.intent {
            out.extend(intent_offered(catalog, &intent.intent, &at));
            for r in intent.intent.regions.iter().flatten() {
                if !scanned_regions.contains(r) {
                    out.push(error(
                        format!("{at}.discover.regions"),
                        format!("{r} is not in discovery.regions, so nothing is known about it"),
                    ));
                }
            }
        }
        for (di, d) in m.deployments.iter().enumerate() {
            if let Target::Bedrock {
                account,
                region,
                model_id,
            } = &d.target
            {
                let name = &config.accounts[*account].name;
                let at = format!("{at}.deployments[{di}]");
                report_target(catalog, &scanned_regions, name, region, model_id, &at, &mut out);
            }
        }
        let compiled = &table.models[mi];
        if compiled.routes.is_empty() && compiled.baseline.is_empty() {
            out.push(error(&at, "has no candidate at all".to_string()));
        }
        for (ti, t) in config.tenants.iter().enumerate() {
            if !t.may_use(mi) {
                continue;
            }
            let view = &compiled.tenants[ti];
            if view.allowed.is_empty() {
                let severity_error = view.baseline.is_empty();
                let mut why: Vec<String> = view
                    .excluded()
                    .iter()
                    .take(3)
                    .map(|e| format!("{}: {}", e.target, e.reason))
                    .collect();
                if why.is_empty() {
                    why.push("the model has no candidates".into());
                }
                let message = format!(
                    "tenant '{}' (residency {}) may use '{}' but no candidate is allowed{}; e.g. {}",
                    t.name,
                    residency_text(&t.residency),
                    m.name,
                    if severity_error {
                        ""
                    } else {
                        " (only the baseline would serve it)"
                    },
                    why.join("; ")
                );
                out.push(if severity_error {
                    error(format!("tenants[{ti}] ({})", t.name), message)
                } else {
                    warning(format!("tenants[{ti}] ({})", t.name), message)
                });
            }
        }
    }
    for b in &config.baseline {
        let name = &config.accounts[b.account].name;
        let at = format!("baseline.{} ({name}/{}/{})", b.geography, b.region, b.model_id);
        // What routing leaves out of the baseline is always among these findings, as an error.
        report_target(catalog, &scanned_regions, name, &b.region, &b.model_id, &at, &mut out);
    }
    out.sort_by_key(|f| f.severity != Severity::Error);
    out
}

/// Whether any scanned region of the intent's accounts offers what it runs: a foundation model
/// listed, or an imported model of its name listed. `None` when it is offered somewhere.
fn intent_offered(catalog: &Catalog, intent: &Intent, at: &str) -> Option<Finding> {
    let scans = || {
        intent
            .accounts
            .iter()
            .flat_map(|share| catalog.scans_of(&share.account))
    };
    match &intent.model {
        IntentModel::Foundation(id) => (!scans().any(|s| s.models.contains_key(id))).then(|| {
            error(
                format!("{at}.discover.model"),
                format!("'{id}' is not offered in any scanned region of its accounts (a typo, or a model not launched there yet)"),
            )
        }),
        IntentModel::Imported(name) => {
            if scans().any(|s| s.has_data() && s.imported.named(name).next().is_some()) {
                return None;
            }
            let unknown: Vec<String> = scans()
                .filter(|s| s.has_data() && s.imported.unknown().is_some())
                .map(|s| format!("{}/{}", s.account, s.region))
                .collect();
            let at = format!("{at}.discover.imported_model");
            Some(if unknown.is_empty() {
                error(
                    at,
                    format!(
                        "no imported model named '{name}' is listed in any scanned region of its accounts (a typo, an import not finished, or one in a region discovery does not scan)"
                    ),
                )
            } else {
                warning(
                    at,
                    format!(
                        "no imported model named '{name}' is listed where the imported models are known; they are unknown in {} (ListImportedModels refused?)",
                        unknown.join(", ")
                    ),
                )
            })
        }
    }
}

/// A configured (account, region, model) must be scanned, offered and invocable — for a
/// profile, in its source region and every destination.
fn report_target(
    catalog: &Catalog,
    scanned: &[Region],
    account: &str,
    region: &Region,
    model_id: &str,
    at: &str,
    out: &mut Vec<Finding>,
) {
    let verdict = strata_router::verify_configured(catalog, scanned, account, region, model_id);
    out.extend(verdict.findings().map(|p| Finding {
        severity: p.severity(),
        at: at.to_string(),
        message: p.to_string(),
    }));
}
