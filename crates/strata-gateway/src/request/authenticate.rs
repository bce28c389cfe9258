//! Authenticate: who is calling. An API key from `Authorization: Bearer`, `x-api-key` or
//! `api-key`, hashed and looked up among the tenants' keys and the admin keys (keys are only
//! ever held as hashes). Only headers are read, so this runs
//! before the body is.

use std::sync::Arc;

use http::HeaderMap;

use crate::config::{Config, KeyHash};
use crate::error::{Class, GatewayError};
use crate::tenants::KeyRing;

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Tenant { tenant: usize, key_id: Arc<str> },
    Admin { key_id: Arc<str> },
}

/// Why a caller is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'")]
    Missing,
    #[error("the API key is not valid")]
    Unknown,
}

impl From<AuthError> for GatewayError {
    fn from(e: AuthError) -> Self {
        GatewayError::client(Class::Unauthenticated, e.to_string())
    }
}

/// The API key a request carries.
pub fn api_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(key) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(key.trim());
        }
    }
    ["x-api-key", "api-key"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()).map(str::trim))
}

/// Resolves a request's key: a tenant's (configured or created at run time), or an admin's.
pub fn authenticate(config: &Config, keys: &KeyRing, headers: &HeaderMap) -> Result<Principal, AuthError> {
    let key = api_key(headers).filter(|k| !k.is_empty()).ok_or(AuthError::Missing)?;
    let hash = KeyHash::of(key);
    if let Some(k) = keys.lookup(&hash) {
        return Ok(Principal::Tenant {
            tenant: k.tenant,
            key_id: k.id,
        });
    }
    if let Some(id) = config.admin_keys.get(&hash) {
        return Ok(Principal::Admin { key_id: Arc::clone(id) });
    }
    Err(AuthError::Unknown)
}

/// The tenant and key id of a model call; admin keys may not call models.
pub fn tenant(config: &Config, keys: &KeyRing, headers: &HeaderMap) -> Result<(usize, Arc<str>), GatewayError> {
    match authenticate(config, keys, headers)? {
        Principal::Tenant { tenant, key_id } => Ok((tenant, key_id)),
        Principal::Admin { .. } => Err(GatewayError::client(
            Class::Forbidden,
            "admin keys cannot call models; use a tenant key",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_and_api_key_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(api_key(&h), None);
        h.insert("x-api-key", "k1".parse().unwrap());
        assert_eq!(api_key(&h), Some("k1"));
        h.insert("authorization", "Bearer  k2 ".parse().unwrap());
        assert_eq!(api_key(&h), Some("k2"));
        h.insert("authorization", "AWS4-HMAC-SHA256 Credential=x".parse().unwrap());
        assert_eq!(api_key(&h), Some("k1"));
    }
}
