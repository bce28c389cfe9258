//! Inbound HTTP: the router of every API the gateway serves.

pub mod admin;
pub mod bedrock;
pub mod dashboard;
pub mod errors;
pub mod openai;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceExt;

use crate::state::GatewayState;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;

/// The gateway as an axum router (tests call it without a socket).
pub fn app(state: Arc<GatewayState>) -> Router {
    Router::new()
        .route("/model/{*rest}", post(bedrock::handle))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/admin/routes", get(admin::routes))
        .route("/admin/catalog", get(admin::catalog))
        .route("/admin/events", get(admin::events))
        .route("/admin/discovery/refresh", post(admin::refresh))
        .route("/dashboard", get(dashboard::page))
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(|| async { crate::telemetry::render() }))
        .layer(middleware::from_fn(request_id))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// Answers one request: the model-calling routes straight (no router, middleware or
/// extractor copies on the hot path), everything else through `app` — same handlers, same
/// answers, request IDs on both.
pub async fn dispatch(state: &GatewayState, app: Router, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method == Method::POST {
        let path = parts.uri.path();
        if path == "/v1/chat/completions" {
            return with_request_id(openai::chat(state, &parts.headers, body).await);
        }
        // As the router's `{*rest}` capture: non-empty, percent-decoded, UTF-8.
        if let Some(rest) = path.strip_prefix("/model/").filter(|r| !r.is_empty()) {
            if let Ok(rest) = percent_encoding::percent_decode_str(rest).decode_utf8() {
                return with_request_id(bedrock::call(state, &rest, &parts.headers, body).await);
            }
        }
    }
    match app.oneshot(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Puts a request ID on every response (`x-request-id`, and `x-amzn-requestid` for SDKs).
async fn request_id(request: Request, next: Next) -> Response {
    with_request_id(next.run(request).await)
}

fn with_request_id(mut response: Response) -> Response {
    let id = strata_http::new_request_id();
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v.clone());
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    response
}
