//! Run-time catalog changes: a model launched in (or withdrawn from) a region, a profile's
//! destination and source regions changed. Each change builds a new [`Fleet`] from a copy and
//! validates it like a fleet file, so a changed fleet holds the same invariants as a loaded one
//! (a profile only sends requests where its model is hosted, regions are fleet regions, …).
//! The fleet in use is swapped whole by the caller; nothing here mutates a shared fleet.

use serde::Deserialize;
use strata_core::Region;

use super::{Fleet, FleetError, FleetParts};

/// `POST /_sim/catalog/models`: where a model is listed and callable on demand.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRegionChange {
    pub model: String,
    pub region: String,
    /// Listed by the region's control plane and runnable there (default true).
    #[serde(default)]
    pub listed: Option<bool>,
    /// Callable by plain model ID in the region (default: same as `listed`).
    #[serde(default)]
    pub on_demand: Option<bool>,
}

/// `POST /_sim/catalog/profiles`: a profile's regions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRegionsChange {
    pub id: String,
    pub destinations: Vec<String>,
    /// Regions the profile may be called from; unchanged when absent.
    #[serde(default)]
    pub sources: Option<Vec<String>>,
}

impl Fleet {
    fn parts(&self) -> FleetParts {
        FleetParts {
            regions: self.regions.clone(),
            models: self.models.clone(),
            profiles: self.profiles.clone(),
            accounts: self.accounts.clone(),
            quotas: self.quotas,
            latency: self.latency,
            control_plane: self.control_plane,
            guardrails: self.guardrails.clone(),
            imported_models: self.imported_models.clone(),
            custom_models: self.custom_models,
            region_capacity: self.region_capacity.clone(),
        }
    }

    fn fleet_region(&self, raw: &str) -> Result<Region, FleetError> {
        self.regions
            .iter()
            .find(|r| r.as_str() == raw)
            .cloned()
            .ok_or_else(|| FleetError::Invalid(format!("region {raw} is not one of the fleet's regions")))
    }

    /// This fleet with a model listed or withdrawn, on demand or not, in one region.
    pub fn with_model_region(&self, change: &ModelRegionChange) -> Result<Fleet, FleetError> {
        let listed = change.listed.unwrap_or(true);
        let on_demand = change.on_demand.unwrap_or(listed);
        if on_demand && !listed {
            return Err(FleetError::Invalid(format!(
                "model {} cannot be on demand in {} without being listed there",
                change.model, change.region
            )));
        }
        let region = self.fleet_region(&change.region)?;
        let mut parts = self.parts();
        let Some(model) = parts.models.iter_mut().find(|m| m.id == change.model) else {
            return Err(FleetError::Invalid(format!("unknown model {}", change.model)));
        };
        set_membership(&mut model.hosted_in, &region, listed);
        set_membership(&mut model.on_demand_in, &region, on_demand);
        Fleet::validate(parts)
    }

    /// This fleet with a profile's destinations (and, if given, sources) replaced.
    pub fn with_profile_regions(&self, change: &ProfileRegionsChange) -> Result<Fleet, FleetError> {
        let destinations = self.fleet_regions(&change.destinations)?;
        let sources = match &change.sources {
            Some(s) if s.is_empty() => {
                return Err(FleetError::Invalid(format!(
                    "profile {} needs a source region",
                    change.id
                )));
            }
            Some(s) => Some(self.fleet_regions(s)?),
            None => None,
        };
        let mut parts = self.parts();
        let Some(profile) = parts.profiles.iter_mut().find(|p| p.id == change.id) else {
            return Err(FleetError::Invalid(format!("unknown profile {}", change.id)));
        };
        profile.destinations = destinations;
        if let Some(sources) = sources {
            profile.sources = sources;
        }
        Fleet::validate(parts)
    }

    fn fleet_regions(&self, raw: &[String]) -> Result<Vec<Region>, FleetError> {
        let mut out: Vec<Region> = Vec::with_capacity(raw.len());
        for r in raw {
            let region = self.fleet_region(r)?;
            if !out.contains(&region) {
                out.push(region);
            }
        }
        Ok(out)
    }
}

/// Adds or removes a region, keeping the list's order and no duplicates.
fn set_membership(list: &mut Vec<Region>, region: &Region, member: bool) {
    let present = list.contains(region);
    if member && !present {
        list.push(region.clone());
    } else if !member && present {
        list.retain(|r| r != region);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Fleet {
        Fleet::builtin().unwrap()
    }

    /// A model and a fleet region where it is not hosted.
    fn unhosted(fleet: &Fleet) -> (String, String) {
        for m in &fleet.models {
            if let Some(r) = fleet.regions.iter().find(|r| !m.hosted_in.contains(r)) {
                return (m.id.clone(), r.as_str().to_string());
            }
        }
        panic!("every model is hosted everywhere");
    }

    fn change(model: &str, region: &str, listed: Option<bool>, on_demand: Option<bool>) -> ModelRegionChange {
        ModelRegionChange {
            model: model.into(),
            region: region.into(),
            listed,
            on_demand,
        }
    }

    #[test]
    fn launching_a_model_lists_it_on_demand_and_withdrawing_removes_it() {
        let base = fleet();
        let (model, region) = unhosted(&base);
        let launched = base.with_model_region(&change(&model, &region, None, None)).unwrap();
        let m = launched.model(&model).unwrap();
        assert!(m.hosted_in.iter().any(|r| r.as_str() == region));
        assert!(m.on_demand_in.iter().any(|r| r.as_str() == region));
        // The original is untouched: changes build a new fleet.
        assert!(!base
            .model(&model)
            .unwrap()
            .hosted_in
            .iter()
            .any(|r| r.as_str() == region));

        let profile_only = launched
            .with_model_region(&change(&model, &region, Some(true), Some(false)))
            .unwrap();
        let m = profile_only.model(&model).unwrap();
        assert!(m.hosted_in.iter().any(|r| r.as_str() == region));
        assert!(!m.on_demand_in.iter().any(|r| r.as_str() == region));

        let withdrawn = launched
            .with_model_region(&change(&model, &region, Some(false), None))
            .unwrap();
        let m = withdrawn.model(&model).unwrap();
        assert_eq!(m.hosted_in, base.model(&model).unwrap().hosted_in);
        assert!(!m.on_demand_in.iter().any(|r| r.as_str() == region));
    }

    #[test]
    fn model_changes_that_break_the_fleet_are_refused() {
        let base = fleet();
        let (model, region) = unhosted(&base);
        let err = base
            .with_model_region(&change(&model, &region, Some(false), Some(true)))
            .unwrap_err();
        assert!(err.to_string().contains("without being listed"), "{err}");
        assert!(base
            .with_model_region(&change("nope.model-v1:0", &region, None, None))
            .is_err());
        assert!(base
            .with_model_region(&change(&model, "mars-north-1", None, None))
            .is_err());
        // Withdrawing a model from a region a profile still sends requests to names the profile.
        let p = &base.profiles[0];
        let err = base
            .with_model_region(&change(&p.model, p.destinations[0].as_str(), Some(false), None))
            .unwrap_err();
        assert!(err.to_string().contains(&p.id), "{err}");
    }

    #[test]
    fn profile_regions_change_and_sources_stay_unless_given() {
        let base = fleet();
        let p = base.profiles[0].clone();
        let one = vec![p.destinations[0].as_str().to_string()];
        let changed = base
            .with_profile_regions(&ProfileRegionsChange {
                id: p.id.clone(),
                destinations: one.clone(),
                sources: None,
            })
            .unwrap();
        let q = changed.profile(&p.id).unwrap();
        assert_eq!(q.destinations.len(), 1);
        assert_eq!(q.sources, p.sources);
        let changed = changed
            .with_profile_regions(&ProfileRegionsChange {
                id: p.id.clone(),
                destinations: one.clone(),
                sources: Some(one.clone()),
            })
            .unwrap();
        assert_eq!(changed.profile(&p.id).unwrap().sources.len(), 1);
    }

    #[test]
    fn profile_changes_that_break_the_fleet_are_refused() {
        let base = fleet();
        // A profile whose model is not hosted in some fleet region.
        let (p, unhosted) = base
            .profiles
            .iter()
            .find_map(|p| {
                let model = base.model(&p.model)?;
                let r = base.regions.iter().find(|r| !model.hosted_in.contains(r))?;
                Some((p.clone(), r.clone()))
            })
            .unwrap();
        for (destinations, sources) in [
            (vec![unhosted.as_str().to_string()], None),
            (vec![], None),
            (vec![p.destinations[0].as_str().to_string()], Some(vec![])),
        ] {
            let change = ProfileRegionsChange {
                id: p.id.clone(),
                destinations,
                sources,
            };
            assert!(base.with_profile_regions(&change).is_err(), "{change:?}");
        }
        let change = ProfileRegionsChange {
            id: "us.nope".into(),
            destinations: vec![p.destinations[0].as_str().to_string()],
            sources: None,
        };
        assert!(base.with_profile_regions(&change).is_err());
    }
}
