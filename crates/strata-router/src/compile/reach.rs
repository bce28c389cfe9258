//! Where a candidate may execute, as far as anything can tell, and the residency rule over it:
//! an in-region ID runs in its region; a profile discovery listed runs in its catalog
//! destinations — and, since AWS adds destinations to a geography before the next scan sees
//! them, possibly anywhere in the geography its prefix binds it to; a pinned profile with no
//! catalog data runs somewhere in its geography. Residency is decided here and nowhere else.
//!
//! By default a profile is admitted only when its catalog destinations *and* its whole
//! geography ([`strata_core::geography::COVERAGE`]) lie inside the tenant's policy. A tenant that
//! trusts the catalog ([`DestinationTrust::Catalog`]) is held to the destinations alone.

use serde::Serialize;
use strata_core::ids::profile_geography;
use strata_core::{Coverage, ExecutionSet, Geography, ModelRef, Region, RegionMask, ResidencyPolicy, Verdict};

/// How far a tenant trusts the destination list the catalog holds for a cross-region profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationTrust {
    /// The whole geography the profile is bound to must lie inside the policy: the catalog may
    /// be behind a destination AWS has added since the last scan.
    #[default]
    Geography,
    /// The catalog's destinations alone decide (`trust_catalog_destinations: true`).
    Catalog,
}

impl DestinationTrust {
    /// The trust a tenant's `trust_catalog_destinations` flag asks for.
    pub fn from_flag(trust_catalog_destinations: bool) -> DestinationTrust {
        if trust_catalog_destinations {
            DestinationTrust::Catalog
        } else {
            DestinationTrust::Geography
        }
    }
}

/// The rule that admitted a candidate for a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum AdmittedBy {
    /// An in-region ID: it runs in the one region it is called in.
    #[serde(rename = "in-region")]
    InRegion,
    /// A profile whose whole geography lies inside the policy.
    #[serde(rename = "geography")]
    Geography,
    /// A profile whose catalog destinations lie inside the policy, for a tenant that trusts them.
    #[serde(rename = "catalog")]
    Catalog,
    /// A target whose location is unknown, admitted because the policy is `any`.
    #[serde(rename = "any")]
    Unrestricted,
}

impl AdmittedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            AdmittedBy::InRegion => "in-region",
            AdmittedBy::Geography => "geography",
            AdmittedBy::Catalog => "catalog",
            AdmittedBy::Unrestricted => "any",
        }
    }
}

/// Why residency refuses a candidate. Kept as data (made by the hundred thousand at fleet scale)
/// and put into words only when shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It may run in this region, which the policy does not allow.
    RunsIn(Region),
    /// It has no known execution regions.
    NoRegions,
    /// A listed profile whose destinations are all allowed, but whose geography reaches these
    /// regions outside the policy.
    Geography {
        geography: Geography,
        outside: Vec<Region>,
        policy: String,
    },
    /// A listed `global.` profile: it may run in any commercial region.
    Global { policy: String },
    /// A profile whose prefix names no geography with known coverage. `discovered`: the catalog
    /// lists its destinations (so trusting them would admit it).
    UnknownGeography { discovered: bool, policy: String },
    /// It may run anywhere in this geography (destinations not discovered), which reaches these
    /// regions outside the policy.
    Zone {
        geography: Geography,
        outside: Vec<Region>,
        policy: String,
    },
    /// It may run anywhere.
    Anywhere,
}

const TRUST_HINT: &str = "set trust_catalog_destinations to admit it on its catalog destinations";

fn list(regions: &[Region]) -> String {
    regions.iter().map(Region::as_str).collect::<Vec<_>>().join(", ")
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::RunsIn(region) => write!(f, "may run in {region}, outside the tenant's residency"),
            Refusal::NoRegions => f.write_str("has no known execution regions"),
            Refusal::Geography {
                geography,
                outside,
                policy,
            } => write!(
                f,
                "geography '{}' includes {} outside the policy {policy} (AWS may route there before the catalog lists it); {TRUST_HINT}",
                geography.prefix(),
                list(outside)
            ),
            Refusal::Global { policy } => write!(
                f,
                "geography 'global' includes every commercial region, outside the policy {policy} (only 'any' contains it); {TRUST_HINT}"
            ),
            Refusal::UnknownGeography { discovered, policy } => {
                write!(
                    f,
                    "the profile's geography is unknown (its prefix names no geography Strata knows the regions of), so it may run outside the policy {policy}"
                )?;
                if *discovered {
                    write!(f, "; {TRUST_HINT}")?;
                }
                Ok(())
            }
            Refusal::Zone {
                geography,
                outside,
                policy,
            } => write!(
                f,
                "may run anywhere in the {} geography (destinations not discovered), which includes {} outside the policy {policy}",
                geography.prefix(),
                list(outside)
            ),
            Refusal::Anywhere => f.write_str("may run in any region, outside the tenant's residency"),
        }
    }
}

/// Where a candidate may run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "where", rename_all = "snake_case")]
pub enum Reach {
    /// Exactly these regions: an in-region model ID (or imported model) runs in its region.
    Regions(ExecutionSet),
    /// A cross-region profile discovery listed: its catalog destinations, and the geography its
    /// prefix binds it to (`None`: a prefix of no known geography).
    Profile {
        destinations: ExecutionSet,
        geography: Option<Geography>,
    },
    /// Somewhere in one geography (a pinned `us.`/`eu.`/… profile whose destinations are not in
    /// the catalog).
    Zone(Geography),
    /// Anywhere (a pinned `global.` profile without catalog data, an OpenAI-compatible upstream).
    Anywhere,
}

impl Reach {
    /// A profile discovery listed with these destinations; its geography is read off the ID.
    pub fn profile(profile_id: &str, destinations: ExecutionSet) -> Reach {
        Reach::Profile {
            destinations,
            geography: profile_geography(profile_id),
        }
    }

    /// The best static guess for a model ID called in `region`, when the catalog has nothing.
    pub fn guess(region: &Region, model_id: &str) -> Reach {
        match ModelRef::parse(model_id) {
            Ok(ModelRef::Profile {
                geography: Geography::Global | Geography::Other,
                ..
            }) => Reach::Anywhere,
            Ok(ModelRef::Profile { geography, .. }) => Reach::Zone(geography),
            Ok(ModelRef::Imported { region, .. }) => Reach::Regions(ExecutionSet::single(region)),
            _ => Reach::Regions(ExecutionSet::single(region.clone())),
        }
    }

    /// The residency rule, and which part of it admits the candidate. An exact set passes when
    /// every region is allowed. A listed profile passes when its destinations are allowed and
    /// either its whole geography is (by default) or the tenant trusts the catalog. A zone
    /// passes only if its whole geography is allowed; "anywhere" only under `any`.
    pub fn check(&self, policy: &ResidencyPolicy, trust: DestinationTrust) -> Result<AdmittedBy, Refusal> {
        if matches!(policy, ResidencyPolicy::Any) {
            return Ok(match self {
                Reach::Regions(_) => AdmittedBy::InRegion,
                Reach::Profile { geography, .. } if geography.and_then(Geography::coverage).is_some() => {
                    AdmittedBy::Geography
                }
                Reach::Zone(g) if g.coverage().is_some() => AdmittedBy::Geography,
                _ => AdmittedBy::Unrestricted,
            });
        }
        match self {
            Reach::Regions(set) => match policy.check(set) {
                Verdict::Allowed => Ok(AdmittedBy::InRegion),
                Verdict::Excluded { region } => Err(Refusal::RunsIn(region)),
                Verdict::Unknown => Err(Refusal::NoRegions),
            },
            Reach::Profile {
                destinations,
                geography,
            } => {
                match policy.check(destinations) {
                    Verdict::Allowed => {}
                    Verdict::Excluded { region } => return Err(Refusal::RunsIn(region)),
                    Verdict::Unknown => return Err(Refusal::NoRegions),
                }
                let whole = match geography.and_then(|g| g.coverage().map(|c| (g, c))) {
                    Some((g, Coverage::Regions(_))) => {
                        let outside = policy.outside(g.covered_regions().unwrap_or_default());
                        if outside.is_empty() {
                            return Ok(AdmittedBy::Geography);
                        }
                        Refusal::Geography {
                            geography: g,
                            outside,
                            policy: policy.to_string(),
                        }
                    }
                    Some((_, Coverage::AllCommercial)) => Refusal::Global {
                        policy: policy.to_string(),
                    },
                    None => Refusal::UnknownGeography {
                        discovered: true,
                        policy: policy.to_string(),
                    },
                };
                match trust {
                    DestinationTrust::Catalog => Ok(AdmittedBy::Catalog),
                    DestinationTrust::Geography => Err(whole),
                }
            }
            Reach::Zone(zone) => match zone.coverage() {
                Some(Coverage::Regions(_)) => {
                    let outside = policy.outside(zone.covered_regions().unwrap_or_default());
                    if outside.is_empty() {
                        Ok(AdmittedBy::Geography)
                    } else {
                        Err(Refusal::Zone {
                            geography: *zone,
                            outside,
                            policy: policy.to_string(),
                        })
                    }
                }
                Some(Coverage::AllCommercial) => Err(Refusal::Anywhere),
                None => Err(Refusal::UnknownGeography {
                    discovered: false,
                    policy: policy.to_string(),
                }),
            },
            Reach::Anywhere => Err(Refusal::Anywhere),
        }
    }

    /// Whether the policy admits this reach, without saying why not (no allocation). `mask` is
    /// the policy's [`crate::policy_mask`]: exact sets and known geographies are decided by bits,
    /// the rest by [`Reach::check`] — the same rule, as the property tests check.
    pub fn admits(&self, policy: &ResidencyPolicy, mask: Option<RegionMask>, trust: DestinationTrust) -> bool {
        let Some(mask) = mask else {
            return true;
        };
        let fast = match self {
            Reach::Regions(set) if !set.is_empty() => set.mask().map(|bits| bits.within(mask)),
            Reach::Profile {
                destinations,
                geography,
            } if !destinations.is_empty() => destinations.mask().and_then(|bits| {
                if !bits.within(mask) {
                    return Some(false);
                }
                if trust == DestinationTrust::Catalog {
                    return Some(true);
                }
                match geography.and_then(Geography::coverage) {
                    Some(Coverage::Regions(_)) => geography
                        .and_then(Geography::covered_mask)
                        .map(|whole| whole.within(mask)),
                    _ => Some(false),
                }
            }),
            _ => None,
        };
        fast.unwrap_or_else(|| self.check(policy, trust).is_ok())
    }

    /// The regions it is known to run in, when known exactly (a profile's catalog destinations).
    pub fn regions(&self) -> Option<&ExecutionSet> {
        match self {
            Reach::Regions(set) => Some(set),
            Reach::Profile { destinations, .. } => Some(destinations),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
