//! Inbound HTTP: one folder per dialect (`openai/`, `anthropic/`, `embeddings/`, `responses/`, `bedrock/`,
//! `sagemaker/`), the admin API and the
//! dashboard. Model calls go to the one request path ([`crate::request::handle`]); unknown
//! paths, wrong methods and undecodable URLs are answered in the dialect of their prefix.

pub mod admin;
pub mod anthropic;
pub mod bedrock;
pub mod cache_control;
pub mod dashboard;
pub mod embeddings;
pub mod openai;
pub mod responses;
pub mod sagemaker;
pub mod sse;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use tower::ServiceExt;

use crate::error::{Class, GatewayError};
use crate::request::{handle, set_request_id};
use crate::state::GatewayState;

use self::anthropic::{CountTokens, Messages};
use self::bedrock::BedrockRuntimeApi;
use self::embeddings::EmbeddingsApi;
use self::openai::ChatCompletions;
use self::responses::Responses;
use self::sagemaker::SageMakerRuntimeApi;

/// The gateway as an axum router (tests call it without a socket).
pub fn app(state: Arc<GatewayState>) -> Router {
    Router::new()
        .route("/model/{*rest}", post(bedrock_call))
        .route("/endpoints/{name}/{action}", post(sagemaker_call))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/chat/completions", post(chat_call))
        .route("/v1/messages", post(messages_call))
        .route("/v1/messages/count_tokens", post(count_tokens_call))
        .route("/v1/embeddings", post(embeddings_call))
        .route("/v1/responses", post(responses_call))
        .route("/v1/responses/{id}", get(responses::not_stored))
        .route("/admin/routes", get(admin::routes))
        .route("/admin/catalog", get(admin::catalog))
        .route("/admin/events", get(admin::events))
        .route("/admin/discovery/refresh", post(admin::refresh))
        .route("/admin/keys", get(admin::keys::list).post(admin::keys::create))
        .route("/admin/keys/{id}", delete(admin::keys::revoke))
        .route("/admin/keys/{id}/rotate", post(admin::keys::rotate))
        .route("/admin/audit", get(admin::keys::audit_log))
        .route("/admin/usage", get(admin::usage::usage))
        .route("/admin/custom-models", get(admin::custom_models))
        .route("/admin/overview", get(admin::overview::handler))
        .route("/admin/matrix", get(admin::matrix::handler))
        .route("/admin/traffic", get(admin::traffic::handler))
        .route("/admin/config", get(admin::config::show))
        .route("/admin/config/reload", post(admin::config::reload))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/login", post(dashboard::login))
        .route("/dashboard/assets/{file}", get(dashboard::asset))
        .route("/health", get(|| async { "ok" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(request_id))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

async fn bedrock_call(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    let (head, body) = request.into_parts();
    handle::<BedrockRuntimeApi>(state.gateway(), head, body).await
}

async fn sagemaker_call(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    let (head, body) = request.into_parts();
    handle::<SageMakerRuntimeApi>(state.gateway(), head, body).await
}

async fn chat_call(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    let (head, body) = request.into_parts();
    handle::<ChatCompletions>(state.gateway(), head, body).await
}

async fn messages_call(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    let (head, body) = request.into_parts();
    handle::<Messages>(state.gateway(), head, body).await
}

async fn count_tokens_call(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    let (head, body) = request.into_parts();
    handle::<CountTokens>(state.gateway(), head, body).await
}

async fn embeddings_call(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    let (head, body) = request.into_parts();
    handle::<EmbeddingsApi>(state.gateway(), head, body).await
}

async fn responses_call(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    let (head, body) = request.into_parts();
    handle::<Responses>(state.gateway(), head, body).await
}

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Everything (no `admin.listen`).
    All,
    /// Model calls and health; not the admin surface.
    Public,
    /// The admin API, the dashboard, metrics and health (`admin.listen`).
    Admin,
}

impl Surface {
    fn serves(self, path: &str) -> bool {
        let admin = path == "/metrics" || path.starts_with("/admin/") || path.starts_with("/dashboard");
        let health = matches!(path, "/health" | "/healthz" | "/readyz");
        match self {
            Surface::All => true,
            Surface::Public => !admin,
            Surface::Admin => admin || health,
        }
    }
}

/// `/metrics`: open, or for admin keys only (`admin.metrics: admin_key`).
async fn metrics(State(state): State<Arc<GatewayState>>, headers: http::HeaderMap) -> Response {
    use axum::response::IntoResponse;
    if state.gateway().config.metrics_access == crate::config::file::MetricsAccess::AdminKey {
        if let Err(r) = admin::require_admin(&state, &headers) {
            return *r;
        }
    }
    crate::telemetry::render().into_response()
}

/// Answers one request: model calls straight into the request path (no router, middleware or
/// extractor copies on the hot path), everything else through `app`. A path the listener's
/// `surface` does not serve is not found.
///
/// A function returning an `async move` block, the request's head taken apart only once the
/// way is chosen: as an `async fn` borrowing it, the head (224 bytes) stayed in this future,
/// twice, beside the request path's for as long as the call waited (`-Zprint-type-sizes`).
#[allow(clippy::manual_async_fn)] // on purpose: see above
pub fn dispatch(
    state: Arc<GatewayState>,
    app: Router,
    request: Request,
    surface: Surface,
) -> impl std::future::Future<Output = Response> + Send {
    async move {
        let path = request.uri().path();
        if !surface.serves(path) {
            let (head, _) = request.into_parts();
            return not_found(head.uri).await;
        }
        let way = if request.method() == Method::POST {
            ModelCall::of(path)
        } else {
            None
        };
        let (head, body) = request.into_parts();
        let gateway = || state.gateway();
        match way {
            Some(ModelCall::Chat) => handle::<ChatCompletions>(gateway(), head, body).await,
            Some(ModelCall::Embeddings) => handle::<EmbeddingsApi>(gateway(), head, body).await,
            Some(ModelCall::Bedrock) => handle::<BedrockRuntimeApi>(gateway(), head, body).await,
            Some(ModelCall::Messages) => handle::<Messages>(gateway(), head, body).await,
            Some(ModelCall::CountTokens) => handle::<CountTokens>(gateway(), head, body).await,
            Some(ModelCall::Responses) => handle::<Responses>(gateway(), head, body).await,
            Some(ModelCall::SageMaker) => handle::<SageMakerRuntimeApi>(gateway(), head, body).await,
            None => match app.oneshot(Request::from_parts(head, body)).await {
                Ok(response) => response,
                Err(never) => match never {},
            },
        }
    }
}

/// The model APIs [`dispatch`] sends straight into the request path, by a `POST`'s path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelCall {
    Chat,
    Embeddings,
    Bedrock,
    Messages,
    CountTokens,
    Responses,
    SageMaker,
}

impl ModelCall {
    fn of(path: &str) -> Option<ModelCall> {
        Some(match path {
            "/v1/chat/completions" => ModelCall::Chat,
            "/v1/embeddings" => ModelCall::Embeddings,
            "/v1/messages" => ModelCall::Messages,
            "/v1/messages/count_tokens" => ModelCall::CountTokens,
            "/v1/responses" => ModelCall::Responses,
            _ if path.starts_with("/model/") => ModelCall::Bedrock,
            _ if path.starts_with("/endpoints/") => ModelCall::SageMaker,
            _ => return None,
        })
    }
}

/// Ready to take traffic: a config is loaded (always, once serving), a catalog is present when
/// discovery runs (from the cache or a first scan), and shutdown has not begun. Unauthenticated
/// and cheap: an atomic and two pointer loads.
async fn readyz(State(state): State<Arc<GatewayState>>) -> Response {
    use axum::response::IntoResponse;
    let not_ready = if state.lifecycle.draining() {
        Some("draining")
    } else if state
        .discovery()
        .is_some_and(|d| d.catalog().scans().next().is_none() && d.last_round().is_none())
    {
        Some("no catalog yet")
    } else {
        None
    };
    match not_ready {
        Some(why) => (http::StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")).into_response(),
        None => "ready".into_response(),
    }
}

/// An error in the dialect of the path: Bedrock's under `/model/`, SageMaker's under
/// `/endpoints/`, Anthropic's under `/v1/messages`, OpenAI's elsewhere.
pub(crate) fn error_for_path(path: &str, e: &GatewayError) -> Response {
    if path.starts_with("/model/") || path == "/model" {
        bedrock::error::response(e)
    } else if path.starts_with("/endpoints/") || path == "/endpoints" {
        sagemaker::error::response(e)
    } else if path == "/v1/messages" || path.starts_with("/v1/messages/") {
        anthropic::error::response(e)
    } else {
        openai::error::response(e)
    }
}

async fn not_found(uri: Uri) -> Response {
    let e = GatewayError::client(Class::NotFound, format!("no such path: {}", uri.path()));
    error_for_path(uri.path(), &e)
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let e = GatewayError::client(
        Class::MethodNotAllowed,
        format!("{} does not accept {method}", uri.path()),
    );
    error_for_path(uri.path(), &e)
}

/// Puts a request ID on every response the router answers.
async fn request_id(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if !response.headers().contains_key("x-request-id") {
        set_request_id(&mut response, &strata_http::new_request_id());
    }
    response
}
