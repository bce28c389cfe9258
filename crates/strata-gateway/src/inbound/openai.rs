//! The OpenAI-compatible API: `GET /v1/models` (and `POST /v1/chat/completions`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::errors::openai_error;
use crate::auth::{authenticate, AuthError, Principal};
use crate::state::GatewayState;

/// The tenant of an OpenAI-API request, or the OpenAI-shaped refusal.
pub fn tenant_of(state: &GatewayState, headers: &HeaderMap) -> Result<usize, Box<Response>> {
    match authenticate(&state.config, headers) {
        Ok(Principal::Tenant(t)) => Ok(t),
        Ok(Principal::Admin) => Err(Box::new(openai_error(
            StatusCode::FORBIDDEN,
            "permission_error",
            Some("admin_key"),
            None,
            "admin keys cannot call models; use a tenant key",
        ))),
        Err(e) => Err(Box::new(openai_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some(match e {
                AuthError::Missing => "missing_api_key",
                AuthError::Unknown => "invalid_api_key",
            }),
            None,
            match e {
                AuthError::Missing => {
                    "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.".to_string()
                }
                AuthError::Unknown => "Incorrect API key provided.".to_string(),
            },
        ))),
    }
}

/// `GET /v1/models`: the logical models this key may use.
pub async fn list_models(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    let tenant = match tenant_of(&state, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let config = &state.config;
    let data: Vec<_> = config
        .models
        .iter()
        .enumerate()
        .filter(|(i, _)| config.tenants[tenant].may_use(*i))
        .map(|(_, m)| json!({"id": m.name, "object": "model", "created": 0, "owned_by": "strata"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}
