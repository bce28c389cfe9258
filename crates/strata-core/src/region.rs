//! AWS regions and the geographies that inference profiles are named after.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ids::IdError;

/// An AWS region name such as `eu-west-1`, checked for shape (not for existence).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

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
            Ok(Region(raw.to_string()))
        } else {
            Err(IdError::Region(raw.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The geography this region belongs to, for residency zones (`eu`, `us`, …).
    pub fn geography(&self) -> Geography {
        Geography::of_region(&self.0)
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
        value.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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

    #[test]
    fn geography_of_region() {
        assert_eq!(Geography::of_region("eu-west-3"), Geography::Eu);
        assert_eq!(Geography::of_region("us-gov-west-1"), Geography::UsGov);
        assert_eq!(Geography::of_region("ap-northeast-1"), Geography::Apac);
        assert_eq!(Geography::from_prefix("global"), Some(Geography::Global));
        assert_eq!(Geography::from_prefix("xx"), None);
    }
}
