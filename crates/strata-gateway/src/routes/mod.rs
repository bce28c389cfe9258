//! The compiled route table: for every logical model, its candidates (discovered from the
//! catalog, and pinned in config), its baseline targets, and for every tenant the candidates
//! its residency admits — each exclusion with its reason. Compiled from (config, catalog),
//! swapped atomically when the catalog changes; health and warmth of a target survive
//! recompilation.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use strata_core::{Catalog, ModelRef, Region};
use strata_quota::Limits;
use strata_router::Candidate;
use strata_router::{
    compile_intents, verify_configured, AdmittedBy, DestinationTrust, Exclusion, Health, Layer, Origin, ProfileIndex,
    Reach, Warmth,
};

use crate::config::{Config, Target};

/// One candidate of a logical model, with its live state.
#[derive(Debug)]
pub struct Route {
    pub target: Target,
    pub reach: Reach,
    pub layer: Layer,
    pub origin: Origin,
    pub weight: u32,
    pub priority: u32,
    /// The catalog data behind it comes from a scan that has since failed.
    pub stale: bool,
    pub health: Arc<Health>,
    /// Whether it takes chat (Converse) calls: not an imported model the catalog lists as not
    /// instruct-tuned (`instructSupported: false`, e.g. Qwen 2.5), which Bedrock serves through
    /// InvokeModel only.
    pub chat: bool,
    /// Whether the model is loaded there: imported-model targets only (they may meet a cold
    /// start), shared by every logical model reaching the target.
    pub warmth: Option<Arc<Warmth>>,
    /// The deployment's own budget (requests and tokens per minute), counted under
    /// `quota_key`: one logical model's use of this target, so two models pinning one target
    /// never share a budget, and a recompiled route keeps counting where it left off.
    pub limits: Limits,
    pub quota_key: Box<str>,
    /// What AWS lets the target's account send it per minute in its region (Service Quotas, or
    /// the config's override), counted under its own key (`account/region/model-or-profile`):
    /// one AWS quota, shared by every logical model reaching the target. `None`: unknown.
    pub capacity: Option<Capacity>,
    /// What that quota left at the last reservation, and the share of it learned usable.
    pub capacity_state: strata_router::CapacityState,
    /// The logical model's cap on its region (`max_region_share` of its candidates' summed
    /// quota), counted under `cap/<model>/<region>`.
    pub region_cap: Option<Capacity>,
    /// What a token costs here (`None`: unknown, the cost is not counted).
    pub price: Option<strata_router::pricing::Price>,
    /// A short name for logs and metrics: `prod-us/us-east-1/us.anthropic…` or `vllm/llama`.
    pub label: String,
    pub metrics: crate::telemetry::RouteMetrics,
}

impl Route {
    pub fn region(&self) -> Option<&Region> {
        match &self.target {
            Target::Bedrock { region, .. } => Some(region),
            Target::OpenAi { .. } => None,
        }
    }

    pub fn model_id(&self) -> &str {
        match &self.target {
            Target::Bedrock { model_id, .. } => model_id,
            Target::OpenAi { model, .. } => model,
        }
    }

    /// What kind of target it is: `in_region`, `geography`, `global` (its layer), `imported`
    /// (a Custom Model Import model) or `provider` (an OpenAI-compatible upstream).
    pub fn kind(&self) -> &'static str {
        match self.target {
            Target::OpenAi { .. } => "provider",
            Target::Bedrock { .. } if self.warmth.is_some() => "imported",
            Target::Bedrock { .. } => self.layer.as_str(),
        }
    }

    /// What its upstream attempts are counted under in the metrics.
    pub fn attempt_labels(&self, config: &Config) -> crate::telemetry::AttemptLabels {
        let (account, region) = match &self.target {
            Target::Bedrock { account, region, .. } => (config.accounts[*account].name.clone(), region.to_string()),
            Target::OpenAi { provider, .. } => (
                config.providers[*provider].name.clone(),
                config.providers[*provider]
                    .region
                    .as_ref()
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            ),
        };
        crate::telemetry::AttemptLabels {
            account,
            region,
            kind: self.kind(),
            target: self.model_id().to_string(),
        }
    }
}

/// An upstream quota: requests and tokens per minute (either may be unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    /// The counters' key, the same for every route to this account × region × model id.
    pub key: Box<str>,
}

impl Capacity {
    /// The limits to count against: the quota scaled by the share learned usable.
    pub fn limits(&self, share: f64) -> strata_quota::Limits {
        strata_quota::Limits {
            rpm: strata_router::capacity::scaled(self.rpm, share),
            tpm: strata_router::capacity::scaled(self.tpm, share),
            ..Default::default()
        }
    }
}

/// A target left out, and why (`target` is a route label: `account/region/model`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Excluded {
    pub target: String,
    pub reason: String,
}

impl From<Exclusion> for Excluded {
    fn from(e: Exclusion) -> Self {
        Excluded {
            target: e.target(),
            reason: e.reason,
        }
    }
}

/// What one tenant may use of a logical model. Refused routes are kept as they are; the reason
/// is worked out only when shown (fleet-scale tables refuse hundreds of thousands).
#[derive(Debug)]
pub struct TenantRoutes {
    pub allowed: Vec<Arc<Route>>,
    pub refused: Vec<Arc<Route>>,
    pub baseline: Vec<Arc<Route>>,
    pub baseline_refused: Vec<Arc<Route>>,
    policy: strata_core::ResidencyPolicy,
    /// Whether the tenant trusts the catalog's profile destinations (`trust_catalog_destinations`).
    trust: DestinationTrust,
    /// The accounts the tenant is pinned to (`None`: all), and their names for the reasons.
    accounts: Option<(HashSet<usize>, String)>,
}

impl TenantRoutes {
    /// The refused candidates with the residency reason.
    pub fn excluded(&self) -> Vec<Excluded> {
        self.reasons(&self.refused)
    }

    /// The refused baseline targets with the residency reason.
    pub fn baseline_excluded(&self) -> Vec<Excluded> {
        self.reasons(&self.baseline_refused)
    }

    /// Which residency rule admits `route` for this tenant (`None`: it is refused).
    pub fn admitted_by(&self, route: &Route) -> Option<AdmittedBy> {
        route.reach.check(&self.policy, self.trust).ok()
    }

    fn reasons(&self, routes: &[Arc<Route>]) -> Vec<Excluded> {
        routes
            .iter()
            .map(|r| Excluded {
                target: r.label.clone(),
                reason: match (r.reach.check(&self.policy, self.trust), &self.accounts, &r.target) {
                    (Err(why), _, _) => why.to_string(),
                    (Ok(_), Some((set, names)), Target::Bedrock { account, .. }) if !set.contains(account) => {
                        format!("the tenant is pinned to accounts [{names}]")
                    }
                    (Ok(rule), _, _) => format!("allowed ({})", rule.as_str()),
                },
            })
            .collect()
    }
}

/// One logical model, compiled.
#[derive(Debug, Default)]
pub struct ModelRoutes {
    /// Every candidate that passed the access rule, tenant-independent.
    pub routes: Vec<Arc<Route>>,
    /// Targets left out before residency (no access, not on demand, destination not granted…).
    pub excluded: Vec<Excluded>,
    pub baseline: Vec<Arc<Route>>,
    pub baseline_excluded: Vec<Excluded>,
    /// Indexed like `Config::tenants`.
    pub tenants: Vec<TenantRoutes>,
}

/// All logical models' routes, indexed like `Config::models`.
#[derive(Debug, Default)]
pub struct RouteTable {
    pub models: Vec<ModelRoutes>,
}

/// Live state carried over from the previous table: health is the target's, whichever logical
/// model reaches it (by label and origin). (Budgets need no carrying: they are counted by
/// name, see [`Route::quota_key`].)
#[derive(Default)]
struct Carried {
    health: HashMap<(String, Origin), Arc<Health>>,
    /// By target label (one model loaded in one place, whichever logical model calls it); the
    /// table being compiled adds the targets it meets first.
    warmth: parking_lot::Mutex<HashMap<String, Arc<Warmth>>>,
}

impl Carried {
    /// The target's warmth, if it calls an imported model.
    fn warmth_for(&self, label: &str, target: &Target) -> Option<Arc<Warmth>> {
        let Target::Bedrock { model_id, .. } = target else {
            return None;
        };
        if !matches!(ModelRef::parse(model_id), Ok(ModelRef::Imported { .. })) {
            return None;
        }
        Some(Arc::clone(self.warmth.lock().entry(label.to_string()).or_default()))
    }
}

impl RouteTable {
    /// Compiles every logical model against `catalog`. Targets that were in `previous` keep
    /// their health and budgets.
    pub fn compile(config: &Config, catalog: &Catalog, previous: Option<&RouteTable>) -> RouteTable {
        let mut carried = Carried::default();
        if let Some(prev) = previous {
            for routes in &prev.models {
                for r in routes.routes.iter().chain(&routes.baseline) {
                    carried
                        .health
                        .insert((r.label.clone(), r.origin), Arc::clone(&r.health));
                    if let Some(w) = &r.warmth {
                        carried.warmth.lock().insert(r.label.clone(), Arc::clone(w));
                    }
                }
            }
        }
        let index = ProfileIndex::build(catalog);
        // The intents expand in parallel, in model order; the rest is cheap.
        let intents: Vec<&strata_router::Intent> = config
            .models
            .iter()
            .filter_map(|m| m.intent.as_ref().map(|i| &i.intent))
            .collect();
        let mut expanded = compile_intents(&intents, catalog, &index).into_iter();
        let scanned = config.discovery.regions();
        let models = (0..config.models.len())
            .map(|m| {
                let compiled = config.models[m].intent.as_ref().and_then(|_| expanded.next());
                compile_model(config, catalog, &scanned, compiled, &carried, m)
            })
            .collect();
        RouteTable { models }
    }

    /// How many candidates the table holds (for logs and gauges).
    pub fn size(&self) -> usize {
        self.models.iter().map(|m| m.routes.len()).sum()
    }

    /// Every upstream quota its routes count against: (key, rpm, tpm), once per key.
    pub fn quotas(&self) -> Vec<(&str, Option<u32>, Option<u32>)> {
        let mut seen = std::collections::BTreeMap::new();
        for m in &self.models {
            for r in m.routes.iter().chain(&m.baseline) {
                if let Some(c) = &r.capacity {
                    seen.entry(&*c.key).or_insert((c.rpm, c.tpm));
                }
            }
        }
        seen.into_iter().map(|(k, (rpm, tpm))| (k, rpm, tpm)).collect()
    }
}

fn compile_model(
    config: &Config,
    catalog: &Catalog,
    scanned: &[Region],
    expanded: Option<strata_router::Compiled>,
    carried: &Carried,
    m: usize,
) -> ModelRoutes {
    let model = &config.models[m];
    let model_name = model.name.as_str();
    let mut out = ModelRoutes::default();
    let mut seen: HashSet<String> = HashSet::new();
    // Pinned deployments first: they win over a discovered candidate for the same target.
    for d in &model.deployments {
        let budget = Limits {
            rpm: d.rpm,
            tpm: d.tpm,
            ..Limits::default()
        };
        match &d.target {
            Target::Bedrock {
                account,
                region,
                model_id,
            } => {
                let name = &config.accounts[*account].name;
                match verify_configured(catalog, scanned, name, region, model_id).into_candidate(Origin::Pinned) {
                    Ok(c) => {
                        let c = Candidate {
                            weight: d.weight,
                            priority: d.priority,
                            ..c
                        };
                        let route = build(
                            config,
                            carried,
                            catalog,
                            &config.prices,
                            model_name,
                            c,
                            d.target.clone(),
                            budget,
                        );
                        seen.insert(route.label.clone());
                        out.routes.push(route);
                    }
                    Err(e) => out.excluded.push(e.into()),
                }
            }
            Target::OpenAi { provider, model } => {
                let label = format!("{}/{}", config.providers[*provider].name, model);
                let health = health_for(carried, &label, Origin::Pinned);
                let quota_key = quota_key(model_name, &label, Origin::Pinned);
                seen.insert(label.clone());
                out.routes.push(Arc::new(Route {
                    target: d.target.clone(),
                    reach: match &config.providers[*provider].region {
                        Some(region) => Reach::Regions(strata_core::ExecutionSet::single(region.clone())),
                        None => Reach::Anywhere,
                    },
                    layer: Layer::InRegion,
                    origin: Origin::Pinned,
                    weight: d.weight,
                    priority: d.priority,
                    stale: false,
                    health,
                    warmth: None,
                    chat: true,
                    limits: budget,
                    quota_key,
                    capacity: None,
                    capacity_state: Default::default(),
                    region_cap: None,
                    price: None,
                    label,
                    metrics: Default::default(),
                }));
            }
        }
    }
    if let (Some(intent), Some(compiled)) = (&model.intent, expanded) {
        for c in compiled.candidates {
            let Some(&account) = config.account_by_name.get(&*c.account) else {
                continue;
            };
            let target = Target::Bedrock {
                account,
                region: c.region.clone(),
                model_id: c.model_id.to_string(),
            };
            let budget = Limits {
                rpm: intent.rpm,
                tpm: intent.tpm,
                ..Limits::default()
            };
            let route = build(config, carried, catalog, &config.prices, model_name, c, target, budget);
            if seen.insert(route.label.clone()) {
                out.routes.push(route);
            }
        }
        out.excluded.extend(compiled.excluded.into_iter().map(Excluded::from));
    }
    for b in config.baseline.iter().filter(|b| b.serves.contains(&m)) {
        let name = &config.accounts[b.account].name;
        match verify_configured(catalog, scanned, name, &b.region, &b.model_id).into_candidate(Origin::Baseline) {
            Ok(c) => {
                let target = Target::Bedrock {
                    account: b.account,
                    region: b.region.clone(),
                    model_id: b.model_id.clone(),
                };
                out.baseline.push(build(
                    config,
                    carried,
                    catalog,
                    &config.prices,
                    model_name,
                    c,
                    target,
                    Limits::default(),
                ));
            }
            Err(e) => out.baseline_excluded.push(e.into()),
        }
    }
    if let Some(share) = model.max_region_share {
        cap_regions(&mut out.routes, model_name, share);
    }
    out.tenants = config
        .tenants
        .iter()
        .map(|t| {
            let trust = DestinationTrust::from_flag(t.trust_catalog_destinations);
            let (allowed, refused) = admit_routes(&out.routes, t, trust);
            let (baseline, baseline_refused) = admit_routes(&out.baseline, t, trust);
            TenantRoutes {
                allowed,
                refused,
                baseline,
                baseline_refused,
                policy: t.residency.clone(),
                trust,
                accounts: t.accounts.as_ref().map(|set| {
                    let mut names: Vec<&str> = set.iter().map(|&a| config.accounts[a].name.as_str()).collect();
                    names.sort_unstable();
                    (set.clone(), names.join(", "))
                }),
            }
        })
        .collect();
    out
}

/// A tenant's allowed and refused routes: residency, and the accounts it is pinned to (an
/// OpenAI-compatible provider is no account and stays allowed).
fn admit_routes(
    routes: &[Arc<Route>],
    tenant: &crate::config::Tenant,
    trust: DestinationTrust,
) -> (Vec<Arc<Route>>, Vec<Arc<Route>>) {
    let policy = &tenant.residency;
    let mask = strata_router::policy_mask(policy);
    routes.iter().cloned().partition(|r| {
        let account_ok = match &r.target {
            Target::Bedrock { account, .. } => tenant.may_use_account(*account),
            Target::OpenAi { .. } => true,
        };
        account_ok && r.reach.admits(policy, mask, trust)
    })
}

/// See [`Route::chat`]: false only when the catalog says so.
fn takes_chat(catalog: &Catalog, target: &Target) -> bool {
    let Target::Bedrock { model_id, .. } = target else {
        return true;
    };
    let Ok(ModelRef::Imported { region, .. }) = ModelRef::parse(model_id) else {
        return true;
    };
    let instruct = catalog
        .scans()
        .filter(|s| s.region == region)
        .find_map(|s| s.imported.models()?.get(model_id.as_str()))
        .and_then(|m| m.instruct_supported);
    instruct != Some(false)
}

fn health_for(carried: &Carried, label: &str, origin: Origin) -> Arc<Health> {
    carried
        .health
        .get(&(label.to_string(), origin))
        .cloned()
        .unwrap_or_default()
}

/// The budget's name: the logical model, the target and how it was found.
fn quota_key(model: &str, label: &str, origin: Origin) -> Box<str> {
    format!("d:{model}:{origin:?}:{label}").into()
}

/// What AWS lets a Bedrock target's account send it per minute in its region: the catalog's
/// Service Quotas for the target's model or profile ID, each measure overridden by the config's
/// `quotas:` where it sets one. `None` when neither says anything (or for a provider).
pub fn capacity_for(config: &Config, catalog: &Catalog, target: &Target) -> Option<Capacity> {
    let Target::Bedrock {
        account,
        region,
        model_id,
    } = target
    else {
        return None;
    };
    let name = &config.accounts.get(*account)?.name;
    let listed = catalog
        .scan(name, region)
        .and_then(|s| s.quotas.get(model_id))
        .map(|q| (q.rpm, q.tpm))
        .unwrap_or_default();
    let configured = config
        .quotas
        .iter()
        .find(|o| o.account == *account && o.region == *region && o.model_id == *model_id)
        .map(|o| (o.rpm, o.tpm))
        .unwrap_or_default();
    let (rpm, tpm) = (configured.0.or(listed.0), configured.1.or(listed.1));
    if rpm.is_none() && tpm.is_none() {
        return None;
    }
    Some(Capacity {
        rpm,
        tpm,
        key: format!("{name}/{region}/{model_id}").into(),
    })
}

#[allow(clippy::too_many_arguments)]
fn build(
    config: &Config,
    carried: &Carried,
    catalog: &Catalog,
    prices: &strata_router::pricing::PriceTable,
    model: &str,
    c: Candidate,
    target: Target,
    budget: Limits,
) -> Arc<Route> {
    let label = c.label();
    let capacity = capacity_for(config, catalog, &target);
    let health = health_for(carried, &label, c.origin);
    let warmth = carried.warmth_for(&label, &target);
    let quota_key = quota_key(model, &label, c.origin);
    Arc::new(Route {
        chat: takes_chat(catalog, &target),
        warmth,
        target,
        reach: c.reach,
        layer: c.layer,
        origin: c.origin,
        weight: c.weight,
        priority: c.priority,
        stale: c.stale,
        health,
        limits: budget,
        quota_key,
        capacity,
        capacity_state: Default::default(),
        region_cap: None,
        price: prices.price(&c.model_id, c.layer),
        label,
        metrics: Default::default(),
    })
}

/// Gives each route of a logical model its region's cap: `share` of the upstream quota summed
/// over the model's candidates (each quota once), counted per region. Nothing when no quota is
/// known.
fn cap_regions(routes: &mut [Arc<Route>], model: &str, share: f64) {
    let mut quotas: HashMap<&str, &Capacity> = HashMap::new();
    for r in routes.iter() {
        if let Some(c) = &r.capacity {
            quotas.entry(&c.key).or_insert(c);
        }
    }
    // Each measure summed over the quotas that have it, then the share of it (at least 1).
    let capped = |measure: fn(&Capacity) -> Option<u32>| {
        let known: Vec<u64> = quotas.values().filter_map(|c| measure(c)).map(u64::from).collect();
        (!known.is_empty()).then(|| {
            let total = known.iter().sum::<u64>() as f64;
            u32::try_from((total * share).ceil() as u64).unwrap_or(u32::MAX).max(1)
        })
    };
    let (rpm, tpm) = (capped(|c| c.rpm), capped(|c| c.tpm));
    if rpm.is_none() && tpm.is_none() {
        return;
    }
    for route in routes.iter_mut() {
        let Some(region) = route.region().map(|r| r.to_string()) else {
            continue;
        };
        // Only just built: nothing else holds these routes yet.
        if let Some(r) = Arc::get_mut(route) {
            r.region_cap = Some(Capacity {
                rpm,
                tpm,
                key: format!("cap/{model}/{region}").into(),
            });
        }
    }
}

pub mod check;
pub mod report;

#[cfg(test)]
mod tests;
