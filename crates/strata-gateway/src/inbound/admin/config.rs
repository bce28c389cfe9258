//! `GET /admin/config`: where the running config came from, its generation and how the last
//! reload went; `POST /admin/config/reload`: read the file again now (as SIGHUP does).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Class, GatewayError};
use crate::reload::{reload as reload_config, Outcome, ReloadError, Trigger};
use crate::state::GatewayState;

use super::error_response;
use super::require_admin;

pub async fn show(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if let Err(r) = require_admin(&state, &headers) {
        return *r;
    }
    let g = state.gateway();
    let c = &g.config;
    axum::Json(json!({
        "status": state.reloads.status(),
        "running": {
            "models": c.models.len(),
            "tenants": c.tenants.len(),
            "accounts": c.accounts.len(),
            "candidates": g.routes.load().size(),
        },
    }))
    .into_response()
}

pub async fn reload(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if let Err(r) = require_admin(&state, &headers) {
        return *r;
    }
    match reload_config(&state, Trigger::Api).await {
        Ok(Outcome::Applied { rebuilt }) => axum::Json(json!({
            "applied": true,
            "generation": state.reloads.status().generation,
            "rebuilt": rebuilt,
        }))
        .into_response(),
        Ok(Outcome::Unchanged) => axum::Json(json!({ "applied": false, "unchanged": true })).into_response(),
        Err(ReloadError::NoFile) => error_response(&GatewayError::client(
            Class::Invalid,
            "this gateway was not started from a config file; nothing to reload",
        )),
        Err(e) => error_response(&GatewayError::client(
            Class::Invalid,
            format!("the config was not applied (the running config is kept): {e}"),
        )),
    }
}
