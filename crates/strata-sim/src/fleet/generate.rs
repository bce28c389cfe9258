//! Generated fleets for benchmarks: N workload accounts over the first M regions of the
//! built-in catalog, plus one hub account that every workload account's `StrataGateway` role
//! trusts (as in the built-in fleet). The same spec and seed always give the same file.
//!
//! Invariants: account IDs, access keys and API keys are distinct; every model and profile
//! kept is restricted to the chosen regions (a profile left without a source or destination
//! is dropped), so the file validates.

use serde::Serialize;
use sha2::{Digest, Sha256};
use strata_core::{AccountId, Region};

use super::{
    AccountSpec, ApiKeySpec, CatalogFile, ControlPlaneSpec, FleetError, FleetFile, LatencySpec, QuotaDefaults, RoleSpec,
};

/// The hub account's ID: the gateway's own identity, trusted by every generated account.
pub const HUB_ACCOUNT: &str = "999999999999";
/// The role each generated account offers the hub.
pub const ROLE_NAME: &str = "StrataGateway";
/// Most workload accounts one generated fleet may have.
pub const MAX_ACCOUNTS: usize = 9999;

/// What to generate: `accounts=30,regions=17[,seed=N][,cp_latency_ms=…,cp_jitter=…,cp_rps=…,cp_burst=…]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerateSpec {
    pub accounts: usize,
    pub regions: usize,
    pub seed: u64,
    pub control_plane: ControlPlaneSpec,
}

impl Default for GenerateSpec {
    fn default() -> Self {
        GenerateSpec {
            accounts: 10,
            regions: 17,
            seed: 0,
            control_plane: ControlPlaneSpec::default(),
        }
    }
}

impl GenerateSpec {
    /// Parses `key=value` pairs separated by commas; unknown keys are errors.
    pub fn parse(text: &str) -> Result<GenerateSpec, FleetError> {
        let mut spec = GenerateSpec::default();
        let bad = |m: String| FleetError::Invalid(format!("--generate-fleet: {m}"));
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(bad(format!("expected key=value, got '{pair}'")));
            };
            let value = value.trim();
            let number = |what: &str| bad(format!("{what} must be a number, got '{value}'"));
            match key.trim() {
                "accounts" => spec.accounts = value.parse().map_err(|_| number("accounts"))?,
                "regions" => spec.regions = value.parse().map_err(|_| number("regions"))?,
                "seed" => spec.seed = value.parse().map_err(|_| number("seed"))?,
                "cp_latency_ms" => spec.control_plane.latency_ms = value.parse().map_err(|_| number("cp_latency_ms"))?,
                "cp_jitter" => spec.control_plane.jitter = value.parse().map_err(|_| number("cp_jitter"))?,
                "cp_rps" => spec.control_plane.rps = Some(value.parse().map_err(|_| number("cp_rps"))?),
                "cp_burst" => spec.control_plane.burst = Some(value.parse().map_err(|_| number("cp_burst"))?),
                other => {
                    return Err(bad(format!(
                        "unknown key '{other}' (known: accounts, regions, seed, cp_latency_ms, cp_jitter, cp_rps, cp_burst)"
                    )))
                }
            }
        }
        if spec.accounts == 0 || spec.accounts > MAX_ACCOUNTS {
            return Err(bad(format!("accounts must be 1 to {MAX_ACCOUNTS}")));
        }
        if spec.regions == 0 {
            return Err(bad("regions must be at least 1".into()));
        }
        spec.control_plane.check().map_err(bad)?;
        Ok(spec)
    }
}

/// Builds the fleet file for a spec.
pub fn generate(spec: &GenerateSpec) -> Result<FleetFile, FleetError> {
    let catalog = CatalogFile::builtin()?;
    if spec.regions > catalog.regions.len() {
        return Err(FleetError::Invalid(format!(
            "--generate-fleet: regions={} but the built-in catalog has {}",
            spec.regions,
            catalog.regions.len()
        )));
    }
    let regions: Vec<Region> = catalog.regions[..spec.regions].to_vec();
    let keep = |list: &[Region]| -> Vec<Region> { list.iter().filter(|r| regions.contains(r)).cloned().collect() };
    let models: Vec<_> = catalog
        .models
        .into_iter()
        .filter_map(|mut m| {
            m.hosted_in = keep(&m.hosted_in);
            m.on_demand_in = keep(&m.on_demand_in);
            (!m.hosted_in.is_empty()).then_some(m)
        })
        .collect();
    let profiles: Vec<_> = catalog
        .profiles
        .into_iter()
        .filter_map(|mut p| {
            let declared_sources = !p.sources.is_empty();
            p.destinations = keep(&p.destinations);
            p.sources = keep(&p.sources);
            let no_sources = declared_sources && p.sources.is_empty();
            (!p.destinations.is_empty() && !no_sources).then_some(p)
        })
        .collect();
    let mut accounts: Vec<AccountSpec> = (0..spec.accounts)
        .map(|i| workload_account(spec.seed, i, &regions[0]))
        .collect::<Result<_, _>>()?;
    accounts.push(hub_account(spec.seed)?);
    Ok(FleetFile {
        regions: Some(regions),
        models: Some(models),
        profiles: Some(profiles),
        accounts: Some(accounts),
        quotas: Some(QuotaDefaults::default()),
        latency: Some(LatencySpec::default()),
        control_plane: Some(spec.control_plane),
        guardrails: Some(Vec::new()),
        imported_models: Some(Vec::new()),
        custom_models: None,
        region_capacity: None,
    })
}

/// The generated fleet as a YAML fleet file, checked to load.
pub fn generate_yaml(spec: &GenerateSpec) -> Result<String, FleetError> {
    let file = generate(spec)?;
    super::Fleet::from_file(file.clone())?;
    let yaml = serde_saphyr::to_string(&file).map_err(|e| FleetError::Invalid(format!("cannot write YAML: {e}")))?;
    Ok(format!(
        "# Generated by `strata sim --generate-fleet accounts={},regions={} --seed {}`: {} workload\n\
         # accounts (role {ROLE_NAME} trusting hub {HUB_ACCOUNT}), the hub, the first {} catalog regions.\n{yaml}",
        spec.accounts, spec.regions, spec.seed, spec.accounts, spec.regions
    ))
}

/// Uppercase letters and digits derived from (seed, label), `len` of them (one hash block of
/// 32 characters per counter value, so long strings do not repeat).
fn derived(seed: u64, label: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0u32..)
        .flat_map(|block| {
            Sha256::new()
                .chain_update(seed.to_be_bytes())
                .chain_update(block.to_be_bytes())
                .chain_update(label.as_bytes())
                .finalize()
                .into_iter()
        })
        .take(len)
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect()
}

fn account_id(n: u64) -> Result<AccountId, FleetError> {
    AccountId::parse(&format!("{n:012}")).map_err(|e| FleetError::Invalid(format!("generated account id: {e}")))
}

fn workload_account(seed: u64, index: usize, home: &Region) -> Result<AccountSpec, FleetError> {
    // IDs 1000_0000_0000 + seed block + index: distinct within a fleet, different per seed,
    // never the hub's.
    let block = (seed % 80_000) * 10_000;
    let id = account_id(100_000_000_000 + block + index as u64)?;
    let name = format!("acct-{:04}", index + 1);
    // The index is spelled into the key, so keys cannot collide whatever the hash gives.
    let access_key_id = format!("AKIA{}{index:04}", derived(seed, &format!("key-{index}"), 12));
    Ok(AccountSpec {
        access_key_id,
        secret_access_key: derived(seed, &format!("secret-{index}"), 40),
        api_keys: vec![ApiKeySpec {
            token: format!("ABSK{}{index:04}", derived(seed, &format!("api-{index}"), 28)),
            region: Some(home.clone()),
        }],
        id,
        name,
        regions: Vec::new(),
        denied: Vec::new(),
        roles: vec![RoleSpec {
            name: ROLE_NAME.to_string(),
            trusted: vec![HUB_ACCOUNT.to_string()],
        }],
        quotas: Vec::new(),
    })
}

fn hub_account(seed: u64) -> Result<AccountSpec, FleetError> {
    Ok(AccountSpec {
        id: AccountId::parse(HUB_ACCOUNT).map_err(|e| FleetError::Invalid(format!("hub account id: {e}")))?,
        name: "gateway-hub".to_string(),
        access_key_id: format!("AKIAHUB{}", derived(seed, "hub-key", 13)),
        secret_access_key: derived(seed, "hub-secret", 40),
        api_keys: Vec::new(),
        regions: Vec::new(),
        denied: Vec::new(),
        roles: Vec::new(),
        quotas: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Fleet;
    use super::*;

    #[test]
    fn spec_parses_and_refuses_nonsense() {
        let spec =
            GenerateSpec::parse("accounts=30, regions=17,seed=7,cp_latency_ms=100,cp_rps=10,cp_burst=20").unwrap();
        assert_eq!((spec.accounts, spec.regions, spec.seed), (30, 17, 7));
        assert_eq!(spec.control_plane.latency_ms, 100);
        assert_eq!(spec.control_plane.rps, Some(10.0));
        assert_eq!(spec.control_plane.burst, Some(20));
        for bad in [
            "accounts=0",
            "accounts=x",
            "regions=0",
            "planets=3",
            "accounts",
            "cp_burst=3",
            "cp_jitter=2,cp_rps=1",
        ] {
            assert!(GenerateSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_fleet_validates_with_distinct_accounts_and_only_chosen_regions() {
        let spec = GenerateSpec::parse("accounts=30,regions=5,cp_rps=10").unwrap();
        let file = generate(&spec).unwrap();
        let fleet = Fleet::from_file(file).unwrap();
        assert_eq!(fleet.accounts.len(), 31);
        assert_eq!(fleet.regions.len(), 5);
        assert_eq!(fleet.control_plane.rps, Some(10.0));
        let ids: std::collections::BTreeSet<_> = fleet.accounts.iter().map(|a| a.id.as_str().to_string()).collect();
        assert_eq!(ids.len(), 31);
        for m in &fleet.models {
            assert!(m.hosted_in.iter().all(|r| fleet.regions.contains(r)), "{}", m.id);
        }
        assert!(!fleet.profiles.is_empty());
        // Every workload account trusts the hub.
        let hub = fleet.account_by_id_or_name(HUB_ACCOUNT).unwrap();
        assert!(fleet.accounts[hub].roles.is_empty());
        for (i, a) in fleet.accounts.iter().enumerate().filter(|(i, _)| *i != hub) {
            assert!(
                a.roles.iter().any(|r| r.trusted.iter().any(|t| t == HUB_ACCOUNT)),
                "{i}"
            );
        }
    }

    #[test]
    fn generation_is_deterministic_per_seed_and_round_trips_through_yaml() {
        let a = generate(&GenerateSpec::parse("accounts=3,regions=22,seed=1").unwrap()).unwrap();
        let b = generate(&GenerateSpec::parse("accounts=3,regions=22,seed=1").unwrap()).unwrap();
        let c = generate(&GenerateSpec::parse("accounts=3,regions=22,seed=2").unwrap()).unwrap();
        let json = |f: &FleetFile| serde_json::to_string(f).unwrap();
        assert_eq!(json(&a), json(&b));
        assert_ne!(json(&a), json(&c));
        let yaml = generate_yaml(&GenerateSpec::parse("accounts=3,regions=22,seed=1").unwrap()).unwrap();
        assert!(yaml.starts_with("# Generated"));
        let back: FleetFile = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(json(&back), json(&a));
        Fleet::from_file(back).unwrap();
    }

    #[test]
    fn too_many_regions_is_an_error() {
        let spec = GenerateSpec::parse("accounts=1,regions=500").unwrap();
        assert!(generate(&spec).is_err());
    }
}
