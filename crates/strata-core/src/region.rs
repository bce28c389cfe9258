//! AWS regions and the geographies that inference profiles are named after.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock, RwLock};

pub use crate::geography::Geography;
use crate::ids::IdError;

/// The commercial regions where Bedrock runs (what discovery scans by default).
pub const BEDROCK_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-4",
];

/// How many distinct region names get a slot (a bit in a [`RegionMask`]). AWS has about 35
/// regions; names past this (only ever from malformed input) still work, just without a slot.
pub const REGION_SLOTS: usize = 128;

/// An AWS region name such as `eu-west-1`, checked for shape (not for existence).
///
/// Names are interned: parsing the same name twice yields the same shared value, cloning is a
/// reference count, and each of the first [`REGION_SLOTS`] names gets a slot so sets of regions
/// can be compared as bit masks (route compilation checks millions of region memberships).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(Arc<RegionName>);

#[derive(Debug)]
struct RegionName {
    name: Box<str>,
    slot: Option<u8>,
}

impl PartialEq for Region {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.name == other.0.name
    }
}

impl Eq for Region {}

impl Hash for Region {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.name.hash(state)
    }
}

impl PartialOrd for Region {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Region {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.name.cmp(&other.0.name)
    }
}

fn interner() -> &'static RwLock<HashMap<Box<str>, Region>> {
    static NAMES: OnceLock<RwLock<HashMap<Box<str>, Region>>> = OnceLock::new();
    NAMES.get_or_init(|| RwLock::new(HashMap::new()))
}

fn intern(raw: &str) -> Region {
    if let Ok(names) = interner().read() {
        if let Some(r) = names.get(raw) {
            return r.clone();
        }
    }
    let Ok(mut names) = interner().write() else {
        return Region(Arc::new(RegionName {
            name: raw.into(),
            slot: None,
        }));
    };
    if let Some(r) = names.get(raw) {
        return r.clone();
    }
    let slot = (names.len() < REGION_SLOTS).then_some(names.len() as u8);
    let region = Region(Arc::new(RegionName { name: raw.into(), slot }));
    if slot.is_some() {
        names.insert(raw.into(), region.clone());
    }
    region
}

/// Every region that has a slot, for building masks of policies.
pub fn slotted_regions() -> Vec<Region> {
    interner()
        .read()
        .map(|n| n.values().cloned().collect())
        .unwrap_or_default()
}

/// A set of slotted regions as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RegionMask(pub u128);

impl RegionMask {
    /// The mask of `regions`, or `None` if one of them has no slot.
    pub fn of<'a>(regions: impl IntoIterator<Item = &'a Region>) -> Option<RegionMask> {
        let mut bits = 0u128;
        for r in regions {
            bits |= 1u128 << r.slot()?;
        }
        Some(RegionMask(bits))
    }

    pub fn with(self, region: &Region) -> Option<RegionMask> {
        Some(RegionMask(self.0 | 1u128 << region.slot()?))
    }

    /// Whether every region of `self` is in `other`.
    pub fn within(self, other: RegionMask) -> bool {
        self.0 & !other.0 == 0
    }
}

impl Region {
    /// Parses a region name: lowercase ASCII letters, digits and dashes, `xx-name-N`.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let parts: Vec<&str> = raw.split('-').collect();
        let well_formed = parts.len() >= 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
            && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if well_formed {
            Ok(intern(raw))
        } else {
            Err(IdError::Region(raw.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0.name
    }

    /// This region's bit in a [`RegionMask`], if it has one.
    pub fn slot(&self) -> Option<u8> {
        self.0.slot
    }

    /// The geography this region belongs to, for residency zones (`eu`, `us`, …).
    pub fn geography(&self) -> Geography {
        Geography::of_region(&self.0.name)
    }
}

impl TryFrom<String> for Region {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Region::parse(&value)
    }
}

impl From<Region> for String {
    fn from(value: Region) -> Self {
        value.0.name.to_string()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_regions_and_rejects_garbage() {
        for ok in ["us-east-1", "eu-central-2", "ap-southeast-4", "us-gov-west-1"] {
            assert!(Region::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "us", "US-EAST-1", "us-east-", "us-east-x", "us_east_1", "../etc"] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }
}
