//! The admin API (admin keys only): `GET /admin/routes` (compiled candidates, `?tenant=&model=
//! &explain=true`), `GET /admin/catalog` (the availability catalog, imported models per account ×
//! region and where they are unknown, where Service Quotas could not be listed, the last scan round and this replica's discovery role:
//! local, leader, follower or fallback), `GET /admin/events` (recent
//! catalog changes) and `POST /admin/discovery/refresh` (scan now; a follower loads instead);
//! tenants' keys ([`keys`]), usage ([`usage`]) and the running config ([`config`]); for the
//! dashboard, `GET /admin/overview` ([`overview`]), `GET /admin/matrix` ([`matrix`]) and
//! `GET /admin/traffic` ([`traffic`]). Reads (`GET`) also take the dashboard's session cookie.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::request::authenticate::{authenticate, Principal};
use crate::routes::report::{routes_report, RouteFilter};
use crate::state::GatewayState;

use crate::error::{Class, GatewayError};

use super::openai::error::response as error_response;

pub mod config;
pub mod keys;
pub mod matrix;
pub mod overview;
pub mod traffic;
pub mod usage;

/// The admin key's id, or the error response for anyone else.
pub(crate) fn require_admin(state: &GatewayState, headers: &HeaderMap) -> Result<Arc<str>, Box<Response>> {
    check_admin(state, headers, false)
}

/// [`require_admin`] for reads (`GET`): a dashboard session cookie also does (it is
/// `SameSite=Strict`, and nothing a GET does changes state). Its id is `dashboard-session`.
pub(crate) fn require_admin_read(state: &GatewayState, headers: &HeaderMap) -> Result<Arc<str>, Box<Response>> {
    check_admin(state, headers, true)
}

fn check_admin(state: &GatewayState, headers: &HeaderMap, session: bool) -> Result<Arc<str>, Box<Response>> {
    let g = state.gateway();
    if session && !headers.contains_key(http::header::AUTHORIZATION) && state.sessions.signed_in(headers) {
        return Ok(Arc::from("dashboard-session"));
    }
    match authenticate(&g.config, &g.keys, headers) {
        Ok(Principal::Admin { key_id }) => Ok(key_id),
        Ok(Principal::Tenant { .. }) => Err(Box::new(error_response(&GatewayError::client(
            Class::Forbidden,
            "the admin API needs an admin key",
        )))),
        Err(e) => Err(Box::new(error_response(&e.into()))),
    }
}

#[derive(Debug, Deserialize)]
pub struct RoutesQuery {
    tenant: Option<String>,
    model: Option<String>,
    #[serde(default)]
    explain: bool,
}

pub async fn routes(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
    query: Result<Query<RoutesQuery>, QueryRejection>,
) -> Response {
    if let Err(r) = require_admin_read(&state, &headers) {
        return *r;
    }
    let Ok(Query(q)) = query else {
        return error_response(&GatewayError::client(
            Class::Invalid,
            "query parameters: tenant=NAME, model=NAME, explain=true|false",
        ));
    };
    let filter = RouteFilter {
        tenant: q.tenant,
        model: q.model,
        explain: q.explain,
    };
    let table = state.gateway().routes.load();
    match routes_report(&state.gateway().config, &table, &filter) {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => error_response(&GatewayError::client(Class::NotFound, e.to_string())),
    }
}

/// `GET /admin/custom-models`: every imported-model target of every logical model, with its
/// state (warm, loading, cold), last invocation, cold starts met and keep-warm calls.
pub async fn custom_models(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if let Err(r) = require_admin_read(&state, &headers) {
        return *r;
    }
    let targets = crate::keep_warm::report(&state.gateway());
    axum::Json(serde_json::json!({ "targets": targets })).into_response()
}

pub async fn catalog(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if let Err(r) = require_admin_read(&state, &headers) {
        return *r;
    }
    let catalog = state.catalog();
    let (enabled, last_round, interval, role) = match &state.discovery() {
        Some(d) => (
            true,
            state.routes_round.load_full().as_deref().cloned(),
            Some(d.refresh_interval().as_secs()),
            Some(d.role()),
        ),
        None => (false, None, None, None),
    };
    // Imported models flat, per account × region, and where they could not be listed (the
    // catalog holds both per scan too).
    let mut imported = Vec::new();
    let mut imported_unknown = Vec::new();
    let mut quotas_unknown = Vec::new();
    for scan in catalog.scans().filter(|s| s.has_data()) {
        if let Some(reason) = scan.quotas.unknown() {
            quotas_unknown.push(json!({"account": scan.account, "region": scan.region, "reason": reason}));
        }
        match scan.imported.models() {
            Some(models) => imported.extend(models.values().map(|m| {
                json!({"account": scan.account, "region": scan.region, "name": m.name, "arn": m.arn,
                       "architecture": m.architecture, "instruct_supported": m.instruct_supported,
                       "model_units_per_copy": m.model_units_per_copy, "created_at": m.created_at})
            })),
            None => imported_unknown.push(json!({
                "account": scan.account, "region": scan.region, "reason": scan.imported.unknown(),
            })),
        }
    }
    axum::Json(json!({
        "discovery": {"enabled": enabled, "refresh_seconds": interval, "last_round": last_round, "role": role},
        "imported_models": imported,
        "imported_unknown": imported_unknown,
        "quotas_unknown": quotas_unknown,
        "catalog": &*catalog,
    }))
    .into_response()
}

pub async fn events(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if let Err(r) = require_admin_read(&state, &headers) {
        return *r;
    }
    let events = state.discovery().map(|d| d.events()).unwrap_or_default();
    axum::Json(json!({ "events": events })).into_response()
}

pub async fn refresh(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if let Err(r) = require_admin(&state, &headers) {
        return *r;
    }
    if state.discovery().is_none() {
        return error_response(&GatewayError::client(
            Class::Invalid,
            "discovery is not enabled in this gateway's config",
        ));
    }
    state.refresh().await;
    let round = state.discovery().and_then(|d| d.last_round());
    axum::Json(json!({ "refreshed": true, "round": round, "candidates": state.gateway().routes.load().size() }))
        .into_response()
}
