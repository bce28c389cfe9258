//! Tenants as the request path uses them: who may call (API keys, known only by their hashes;
//! SigV4 access keys, whose secrets HMAC needs in clear), what they may use (models, accounts,
//! residency) and how much (limits, budgets).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use strata_core::ResidencyPolicy;
use subtle::ConstantTimeEq;

use strata_aws::verify::SecretKey;

use super::file::{FailMode, TenantConfig, TenantKeyConfig};

/// The SHA-256 of an API key: the only form in which a key is kept (in memory, in the config
/// when written as `sha256:<hex>`, in the database). Keys are long random strings, so a plain
/// hash is enough (no password stretching needed).
#[derive(Clone, Copy)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// The hash of a key as a client sends it.
    pub fn of(key: &str) -> KeyHash {
        KeyHash(Sha256::digest(key.as_bytes()).into())
    }

    /// A hash written as 64 hex digits.
    pub fn from_hex(hex_digits: &str) -> Option<KeyHash> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut out).ok()?;
        Some(KeyHash(out))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Compared in constant time, so a lookup's timing says nothing about how much of a hash matched.
impl PartialEq for KeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for KeyHash {}

impl std::hash::Hash for KeyHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", &self.to_hex()[..8])
    }
}

/// A tenant's key, as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantKey {
    pub tenant: usize,
    /// `<tenant>/key-<n>` for a configured key, `key_…` for one created through the admin API:
    /// names the key in usage records without revealing it.
    pub id: Arc<str>,
    /// After this (unix ms) the key is refused: a rotated key's grace period.
    pub expires_at_ms: Option<i64>,
}

/// A tenant's SigV4 credentials, as the gateway knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Key {
    pub tenant: usize,
    /// The access key id: names the key in usage records.
    pub id: Arc<str>,
    pub secret: SecretKey,
}

/// Limits of one scope (a tenant, or a tenant's use of one model); `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantLimits {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub max_concurrent: Option<u32>,
    /// Nano-USD per UTC day.
    pub nanos_per_day: Option<u64>,
    /// Nano-USD per UTC month.
    pub nanos_per_month: Option<u64>,
}

impl TenantLimits {
    pub fn unlimited(&self) -> bool {
        *self == TenantLimits::default()
    }
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub name: String,
    /// `None`: every model.
    pub models: Option<HashSet<usize>>,
    /// `None`: every account (indexes into `Config::accounts`).
    pub accounts: Option<HashSet<usize>>,
    pub residency: ResidencyPolicy,
    /// See `TenantConfig::trust_catalog_destinations`.
    pub trust_catalog_destinations: bool,
    pub limits: TenantLimits,
    /// Limits per logical model (index into `Config::models`), besides the tenant's own.
    pub model_limits: HashMap<usize, TenantLimits>,
    pub on_shared_failure: FailMode,
    pub audit_bodies: bool,
    pub route_detail: super::file::RouteDetail,
}

impl Tenant {
    pub fn may_use(&self, model: usize) -> bool {
        self.models.as_ref().is_none_or(|m| m.contains(&model))
    }

    pub fn may_use_account(&self, account: usize) -> bool {
        self.accounts.as_ref().is_none_or(|a| a.contains(&account))
    }
}

/// USD as written in the config → nano-USD.
fn nanos(usd: f64) -> Option<u64> {
    (usd.is_finite() && usd >= 0.0).then(|| (usd * 1e9).round() as u64)
}

/// The tenants section, checked: every name it refers to must exist.
pub(super) struct Tenants {
    pub tenants: Vec<Tenant>,
    pub keys: HashMap<KeyHash, TenantKey>,
    /// SigV4 credentials by access key id.
    pub sigv4_keys: HashMap<Arc<str>, SigV4Key>,
}

/// Reads a key as written in the config: the key, or `sha256:<hex>`.
pub fn configured_key(written: &str) -> Result<KeyHash, String> {
    match written.strip_prefix("sha256:") {
        Some(hex_digits) => {
            KeyHash::from_hex(hex_digits).ok_or_else(|| "a 'sha256:' key needs 64 hex digits after the prefix".into())
        }
        None if written.len() < 8 => Err("keys must be at least 8 characters".into()),
        None => Ok(KeyHash::of(written)),
    }
}

/// Checks a SigV4 pair as written: an access key id like AWS's (it goes into the signature's
/// `Credential=<id>/…` scope, so no `/`), and a secret long enough to be one.
fn check_sigv4_key(access_key_id: &str, secret: &SecretKey) -> Result<(), String> {
    if !(16..=128).contains(&access_key_id.len()) || !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "access_key_id '{access_key_id}' must be 16 to 128 letters and digits, like AWS's (AKIA…)"
        ));
    }
    if secret.expose().chars().count() < 16 || secret.expose().chars().any(char::is_whitespace) {
        return Err("secret_access_key must be at least 16 characters with no spaces (write it as ${ENV})".into());
    }
    Ok(())
}

pub(super) fn check_tenants(
    configs: &[TenantConfig],
    model_by_name: &HashMap<String, usize>,
    account_by_name: &HashMap<String, usize>,
    admin_keys: &HashMap<KeyHash, Arc<str>>,
    problems: &mut Vec<String>,
) -> Tenants {
    let mut tenants = Vec::new();
    let mut keys = HashMap::new();
    let mut sigv4_keys = HashMap::new();
    for (ti, t) in configs.iter().enumerate() {
        let at = format!("tenants[{ti}] ({})", t.name);
        if t.keys.is_empty() {
            problems.push(format!("{at}: needs at least one key"));
        }
        for (ki, key) in t.keys.iter().enumerate() {
            let key = match key {
                TenantKeyConfig::ApiKey(key) => key,
                TenantKeyConfig::SigV4(pair) => {
                    if let Err(e) = check_sigv4_key(&pair.access_key_id, &pair.secret_access_key) {
                        problems.push(format!("{at}.keys[{ki}]: {e}"));
                        continue;
                    }
                    let id: Arc<str> = pair.access_key_id.as_str().into();
                    let key = SigV4Key {
                        tenant: ti,
                        id: Arc::clone(&id),
                        secret: pair.secret_access_key.clone(),
                    };
                    if let Some(first) = sigv4_keys.insert(id, key) {
                        let other = &configs[first.tenant];
                        problems.push(format!(
                            "{at}.keys[{ki}]: access_key_id '{}' is already a key of tenants[{}] ({}); access key ids must be unique",
                            pair.access_key_id, first.tenant, other.name
                        ));
                    }
                    continue;
                }
            };
            let hash = match configured_key(key) {
                Ok(h) => h,
                Err(e) => {
                    problems.push(format!("{at}.keys[{ki}]: {e}"));
                    continue;
                }
            };
            let id = TenantKey {
                tenant: ti,
                id: format!("{}/key-{ki}", t.name).into(),
                expires_at_ms: None,
            };
            if keys.insert(hash, id).is_some() || admin_keys.contains_key(&hash) {
                problems.push(format!(
                    "{at}.keys[{ki}]: this key is already used by another tenant or as an admin key"
                ));
            }
        }
        let models = if t.models.iter().any(|m| m == "*") {
            None
        } else {
            let mut set = HashSet::new();
            for (gi, name) in t.models.iter().enumerate() {
                match model_by_name.get(name) {
                    Some(&i) => {
                        set.insert(i);
                    }
                    None => problems.push(format!("{at}.models[{gi}]: unknown model '{name}'")),
                }
            }
            Some(set)
        };
        let accounts = (!t.accounts.is_empty()).then(|| {
            let mut set = HashSet::new();
            for (ai, name) in t.accounts.iter().enumerate() {
                match account_by_name.get(name) {
                    Some(&i) => {
                        set.insert(i);
                    }
                    None => problems.push(format!(
                        "{at}.accounts[{ai}]: unknown account '{name}' (known: {})",
                        super::known(account_by_name.keys().map(String::as_str))
                    )),
                }
            }
            set
        });
        let residency = match ResidencyPolicy::parse(&t.residency) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{at}.residency: {e}"));
                ResidencyPolicy::Any
            }
        };
        let budget = t.budget.unwrap_or_default();
        let mut money = |usd: Option<f64>, field: &str| {
            usd.and_then(|v| {
                let n = nanos(v);
                if n.is_none() {
                    problems.push(format!("{at}.budget.{field}: must be a number of USD, 0 or more"));
                }
                n
            })
        };
        let limits = TenantLimits {
            rpm: t.rpm,
            tpm: t.tpm,
            max_concurrent: t.max_concurrent,
            nanos_per_day: money(budget.usd_per_day, "usd_per_day"),
            nanos_per_month: money(budget.usd_per_month, "usd_per_month"),
        };
        let mut model_limits = HashMap::new();
        for (li, l) in t.model_limits.iter().enumerate() {
            match model_by_name.get(&l.model) {
                Some(&m) => {
                    let limits = TenantLimits {
                        rpm: l.rpm,
                        tpm: l.tpm,
                        max_concurrent: l.max_concurrent,
                        ..TenantLimits::default()
                    };
                    if model_limits.insert(m, limits).is_some() {
                        problems.push(format!("{at}.model_limits[{li}]: '{}' is limited twice", l.model));
                    }
                }
                None => problems.push(format!("{at}.model_limits[{li}]: unknown model '{}'", l.model)),
            }
        }
        for (name, value) in [("rpm", t.rpm), ("tpm", t.tpm), ("max_concurrent", t.max_concurrent)] {
            if value == Some(0) {
                problems.push(format!(
                    "{at}.{name}: 0 would refuse every request; remove the tenant's keys instead"
                ));
            }
        }
        tenants.push(Tenant {
            name: t.name.clone(),
            models,
            accounts,
            residency,
            trust_catalog_destinations: t.trust_catalog_destinations,
            limits,
            model_limits,
            on_shared_failure: t.on_shared_failure,
            audit_bodies: t.audit_bodies,
            route_detail: t.route_detail,
        });
    }
    Tenants {
        tenants,
        keys,
        sigv4_keys,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_known_by_their_hash_in_either_spelling() {
        let key = "sk-test-0001";
        let hashed = format!("sha256:{}", KeyHash::of(key).to_hex());
        assert_eq!(configured_key(key).unwrap(), configured_key(&hashed).unwrap());
        assert!(configured_key("sha256:zz").is_err());
        assert!(configured_key("short").is_err());
        assert_ne!(KeyHash::of("a-key-0001"), KeyHash::of("a-key-0002"));
        assert!(!format!("{:?}", KeyHash::of(key)).contains(&KeyHash::of(key).to_hex()));
    }

    #[test]
    fn usd_become_nanos_exactly() {
        assert_eq!(nanos(30.0), Some(30_000_000_000));
        assert_eq!(nanos(0.000_001), Some(1_000));
        assert_eq!(nanos(-1.0), None);
        assert_eq!(nanos(f64::NAN), None);
    }
}
