//! Where a candidate may execute, as far as anything can tell: an exact execution set (in-region
//! IDs, and profiles whose destinations discovery listed) or, for a pinned profile with no catalog
//! data, only its geography. Residency is decided here and nowhere else.

use serde::Serialize;
use strata_core::residency::Place;
use strata_core::{ExecutionSet, Geography, ModelRef, Region, RegionMask, ResidencyPolicy, Verdict};

/// Why residency refuses a candidate. Kept as data (made by the hundred thousand at fleet scale)
/// and put into words only when shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It may run in this region, which the policy does not allow.
    RunsIn(Region),
    /// It has no known execution regions.
    NoRegions,
    /// It may run anywhere in this geography (destinations not discovered).
    Zone(Geography),
    /// It may run anywhere.
    Anywhere,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::RunsIn(region) => write!(f, "may run in {region}, outside the tenant's residency"),
            Refusal::NoRegions => f.write_str("has no known execution regions"),
            Refusal::Zone(zone) => write!(
                f,
                "may run anywhere in the {} geography (destinations not discovered), outside the tenant's residency",
                zone.prefix()
            ),
            Refusal::Anywhere => f.write_str("may run in any region, outside the tenant's residency"),
        }
    }
}

/// Where a candidate may run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "where", rename_all = "snake_case")]
pub enum Reach {
    /// Exactly these regions.
    Regions(ExecutionSet),
    /// Somewhere in one geography (a pinned `us.`/`eu.`/… profile whose destinations are not in
    /// the catalog).
    Zone(Geography),
    /// Anywhere (a pinned `global.` profile without catalog data, an OpenAI-compatible upstream).
    Anywhere,
}

impl Reach {
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

    /// The residency rule: every region the candidate may run in must be allowed. A zone passes
    /// only if the policy allows that whole zone; "anywhere" only under `any`.
    pub fn check(&self, policy: &ResidencyPolicy) -> Result<(), Refusal> {
        let ResidencyPolicy::Only(places) = policy else {
            return Ok(());
        };
        match self {
            Reach::Regions(set) => match policy.check(set) {
                Verdict::Allowed => Ok(()),
                Verdict::Excluded { region } => Err(Refusal::RunsIn(region)),
                Verdict::Unknown => Err(Refusal::NoRegions),
            },
            Reach::Zone(zone) => {
                let inside = places.contains(&Place::Zone(*zone))
                    || (matches!(zone, Geography::Jp | Geography::Au)
                        && places.contains(&Place::Zone(Geography::Apac)));
                if inside {
                    Ok(())
                } else {
                    Err(Refusal::Zone(*zone))
                }
            }
            Reach::Anywhere => Err(Refusal::Anywhere),
        }
    }

    /// Whether the policy admits this reach, without saying why not (no allocation). `mask` is
    /// the policy's [`crate::policy_mask`]: an exact set is decided by bits, the rest by
    /// [`Reach::check`] — the same rule, as the property tests check.
    pub fn admits(&self, policy: &ResidencyPolicy, mask: Option<RegionMask>) -> bool {
        let Some(mask) = mask else {
            return true;
        };
        match self {
            Reach::Regions(set) if !set.is_empty() => match set.mask() {
                Some(bits) => bits.within(mask),
                None => self.check(policy).is_ok(),
            },
            _ => self.check(policy).is_ok(),
        }
    }

    /// The exact regions, when known.
    pub fn regions(&self) -> Option<&ExecutionSet> {
        match self {
            Reach::Regions(set) => Some(set),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str) -> Region {
        Region::parse(name).unwrap()
    }

    #[test]
    fn residency_over_guessed_reach() {
        let eu = ResidencyPolicy::parse(&["eu"]).unwrap();
        let apac = ResidencyPolicy::parse(&["apac"]).unwrap();
        let west1 = ResidencyPolicy::parse(&["eu-west-1"]).unwrap();
        let any = ResidencyPolicy::parse(&["any"]).unwrap();
        let r = region("eu-west-1");
        let eu_profile = Reach::guess(&r, "eu.anthropic.claude-sonnet-4-20250514-v1:0");
        let in_region = Reach::guess(&r, "amazon.nova-pro-v1:0");
        let global = Reach::guess(&r, "global.anthropic.claude-sonnet-4-5-20250929-v1:0");
        let jp = Reach::guess(&region("ap-northeast-1"), "jp.anthropic.claude-haiku-4-5-20251001-v1:0");
        assert!(eu_profile.check(&eu).is_ok() && in_region.check(&eu).is_ok());
        assert!(global.check(&eu).is_err() && global.check(&any).is_ok());
        assert!(in_region.check(&west1).is_ok());
        assert!(
            eu_profile.check(&west1).is_err(),
            "destinations unknown: not provably inside eu-west-1"
        );
        assert!(jp.check(&apac).is_ok());
        assert!(Reach::guess(&region("us-east-1"), "us.amazon.nova-pro-v1:0")
            .check(&eu)
            .is_err());
    }
}
