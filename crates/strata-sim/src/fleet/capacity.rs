//! Each region's capacity for cross-region (profile) traffic: the `region_capacity` section of
//! the fleet file. A capacity is how many calls of one model a region runs at once before it
//! counts as full; it is also the region's share of a profile's calls while nothing is in
//! flight (see `runtime::destination`).

use std::collections::{BTreeMap, BTreeSet};

use strata_core::Region;

use super::FleetError;

/// The capacity of a region the fleet does not name.
pub const DEFAULT_REGION_CAPACITY: u32 = 20;

/// The largest capacity accepted (keeps weights far from overflow and typos visible).
pub const MAX_REGION_CAPACITY: u32 = 1_000_000;

/// Checks one capacity value.
pub fn check_capacity(region: &str, capacity: u32) -> Result<(), String> {
    if capacity > MAX_REGION_CAPACITY {
        return Err(format!(
            "region_capacity of {region} is {capacity}; at most {MAX_REGION_CAPACITY}"
        ));
    }
    Ok(())
}

/// Capacities as written: every region must be a fleet region, every value in range.
pub(super) fn check_region_capacity(
    capacity: &BTreeMap<Region, u32>,
    regions: &BTreeSet<&Region>,
) -> Result<(), FleetError> {
    for (region, &value) in capacity {
        if !regions.contains(region) {
            return Err(FleetError::Invalid(format!(
                "region_capacity names region {region}, which is not in the fleet's regions"
            )));
        }
        check_capacity(region.as_str(), value).map_err(FleetError::Invalid)?;
    }
    Ok(())
}
