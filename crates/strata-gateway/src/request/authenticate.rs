//! Authenticate: who is calling. Two kinds of credential:
//! - an API key from `Authorization: Bearer`, `x-api-key` or `api-key`, hashed and looked up
//!   among the tenants' keys and the admin keys (keys are only ever held as hashes). Headers
//!   alone prove it.
//! - a SigV4 signature (`Authorization: AWS4-HMAC-SHA256 …`, what boto3 sends with ordinary AWS
//!   credentials) by a tenant's access key id. The key id, scope and date are checked from the
//!   headers, so an unknown key is refused before the body is read; the signature covers the
//!   body's hash, so it is checked once the body is read: [`tenant`] hands back a [`Claim`] that
//!   [`Claim::verify`] completes. Verification is `strata_aws::verify`, shared with the
//!   emulator; the request is verified exactly as received, nothing rewritten first.
//!
//! An API key header wins over a SigV4 `Authorization` (an SDK signing with placeholder
//! credentials and adding `x-api-key` keeps working).

use std::sync::Arc;
use std::time::SystemTime;

use http::request::Parts;
use http::HeaderMap;
use strata_aws::verify::{self, Authorization, HeaderError, SecretKey, SignedRequest, VerifyError};

use crate::config::{Config, KeyHash};
use crate::error::{Class, GatewayError};
use crate::tenants::KeyRing;

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Tenant { tenant: usize, key_id: Arc<str> },
    Admin { key_id: Arc<str> },
}

/// The SigV4 service name Bedrock's clients sign for (boto3's `bedrock-runtime` signs as
/// `bedrock`); each dialect names the service its clients sign for ([`crate::request::Dialect`]).
pub const SIGV4_SERVICE: &str = "bedrock";

/// Why a caller is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'")]
    Missing,
    #[error("the API key is not valid")]
    Unknown,
    /// A SigV4 access key id no tenant has (AWS's words).
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey,
    /// A session token: tenants' SigV4 keys are long-term keys, never temporary credentials.
    #[error("The security token included in the request is invalid.")]
    SessionToken,
    #[error("{0}")]
    Header(HeaderError),
    /// Signed for another service than the one the path's API signs for (named).
    #[error("Credential should be scoped to correct service: '{0}'.")]
    WrongService(&'static str),
    #[error("Credential should be scoped to a valid region.")]
    BadRegion,
    #[error("{0}")]
    Signature(VerifyError),
}

impl AuthError {
    pub fn class(&self) -> Class {
        match self {
            AuthError::Missing | AuthError::Unknown | AuthError::UnknownAccessKey | AuthError::SessionToken => {
                Class::Unauthenticated
            }
            AuthError::Header(_) => Class::IncompleteSignature,
            AuthError::Signature(e) if e.is_incomplete() => Class::IncompleteSignature,
            AuthError::WrongService(_) | AuthError::BadRegion | AuthError::Signature(_) => Class::InvalidSignature,
        }
    }
}

impl From<AuthError> for GatewayError {
    fn from(e: AuthError) -> Self {
        GatewayError::client(e.class(), e.to_string())
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

/// Resolves a request's API key: a tenant's (configured or created at run time), or an admin's.
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

/// A tenant calling a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: usize,
    /// The API key's id, or the SigV4 access key id (never a key or a secret).
    pub key_id: Arc<str>,
    /// The region a SigV4 caller signed for (its credential scope): recorded, not obeyed —
    /// routing chooses where the call runs.
    pub signed_region: Option<Arc<str>>,
}

/// A model call's caller as far as its headers tell.
#[derive(Debug)]
pub struct Claim {
    caller: Caller,
    /// What is left to check once the body is read; `None` for an API key.
    signature: Option<Box<PendingSignature>>,
}

/// A SigV4 signature whose key, scope and date were accepted; the body is still to be hashed.
#[derive(Debug)]
struct PendingSignature {
    authorization: Authorization,
    time: SystemTime,
    secret: SecretKey,
}

impl Claim {
    /// The caller, when the headers alone prove it (an API key).
    pub fn proven(&self) -> Option<&Caller> {
        self.signature.is_none().then_some(&self.caller)
    }

    /// The caller, once the signature (if any) verifies over the request as received.
    pub fn verify(self, head: &Parts, body: &[u8]) -> Result<Caller, GatewayError> {
        if let Some(pending) = self.signature {
            let request = SignedRequest {
                method: head.method.as_str(),
                uri: &head.uri,
                headers: &head.headers,
            };
            pending
                .authorization
                .verify(&request, body, &pending.secret, None, pending.time)
                .map_err(AuthError::Signature)?;
        }
        Ok(self.caller)
    }
}

/// The caller of a model call: an API key's tenant, or a SigV4 signer's (its signature still to
/// be verified with the body; signed for `service`). Admin keys may not call models.
pub fn tenant(config: &Config, keys: &KeyRing, head: &Parts, service: &'static str) -> Result<Claim, GatewayError> {
    let authorization = head
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| verify::is_sigv4(v));
    if let (Some(value), None) = (authorization, api_key(&head.headers)) {
        return Ok(sigv4_claim(keys, &head.headers, value, service, SystemTime::now())?);
    }
    match authenticate(config, keys, &head.headers)? {
        Principal::Tenant { tenant, key_id } => Ok(Claim {
            caller: Caller {
                tenant,
                key_id,
                signed_region: None,
            },
            signature: None,
        }),
        Principal::Admin { .. } => Err(GatewayError::client(
            Class::Forbidden,
            "admin keys cannot call models; use a tenant key",
        )),
    }
}

/// Everything about a SigV4 signature that the headers tell, in AWS's order: the header, the
/// scope's service and region, the access key, the date.
fn sigv4_claim(
    keys: &KeyRing,
    headers: &HeaderMap,
    value: &str,
    service: &'static str,
    now: SystemTime,
) -> Result<Claim, AuthError> {
    let authorization = verify::parse_authorization(value).map_err(AuthError::Header)?;
    if authorization.service != service {
        return Err(AuthError::WrongService(service));
    }
    if !region_name(&authorization.region) {
        return Err(AuthError::BadRegion);
    }
    let key = keys
        .sigv4(&authorization.access_key_id)
        .ok_or(AuthError::UnknownAccessKey)?;
    if headers.contains_key("x-amz-security-token") {
        return Err(AuthError::SessionToken);
    }
    let time = authorization.signing_time(headers, now).map_err(AuthError::Signature)?;
    Ok(Claim {
        caller: Caller {
            tenant: key.tenant,
            key_id: Arc::clone(&key.id),
            signed_region: Some(authorization.region.as_str().into()),
        },
        signature: Some(Box::new(PendingSignature {
            authorization,
            time,
            secret: key.secret.clone(),
        })),
    })
}

/// Whether a scope's region looks like one (`eu-west-3`, `us-gov-west-1`): any region a client
/// signs for is accepted, but only a name is recorded.
fn region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    region.len() <= 32
        && parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

#[cfg(test)]
mod tests;
