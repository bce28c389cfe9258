//! The emulator's HTTP front: one address for every account, region and API. Dispatches by
//! path to the admin API, STS, Service Quotas (by `X-Amz-Target`), the control plane and the
//! runtime, and closes connections on demand (outage faults in `drop` mode).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use strata_core::BedrockErrorKind;
use tokio::net::TcpListener;

use crate::error::AwsError;
use crate::identity::{authenticate, sts, RequestParts};
use crate::runtime::{self, Operation};
use crate::state::SimState;
use crate::{admin, control_plane};
use strata_http::new_request_id;

/// Largest request body accepted (Bedrock's own limit is of this order).
pub const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;

/// A client that does not finish sending its body within this time is answered and dropped.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

use crate::reply::DropConnection;

/// The emulator as an axum router, for tests that call it without a socket. (A dropped
/// connection is answered with an empty 503 here; only [`serve`] can really drop.)
pub fn app(state: Arc<SimState>) -> axum::Router {
    axum::Router::new().fallback(move |req: Request<Body>| {
        let state = Arc::clone(&state);
        async move { handle(state, req).await }
    })
}

/// Serves until the future `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<SimState>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let handler = move |request: Request<Body>| {
        let state = Arc::clone(&state);
        async move {
            let response = handle(state, request).await;
            if response.extensions().get::<DropConnection>().is_some() {
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "connection dropped by fault",
                ))
            } else {
                Ok(response)
            }
        }
    };
    let options = strata_http::ServeOptions {
        max_body_bytes: MAX_BODY_BYTES as u64,
        body_timeout: BODY_READ_TIMEOUT,
        refuse: Arc::new(edge_refusal),
        ..strata_http::ServeOptions::default()
    };
    strata_http::serve([strata_http::Listener::plain(listener)], handler, shutdown, options).await
}

/// The edge's refusals (body too large, body too slow) as AWS answers them.
fn edge_refusal(refusal: &strata_http::Refusal, _head: &strata_http::RequestHead) -> Response {
    let mut response = AwsError::validation(refusal.message()).into_response();
    *response.status_mut() = refusal.status();
    response
}

/// Handles one request.
pub async fn handle(state: Arc<SimState>, req: Request<Body>) -> Response {
    let request_id = new_request_id();
    let mut response = route(&state, req).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    response
}

async fn route(state: &Arc<SimState>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(b)) => b,
        Err(_elapsed) => {
            let mut r = AwsError::validation("The request body was not received in time.").into_response();
            *r.status_mut() = axum::http::StatusCode::REQUEST_TIMEOUT;
            return r;
        }
        Ok(Err(_)) => {
            let mut r = AwsError::validation(format!(
                "The request body is larger than the maximum of {MAX_BODY_BYTES} bytes."
            ))
            .into_response();
            *r.status_mut() = axum::http::StatusCode::PAYLOAD_TOO_LARGE;
            return r;
        }
    };
    // `/region/{region}/…` pins the region for clients whose credentials carry none (Bedrock
    // API keys): point `endpoint_url` at `http://HOST:PORT/region/eu-west-1`.
    let (path_region, raw_path) = split_region_prefix(parts.uri.path());
    let query: Vec<(String, String)> = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();

    if raw_path.starts_with("/_sim/") {
        return admin::handle(state, &parts.method, raw_path, &query, &body);
    }
    let request = RequestParts {
        method: parts.method.as_str(),
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
        path_region: path_region.as_deref(),
    };

    if raw_path == "/v1/chat/completions" && parts.method == Method::POST {
        return crate::openai_compat::chat_completions(state, &parts.headers, &body).await;
    }
    if raw_path == "/v1/models" && parts.method == Method::GET {
        return crate::openai_compat::list_models(state);
    }
    if raw_path == "/" && parts.method == Method::POST && crate::service_quotas::api::is_service_quotas(&parts.headers)
    {
        return crate::service_quotas::api::handle(state, &request).await;
    }
    if raw_path == "/" {
        let mut params = query;
        if parts.method == Method::POST {
            params.extend(form_urlencoded::parse(&body).into_owned());
        }
        return sts::handle(state, &request, &params);
    }

    let decoded_path = percent_decode_str(raw_path).decode_utf8_lossy().into_owned();
    let guardrail_apply = (parts.method == Method::POST)
        .then(|| crate::guardrails::api::apply_path(&decoded_path))
        .flatten();
    if guardrail_apply.is_some() || crate::guardrails::api::is_control_path(raw_path) {
        let caller = match authenticate(state, &request, "bedrock") {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        };
        return match guardrail_apply {
            Some((id, version)) => crate::guardrails::api::apply(state, &caller, id, version, &body),
            None => crate::guardrails::api::control(state, &caller, &parts.method, &decoded_path, &query, &body),
        };
    }

    if crate::custom_models::api::is_control_path(raw_path) {
        let caller = match authenticate(state, &request, "bedrock") {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        };
        return crate::custom_models::api::control(state, &caller, &parts.method, &decoded_path, &query, &body);
    }

    let runtime_call = if parts.method == Method::POST {
        raw_path.strip_prefix("/model/").and_then(|rest| rest.rsplit_once('/'))
    } else {
        None
    };
    let is_control = parts.method == Method::GET
        && [
            "/foundation-models",
            "/inference-profiles",
            "/foundation-model-availability/",
        ]
        .iter()
        .any(|p| raw_path.starts_with(p));
    if runtime_call.is_none() && !is_control {
        return unknown_operation(&parts.method, raw_path);
    }
    let caller = match authenticate(state, &request, "bedrock") {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let decoded = percent_decode_str(raw_path).decode_utf8_lossy().into_owned();
    if let Some((raw_id, action)) = runtime_call {
        let Some(op) = Operation::from_action(action) else {
            return unknown_operation(&parts.method, raw_path);
        };
        let model_id = percent_decode_str(raw_id).decode_utf8_lossy().into_owned();
        return runtime::handle(state, &caller, &model_id, op, &parts.headers, &body).await;
    }
    control_plane::handle(state, &caller, &decoded, &query).await
}

/// Splits `/region/{region}/rest` into the region and `/rest`.
fn split_region_prefix(path: &str) -> (Option<String>, &str) {
    if let Some(rest) = path.strip_prefix("/region/") {
        if let Some((region, tail)) = rest.split_once('/') {
            return (Some(region.to_string()), &path[path.len() - tail.len() - 1..]);
        }
    }
    (None, path)
}

fn unknown_operation(method: &Method, path: &str) -> Response {
    let mut r = AwsError::new(
        BedrockErrorKind::ResourceNotFoundException,
        format!(
            "No operation matches {method} {}.",
            path.chars().take(200).collect::<String>()
        ),
    )
    .into_response();
    r.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("UnknownOperationException"),
    );
    r
}

#[cfg(test)]
mod tests;
