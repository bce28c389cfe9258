//! The fleet: which accounts, regions, models and inference profiles the emulator serves.
//!
//! A fleet file (YAML or JSON) is read into [`FleetFile`] with every key checked, then validated
//! into a [`Fleet`] with lookup indexes. Without a file, the built-in fleet is used: the real
//! catalog in `default_catalog.json` and the accounts in `default_fleet.yaml`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use strata_core::Region;

pub mod capacity;
pub mod changes;
pub mod control_plane;
pub mod custom_models;
mod file;
pub mod generate;

pub use control_plane::ControlPlaneSpec;
pub use custom_models::{
    model_units, valid_id, valid_model_name, Architecture, CustomModelSettings, ImportedModelSeed,
};
pub(crate) use file::CatalogFile;
pub use file::{
    AccountSpec, ApiKeySpec, BodyDialect, DeniedSpec, FleetFile, LatencySpec, ModelSpec, ProfileSpec, Quota,
    QuotaDefaults, QuotaOverride, RoleSpec,
};
pub use file::{GuardrailSeed, TopicSeed};

const DEFAULT_CATALOG: &str = include_str!("default_catalog.json");
const DEFAULT_FLEET: &str = include_str!("default_fleet.yaml");

/// A fleet that could not be read or does not hold together.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot read fleet file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("fleet file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("fleet is inconsistent: {0}")]
    Invalid(String),
}

/// A validated fleet with lookup indexes.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub regions: Vec<Region>,
    pub models: Vec<ModelSpec>,
    pub profiles: Vec<ProfileSpec>,
    pub accounts: Vec<AccountSpec>,
    pub quotas: QuotaDefaults,
    pub latency: LatencySpec,
    pub control_plane: ControlPlaneSpec,
    /// Guardrails to create at start (and again at reset).
    pub guardrails: Vec<GuardrailSeed>,
    /// Imported models to create at start (and again at reset).
    pub imported_models: Vec<ImportedModelSeed>,
    pub custom_models: CustomModelSettings,
    /// Capacities the fleet names (the others have `capacity::DEFAULT_REGION_CAPACITY`).
    pub region_capacity: BTreeMap<Region, u32>,
    model_by_id: HashMap<String, usize>,
    profile_by_id: HashMap<String, usize>,
    account_by_key: HashMap<String, usize>,
    account_by_id: HashMap<String, usize>,
    account_by_token: HashMap<String, usize>,
    denied: BTreeSet<(usize, String, String)>,
}

impl Fleet {
    /// The built-in fleet.
    pub fn builtin() -> Result<Fleet, FleetError> {
        Fleet::from_file(parse_yaml::<FleetFile>(DEFAULT_FLEET, "<built-in fleet>")?)
    }

    /// Reads a fleet file (YAML or JSON).
    pub fn load(path: &Path) -> Result<Fleet, FleetError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FleetError::Read {
            path: display.clone(),
            source,
        })?;
        Fleet::from_file(parse_yaml::<FleetFile>(&text, &display)?)
    }

    /// Fills what the file leaves out from the built-in fleet, then validates.
    pub fn from_file(file: FleetFile) -> Result<Fleet, FleetError> {
        let catalog = CatalogFile::builtin()?;
        // The built-in accounts come with the built-in guardrails and imported models (which
        // name them).
        let (accounts, guardrails, imported_models) = match file.accounts {
            Some(accounts) => (
                accounts,
                file.guardrails.unwrap_or_default(),
                file.imported_models.unwrap_or_default(),
            ),
            None => {
                let builtin = parse_yaml::<FleetFile>(DEFAULT_FLEET, "<built-in fleet>")?;
                let guardrails = file.guardrails.or(builtin.guardrails).unwrap_or_default();
                let imported = file.imported_models.or(builtin.imported_models).unwrap_or_default();
                (builtin.accounts.unwrap_or_default(), guardrails, imported)
            }
        };
        let custom_models = file.models.is_some();
        let region_capacity = file.region_capacity;
        let models = file.models.unwrap_or(catalog.models);
        let profiles = file.profiles.unwrap_or(catalog.profiles);
        let regions = match file.regions {
            Some(r) => r,
            None if !custom_models => catalog.regions,
            None => {
                let set: BTreeSet<Region> = models.iter().flat_map(|m| m.hosted_in.iter().cloned()).collect();
                set.into_iter().collect()
            }
        };
        // Without its own capacities a fleet takes the built-in ones for the regions it has.
        let region_capacity = match region_capacity {
            Some(c) => c,
            None => parse_yaml::<FleetFile>(DEFAULT_FLEET, "<built-in fleet>")?
                .region_capacity
                .unwrap_or_default()
                .into_iter()
                .filter(|(r, _)| regions.contains(r))
                .collect(),
        };
        Fleet::validate(FleetParts {
            regions,
            models,
            profiles,
            accounts,
            quotas: file.quotas.unwrap_or_default(),
            latency: file.latency.unwrap_or_default(),
            control_plane: file.control_plane.unwrap_or_default(),
            guardrails,
            imported_models,
            custom_models: file.custom_models.unwrap_or_default(),
            region_capacity,
        })
    }

    fn validate(parts: FleetParts) -> Result<Fleet, FleetError> {
        let FleetParts {
            regions,
            models,
            mut profiles,
            accounts,
            quotas,
            latency,
            control_plane,
            guardrails,
            imported_models,
            custom_models,
            region_capacity,
        } = parts;
        control_plane.check().map_err(FleetError::Invalid)?;
        custom_models.check().map_err(FleetError::Invalid)?;
        let invalid = |m: String| Err(FleetError::Invalid(m));
        let region_set: BTreeSet<&Region> = regions.iter().collect();
        for g in &guardrails {
            if let Some(a) = g.accounts.iter().find(|a| !accounts.iter().any(|s| &s.name == *a)) {
                return invalid(format!(
                    "guardrail {} names account {a}, which is not in the fleet",
                    g.name
                ));
            }
            if let Some(r) = g.regions.iter().find(|r| !region_set.contains(r)) {
                return invalid(format!(
                    "guardrail {} names region {r}, which is not in the fleet's regions",
                    g.name
                ));
            }
        }
        check_imported_models(&imported_models, &accounts, &region_set)?;
        capacity::check_region_capacity(&region_capacity, &region_set)?;
        let mut model_by_id = HashMap::new();
        for (i, m) in models.iter().enumerate() {
            if model_by_id.insert(m.id.clone(), i).is_some() {
                return invalid(format!("model {} is listed twice", m.id));
            }
            for r in m.hosted_in.iter().chain(&m.on_demand_in) {
                if !region_set.contains(r) {
                    return invalid(format!(
                        "model {} names region {r}, which is not in the fleet's regions",
                        m.id
                    ));
                }
            }
            if let Some(r) = m.on_demand_in.iter().find(|r| !m.hosted_in.contains(r)) {
                return invalid(format!("model {} is on demand in {r} but not hosted there", m.id));
            }
        }
        let mut profile_by_id = HashMap::new();
        for (i, p) in profiles.iter_mut().enumerate() {
            if profile_by_id.insert(p.id.clone(), i).is_some() {
                return invalid(format!("profile {} is listed twice", p.id));
            }
            let Some(&mi) = model_by_id.get(&p.model) else {
                return invalid(format!(
                    "profile {} runs model {}, which is not in the catalog",
                    p.id, p.model
                ));
            };
            if p.destinations.is_empty() {
                return invalid(format!("profile {} has no destination regions", p.id));
            }
            if let Some(r) = p.destinations.iter().find(|r| !models[mi].hosted_in.contains(r)) {
                return invalid(format!(
                    "profile {} sends requests to {r}, where {} is not hosted",
                    p.id, p.model
                ));
            }
            if p.sources.is_empty() {
                p.sources = p.destinations.clone();
            }
            if let Some(r) = p.sources.iter().find(|r| !region_set.contains(r)) {
                return invalid(format!(
                    "profile {} has source region {r}, which is not in the fleet's regions",
                    p.id
                ));
            }
        }
        let mut account_by_key = HashMap::new();
        let mut account_by_id = HashMap::new();
        let mut account_by_token = HashMap::new();
        let mut denied = BTreeSet::new();
        for (i, a) in accounts.iter().enumerate() {
            if account_by_id.insert(a.id.as_str().to_string(), i).is_some() {
                return invalid(format!("account {} is listed twice", a.id));
            }
            if a.access_key_id.len() < 16 || !a.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return invalid(format!(
                    "account {}: access_key_id must be 16+ letters and digits",
                    a.id
                ));
            }
            if account_by_key.insert(a.access_key_id.clone(), i).is_some() {
                return invalid(format!("access key {} is used twice", a.access_key_id));
            }
            for k in &a.api_keys {
                if account_by_token.insert(k.token.clone(), i).is_some() {
                    return invalid(format!("API key of account {} is used twice", a.id));
                }
            }
            for d in &a.denied {
                if !model_by_id.contains_key(&d.model) {
                    return invalid(format!("account {} denies unknown model {}", a.id, d.model));
                }
                denied.insert((i, d.model.clone(), d.region.as_str().to_string()));
            }
        }
        Ok(Fleet {
            regions,
            models,
            profiles,
            accounts,
            quotas,
            latency,
            control_plane,
            guardrails,
            imported_models,
            custom_models,
            region_capacity,
            model_by_id,
            profile_by_id,
            account_by_key,
            account_by_id,
            account_by_token,
            denied,
        })
    }

    /// The fleet as a complete fleet file (what `--print-fleet` shows).
    pub fn to_file(&self) -> FleetFile {
        FleetFile {
            regions: Some(self.regions.clone()),
            models: Some(self.models.clone()),
            profiles: Some(self.profiles.clone()),
            accounts: Some(self.accounts.clone()),
            quotas: Some(self.quotas),
            latency: Some(self.latency),
            control_plane: Some(self.control_plane),
            guardrails: Some(self.guardrails.clone()),
            imported_models: Some(self.imported_models.clone()),
            custom_models: Some(self.custom_models),
            region_capacity: Some(self.region_capacity.clone()),
        }
    }

    /// A region's capacity as configured (the default for a region the fleet does not name).
    pub fn capacity(&self, region: &str) -> u32 {
        self.region_capacity
            .iter()
            .find(|(r, _)| r.as_str() == region)
            .map_or(capacity::DEFAULT_REGION_CAPACITY, |(_, &c)| c)
    }

    pub fn model(&self, id: &str) -> Option<&ModelSpec> {
        self.model_by_id.get(id).map(|&i| &self.models[i])
    }

    pub fn profile(&self, id: &str) -> Option<&ProfileSpec> {
        self.profile_by_id.get(id).map(|&i| &self.profiles[i])
    }

    pub fn account_by_access_key(&self, key: &str) -> Option<usize> {
        self.account_by_key.get(key).copied()
    }

    pub fn account_by_token(&self, token: &str) -> Option<usize> {
        self.account_by_token.get(token).copied()
    }

    /// An account by 12-digit ID or by name.
    pub fn account_by_id_or_name(&self, key: &str) -> Option<usize> {
        self.account_by_id
            .get(key)
            .copied()
            .or_else(|| self.accounts.iter().position(|a| a.name == key))
    }

    pub fn has_region(&self, region: &str) -> bool {
        self.regions.iter().any(|r| r.as_str() == region)
    }

    /// Whether the account has the region enabled.
    pub fn account_in_region(&self, account: usize, region: &str) -> bool {
        let regions = &self.accounts[account].regions;
        self.has_region(region) && (regions.is_empty() || regions.iter().any(|r| r.as_str() == region))
    }

    /// Access as configured in the fleet file (before runtime changes).
    pub fn configured_access(&self, account: usize, model: &str, region: &str) -> bool {
        !self.denied.contains(&(account, model.to_string(), region.to_string()))
    }

    /// The quota for (account, region, model or profile), cross-region or on demand.
    pub fn quota_for(&self, account: usize, region: &str, model: &str, cross_region: bool) -> Quota {
        let found = self.accounts[account]
            .quotas
            .iter()
            .rev()
            .find(|q| (q.model == "*" || q.model == model) && (q.region == "*" || q.region == region));
        match found {
            Some(q) => Quota { rpm: q.rpm, tpm: q.tpm },
            None if cross_region => self.quotas.cross_region,
            None => self.quotas.on_demand,
        }
    }
}

#[derive(Debug, Clone)]
struct FleetParts {
    regions: Vec<Region>,
    models: Vec<ModelSpec>,
    profiles: Vec<ProfileSpec>,
    accounts: Vec<AccountSpec>,
    quotas: QuotaDefaults,
    latency: LatencySpec,
    control_plane: ControlPlaneSpec,
    guardrails: Vec<GuardrailSeed>,
    imported_models: Vec<ImportedModelSeed>,
    custom_models: CustomModelSettings,
    region_capacity: BTreeMap<Region, u32>,
}

/// Imported-model seeds name fleet accounts and regions, carry a valid ID and name, and never
/// put two models under one ID or one name in an account and region.
fn check_imported_models(
    seeds: &[ImportedModelSeed],
    accounts: &[AccountSpec],
    regions: &BTreeSet<&Region>,
) -> Result<(), FleetError> {
    let invalid = |m: String| Err(FleetError::Invalid(m));
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    for s in seeds {
        if !valid_id(&s.id) {
            return invalid(format!(
                "imported model {}: id must be 12 lowercase letters and digits, got {}",
                s.name, s.id
            ));
        }
        if !valid_model_name(&s.name) {
            return invalid(format!(
                "imported model name {} does not fit ([0-9a-zA-Z][_-]?)+",
                s.name
            ));
        }
        if !(s.parameters_billion.is_finite() && s.parameters_billion > 0.0 && s.parameters_billion <= 1000.0) {
            return invalid(format!(
                "imported model {}: parameters_billion must be in (0, 1000]",
                s.name
            ));
        }
        if s.accounts.is_empty() || s.regions.is_empty() {
            return invalid(format!(
                "imported model {} needs at least one account and one region",
                s.name
            ));
        }
        for a in &s.accounts {
            if !accounts.iter().any(|x| &x.name == a) {
                return invalid(format!(
                    "imported model {} names account {a}, which is not in the fleet",
                    s.name
                ));
            }
            for r in &s.regions {
                if !regions.contains(r) {
                    return invalid(format!(
                        "imported model {} names region {r}, which is not in the fleet's regions",
                        s.name
                    ));
                }
                if !ids.insert((a.clone(), r.clone(), s.id.clone())) {
                    return invalid(format!("imported model id {} is used twice in {a} {r}", s.id));
                }
                if !names.insert((a.clone(), r.clone(), s.name.clone())) {
                    return invalid(format!("imported model name {} is used twice in {a} {r}", s.name));
                }
            }
        }
    }
    Ok(())
}

fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, path: &str) -> Result<T, FleetError> {
    serde_saphyr::from_str(text).map_err(|e| FleetError::Parse {
        path: path.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
