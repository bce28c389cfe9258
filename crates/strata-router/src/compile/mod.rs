//! Route compilation: a logical model's *intent* (a base model, the profile layers it may use,
//! the accounts to shard over) expanded against the availability catalog into concrete
//! candidates — every (account, region, model or profile ID) the catalog says is invocable —
//! and every rejected one with its reason.
//!
//! The access rule (seed 002): a candidate is kept only if the account has access to the base
//! model in *every* region it may execute in (for a profile: its source region and all of its
//! destinations). Residency is applied per tenant afterwards ([`admit`]), over the candidate's
//! [`Reach`]. Both rules are property-tested in `tests.rs`. Targets written in config are
//! held against the catalog by [`verify_configured`], for routing and `strata check` alike.
//! An intent over an imported model (by name) expands to the regions whose scan lists it
//! (`imported.rs`).

mod configured;
mod imported;
mod reach;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strata_core::{
    AccessState, Catalog, ExecutionSet, Freshness, Geography, ModelEntry, ModelRef, ProfileEntry, Region, RegionMask,
    RegionScan, ResidencyPolicy,
};

pub use configured::{verify_configured, Problem, ProblemKind, Severity, TargetVerdict};
pub use reach::{AdmittedBy, DestinationTrust, Reach, Refusal};

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

    /// [`Layer::of`] for a profile ID the catalog listed (no ARN, already checked by the API):
    /// only its prefix is read. A prefix of no known geography is still a cross-region profile.
    fn of_listed_profile(profile_id: &str) -> Layer {
        match strata_core::ids::profile_geography(profile_id) {
            Some(Geography::Global) => Layer::Global,
            _ => Layer::Geography,
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

/// What an intent runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentModel {
    /// A foundation model ID (`anthropic.claude-sonnet-4-20250514-v1:0`), found in regions and
    /// behind profiles.
    Foundation(String),
    /// A model brought in with Custom Model Import, by its name (`modelName`): found in every
    /// region whose scan lists a model of that name, and called there by its ARN.
    Imported(String),
}

impl IntentModel {
    /// The foundation model ID, if it is one.
    pub fn foundation(&self) -> Option<&str> {
        match self {
            IntentModel::Foundation(id) => Some(id),
            IntentModel::Imported(_) => None,
        }
    }

    /// The ID or name, as written in config.
    pub fn as_str(&self) -> &str {
        match self {
            IntentModel::Foundation(s) | IntentModel::Imported(s) => s,
        }
    }
}

/// A logical model as declared: what to run, not where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub model: IntentModel,
    /// Layers to use, most preferred first (the index is the candidate's priority). An imported
    /// model has only [`Layer::InRegion`].
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

/// One concrete target of a logical model. Its strings are shared (`Arc<str>`): a fleet-scale
/// compilation makes hundreds of thousands of candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub account: Arc<str>,
    /// The region the call is sent to (a profile's source region).
    pub region: Region,
    /// The ID to call: a model ID or a profile ID.
    pub model_id: Arc<str>,
    pub layer: Layer,
    pub reach: Reach,
    pub weight: u32,
    pub priority: u32,
    pub origin: Origin,
    /// The catalog data behind it comes from a scan that has since failed.
    pub stale: bool,
}

/// `account/region/model`: how a target is named in labels, logs and metrics.
pub fn target_label(account: &str, region: &Region, model_id: &str) -> String {
    format!("{account}/{region}/{model_id}")
}

impl Candidate {
    pub fn label(&self) -> String {
        target_label(&self.account, &self.region, &self.model_id)
    }

    /// A discovered candidate that runs only in its scan's region (a model ID on demand, an
    /// imported model).
    fn in_region(
        account: &Arc<str>,
        scan: &RegionScan,
        model_id: Arc<str>,
        index: &ProfileIndex<'_>,
        share: &AccountShare,
        priority: u32,
    ) -> Candidate {
        Candidate {
            account: Arc::clone(account),
            region: scan.region.clone(),
            model_id,
            layer: Layer::InRegion,
            reach: Reach::Regions(index.single(&scan.region)),
            weight: share.weight,
            priority,
            origin: Origin::Discovered,
            stale: !matches!(scan.freshness, Freshness::Fresh),
        }
    }
}

/// A target left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exclusion {
    pub account: Arc<str>,
    pub region: Region,
    pub model_id: Arc<str>,
    /// Access, lifecycle or profile state, in words (residency refusals are reported per
    /// tenant by [`admit`] and [`Reach::check`]).
    pub reason: String,
}

impl Exclusion {
    fn of(account: &str, region: &Region, model_id: &str, reason: String) -> Exclusion {
        Exclusion {
            account: Arc::from(account),
            region: region.clone(),
            model_id: Arc::from(model_id),
            reason,
        }
    }

    /// The target as route labels name it.
    pub fn target(&self) -> String {
        target_label(&self.account, &self.region, &self.model_id)
    }
}

/// An intent's expansion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Compiled {
    pub candidates: Vec<Candidate>,
    pub excluded: Vec<Exclusion>,
}

/// A profile callable from one (account, region), prepared once per compilation.
#[derive(Debug)]
struct IndexedProfile<'a> {
    scan: &'a RegionScan,
    profile: &'a ProfileEntry,
    layer: Layer,
    /// The geography its prefix binds it to (`None`: unknown).
    geography: Option<Geography>,
    /// Source region and destinations as bits: the regions the account needs access in.
    needs: Option<RegionMask>,
}

/// Items grouped by account name, then foundation model ID.
type ByAccountAndModel<'a, T> = HashMap<&'a str, HashMap<&'a str, Vec<T>>>;

/// Profiles of the whole catalog by the foundation model they run, and one shared
/// single-region execution set per region, built once per compilation so each intent looks
/// things up instead of walking every region's lists or allocating.
#[derive(Debug, Default)]
pub struct ProfileIndex<'a> {
    by_model: ByAccountAndModel<'a, IndexedProfile<'a>>,
    /// Per account, per model: the scans that list it.
    listed: ByAccountAndModel<'a, (&'a RegionScan, &'a ModelEntry)>,
    singles: HashMap<Region, ExecutionSet>,
}

impl<'a> ProfileIndex<'a> {
    pub fn build(catalog: &'a Catalog) -> Self {
        let mut by_model: ByAccountAndModel<'a, IndexedProfile<'a>> = HashMap::default();
        let mut listed: ByAccountAndModel<'a, (&'a RegionScan, &'a ModelEntry)> = HashMap::default();
        let mut singles = HashMap::default();
        for (account, scans) in catalog.accounts() {
            let of_account = by_model.entry(account).or_default();
            let models_of_account = listed.entry(account).or_default();
            for scan in scans.filter(|s| s.has_data()) {
                for (id, entry) in &scan.models {
                    models_of_account.entry(id.as_str()).or_default().push((scan, entry));
                }
                singles
                    .entry(scan.region.clone())
                    .or_insert_with(|| ExecutionSet::single(scan.region.clone()));
                for profile in scan.profiles.values() {
                    let needs = profile.destinations.mask().and_then(|m| m.with(&scan.region));
                    let layer = Layer::of_listed_profile(&profile.id);
                    let geography = strata_core::ids::profile_geography(&profile.id);
                    for model in &profile.models {
                        of_account.entry(model.as_str()).or_default().push(IndexedProfile {
                            scan,
                            profile,
                            layer,
                            geography,
                            needs,
                        });
                    }
                }
            }
        }
        ProfileIndex {
            by_model,
            listed,
            singles,
        }
    }

    /// Profiles running `model` callable from `account`'s regions.
    fn of(&self, account: &str, model: &str) -> &[IndexedProfile<'a>] {
        self.by_model
            .get(account)
            .and_then(|m| m.get(model))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The scans of `account` that list `model`, with its entry.
    fn listed(&self, account: &str, model: &str) -> &[(&'a RegionScan, &'a ModelEntry)] {
        self.listed
            .get(account)
            .and_then(|m| m.get(model))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn single(&self, region: &Region) -> ExecutionSet {
        self.singles
            .get(region)
            .cloned()
            .unwrap_or_else(|| ExecutionSet::single(region.clone()))
    }
}

/// Expands an intent over the catalog.
pub fn compile_intent(intent: &Intent, catalog: &Catalog, profiles: &ProfileIndex<'_>) -> Compiled {
    let base = match &intent.model {
        IntentModel::Foundation(id) => id.as_str(),
        IntentModel::Imported(name) => return imported::compile(intent, name, catalog, profiles),
    };
    // Reserve once: at fleet scale an intent has thousands of candidates.
    let expected: usize = intent
        .accounts
        .iter()
        .map(|share| profiles.listed(&share.account, base).len() + profiles.of(&share.account, base).len())
        .sum();
    let mut out = Compiled {
        candidates: Vec::with_capacity(expected),
        excluded: Vec::new(),
    };
    let base_id: Arc<str> = Arc::from(base);
    let wanted = |region: &Region| intent.regions.as_ref().is_none_or(|r| r.contains(region));
    for share in &intent.accounts {
        let account: Arc<str> = Arc::from(share.account.as_str());
        // The account's access to the base model in each scanned region, looked up once; as
        // bits for the profile checks (reasons are worked out only for what is refused).
        let access: Vec<(&RegionScan, &ModelEntry, AccessState)> = profiles
            .listed(&share.account, base)
            .iter()
            .map(|&(scan, entry)| (scan, entry, scan.access_of(base, Some(entry))))
            .collect();
        let mut granted = RegionMask::default();
        for (scan, _, state) in &access {
            if *state == AccessState::Granted {
                if let Some(with) = granted.with(&scan.region) {
                    granted = with;
                }
            }
        }
        if let Some(priority) = position(&intent.layers, Layer::InRegion) {
            for (scan, entry, state) in access.iter().filter(|(s, _, _)| wanted(&s.region)) {
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
                match state {
                    AccessState::Granted => out.candidates.push(Candidate::in_region(
                        &account,
                        scan,
                        Arc::clone(&base_id),
                        profiles,
                        share,
                        priority,
                    )),
                    AccessState::Denied(why) | AccessState::Unknown(why) => {
                        out.excluded
                            .push(Exclusion::of(&share.account, &scan.region, base, why.clone()))
                    }
                }
            }
        }
        for p in profiles.of(&share.account, base) {
            let scan = p.scan;
            if !wanted(&scan.region) {
                continue;
            }
            let Some(priority) = position(&intent.layers, p.layer) else {
                continue;
            };
            let fast_ok = p.profile.active()
                && !p.profile.destinations.is_empty()
                && p.needs.is_some_and(|needs| needs.within(granted));
            let verdict = if fast_ok {
                Ok(())
            } else {
                profile_verdict(catalog, &share.account, &scan.region, base, p.profile)
            };
            match verdict {
                Ok(()) => out.candidates.push(Candidate {
                    account: Arc::clone(&account),
                    region: scan.region.clone(),
                    model_id: Arc::clone(&p.profile.id),
                    layer: p.layer,
                    reach: Reach::Profile {
                        destinations: p.profile.destinations.clone(),
                        geography: p.geography,
                    },
                    weight: share.weight,
                    priority,
                    origin: Origin::Discovered,
                    stale: !matches!(scan.freshness, Freshness::Fresh),
                }),
                Err(why) => out
                    .excluded
                    .push(Exclusion::of(&share.account, &scan.region, &p.profile.id, why)),
            }
        }
    }
    out
}

/// Expands many intents, spread over the machine's cores (each intent is independent; the index
/// is shared read-only). Results are in the order of `intents`.
pub fn compile_intents(intents: &[&Intent], catalog: &Catalog, index: &ProfileIndex<'_>) -> Vec<Compiled> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(intents.len().max(1));
    if threads <= 1 {
        return intents.iter().map(|i| compile_intent(i, catalog, index)).collect();
    }
    let chunk = intents.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = intents
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|i| compile_intent(i, catalog, index))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(intents.len());
        for (w, part) in workers.into_iter().zip(intents.chunks(chunk)) {
            match w.join() {
                Ok(done) => out.extend(done),
                // A worker cannot panic short of a bug; compile its share here instead of failing.
                Err(_) => out.extend(part.iter().map(|i| compile_intent(i, catalog, index))),
            }
        }
        out
    })
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

/// Splits candidates into those a tenant's residency allows and those it refuses, by index.
/// Exact execution sets and known geographies are checked as bit masks against the policy's
/// mask; anything else goes through [`Reach::check`] — the same rule, as the property tests
/// check. Why one was refused (or which rule admitted it) is
/// `candidates[i].reach.check(policy, trust)`, worked out only when someone asks.
pub fn admit(candidates: &[Candidate], policy: &ResidencyPolicy, trust: DestinationTrust) -> (Vec<usize>, Vec<usize>) {
    let mask = policy_mask(policy);
    let mut allowed = Vec::with_capacity(candidates.len());
    let mut refused = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        if c.reach.admits(policy, mask, trust) {
            allowed.push(i);
        } else {
            refused.push(i);
        }
    }
    (allowed, refused)
}

/// A policy's mask for [`Reach::admits`] (`None` for `any`).
pub fn policy_mask(policy: &ResidencyPolicy) -> Option<RegionMask> {
    match policy {
        ResidencyPolicy::Any => None,
        ResidencyPolicy::Only(_) => Some(policy.allowed_mask()),
    }
}
