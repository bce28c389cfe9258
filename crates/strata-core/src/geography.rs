//! Geographies: the prefixes of cross-region inference profiles (`eu.`, `jp.`, `global.`), the
//! zones a residency policy names, and — in one table, [`COVERAGE`] — the regions AWS may route
//! a geography's profiles to.
//!
//! Why a table at all: a profile's destination list (what discovery last saw) grows when AWS adds
//! a region to the geography, so the catalog can be behind. Residency therefore holds a profile
//! to the whole geography it is bound to, unless a tenant opts in to trusting the catalog.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::region::{Region, RegionMask};

/// A geography: the prefix of a cross-region inference profile and a residency zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Geography {
    Us,
    UsGov,
    Ca,
    Eu,
    Apac,
    Jp,
    Au,
    Sa,
    Me,
    Af,
    Global,
    Other,
}

/// The regions a geography's profiles may run in: the geography as AWS documents it, not the
/// destinations one profile lists today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Any of these regions.
    Regions(&'static [&'static str]),
    /// Every commercial region, including those AWS opens later: no list bounds it, so only a
    /// policy of `any` contains it.
    AllCommercial,
}

/// Where each geography's profiles may run. Geographies missing here (`sa`, `me`, `af`) have no
/// profiles AWS documents; a profile with such a prefix has an unknown geography.
///
/// Sources, checked 2026-11: the Bedrock user guide ("Supported Regions and models for inference
/// profiles": the destinations of global profiles "include all commercial Regions"; "Regional
/// availability by endpoints" for the region names), and the AWS CDK's
/// `CrossRegionInferenceProfileRegion` (aws-bedrock-alpha), which lists per geography every
/// region a profile "might include" — notably the UAE (`me-central-1`) in APAC. Add a region here
/// when AWS adds it to a geography: until then only the catalog's destination check covers it.
pub const COVERAGE: &[(Geography, Coverage)] = &[
    (
        Geography::Us,
        Coverage::Regions(&["us-east-1", "us-east-2", "us-west-1", "us-west-2"]),
    ),
    (Geography::UsGov, Coverage::Regions(&["us-gov-east-1", "us-gov-west-1"])),
    (Geography::Ca, Coverage::Regions(&["ca-central-1", "ca-west-1"])),
    (
        Geography::Eu,
        Coverage::Regions(&[
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
        ]),
    ),
    (
        Geography::Apac,
        Coverage::Regions(&[
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-7",
            "me-central-1",
        ]),
    ),
    (Geography::Jp, Coverage::Regions(&["ap-northeast-1", "ap-northeast-3"])),
    (Geography::Au, Coverage::Regions(&["ap-southeast-2", "ap-southeast-4"])),
    (Geography::Global, Coverage::AllCommercial),
];

/// [`COVERAGE`] parsed once: each listed geography's regions and their mask.
struct Covered {
    geography: Geography,
    regions: Vec<Region>,
    mask: Option<RegionMask>,
}

fn covered() -> &'static [Covered] {
    static TABLE: OnceLock<Vec<Covered>> = OnceLock::new();
    TABLE.get_or_init(|| {
        COVERAGE
            .iter()
            .filter_map(|(geography, coverage)| match coverage {
                Coverage::Regions(names) => {
                    let regions: Vec<Region> = names.iter().filter_map(|n| Region::parse(n).ok()).collect();
                    let mask = RegionMask::of(&regions);
                    Some(Covered {
                        geography: *geography,
                        regions,
                        mask,
                    })
                }
                Coverage::AllCommercial => None,
            })
            .collect()
    })
}

/// Interns every region of [`COVERAGE`], so each has its mask slot before any policy's mask is
/// built (a region interned later would be missing from that mask, and refused).
pub fn intern_covered_regions() {
    covered();
}

impl Geography {
    /// The profile ID prefix for this geography (`us`, `eu`, `global`, …).
    pub fn prefix(self) -> &'static str {
        match self {
            Geography::Us => "us",
            Geography::UsGov => "us-gov",
            Geography::Ca => "ca",
            Geography::Eu => "eu",
            Geography::Apac => "apac",
            Geography::Jp => "jp",
            Geography::Au => "au",
            Geography::Sa => "sa",
            Geography::Me => "me",
            Geography::Af => "af",
            Geography::Global => "global",
            Geography::Other => "other",
        }
    }

    /// Reads a profile prefix such as `eu` or `global`.
    pub fn from_prefix(prefix: &str) -> Option<Geography> {
        Some(match prefix {
            "us" => Geography::Us,
            "us-gov" => Geography::UsGov,
            "ca" => Geography::Ca,
            "eu" => Geography::Eu,
            "apac" => Geography::Apac,
            "jp" => Geography::Jp,
            "au" => Geography::Au,
            "sa" => Geography::Sa,
            "me" => Geography::Me,
            "af" => Geography::Af,
            "global" => Geography::Global,
            _ => return None,
        })
    }

    /// The geography a region sits in. Japan and Australia are APAC regions; their own
    /// country profiles (`jp.`, `au.`) are a narrower choice made by the profile, not the region.
    pub fn of_region(region: &str) -> Geography {
        if region.starts_with("us-gov-") {
            Geography::UsGov
        } else if region.starts_with("us-") {
            Geography::Us
        } else if region.starts_with("ca-") {
            Geography::Ca
        } else if region.starts_with("eu-") {
            Geography::Eu
        } else if region.starts_with("ap-") {
            Geography::Apac
        } else if region.starts_with("sa-") {
            Geography::Sa
        } else if region.starts_with("me-") || region.starts_with("il-") {
            Geography::Me
        } else if region.starts_with("af-") {
            Geography::Af
        } else {
            Geography::Other
        }
    }

    /// Where this geography's profiles may run; `None` when AWS documents no profiles for it.
    pub fn coverage(self) -> Option<Coverage> {
        COVERAGE.iter().find(|(g, _)| *g == self).map(|(_, c)| *c)
    }

    /// The regions of a [`Coverage::Regions`] geography, parsed once; `None` for `global` and
    /// for geographies without a coverage entry.
    pub fn covered_regions(self) -> Option<&'static [Region]> {
        covered()
            .iter()
            .find(|c| c.geography == self)
            .map(|c| c.regions.as_slice())
    }

    /// [`Geography::covered_regions`] as bits, when every region has a slot.
    pub fn covered_mask(self) -> Option<RegionMask> {
        covered().iter().find(|c| c.geography == self).and_then(|c| c.mask)
    }

    /// Whether `region` is one this geography's profiles may run in.
    pub fn covers(self, region: &Region) -> bool {
        match self.coverage() {
            Some(Coverage::AllCommercial) => true,
            Some(Coverage::Regions(names)) => names.contains(&region.as_str()),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geography_of_region() {
        assert_eq!(Geography::of_region("eu-west-3"), Geography::Eu);
        assert_eq!(Geography::of_region("us-gov-west-1"), Geography::UsGov);
        assert_eq!(Geography::of_region("ap-northeast-1"), Geography::Apac);
        assert_eq!(Geography::from_prefix("global"), Some(Geography::Global));
        assert_eq!(Geography::from_prefix("xx"), None);
    }

    #[test]
    fn every_covered_region_parses_and_has_a_slot() {
        for (geography, coverage) in COVERAGE {
            if let Coverage::Regions(names) = coverage {
                let parsed = geography.covered_regions().unwrap();
                assert_eq!(parsed.len(), names.len(), "{geography:?}");
                assert!(geography.covered_mask().is_some(), "{geography:?}");
            }
        }
    }

    #[test]
    fn country_geographies_sit_inside_apac_and_every_geography_in_its_own_regions() {
        let apac = Geography::Apac;
        for country in [Geography::Jp, Geography::Au] {
            for r in country.covered_regions().unwrap() {
                assert!(apac.covers(r), "{r} of {country:?} not in apac");
            }
        }
        // Each region-list geography lists only regions named after it (APAC also reaches the
        // UAE, as AWS documents; Japan and Australia are ap-* regions).
        for (g, c) in COVERAGE {
            if let Coverage::Regions(names) = c {
                for n in *names {
                    let home = Geography::of_region(n);
                    let ok = home == *g
                        || (matches!(g, Geography::Jp | Geography::Au) && home == Geography::Apac)
                        || (*g == Geography::Apac && *n == "me-central-1");
                    assert!(ok, "{n} listed under {g:?}");
                }
            }
        }
        assert_eq!(Geography::Global.coverage(), Some(Coverage::AllCommercial));
        assert_eq!(Geography::Sa.coverage(), None);
        assert!(Geography::Jp.covers(&Region::parse("ap-northeast-3").unwrap()));
        assert!(!Geography::Jp.covers(&Region::parse("ap-northeast-2").unwrap()));
    }
}
