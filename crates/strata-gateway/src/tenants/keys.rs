//! The key ring: every key that may call, API keys by hash and SigV4 keys by access key id.
//! Configured keys never change while the process runs; keys created through the admin API are
//! stored in the database and loaded here (swapped whole, so a lookup never waits on a writer).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use strata_store::{Store, StoreError};

use crate::config::{Config, KeyHash, SigV4Key, TenantKey};

/// Keys that authenticate as tenants.
#[derive(Debug)]
pub struct KeyRing {
    configured: HashMap<KeyHash, TenantKey>,
    /// Configured SigV4 credentials, by access key id.
    sigv4: HashMap<Arc<str>, SigV4Key>,
    stored: ArcSwap<HashMap<KeyHash, TenantKey>>,
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl KeyRing {
    pub fn new(config: &Config) -> Self {
        KeyRing {
            configured: config.tenant_keys.clone(),
            sigv4: config.tenant_sigv4_keys.clone(),
            stored: ArcSwap::from_pointee(HashMap::new()),
        }
    }

    /// The tenant key `hash` belongs to, unless it expired.
    pub fn lookup(&self, hash: &KeyHash) -> Option<TenantKey> {
        let found = match self.configured.get(hash) {
            Some(k) => Some(k.clone()),
            None => self.stored.load().get(hash).cloned(),
        }?;
        match found.expires_at_ms {
            Some(at) if at <= now_ms() => None,
            _ => Some(found),
        }
    }

    /// The SigV4 credentials of an access key id.
    pub fn sigv4(&self, access_key_id: &str) -> Option<&SigV4Key> {
        self.sigv4.get(access_key_id)
    }

    /// Replaces the keys created at run time (revoked ones left out by the caller).
    pub fn replace_stored(&self, keys: HashMap<KeyHash, TenantKey>) {
        self.stored.store(Arc::new(keys));
    }

    /// Loads the keys created at run time from the database: every key not revoked, of a
    /// tenant the config still has. Other replicas' changes arrive this way too.
    pub async fn reload(&self, store: &Store, config: &Config) -> Result<usize, StoreError> {
        let rows = store.keys(None).await?;
        let mut keys = HashMap::new();
        for row in rows.into_iter().filter(|r| r.revoked_at_ms.is_none()) {
            let (Some(tenant), Some(hash)) = (
                config.tenants.iter().position(|t| t.name == row.tenant),
                KeyHash::from_hex(&row.hash),
            ) else {
                continue;
            };
            keys.insert(
                hash,
                TenantKey {
                    tenant,
                    id: row.id.into(),
                    expires_at_ms: row.expires_at_ms,
                },
            );
        }
        let n = keys.len();
        self.replace_stored(keys);
        Ok(n)
    }

    /// Keys created at run time, by id.
    pub fn stored_ids(&self) -> Vec<Arc<str>> {
        self.stored.load().values().map(|k| Arc::clone(&k.id)).collect()
    }
}
