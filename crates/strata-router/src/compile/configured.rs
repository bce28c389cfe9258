//! Targets written in config (pinned deployments, baseline targets) held against the catalog —
//! the one check behind both route compilation and `strata check`.
//!
//! [`verify_configured`] gathers everything the catalog says about one target as typed
//! [`Problem`]s; each consumer reads its own rule off them. Routing is lenient: these targets
//! are the operator's word, and the baseline must work precisely when catalog data is wrong or
//! absent, so a target is left out only when the catalog *knows* access is missing in a region
//! it runs in ([`Problem::excludes`]). `strata check` is strict: it reports every problem up to
//! the first one after which nothing more can be verified ([`TargetVerdict::findings`]), each with a
//! [`Severity`]. Whatever routing leaves out, `strata check` reports as an error.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use strata_core::{AccessState, Catalog, Freshness, ModelRef, Region};

use super::{Candidate, Exclusion, Layer, Origin, Reach};

/// How bad a finding of `strata check` is: errors make it fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// What is wrong with a configured target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The called region is not among the regions discovery scans.
    RegionNotScanned,
    /// The account has no successful scan of the called region yet.
    NotScannedYet,
    /// The profile is not listed (by ListInferenceProfiles) in the called region.
    ProfileNotListed,
    /// The model is not offered in the called region.
    NotOffered,
    /// The model is offered in the called region, but not on demand.
    NotOnDemand,
    /// The catalog says the account may not invoke the model in `region`. `in_reach`: the
    /// region is one the target is known to run in (the called region of an exact reach, or a
    /// destination the catalog lists), so routing leaves the target out.
    AccessDenied { region: Region, in_reach: bool },
    /// Whether the account may invoke the model in `region` is not known.
    AccessUnknown { region: Region },
    /// An imported model's ARN names another region than the one called (it runs only there).
    ImportedElsewhere { home: Region },
    /// The imported model is not listed (by ListImportedModels) in the called region.
    ImportedNotListed,
    /// The account's imported models in the called region could not be listed.
    ImportedUnknown,
}

/// One problem of a configured target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    /// What is wrong, in words (for access, the catalog's own words). `Display` adds what to do.
    pub message: String,
}

impl Problem {
    fn new(kind: ProblemKind, message: String) -> Problem {
        Problem { kind, message }
    }

    /// Whether route compilation leaves the target out for it.
    pub fn excludes(&self) -> bool {
        match &self.kind {
            ProblemKind::NotOffered | ProblemKind::ImportedElsewhere { .. } | ProblemKind::ImportedNotListed => true,
            ProblemKind::AccessDenied { in_reach, .. } => *in_reach,
            _ => false,
        }
    }

    /// How `strata check` rates it.
    pub fn severity(&self) -> Severity {
        match &self.kind {
            ProblemKind::NotScannedYet | ProblemKind::AccessUnknown { .. } | ProblemKind::ImportedUnknown => {
                Severity::Warning
            }
            _ => Severity::Error,
        }
    }

    /// Nothing more about the target can be verified after it (so `strata check` says no more).
    fn ends_verification(&self) -> bool {
        !matches!(
            self.kind,
            ProblemKind::AccessDenied { .. } | ProblemKind::AccessUnknown { .. }
        )
    }
}

impl fmt::Display for Problem {
    /// The problem as `strata check` shows it: what is wrong and what to do.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ProblemKind::AccessDenied { .. } => write!(
                f,
                "{} — grant model access there (profiles need access in every destination region)",
                self.message
            ),
            ProblemKind::AccessUnknown { region } => write!(f, "cannot verify access in {region}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// A configured target as the catalog sees it: the facts a candidate needs, and its problems in
/// the order they were found (the called region, then its listing, then access region by region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetVerdict {
    pub account: Arc<str>,
    /// The region the call is sent to.
    pub region: Region,
    pub model_id: Arc<str>,
    pub layer: Layer,
    /// From the catalog when it lists the profile with destinations, else a guess from the ID.
    pub reach: Reach,
    /// The catalog data behind it comes from a scan that has since failed.
    pub stale: bool,
    pub problems: Vec<Problem>,
}

impl TargetVerdict {
    /// The problem route compilation leaves the target out for, if any.
    pub fn exclusion(&self) -> Option<&Problem> {
        self.problems.iter().find(|p| p.excludes())
    }

    /// The problems `strata check` reports: in order, up to the first after which nothing more
    /// can be verified.
    pub fn findings(&self) -> impl Iterator<Item = &Problem> {
        let end = self
            .problems
            .iter()
            .position(Problem::ends_verification)
            .map_or(self.problems.len(), |i| i + 1);
        self.problems[..end].iter()
    }

    /// The target as a route candidate (weight 1, priority 0), or why routing leaves it out.
    pub fn into_candidate(self, origin: Origin) -> Result<Candidate, Exclusion> {
        if let Some(p) = self.exclusion() {
            return Err(Exclusion {
                reason: format!("catalog says: {}", p.message),
                account: self.account,
                region: self.region,
                model_id: self.model_id,
            });
        }
        Ok(Candidate {
            account: self.account,
            region: self.region,
            model_id: self.model_id,
            layer: self.layer,
            reach: self.reach,
            weight: 1,
            priority: 0,
            origin,
            stale: self.stale,
        })
    }
}

/// Holds a target written in config (`account` calls `model_id` in `region`) against the catalog.
/// `scanned` are the regions discovery scans. A target must be scanned, listed (a profile in its
/// source region; a model on demand in its region; an imported model in its own region) and
/// invocable in every region it may run in.
pub fn verify_configured(
    catalog: &Catalog,
    scanned: &[Region],
    account: &str,
    region: &Region,
    model_id: &str,
) -> TargetVerdict {
    let mut problems = Vec::new();
    if !scanned.contains(region) {
        problems.push(Problem::new(
            ProblemKind::RegionNotScanned,
            format!("{region} is not in discovery.regions: add it so the target can be verified"),
        ));
    }
    let scan = catalog.scan(account, region).filter(|s| s.has_data());
    if scan.is_none() {
        problems.push(Problem::new(
            ProblemKind::NotScannedYet,
            format!("no successful scan of {account}/{region} yet: cannot verify"),
        ));
    }
    let listed = scan.and_then(|s| s.profiles.get(model_id));
    let reach = match listed {
        Some(p) if !p.destinations.is_empty() => Reach::profile(model_id, p.destinations.clone()),
        _ => Reach::guess(region, model_id),
    };
    let parsed = ModelRef::parse(model_id).ok();
    let foundation = parsed
        .as_ref()
        .and_then(|m| m.foundation_model_id().map(str::to_string));
    // The regions whose access is checked: the called region, and a profile's destinations.
    let mut regions: Vec<&Region> = Vec::new();
    if let Some(foundation) = &foundation {
        if let Some(ModelRef::Profile { .. }) = parsed {
            match listed {
                Some(p) => {
                    regions.push(region);
                    regions.extend(p.destinations.iter());
                }
                None if scan.is_some() => problems.push(Problem::new(
                    ProblemKind::ProfileNotListed,
                    format!(
                        "profile {model_id} is not callable from {region} (not listed by ListInferenceProfiles there)"
                    ),
                )),
                None => {}
            }
        } else {
            match scan.map(|s| s.models.get(foundation)) {
                // The catalog's access state says the same ("… is not offered in …").
                Some(None) => problems.push(Problem::new(
                    ProblemKind::NotOffered,
                    format!("{foundation} is not offered in {region}"),
                )),
                Some(Some(m)) if !m.on_demand() => {
                    problems.push(Problem::new(
                        ProblemKind::NotOnDemand,
                        format!("{foundation} cannot be called on demand in {region}; use an inference profile ID"),
                    ));
                    regions.push(region);
                }
                _ => regions.push(region),
            }
        }
        let exact = reach.regions();
        for r in regions {
            match catalog.access(account, r, foundation) {
                AccessState::Granted => {}
                AccessState::Denied(why) => {
                    let in_reach = exact.is_some_and(|set| r == region || set.regions().any(|x| x == r));
                    problems.push(Problem::new(
                        ProblemKind::AccessDenied {
                            region: r.clone(),
                            in_reach,
                        },
                        why,
                    ));
                }
                AccessState::Unknown(why) => {
                    problems.push(Problem::new(ProblemKind::AccessUnknown { region: r.clone() }, why))
                }
            }
        }
    }
    if let Some(ModelRef::Imported { region: home, .. }) = &parsed {
        if home != region {
            problems.push(Problem::new(
                ProblemKind::ImportedElsewhere { home: home.clone() },
                format!(
                    "imported model {model_id} lives in {home}, not {region}: an imported model runs only in its own region, so call it there"
                ),
            ));
        } else if let Some(scan) = scan {
            match (scan.imported.models(), scan.imported.unknown()) {
                (Some(listed), _) if listed.contains_key(model_id) => {}
                (Some(_), _) => problems.push(Problem::new(
                    ProblemKind::ImportedNotListed,
                    format!(
                        "imported model {model_id} is not listed in {account}/{region} (deleted, or imported by another account)"
                    ),
                )),
                (None, reason) => problems.push(Problem::new(
                    ProblemKind::ImportedUnknown,
                    format!(
                        "cannot verify imported model {model_id}: the imported models of {account} in {region} are unknown ({})",
                        reason.unwrap_or("not listed")
                    ),
                )),
            }
        }
    }
    let stale = catalog
        .scan(account, region)
        .is_some_and(|s| !matches!(s.freshness, Freshness::Fresh));
    TargetVerdict {
        account: Arc::from(account),
        region: region.clone(),
        model_id: Arc::from(model_id),
        layer: Layer::of(model_id),
        reach,
        stale,
        problems,
    }
}

#[cfg(test)]
mod tests;
