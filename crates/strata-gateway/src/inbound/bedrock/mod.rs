//! The Bedrock-native API: `POST /model/{id}/converse | converse-stream | invoke |
//! invoke-with-response-stream`. `{id}` is a logical model or a concrete Bedrock ID; bodies are
//! forwarded unchanged and re-signed for the chosen target, and streams are relayed frame bytes
//! as they come, without re-encoding.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use strata_aws::RuntimeOperation;
use strata_core::eventstream::exception_frame;
use strata_core::BedrockErrorKind;

use super::errors::{bedrock_error, pipeline_error_bedrock};
use super::MAX_BODY_BYTES;
use crate::request::authenticate::{authenticate, AuthError, Principal};
use crate::request::execute::Group;
use crate::request::execute::{self, Answer, CallSpec};
use crate::routes::{Route, RouteTable};
use crate::state::GatewayState;
use crate::telemetry::{Api, OK};

/// Headers of a Bedrock answer worth passing to the client.
const PASSED_HEADERS: [&str; 4] = [
    "content-type",
    "x-amzn-bedrock-input-token-count",
    "x-amzn-bedrock-output-token-count",
    "x-amzn-bedrock-invocation-latency",
];

/// The axum handler (the server calls [`call`] directly; tests go through the router).
pub async fn handle(
    State(state): State<Arc<GatewayState>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    call(&state, &rest, &headers, body).await
}

/// Answers `POST /model/{rest}`, `rest` already percent-decoded.
pub async fn call(state: &GatewayState, rest: &str, headers: &HeaderMap, body: Body) -> Response {
    let tenant = match authenticate(&state.config, headers) {
        Ok(Principal::Tenant(t)) => t,
        Ok(Principal::Admin) => {
            return bedrock_error(
                BedrockErrorKind::AccessDeniedException,
                "admin keys cannot call models; use a tenant key",
            )
        }
        Err(AuthError::Missing) => {
            return bedrock_error(
                BedrockErrorKind::UnrecognizedClientException,
                AuthError::Missing.to_string(),
            )
        }
        Err(AuthError::Unknown) => {
            return bedrock_error(
                BedrockErrorKind::UnrecognizedClientException,
                "The security token included in the request is invalid.",
            )
        }
    };
    let Some((model_id, action)) = rest.rsplit_once('/') else {
        return bedrock_error(
            BedrockErrorKind::ResourceNotFoundException,
            format!("No operation matches /model/{rest}."),
        );
    };
    let Some(operation) = RuntimeOperation::from_action(action) else {
        return bedrock_error(
            BedrockErrorKind::ResourceNotFoundException,
            format!("No operation matches /model/{rest}."),
        );
    };
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let mut r = bedrock_error(
                BedrockErrorKind::ValidationException,
                format!("The request body is larger than the maximum of {MAX_BODY_BYTES} bytes."),
            );
            *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return r;
        }
    };
    let config = &state.config;
    let table = state.routes.load_full();
    let groups: Vec<Group> = match config.model_by_name.get(model_id) {
        Some(&model) => {
            if !config.tenants[tenant].may_use(model) {
                return bedrock_error(
                    BedrockErrorKind::AccessDeniedException,
                    format!("model '{model_id}' is not available to this API key"),
                );
            }
            execute::groups_for(state, &table, model, tenant)
        }
        None => concrete_id_routes(state, &table, tenant, model_id),
    };
    if groups.iter().all(|g| g.routes.is_empty()) {
        if let Some(&model) = config.model_by_name.get(model_id) {
            let excluded = table.models[model].tenants[tenant].excluded();
            let why: Vec<String> = excluded
                .iter()
                .take(5)
                .map(|e| format!("{}: {}", e.target, e.reason))
                .collect();
            return bedrock_error(
                BedrockErrorKind::AccessDeniedException,
                format!(
                    "no target of model '{model_id}' is available to this API key under its residency policy{}",
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", why.join("; "))
                    }
                ),
            );
        }
        return bedrock_error(
            BedrockErrorKind::ValidationException,
            "The provided model identifier is invalid.",
        );
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let spec = CallSpec {
        operation,
        estimated_tokens: (body.len() as u64 / 4).max(1),
        content_type: header("content-type"),
        accept: header("accept"),
        body,
        openai_request: None,
    };
    let started = std::time::Instant::now();
    let asked = groups.first().map(|g| g.model);
    let asked_name = asked.map(|m| config.models[m].name.as_str()).unwrap_or_default();
    let done = |outcome, elapsed| {
        if let Some(m) = asked {
            state.metrics[m].request_done(asked_name, Api::Bedrock, outcome, elapsed);
        }
    };
    match execute::run_over(state, groups, &spec).await {
        Ok(outcome) => {
            if Some(outcome.model) != asked {
                crate::telemetry::fell_back(asked_name, &config.models[outcome.model].name);
            }
            done(OK, started.elapsed());
            answer_response(outcome.answer, &outcome.route.label, outcome.baseline)
        }
        Err(e) => {
            let outcome = match &e {
                execute::PipelineError::Upstream(u) => execute::class_name(u.class),
                execute::PipelineError::Deadline(_) => "deadline",
                _ => "refused",
            };
            done(outcome, started.elapsed());
            pipeline_error_bedrock(&e)
        }
    }
}

/// A concrete Bedrock ID reaches the tenant's targets that call it, within the tenant's models.
fn concrete_id_routes(state: &GatewayState, table: &RouteTable, tenant: usize, model_id: &str) -> Vec<Group> {
    let config = &state.config;
    let mut groups = Vec::new();
    for (m, routes) in table.models.iter().enumerate() {
        if !config.tenants[tenant].may_use(m) {
            continue;
        }
        let matching: Vec<Arc<Route>> = routes.tenants[tenant]
            .allowed
            .iter()
            .filter(|r| matches!(&r.target, crate::config::Target::Bedrock { model_id: id, .. } if id == model_id))
            .cloned()
            .collect();
        if !matching.is_empty() {
            groups.push(Group {
                model: m,
                routes: matching,
                baseline: false,
            });
        }
    }
    groups
}

fn answer_response(answer: Answer, route_label: &str, baseline: bool) -> Response {
    let (headers, body) = match answer {
        Answer::Complete { headers, body } => (headers, Body::from(body)),
        // The pipeline never picks OpenAI-compatible deployments for Bedrock-native calls.
        Answer::OpenAiComplete { .. } | Answer::OpenAiStream { .. } => {
            return bedrock_error(
                BedrockErrorKind::InternalServerException,
                "an OpenAI-compatible upstream answered a Bedrock call",
            )
        }
        Answer::Stream { headers, first, rest } => {
            let relayed = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(first) }).chain(rest.scan(
                false,
                |ended, chunk| {
                    if *ended {
                        return futures::future::ready(None);
                    }
                    let item = match chunk {
                        Ok(bytes) => bytes,
                        Err(e) => {
                            // Never a silent truncation: the client gets an in-stream exception.
                            *ended = true;
                            let payload =
                                serde_json::json!({"message": format!("upstream stream failed: {}", e.message)})
                                    .to_string();
                            exception_frame(&BedrockErrorKind::InternalServerException.stream_name(), payload)
                                .unwrap_or_default()
                        }
                    };
                    futures::future::ready(Some(Ok::<Bytes, std::io::Error>(item)))
                },
            ));
            (headers, Body::from_stream(relayed))
        }
    };
    let mut response = Response::new(body);
    for name in PASSED_HEADERS {
        if let Some(v) = headers.get(name) {
            response.headers_mut().insert(name, v.clone());
        }
    }
    if let Ok(v) = HeaderValue::from_str(route_label) {
        response.headers_mut().insert("x-strata-route", v);
    }
    if baseline {
        response
            .headers_mut()
            .insert("x-strata-baseline", HeaderValue::from_static("true"));
    }
    response
}
