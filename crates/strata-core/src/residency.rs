//! Residency: where a tenant's requests may run. A target is allowed only if *every* region it
//! may execute in (its execution set) is allowed — a proof over the set, not a label check.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::region::{slotted_regions, Geography, Region, RegionMask};

/// The regions a request may run in: `{region}` for an in-region model ID, every destination
/// region for an inference profile. Shared, not copied: cloning is a reference count, so every
/// candidate of a profile points at the one set the catalog holds; its [`RegionMask`] is
/// computed once, when the set is made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "BTreeSet<Region>", into = "BTreeSet<Region>")]
pub struct ExecutionSet(Arc<SetInner>);

#[derive(Debug, Default)]
struct SetInner {
    regions: BTreeSet<Region>,
    mask: Option<RegionMask>,
}

impl PartialEq for ExecutionSet {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.regions == other.0.regions
    }
}

impl Eq for ExecutionSet {}

impl std::hash::Hash for ExecutionSet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.regions.hash(state)
    }
}

impl From<BTreeSet<Region>> for ExecutionSet {
    fn from(regions: BTreeSet<Region>) -> Self {
        let mask = RegionMask::of(&regions);
        ExecutionSet(Arc::new(SetInner { regions, mask }))
    }
}

impl From<ExecutionSet> for BTreeSet<Region> {
    fn from(set: ExecutionSet) -> Self {
        set.0.regions.clone()
    }
}

impl std::ops::Deref for ExecutionSet {
    type Target = BTreeSet<Region>;
    fn deref(&self) -> &BTreeSet<Region> {
        &self.0.regions
    }
}

impl FromIterator<Region> for ExecutionSet {
    fn from_iter<I: IntoIterator<Item = Region>>(iter: I) -> Self {
        ExecutionSet::from(iter.into_iter().collect::<BTreeSet<Region>>())
    }
}

impl ExecutionSet {
    pub fn single(region: Region) -> Self {
        ExecutionSet::from(BTreeSet::from([region]))
    }

    pub fn of(regions: impl IntoIterator<Item = Region>) -> Self {
        regions.into_iter().collect()
    }

    /// The set as bits, when every region has a slot.
    pub fn mask(&self) -> Option<RegionMask> {
        self.0.mask
    }

    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.0.regions.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.regions.is_empty()
    }
}

/// One allowed place: a whole geography or a single region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Place {
    Zone(Geography),
    Region(Region),
}

/// Where a tenant's requests may run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResidencyPolicy {
    /// No restriction.
    Any,
    /// Only these zones and regions.
    Only(BTreeSet<Place>),
}

/// A policy entry that is neither `any`, a zone nor a region name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a residency zone (us, eu, apac, jp, au, ca, sa, me, af, us-gov), a region name, or 'any'")]
pub struct PlaceError(pub String);

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Allowed,
    /// The first region of the execution set the policy does not allow.
    Excluded {
        region: Region,
    },
    /// A target with no known execution set is never allowed under a restrictive policy.
    Unknown,
}

impl std::fmt::Display for ResidencyPolicy {
    /// `any`, or the places in brackets: `[eu, us-east-1]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResidencyPolicy::Any => f.write_str("any"),
            ResidencyPolicy::Only(places) => {
                f.write_str("[")?;
                for (i, p) in places.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match p {
                        Place::Zone(g) => f.write_str(g.prefix())?,
                        Place::Region(r) => f.write_str(r.as_str())?,
                    }
                }
                f.write_str("]")
            }
        }
    }
}

impl ResidencyPolicy {
    /// Reads `["eu", "us-east-1"]` or `["any"]`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, PlaceError> {
        let mut places = BTreeSet::new();
        for raw in entries {
            let raw = raw.as_ref().trim();
            if raw == "any" || raw == "*" {
                return Ok(ResidencyPolicy::Any);
            }
            let place = match Geography::from_prefix(raw).filter(|g| *g != Geography::Global) {
                Some(g) => Place::Zone(g),
                None => Place::Region(Region::parse(raw).map_err(|_| PlaceError(raw.to_string()))?),
            };
            places.insert(place);
        }
        Ok(ResidencyPolicy::Only(places))
    }

    /// Whether a single region is allowed. Japan and Australia regions belong to both their
    /// country zone (`jp`, `au`: the regions their profiles cover) and to `apac`.
    pub fn allows_region(&self, region: &Region) -> bool {
        match self {
            ResidencyPolicy::Any => true,
            ResidencyPolicy::Only(places) => places.iter().any(|p| match p {
                Place::Region(r) => r == region,
                Place::Zone(g @ (Geography::Jp | Geography::Au)) => g.covers(region),
                Place::Zone(g) => region.geography() == *g,
            }),
        }
    }

    /// The regions of `regions` this policy does not allow, in order.
    pub fn outside<'a>(&self, regions: impl IntoIterator<Item = &'a Region>) -> Vec<Region> {
        regions
            .into_iter()
            .filter(|r| !self.allows_region(r))
            .cloned()
            .collect()
    }

    /// The regions with a slot that this policy allows, as bits (for checking many sets fast:
    /// a set with a mask is allowed iff it is non-empty and its mask is within this one).
    pub fn allowed_mask(&self) -> RegionMask {
        // Geography coverage is compared against this mask: its regions need their slots first.
        crate::geography::intern_covered_regions();
        let mut bits = 0u128;
        for r in slotted_regions() {
            if let Some(slot) = r.slot() {
                if self.allows_region(&r) {
                    bits |= 1u128 << slot;
                }
            }
        }
        RegionMask(bits)
    }

    /// The residency rule: allowed iff every region of the execution set is allowed.
    pub fn check(&self, execution: &ExecutionSet) -> Verdict {
        if matches!(self, ResidencyPolicy::Any) {
            return Verdict::Allowed;
        }
        if execution.is_empty() {
            return Verdict::Unknown;
        }
        match execution.regions().find(|r| !self.allows_region(r)) {
            Some(region) => Verdict::Excluded { region: region.clone() },
            None => Verdict::Allowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(names: &[&str]) -> ExecutionSet {
        ExecutionSet::of(names.iter().map(|n| Region::parse(n).unwrap()))
    }

    #[test]
    fn a_profile_is_allowed_only_if_every_destination_is() {
        let eu = ResidencyPolicy::parse(&["eu"]).unwrap();
        assert_eq!(eu.check(&regions(&["eu-west-1", "eu-central-1"])), Verdict::Allowed);
        assert_eq!(
            eu.check(&regions(&["eu-west-1", "us-east-1"])),
            Verdict::Excluded {
                region: Region::parse("us-east-1").unwrap()
            }
        );
        assert_eq!(eu.check(&ExecutionSet::of([])), Verdict::Unknown);
        let any = ResidencyPolicy::parse(&["any"]).unwrap();
        assert_eq!(any.check(&regions(&["us-east-1", "ap-south-1"])), Verdict::Allowed);
    }

    #[test]
    fn zones_regions_and_countries() {
        let p = ResidencyPolicy::parse(&["jp", "us-east-1"]).unwrap();
        assert!(p.allows_region(&Region::parse("ap-northeast-3").unwrap()));
        assert!(!p.allows_region(&Region::parse("ap-south-1").unwrap()));
        assert!(p.allows_region(&Region::parse("us-east-1").unwrap()));
        assert!(!p.allows_region(&Region::parse("us-west-2").unwrap()));
        assert!(ResidencyPolicy::parse(&["mars"]).is_err());
        assert!(
            ResidencyPolicy::parse(&["global"]).is_err(),
            "global is a profile prefix, not a place"
        );
        assert_eq!(p.to_string(), "[jp, us-east-1]");
        assert_eq!(ResidencyPolicy::Any.to_string(), "any");
        let au = ResidencyPolicy::parse(&["au"]).unwrap();
        assert!(au.allows_region(&Region::parse("ap-southeast-4").unwrap()));
        assert!(!au.allows_region(&Region::parse("ap-southeast-1").unwrap()));
        let outside = p.outside(&[Region::parse("us-east-1").unwrap(), Region::parse("us-west-2").unwrap()]);
        assert_eq!(outside, vec![Region::parse("us-west-2").unwrap()]);
    }
}
