//! Tenants' API keys through the admin API. A key created here is shown once, in the answer
//! that creates it; the database keeps only its hash. Every change is written to the audit
//! trail with the admin key that made it, and the key ring is reloaded at once (other replicas
//! pick it up at their next reload).
//!
//! - `POST /admin/keys` `{"tenant": "acme", "name": "ci"}` → `201 {"id", "key", …}`
//! - `GET /admin/keys[?tenant=acme]` → `{"keys": [{"id", "tenant", "prefix", "source", …}]}`
//! - `POST /admin/keys/{id}/rotate` `{"grace_seconds": 3600}` → a new key; the old one keeps
//!   working for the grace period
//! - `DELETE /admin/keys/{id}` → revoked at once
//! - `GET /admin/audit[?since=<unix ms>&limit=N]` → `{"events": […]}`

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use strata_store::{keys as secrets, AuditEvent, KeyRow};

use super::{error_response, require_admin};
use crate::error::{Class, GatewayError};
use crate::state::GatewayState;
use crate::tenants::keys::now_ms;

/// How long a rotated key keeps working unless the request says otherwise.
const DEFAULT_GRACE_SECONDS: u64 = 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    tenant: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    #[serde(default)]
    grace_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct KeysQuery {
    tenant: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    since: Option<i64>,
    limit: Option<u32>,
}

fn invalid(message: impl Into<String>) -> Response {
    error_response(&GatewayError::client(Class::Invalid, message))
}

fn store_failed(e: strata_store::StoreError) -> Response {
    tracing::warn!(error = %e, "admin: the key store failed");
    error_response(&GatewayError::gateway(
        Class::Internal,
        "the key store could not be reached; try again",
    ))
}

/// Creates a key for `tenant` and records it.
async fn issue(state: &GatewayState, actor: &str, tenant: &str, name: Option<String>) -> Result<Response, Response> {
    let (id, secret) = secrets::generate();
    let row = KeyRow {
        id: id.clone(),
        tenant: tenant.to_string(),
        name: name.clone(),
        hash: secrets::hash(&secret),
        prefix: secrets::display_prefix(&secret),
        created_at_ms: now_ms(),
        expires_at_ms: None,
        revoked_at_ms: None,
        last_used_at_ms: None,
    };
    let store = &state.gateway().store;
    store.insert_key(&row).await.map_err(store_failed)?;
    audit(state, actor, "key.create", Some(tenant), Some(&id), None).await;
    reload(state).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id, "key": secret, "tenant": tenant, "name": name, "prefix": row.prefix,
            "created_at_ms": row.created_at_ms,
            "note": "the key is shown only now; the gateway keeps only its hash",
        })),
    )
        .into_response())
}

async fn audit(
    state: &GatewayState,
    actor: &str,
    action: &str,
    tenant: Option<&str>,
    subject: Option<&str>,
    detail: Option<String>,
) {
    let event = AuditEvent {
        at_ms: now_ms(),
        actor: actor.to_string(),
        action: action.to_string(),
        tenant: tenant.map(str::to_string),
        subject: subject.map(str::to_string),
        detail,
    };
    if let Err(e) = state.gateway().store.audit(&event).await {
        tracing::warn!(error = %e, action, "admin: the audit event could not be written");
    }
}

async fn reload(state: &GatewayState) {
    let g = &state.gateway();
    if let Err(e) = g.keys.reload(&g.store, &g.config).await {
        tracing::warn!(error = %e, "admin: keys could not be reloaded");
    }
}

pub async fn create(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Response {
    let actor = match require_admin(&state, &headers) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let Ok(Json(new)) = body else {
        return invalid("the body must be JSON: {\"tenant\": \"NAME\", \"name\": \"optional label\"}");
    };
    if !state.gateway().config.tenants.iter().any(|t| t.name == new.tenant) {
        return error_response(&GatewayError::client(
            Class::NotFound,
            format!("no tenant '{}' in the config", new.tenant),
        ));
    }
    issue(&state, &actor, &new.tenant, new.name).await.unwrap_or_else(|r| r)
}

pub async fn list(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
    query: Result<Query<KeysQuery>, QueryRejection>,
) -> Response {
    if let Err(r) = require_admin(&state, &headers) {
        return *r;
    }
    let Ok(Query(q)) = query else {
        return invalid("query parameters: tenant=NAME");
    };
    let config = &state.gateway().config;
    let mut keys = Vec::new();
    // Configured keys: their ids only (the config may hold them in clear; never echoed).
    let mut configured: Vec<_> = config.tenant_keys.values().collect();
    configured.sort_by(|a, b| a.id.cmp(&b.id));
    for k in configured {
        let tenant = &config.tenants[k.tenant].name;
        if q.tenant.as_ref().is_none_or(|t| t == tenant) {
            keys.push(json!({"id": &*k.id, "tenant": tenant, "source": "config", "kind": "api_key"}));
        }
    }
    // SigV4 pairs: their access key ids only.
    let mut sigv4: Vec<_> = config.tenant_sigv4_keys.values().collect();
    sigv4.sort_by(|a, b| a.id.cmp(&b.id));
    for k in sigv4 {
        let tenant = &config.tenants[k.tenant].name;
        if q.tenant.as_ref().is_none_or(|t| t == tenant) {
            keys.push(json!({"id": &*k.id, "tenant": tenant, "source": "config", "kind": "sigv4"}));
        }
    }
    match state.gateway().store.keys(q.tenant.as_deref()).await {
        Ok(rows) => {
            for r in rows {
                let status = if r.revoked_at_ms.is_some() {
                    "revoked"
                } else if !r.is_active(now_ms()) {
                    "expired"
                } else {
                    "active"
                };
                keys.push(json!({
                    "id": r.id, "tenant": r.tenant, "name": r.name, "prefix": r.prefix, "source": "api", "kind": "api_key",
                    "status": status, "created_at_ms": r.created_at_ms, "expires_at_ms": r.expires_at_ms,
                    "revoked_at_ms": r.revoked_at_ms, "last_used_at_ms": r.last_used_at_ms,
                }));
            }
        }
        Err(e) => return store_failed(e),
    }
    Json(json!({ "keys": keys })).into_response()
}

/// The stored key `id`, or the answer saying why there is none.
async fn stored(state: &GatewayState, id: &str) -> Result<KeyRow, Response> {
    let g = state.gateway();
    let config = &g.config;
    if config.tenant_keys.values().any(|k| &*k.id == id) || config.tenant_sigv4_keys.contains_key(id) {
        return Err(invalid(format!(
            "'{id}' is a key from the config file: change it there (keys created through /admin/keys can be rotated and revoked here)"
        )));
    }
    let rows = state.gateway().store.keys(None).await.map_err(store_failed)?;
    rows.into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| error_response(&GatewayError::client(Class::NotFound, format!("no key with id '{id}'"))))
}

pub async fn rotate(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<Rotation>>,
) -> Response {
    let actor = match require_admin(&state, &headers) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let old = match stored(&state, &id).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    if old.revoked_at_ms.is_some() {
        return invalid(format!("key '{id}' is revoked; create a new one"));
    }
    let grace = body
        .and_then(|Json(r)| r.grace_seconds)
        .unwrap_or(DEFAULT_GRACE_SECONDS);
    let until = now_ms().saturating_add(i64::try_from(grace.saturating_mul(1000)).unwrap_or(i64::MAX));
    if let Err(e) = state.gateway().store.expire_key(&id, until).await {
        return store_failed(e);
    }
    audit(
        &state,
        &actor,
        "key.rotate",
        Some(&old.tenant),
        Some(&id),
        Some(json!({ "grace_seconds": grace, "old_key_expires_at_ms": until }).to_string()),
    )
    .await;
    issue(&state, &actor, &old.tenant, old.name).await.unwrap_or_else(|r| r)
}

pub async fn revoke(State(state): State<Arc<GatewayState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let actor = match require_admin(&state, &headers) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let key = match stored(&state, &id).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    match state.gateway().store.revoke_key(&id, now_ms()).await {
        Ok(revoked) => {
            if revoked {
                audit(&state, &actor, "key.revoke", Some(&key.tenant), Some(&id), None).await;
            }
            reload(&state).await;
            Json(json!({ "id": id, "revoked": true })).into_response()
        }
        Err(e) => store_failed(e),
    }
}

pub async fn audit_log(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    if let Err(r) = require_admin(&state, &headers) {
        return *r;
    }
    let Ok(Query(q)) = query else {
        return invalid("query parameters: since=<unix ms>, limit=N");
    };
    match state
        .gateway()
        .store
        .audit_events(q.since, q.limit.unwrap_or(100).min(10_000))
        .await
    {
        Ok(events) => Json(json!({ "events": events })).into_response(),
        Err(e) => store_failed(e),
    }
}
