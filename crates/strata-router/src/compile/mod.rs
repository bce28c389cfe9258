//! Route compilation: a logical model's *intent* (a base model, the profile layers it may use,
//! the accounts to shard over) expanded against the availability catalog into concrete
//! candidates — every (account, region, model or profile ID) the catalog says is invocable —
//! and every rejected one with its reason.
//!
//! The access rule (seed 002): a candidate is kept only if the account has access to the base
//! model in *every* region it may execute in (for a profile: its source region and all of its
//! destinations). Residency is applied per tenant afterwards ([`admit`]), over the candidate's
//! [`Reach`]. Both rules are property-tested in `tests.rs`.

mod reach;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use strata_core::{
    AccessState, Catalog, ExecutionSet, Geography, ModelRef, ProfileEntry, Region, RegionScan, ResidencyPolicy,
};

pub use reach::Reach;

/// A kind of target a logical model may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The plain model ID, called in a region where it runs on demand.
    InRegion,
    /// A geography cross-region profile (`us.`, `eu.`, `apac.`, `jp.`, `au.`, …).
    Geography,
    /// A `global.` profile.
    Global,
}

impl Layer {
    /// The layer a model ID belongs to.
    pub fn of(model_id: &str) -> Layer {
        match ModelRef::parse(model_id) {
            Ok(ModelRef::Profile {
                geography: Geography::Global,
                ..
            }) => Layer::Global,
            Ok(ModelRef::Profile { .. }) => Layer::Geography,
            _ => Layer::InRegion,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Layer::InRegion => "in_region",
            Layer::Geography => "geography",
            Layer::Global => "global",
        }
    }
}

/// One account a logical model shards over, with its share of traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountShare {
    pub account: String,
    pub weight: u32,
}

/// A logical model as declared: what to run, not where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The foundation model ID (`anthropic.claude-sonnet-4-20250514-v1:0`).
    pub base_model: String,
    /// Layers to use, most preferred first (the index is the candidate's priority).
    pub layers: Vec<Layer>,
    pub accounts: Vec<AccountShare>,
    /// Regions to send calls to; `None` for every scanned region.
    pub regions: Option<BTreeSet<Region>>,
}

/// Where a candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Expanded from an intent against the catalog.
    Discovered,
    /// Written in config as a fixed deployment.
    Pinned,
    /// A verified last-resort target.
    Baseline,
}

/// One concrete target of a logical model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub account: String,
    /// The region the call is sent to (a profile's source region).
    pub region: Region,
    /// The ID to call: a model ID or a profile ID.
    pub model_id: String,
    pub layer: Layer,
    pub reach: Reach,
    pub weight: u32,
    pub priority: u32,
    pub origin: Origin,
    /// The catalog data behind it comes from a scan that has since failed.
    pub stale: bool,
}

/// A target left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exclusion {
    pub account: String,
    pub region: Region,
    pub model_id: String,
    pub reason: String,
}

impl Exclusion {
    fn of(account: &str, region: &Region, model_id: &str, reason: String) -> Exclusion {
        Exclusion {
            account: account.to_string(),
            region: region.clone(),
            model_id: model_id.to_string(),
            reason,
        }
    }
}

/// An intent's expansion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Compiled {
    pub candidates: Vec<Candidate>,
    pub excluded: Vec<Exclusion>,
}

/// Profiles of the whole catalog by the foundation model they run, built once per compilation so
/// each intent looks its profiles up instead of walking every region's list.
#[derive(Debug, Default)]
pub struct ProfileIndex<'a> {
    by_model: HashMap<&'a str, Vec<(&'a RegionScan, &'a ProfileEntry)>>,
}

impl<'a> ProfileIndex<'a> {
    pub fn build(catalog: &'a Catalog) -> Self {
        let mut by_model: HashMap<&'a str, Vec<(&'a RegionScan, &'a ProfileEntry)>> = HashMap::new();
        for scan in catalog.scans().filter(|s| s.has_data()) {
            for profile in scan.profiles.values() {
                for model in &profile.models {
                    by_model.entry(model.as_str()).or_default().push((scan, profile));
                }
            }
        }
        ProfileIndex { by_model }
    }

    fn of(&self, model: &str) -> &[(&'a RegionScan, &'a ProfileEntry)] {
        self.by_model.get(model).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Expands an intent over the catalog.
pub fn compile_intent(intent: &Intent, catalog: &Catalog, profiles: &ProfileIndex<'_>) -> Compiled {
    let mut out = Compiled::default();
    let base = intent.base_model.as_str();
    let wanted = |region: &Region| intent.regions.as_ref().is_none_or(|r| r.contains(region));
    for share in &intent.accounts {
        if let Some(priority) = position(&intent.layers, Layer::InRegion) {
            for scan in catalog
                .scans_of(&share.account)
                .filter(|s| s.has_data() && wanted(&s.region))
            {
                let Some(entry) = scan.models.get(base) else {
                    continue;
                };
                if !entry.on_demand() {
                    out.excluded.push(Exclusion::of(
                        &share.account,
                        &scan.region,
                        base,
                        format!(
                            "not callable on demand in {} (lifecycle {}, reachable only through a profile)",
                            scan.region,
                            entry.lifecycle.as_str()
                        ),
                    ));
                    continue;
                }
                match catalog.access(&share.account, &scan.region, base) {
                    AccessState::Granted => out.candidates.push(Candidate {
                        account: share.account.clone(),
                        region: scan.region.clone(),
                        model_id: base.to_string(),
                        layer: Layer::InRegion,
                        reach: Reach::Regions(ExecutionSet::single(scan.region.clone())),
                        weight: share.weight,
                        priority,
                        origin: Origin::Discovered,
                        stale: !matches!(scan.freshness, strata_core::Freshness::Fresh),
                    }),
                    AccessState::Denied(why) | AccessState::Unknown(why) => {
                        out.excluded
                            .push(Exclusion::of(&share.account, &scan.region, base, why))
                    }
                }
            }
        }
        for &(scan, profile) in profiles.of(base) {
            if scan.account != share.account || !wanted(&scan.region) {
                continue;
            }
            let layer = Layer::of(&profile.id);
            let Some(priority) = position(&intent.layers, layer) else {
                continue;
            };
            match profile_verdict(catalog, &share.account, &scan.region, base, profile) {
                Ok(()) => out.candidates.push(Candidate {
                    account: share.account.clone(),
                    region: scan.region.clone(),
                    model_id: profile.id.clone(),
                    layer,
                    reach: Reach::Regions(ExecutionSet::of(profile.destinations.iter().cloned())),
                    weight: share.weight,
                    priority,
                    origin: Origin::Discovered,
                    stale: !matches!(scan.freshness, strata_core::Freshness::Fresh),
                }),
                Err(why) => out
                    .excluded
                    .push(Exclusion::of(&share.account, &scan.region, &profile.id, why)),
            }
        }
    }
    out
}

fn position(layers: &[Layer], layer: Layer) -> Option<u32> {
    layers.iter().position(|l| *l == layer).map(|i| i as u32)
}

/// A profile is usable from a source region only if it is active, has destinations, and the
/// account has access to the model in the source region and in every destination.
fn profile_verdict(
    catalog: &Catalog,
    account: &str,
    source: &Region,
    model: &str,
    profile: &ProfileEntry,
) -> Result<(), String> {
    if !profile.active() {
        return Err(format!("profile status is {}", profile.status));
    }
    if profile.destinations.is_empty() {
        return Err("profile lists no destination regions".to_string());
    }
    for region in std::iter::once(source).chain(profile.destinations.iter()) {
        match catalog.access(account, region, model) {
            AccessState::Granted => {}
            AccessState::Denied(why) => return Err(format!("destination {region}: {why}")),
            AccessState::Unknown(why) => return Err(format!("destination {region}: access unknown ({why})")),
        }
    }
    Ok(())
}

/// Checks a target written in config (a pinned deployment or a baseline target). Its reach comes
/// from the catalog when the catalog lists the profile, else from the ID's geography. Access is
/// refused only when the catalog *knows* it is missing: these targets are the operator's word,
/// and the baseline must work precisely when catalog data is wrong or absent.
pub fn check_configured(
    catalog: &Catalog,
    account: &str,
    region: &Region,
    model_id: &str,
    origin: Origin,
) -> Result<Candidate, Exclusion> {
    let layer = Layer::of(model_id);
    let listed = catalog
        .scan(account, region)
        .filter(|s| s.has_data())
        .and_then(|s| s.profiles.get(model_id));
    let reach = match listed {
        Some(p) if !p.destinations.is_empty() => Reach::Regions(ExecutionSet::of(p.destinations.iter().cloned())),
        _ => Reach::guess(region, model_id),
    };
    let foundation = ModelRef::parse(model_id)
        .ok()
        .and_then(|m| m.foundation_model_id().map(str::to_string));
    if let (Some(model), Some(regions)) = (foundation, reach.regions()) {
        let mut checked: Vec<&Region> = vec![region];
        checked.extend(regions.regions());
        for r in checked {
            if let AccessState::Denied(why) = catalog.access(account, r, &model) {
                if catalog.scan(account, r).is_some_and(|s| s.has_data()) {
                    return Err(Exclusion::of(account, region, model_id, format!("catalog says: {why}")));
                }
            }
        }
    }
    let stale = catalog
        .scan(account, region)
        .is_some_and(|s| !matches!(s.freshness, strata_core::Freshness::Fresh));
    Ok(Candidate {
        account: account.to_string(),
        region: region.clone(),
        model_id: model_id.to_string(),
        layer,
        reach,
        weight: 1,
        priority: 0,
        origin,
        stale,
    })
}

/// Splits candidates into those a tenant's residency allows (by index) and those it excludes.
pub fn admit(candidates: &[Candidate], policy: &ResidencyPolicy) -> (Vec<usize>, Vec<Exclusion>) {
    let mut allowed = Vec::new();
    let mut excluded = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        match c.reach.check(policy) {
            Ok(()) => allowed.push(i),
            Err(why) => excluded.push(Exclusion::of(&c.account, &c.region, &c.model_id, why)),
        }
    }
    (allowed, excluded)
}
