//! The availability catalog: for every (account, region) that discovery scanned, which foundation
//! models are listed there (with lifecycle and inference types), which system-defined inference
//! profiles have it as a source region (with their destination regions), whether the account
//! may invoke each model there, and which models the account brought in with Custom Model Import
//! (an imported model lives, and runs, in its one region), and what Service Quotas lets the account
//! send each model and profile there ([`crate::quotas`]).
//!
//! Invariants: a scan that failed keeps its last good data, marked stale with the error and the
//! time of the last success (availability is never erased by a failed scan); the catalog answers
//! "unknown" — never "yes" — for anything it holds no data on.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::quotas::Quotas;
use crate::region::Region;
use crate::residency::ExecutionSet;

/// A model's lifecycle as ListFoundationModels reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Lifecycle {
    Active,
    Legacy,
    /// Any status this version does not know; treated as not invocable.
    #[serde(untagged)]
    Other(String),
}

impl Lifecycle {
    pub fn parse(raw: &str) -> Lifecycle {
        match raw {
            "ACTIVE" => Lifecycle::Active,
            "LEGACY" => Lifecycle::Legacy,
            other => Lifecycle::Other(other.to_string()),
        }
    }

    /// Whether a model in this state may still be called on demand.
    pub fn invocable(&self) -> bool {
        matches!(self, Lifecycle::Active | Lifecycle::Legacy)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Lifecycle::Active => "ACTIVE",
            Lifecycle::Legacy => "LEGACY",
            Lifecycle::Other(s) => s,
        }
    }
}

/// How a model may be invoked in a region (`inferenceTypesSupported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InferenceType {
    /// The plain model ID may be called in this region.
    OnDemand,
    Provisioned,
    /// Reachable here only through an inference profile.
    InferenceProfile,
}

impl InferenceType {
    pub fn parse(raw: &str) -> Option<InferenceType> {
        match raw {
            "ON_DEMAND" => Some(InferenceType::OnDemand),
            "PROVISIONED" => Some(InferenceType::Provisioned),
            "INFERENCE_PROFILE" => Some(InferenceType::InferenceProfile),
            _ => None,
        }
    }
}

/// What GetFoundationModelAvailability says about one account's access to a model in a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Access {
    /// `authorizationStatus == AUTHORIZED`.
    pub authorized: bool,
    /// `entitlementAvailability == AVAILABLE`.
    pub entitled: bool,
    /// `agreementAvailability.status == AVAILABLE` (the model's EULA is accepted).
    pub agreement: bool,
    /// `regionAvailability == AVAILABLE`.
    pub region_available: bool,
}

impl Access {
    pub const GRANTED: Access = Access {
        authorized: true,
        entitled: true,
        agreement: true,
        region_available: true,
    };

    /// Whether every part of access is in place.
    pub fn granted(&self) -> bool {
        self.authorized && self.entitled && self.agreement && self.region_available
    }

    /// The first missing part, for messages.
    pub fn missing(&self) -> Option<&'static str> {
        if !self.region_available {
            Some("not available in the region")
        } else if !self.authorized {
            Some("not authorized")
        } else if !self.entitled {
            Some("not entitled")
        } else if !self.agreement {
            Some("agreement not accepted")
        } else {
            None
        }
    }
}

/// One foundation model as listed in one (account, region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub provider: String,
    pub lifecycle: Lifecycle,
    pub inference_types: BTreeSet<InferenceType>,
    #[serde(default)]
    pub streaming: bool,
    /// `None` when the availability call failed or was not made.
    pub access: Option<Access>,
}

impl ModelEntry {
    /// Whether the plain model ID may be called in this region, lifecycle permitting.
    pub fn on_demand(&self) -> bool {
        self.lifecycle.invocable() && self.inference_types.contains(&InferenceType::OnDemand)
    }
}

/// One system-defined inference profile callable from one (account, region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileEntry {
    /// Shared: every candidate compiled from this profile points at it.
    pub id: std::sync::Arc<str>,
    #[serde(default)]
    pub name: String,
    /// `ACTIVE` when usable.
    pub status: String,
    /// Foundation model(s) the profile runs; one for system-defined profiles.
    pub models: BTreeSet<String>,
    /// Every region the profile may execute in (from `models[].modelArn`).
    pub destinations: ExecutionSet,
}

impl ProfileEntry {
    /// An active system-defined profile running `model` in `destinations`.
    pub fn system(id: &str, model: &str, destinations: impl IntoIterator<Item = Region>) -> ProfileEntry {
        ProfileEntry {
            id: id.into(),
            name: String::new(),
            status: "ACTIVE".into(),
            models: BTreeSet::from([model.to_string()]),
            destinations: destinations.into_iter().collect(),
        }
    }

    pub fn active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// One model brought in with Custom Model Import, as ListImportedModels (and GetImportedModel)
/// describe it in one (account, region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedModelEntry {
    /// `arn:aws:bedrock:{region}:{account}:imported-model/{id}`: the model ID calls use.
    pub arn: String,
    /// `modelName`, unique per account and region: what an intent names.
    pub name: String,
    /// `modelArchitecture` (`llama`, `qwen2`, `mistral`, …) when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// `creationTime`, Unix seconds.
    #[serde(default)]
    pub created_at: u64,
    /// `instructSupported`: whether the model takes chat (Converse) requests, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruct_supported: Option<bool>,
    /// `customModelUnits.customModelUnitsPerModelCopy` from GetImportedModel, when known: what
    /// one copy costs per minute it runs (imported models have no per-token price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_units_per_copy: Option<u32>,
}

/// What is known of one (account, region)'s imported models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ImportedModels {
    /// ListImportedModels answered: every imported model here (possibly none), by ARN.
    Listed {
        models: BTreeMap<String, ImportedModelEntry>,
    },
    /// Not known: the account may not list them (AccessDenied), or no scan has listed them yet.
    Unknown { reason: String },
}

impl Default for ImportedModels {
    /// What a catalog written before imported models were scanned holds.
    fn default() -> Self {
        ImportedModels::Unknown {
            reason: "not listed yet (no scan of imported models has finished)".to_string(),
        }
    }
}

impl ImportedModels {
    /// A listing of these entries.
    pub fn listed(entries: impl IntoIterator<Item = ImportedModelEntry>) -> ImportedModels {
        ImportedModels::Listed {
            models: entries.into_iter().map(|e| (e.arn.clone(), e)).collect(),
        }
    }

    /// The listed models by ARN; `None` when unknown.
    pub fn models(&self) -> Option<&BTreeMap<String, ImportedModelEntry>> {
        match self {
            ImportedModels::Listed { models } => Some(models),
            ImportedModels::Unknown { .. } => None,
        }
    }

    /// Why the listing is unknown; `None` when listed.
    pub fn unknown(&self) -> Option<&str> {
        match self {
            ImportedModels::Listed { .. } => None,
            ImportedModels::Unknown { reason } => Some(reason),
        }
    }

    /// The listed models named `name` (at most one: names are unique per account and region).
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a ImportedModelEntry> + 'a {
        self.models()
            .into_iter()
            .flat_map(|m| m.values())
            .filter(move |e| e.name == name)
    }
}

/// Whether a scan's data is current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Freshness {
    /// The last scan succeeded.
    Fresh,
    /// The last scan failed; the data is from `ScanResult::scanned_at`.
    Stale { failed_at: u64, error: String },
    /// No scan has ever succeeded; there is no data.
    Missing { failed_at: u64, error: String },
}

/// What is known about one (account, region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionScan {
    pub account: String,
    pub region: Region,
    /// Unix seconds of the last successful scan (0 if none).
    pub scanned_at: u64,
    pub freshness: Freshness,
    pub models: BTreeMap<String, ModelEntry>,
    pub profiles: BTreeMap<String, ProfileEntry>,
    /// Models brought in with Custom Model Import (absent from catalogs written before they
    /// were scanned: unknown).
    #[serde(default)]
    pub imported: ImportedModels,
    /// Bedrock's Service Quotas here, by model or profile ID (absent from catalogs written
    /// before they were scanned: unknown).
    #[serde(default)]
    pub quotas: Quotas,
}

impl RegionScan {
    /// An empty scan that failed before any success.
    pub fn missing(account: &str, region: Region, failed_at: u64, error: String) -> RegionScan {
        RegionScan {
            account: account.to_string(),
            region,
            scanned_at: 0,
            freshness: Freshness::Missing { failed_at, error },
            models: BTreeMap::new(),
            profiles: BTreeMap::new(),
            imported: ImportedModels::default(),
            quotas: Quotas::default(),
        }
    }

    pub fn has_data(&self) -> bool {
        !matches!(self.freshness, Freshness::Missing { .. })
    }

    /// Keeps this scan's data after a failed refresh, marked stale.
    pub fn into_stale(mut self, failed_at: u64, error: String) -> RegionScan {
        self.freshness = match self.freshness {
            Freshness::Missing { .. } => Freshness::Missing { failed_at, error },
            _ => Freshness::Stale { failed_at, error },
        };
        self
    }
}

/// What the catalog says about an account's access to a model in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessState {
    Granted,
    /// The catalog knows access is missing, and why.
    Denied(String),
    /// The catalog has no data (region not scanned, scan failed, availability not fetched).
    Unknown(String),
}

/// Every scan, keyed by account name, then region (nested so look-ups borrow, never allocate).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CatalogFile", into = "CatalogFile")]
pub struct Catalog {
    scans: BTreeMap<String, BTreeMap<Region, RegionScan>>,
}

/// The catalog's JSON form: a list, since JSON maps need string keys.
#[derive(Serialize, Deserialize)]
struct CatalogFile {
    scans: Vec<RegionScan>,
}

impl From<CatalogFile> for Catalog {
    fn from(file: CatalogFile) -> Self {
        let mut catalog = Catalog::default();
        for scan in file.scans {
            catalog.insert(scan);
        }
        catalog
    }
}

impl From<Catalog> for CatalogFile {
    fn from(catalog: Catalog) -> Self {
        CatalogFile {
            scans: catalog.scans.into_values().flat_map(|m| m.into_values()).collect(),
        }
    }
}

impl Catalog {
    pub fn insert(&mut self, scan: RegionScan) {
        self.scans
            .entry(scan.account.clone())
            .or_default()
            .insert(scan.region.clone(), scan);
    }

    pub fn scan(&self, account: &str, region: &Region) -> Option<&RegionScan> {
        self.scans.get(account)?.get(region)
    }

    /// Every scan, by account then region.
    pub fn scans(&self) -> impl Iterator<Item = &RegionScan> {
        self.scans.values().flat_map(|m| m.values())
    }

    /// Every account's scans, by account name.
    pub fn accounts(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = &RegionScan>)> {
        self.scans.iter().map(|(a, m)| (a.as_str(), m.values()))
    }

    /// Scans of one account, in region order.
    pub fn scans_of<'a>(&'a self, account: &str) -> impl Iterator<Item = &'a RegionScan> + 'a {
        self.scans.get(account).into_iter().flat_map(|m| m.values())
    }

    pub fn is_empty(&self) -> bool {
        self.scans.is_empty()
    }

    /// Merges a fresh round of scans over this catalog: a fresh scan replaces the old one; a
    /// failed one keeps the old data marked stale (or is recorded as missing).
    pub fn merged(&self, round: Vec<RegionScan>) -> Catalog {
        let mut next = self.clone();
        for scan in round {
            let merged = match (&scan.freshness, self.scan(&scan.account, &scan.region)) {
                (Freshness::Fresh, _) => scan,
                (Freshness::Stale { failed_at, error } | Freshness::Missing { failed_at, error }, Some(old)) => {
                    old.clone().into_stale(*failed_at, error.clone())
                }
                (_, None) => scan,
            };
            next.insert(merged);
        }
        next
    }

    /// Access of `account` to foundation model `model` in `region`.
    pub fn access(&self, account: &str, region: &Region, model: &str) -> AccessState {
        match self.scan(account, region) {
            Some(scan) => scan.access(model),
            None => AccessState::Unknown(format!("{region} is not scanned for account {account}")),
        }
    }

    /// The names of the imported models any scan of `account` lists, in order.
    pub fn imported_names<'a>(&'a self, account: &str) -> BTreeSet<&'a str> {
        self.scans_of(account)
            .filter_map(|s| s.imported.models())
            .flat_map(|m| m.values().map(|e| e.name.as_str()))
            .collect()
    }

    /// The oldest successful scan time among scans with data, for staleness gauges.
    pub fn oldest_scan(&self) -> Option<u64> {
        self.scans().filter(|s| s.has_data()).map(|s| s.scanned_at).min()
    }
}

/// How one model is available to one account in one region, in one word (the cells of the
/// availability matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Callable by its model ID here.
    OnDemand,
    /// Reachable here only through an inference profile.
    ProfileOnly,
    /// Listed, but the account may not invoke it (or its lifecycle forbids it).
    NoAccess,
    /// Listed, access not known.
    Unknown,
    NotOffered,
}

impl Availability {
    /// The matrix symbol: ● ◆ × ? ·
    pub fn symbol(self) -> &'static str {
        match self {
            Availability::OnDemand => "●",
            Availability::ProfileOnly => "◆",
            Availability::NoAccess => "×",
            Availability::Unknown => "?",
            Availability::NotOffered => "·",
        }
    }

    /// Whether the account may invoke the model here at all.
    pub fn invocable(self) -> bool {
        matches!(self, Availability::OnDemand | Availability::ProfileOnly)
    }
}

impl RegionScan {
    /// [`Availability`] of `model` here.
    pub fn availability(&self, model: &str) -> Availability {
        let Some(entry) = self.models.get(model) else {
            return Availability::NotOffered;
        };
        match self.access_of(model, Some(entry)) {
            AccessState::Granted if entry.on_demand() => Availability::OnDemand,
            AccessState::Granted => Availability::ProfileOnly,
            AccessState::Denied(_) => Availability::NoAccess,
            AccessState::Unknown(_) => Availability::Unknown,
        }
    }

    /// [`Availability`] of the imported model named `name` here: on demand when listed (an
    /// imported model is called by its ARN in its own region), unknown when the listing is.
    pub fn imported_availability(&self, name: &str) -> Availability {
        if !self.has_data() {
            return Availability::Unknown;
        }
        match &self.imported {
            ImportedModels::Unknown { .. } => Availability::Unknown,
            listed if listed.named(name).next().is_some() => Availability::OnDemand,
            _ => Availability::NotOffered,
        }
    }

    /// This account's access to foundation model `model` in this region.
    pub fn access(&self, model: &str) -> AccessState {
        self.access_of(model, self.models.get(model))
    }

    /// [`RegionScan::access`] for an entry already looked up (`self.models.get(model)`).
    pub fn access_of(&self, model: &str, entry: Option<&ModelEntry>) -> AccessState {
        let (account, region) = (&self.account, &self.region);
        if !self.has_data() {
            return AccessState::Unknown(format!("no successful scan of {account}/{region} yet"));
        }
        let Some(entry) = entry else {
            return AccessState::Denied(format!("{model} is not offered in {region}"));
        };
        if !entry.lifecycle.invocable() {
            return AccessState::Denied(format!("{model} is {} in {region}", entry.lifecycle.as_str()));
        }
        match &entry.access {
            None => AccessState::Unknown(format!("availability of {model} in {account}/{region} is unknown")),
            Some(a) => match a.missing() {
                None => AccessState::Granted,
                Some(why) => AccessState::Denied(format!("{account} has no access to {model} in {region}: {why}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str) -> Region {
        Region::parse(name).unwrap()
    }

    fn scan(account: &str, r: &str, access: Option<Access>) -> RegionScan {
        let mut models = BTreeMap::new();
        models.insert(
            "m.one".to_string(),
            ModelEntry {
                id: "m.one".into(),
                name: String::new(),
                provider: String::new(),
                lifecycle: Lifecycle::Active,
                inference_types: BTreeSet::from([InferenceType::OnDemand]),
                streaming: true,
                access,
            },
        );
        RegionScan {
            account: account.into(),
            region: region(r),
            scanned_at: 100,
            freshness: Freshness::Fresh,
            models,
            profiles: BTreeMap::new(),
            imported: ImportedModels::listed([imported("apexguru-qwen", r, "abcdefghij12")]),
            quotas: Quotas::default(),
        }
    }

    fn imported(name: &str, r: &str, id: &str) -> ImportedModelEntry {
        ImportedModelEntry {
            arn: format!("arn:aws:bedrock:{r}:111111111111:imported-model/{id}"),
            name: name.into(),
            architecture: Some("qwen2".into()),
            created_at: 1_700_000_000,
            instruct_supported: Some(true),
            model_units_per_copy: Some(1),
        }
    }

    #[test]
    fn access_is_unknown_without_data_and_denied_only_when_known() {
        let mut c = Catalog::default();
        c.insert(scan("a", "eu-west-1", Some(Access::GRANTED)));
        c.insert(scan(
            "a",
            "eu-west-3",
            Some(Access {
                authorized: false,
                ..Access::GRANTED
            }),
        ));
        c.insert(scan("a", "eu-north-1", None));
        assert_eq!(c.access("a", &region("eu-west-1"), "m.one"), AccessState::Granted);
        assert!(matches!(
            c.access("a", &region("eu-west-3"), "m.one"),
            AccessState::Denied(_)
        ));
        assert!(matches!(
            c.access("a", &region("eu-north-1"), "m.one"),
            AccessState::Unknown(_)
        ));
        assert!(matches!(
            c.access("a", &region("us-east-1"), "m.one"),
            AccessState::Unknown(_)
        ));
        assert!(matches!(
            c.access("a", &region("eu-west-1"), "m.two"),
            AccessState::Denied(_)
        ));
    }

    #[test]
    fn a_failed_scan_keeps_the_old_data_as_stale() {
        let mut c = Catalog::default();
        c.insert(scan("a", "eu-west-1", Some(Access::GRANTED)));
        let failed = RegionScan::missing("a", region("eu-west-1"), 200, "throttled".into());
        let next = c.merged(vec![failed.clone()]);
        let kept = next.scan("a", &region("eu-west-1")).unwrap();
        assert!(kept.models.contains_key("m.one"));
        assert!(matches!(kept.freshness, Freshness::Stale { failed_at: 200, .. }));
        assert_eq!(next.access("a", &region("eu-west-1"), "m.one"), AccessState::Granted);
        // A region that never succeeded stays missing.
        let empty = Catalog::default().merged(vec![failed]);
        assert!(!empty.scan("a", &region("eu-west-1")).unwrap().has_data());
    }

    #[test]
    fn round_trips_through_json() {
        let mut c = Catalog::default();
        c.insert(scan("a", "eu-west-1", Some(Access::GRANTED)));
        c.insert(scan("b", "us-east-1", None).into_stale(5, "boom".into()));
        let text = serde_json::to_string(&c).unwrap();
        let back: Catalog = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn a_cache_file_written_before_imported_models_loads_with_them_unknown() {
        let old = r#"{"scans":[{"account":"a","region":"eu-west-1","scanned_at":100,
            "freshness":{"state":"fresh"},
            "models":{"m.one":{"id":"m.one","lifecycle":"ACTIVE","inference_types":["ON_DEMAND"],"access":null}},
            "profiles":{}}]}"#;
        let c: Catalog = serde_json::from_str(old).unwrap();
        let s = c.scan("a", &region("eu-west-1")).unwrap();
        assert!(s.models.contains_key("m.one"));
        assert!(s.imported.unknown().is_some());
        assert_eq!(s.imported_availability("apexguru-qwen"), Availability::Unknown);
        assert!(
            s.quotas.unknown().is_some(),
            "quotas unknown in a catalog written before them"
        );
    }

    #[test]
    fn imported_models_are_found_by_name_and_say_when_unknown() {
        let mut s = scan("a", "us-east-1", Some(Access::GRANTED));
        assert_eq!(s.imported_availability("apexguru-qwen"), Availability::OnDemand);
        assert_eq!(s.imported_availability("other"), Availability::NotOffered);
        assert_eq!(s.imported.named("apexguru-qwen").count(), 1);
        let json = serde_json::to_value(&s.imported).unwrap();
        assert_eq!(json["state"], "listed");
        s.imported = ImportedModels::Unknown {
            reason: "AccessDenied".into(),
        };
        assert_eq!(s.imported_availability("apexguru-qwen"), Availability::Unknown);
        assert_eq!(s.imported.named("apexguru-qwen").count(), 0);
        let json = serde_json::to_value(&s.imported).unwrap();
        assert_eq!(
            (json["state"].as_str(), json["reason"].as_str()),
            (Some("unknown"), Some("AccessDenied"))
        );
    }
}
