//! Where a candidate may execute, as far as anything can tell: an exact execution set (in-region
//! IDs, and profiles whose destinations discovery listed) or, for a pinned profile with no catalog
//! data, only its geography. Residency is decided here and nowhere else.

use serde::Serialize;
use strata_core::residency::Place;
use strata_core::{ExecutionSet, Geography, ModelRef, Region, ResidencyPolicy, Verdict};

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
    pub fn check(&self, policy: &ResidencyPolicy) -> Result<(), String> {
        let ResidencyPolicy::Only(places) = policy else {
            return Ok(());
        };
        match self {
            Reach::Regions(set) => match policy.check(set) {
                Verdict::Allowed => Ok(()),
                Verdict::Excluded { region } => Err(format!("may run in {region}, outside the tenant's residency")),
                Verdict::Unknown => Err("has no known execution regions".to_string()),
            },
            Reach::Zone(zone) => {
                let inside = places.contains(&Place::Zone(*zone))
                    || (matches!(zone, Geography::Jp | Geography::Au)
                        && places.contains(&Place::Zone(Geography::Apac)));
                if inside {
                    Ok(())
                } else {
                    Err(format!(
                        "may run anywhere in the {} geography (destinations not discovered), outside the tenant's residency",
                        zone.prefix()
                    ))
                }
            }
            Reach::Anywhere => Err("may run in any region, outside the tenant's residency".to_string()),
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
