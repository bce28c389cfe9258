//! The OpenAI-compatible API: `GET /v1/models` (and `POST /v1/chat/completions`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub mod request;
pub mod response;
pub mod stream;
pub mod translate;

use super::errors::openai_error;
use crate::request::authenticate::{authenticate, AuthError, Principal};
use crate::state::GatewayState;
use crate::telemetry::{Api, OK};

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
    let table = state.routes.load();
    let data: Vec<_> = config
        .models
        .iter()
        .enumerate()
        .filter(|(i, _)| config.tenants[tenant].may_use(*i))
        // Only models the key can reach: at least one deployment inside its residency.
        .filter(|(i, _)| {
            let t = &table.models[*i].tenants[tenant];
            !t.allowed.is_empty() || !t.baseline.is_empty()
        })
        .map(|(_, m)| json!({"id": m.name, "object": "model", "created": 0, "owned_by": "strata"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// The OpenAI error for a pipeline failure.
fn pipeline_error_openai(e: &crate::request::execute::PipelineError) -> Response {
    use crate::request::execute::PipelineError as P;
    use strata_core::ErrorClass as C;
    match e {
        P::ModelNotAllowed(m) => openai_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            Some("model"),
            format!("The model `{m}` does not exist or you do not have access to it."),
        ),
        P::NoCandidate { reasons, .. } if super::errors::busy(reasons) => openai_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            Some("rate_limit_exceeded"),
            None,
            e.to_string(),
        ),
        P::NoCandidate { .. } => openai_error(
            StatusCode::FORBIDDEN,
            "permission_error",
            Some("no_allowed_deployment"),
            Some("model"),
            e.to_string(),
        ),
        P::Deadline(_) => openai_error(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout_error",
            Some("timeout"),
            None,
            e.to_string(),
        ),
        P::Upstream(u) => {
            let (status, kind, code) = match u.class {
                C::Throttled => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "rate_limit_exceeded"),
                C::ColdStart => (StatusCode::SERVICE_UNAVAILABLE, "server_error", "model_not_ready"),
                C::Unavailable | C::Connect => (StatusCode::BAD_GATEWAY, "server_error", "upstream_unavailable"),
                C::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout_error", "timeout"),
                C::Invalid => (StatusCode::BAD_REQUEST, "invalid_request_error", "invalid_request"),
                C::Denied => (StatusCode::FORBIDDEN, "permission_error", "upstream_access_denied"),
                C::NotFound => (StatusCode::NOT_FOUND, "invalid_request_error", "model_not_found"),
            };
            openai_error(status, kind, Some(code), None, u.message.clone())
        }
    }
}

/// `POST /v1/chat/completions`: translated to Converse / ConverseStream and routed like any
/// Bedrock call; the answer (or stream) is translated back.
pub async fn chat_completions(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    chat(&state, &headers, body).await
}

/// Answers `POST /v1/chat/completions` (the server calls this directly; tests go through the
/// router).
pub async fn chat(state: &GatewayState, headers: &HeaderMap, body: axum::body::Body) -> Response {
    let tenant = match tenant_of(state, headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let body = match axum::body::to_bytes(body, super::MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return openai_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                Some("request_too_large"),
                None,
                format!("The request body is larger than {} bytes.", super::MAX_BODY_BYTES),
            )
        }
    };
    let request: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("invalid_json"),
                None,
                format!("The body is not valid JSON: {e}"),
            )
        }
    };
    let (converse, options) = match crate::inbound::openai::request::chat_to_converse(&request) {
        Ok(t) => t,
        Err(e) => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("invalid_request"),
                e.param.as_deref(),
                e.message,
            )
        }
    };
    let config = &state.config;
    let Some(&model) = config
        .model_by_name
        .get(&options.model)
        .filter(|&&m| config.tenants[tenant].may_use(m))
    else {
        return pipeline_error_openai(&crate::request::execute::PipelineError::ModelNotAllowed(options.model));
    };
    let converse_body = match serde_json::to_vec(&converse) {
        Ok(b) => bytes::Bytes::from(b),
        Err(e) => {
            return openai_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                None,
                None,
                e.to_string(),
            )
        }
    };
    let max_tokens = converse
        .inference_config
        .as_ref()
        .and_then(|c| c.max_tokens)
        .unwrap_or(1000);
    let spec = crate::request::execute::CallSpec {
        operation: if options.stream {
            strata_aws::RuntimeOperation::ConverseStream
        } else {
            strata_aws::RuntimeOperation::Converse
        },
        estimated_tokens: (body.len() as u64 / 4).max(1) + u64::from(max_tokens),
        body: converse_body,
        content_type: None,
        accept: None,
        openai_request: Some(request),
    };
    let started = std::time::Instant::now();
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let id = format!("chatcmpl-{}", strata_http::new_request_id().replace('-', ""));
    let outcome = match crate::request::execute::run(state, tenant, model, &spec).await {
        Ok(o) => o,
        Err(e) => {
            state.metrics[model].request_done(&options.model, Api::OpenAi, "error", started.elapsed());
            return pipeline_error_openai(&e);
        }
    };
    if outcome.model != model {
        crate::telemetry::fell_back(&options.model, &config.models[outcome.model].name);
    }
    state.metrics[model].request_done(&options.model, Api::OpenAi, OK, started.elapsed());
    let route = outcome.route.label.clone();
    let served_by_baseline = outcome.baseline;
    let mut response = match outcome.answer {
        crate::request::execute::Answer::Complete { body, .. } => {
            match serde_json::from_slice::<strata_core::wire::converse::ConverseResponse>(&body) {
                Ok(r) => axum::Json(crate::inbound::openai::response::converse_to_chat(
                    &r,
                    &options.model,
                    &id,
                    created,
                ))
                .into_response(),
                Err(e) => openai_error(
                    StatusCode::BAD_GATEWAY,
                    "server_error",
                    Some("bad_upstream_answer"),
                    None,
                    format!("the upstream answer could not be read: {e}"),
                ),
            }
        }
        crate::request::execute::Answer::OpenAiComplete { body } => {
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(mut answer) => {
                    answer["model"] = serde_json::Value::String(options.model.clone());
                    axum::Json(answer).into_response()
                }
                Err(e) => openai_error(
                    StatusCode::BAD_GATEWAY,
                    "server_error",
                    Some("bad_upstream_answer"),
                    None,
                    format!("the upstream answer could not be read: {e}"),
                ),
            }
        }
        crate::request::execute::Answer::OpenAiStream { rest } => {
            use futures::StreamExt;
            let relayed = rest.map(|chunk| {
                Ok::<bytes::Bytes, std::io::Error>(chunk.unwrap_or_else(|e| {
                    bytes::Bytes::from(format!(
                        "data: {}\n\n",
                        serde_json::json!({"error": {"message": format!("upstream stream failed: {}", e.message), "type": "server_error"}})
                    ))
                }))
            });
            let mut response = Response::new(axum::body::Body::from_stream(relayed));
            response.headers_mut().insert(
                "content-type",
                axum::http::HeaderValue::from_static("text/event-stream"),
            );
            response
        }
        crate::request::execute::Answer::Stream { first, rest, .. } => {
            let translator = crate::inbound::openai::stream::StreamTranslator::new(
                &options.model,
                &id,
                created,
                options.include_usage,
            );
            let mut response = Response::new(axum::body::Body::from_stream(sse_stream(first, rest, translator)));
            response.headers_mut().insert(
                "content-type",
                axum::http::HeaderValue::from_static("text/event-stream"),
            );
            response
                .headers_mut()
                .insert("cache-control", axum::http::HeaderValue::from_static("no-cache"));
            response
        }
    };
    if let Ok(v) = axum::http::HeaderValue::from_str(&route) {
        response.headers_mut().insert("x-strata-route", v);
    }
    if served_by_baseline {
        response
            .headers_mut()
            .insert("x-strata-baseline", axum::http::HeaderValue::from_static("true"));
    }
    response
}

/// Decodes the upstream event stream as it arrives and sends each translated chunk as an SSE
/// `data:` line; a failure mid-stream ends with an error event, never a silent truncation.
fn sse_stream(
    first: bytes::Bytes,
    rest: futures::stream::BoxStream<'static, Result<bytes::Bytes, strata_aws::UpstreamError>>,
    translator: crate::inbound::openai::stream::StreamTranslator,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    use futures::StreamExt;
    use strata_core::eventstream::{FrameReader, StreamFrame};
    struct State {
        reader: FrameReader,
        translator: crate::inbound::openai::stream::StreamTranslator,
        rest: futures::stream::BoxStream<'static, Result<bytes::Bytes, strata_aws::UpstreamError>>,
        pending: Option<bytes::Bytes>,
        done: bool,
    }
    fn data(json: &str) -> String {
        format!("data: {json}\n\n")
    }
    fn error_event(message: &str) -> String {
        data(&serde_json::json!({"error": {"message": message, "type": "server_error", "code": "upstream_stream_error"}}).to_string())
    }
    let state = State {
        reader: FrameReader::new(),
        translator,
        rest,
        pending: Some(first),
        done: false,
    };
    futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let chunk = match s.pending.take() {
            Some(c) => Some(Ok(c)),
            None => s.rest.next().await,
        };
        let mut out = String::new();
        match chunk {
            None => {
                if !s.translator.finished() {
                    out.push_str(&error_event("the upstream stream ended before the answer was complete"));
                }
                out.push_str("data: [DONE]\n\n");
                s.done = true;
            }
            Some(Err(e)) => {
                out.push_str(&error_event(&e.message));
                s.done = true;
            }
            Some(Ok(bytes)) => {
                s.reader.push(&bytes);
                loop {
                    match s.reader.next_frame() {
                        Ok(None) => break,
                        Ok(Some(StreamFrame::Event { event_type, payload })) => {
                            for c in s.translator.on_event(&event_type, &payload) {
                                out.push_str("data: ");
                                out.push_str(&c);
                                out.push_str("\n\n");
                            }
                        }
                        Ok(Some(StreamFrame::Exception {
                            exception_type,
                            payload,
                        })) => {
                            let message = serde_json::from_slice::<serde_json::Value>(&payload)
                                .ok()
                                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
                                .unwrap_or(exception_type);
                            out.push_str(&error_event(&message));
                            s.done = true;
                            break;
                        }
                        Ok(Some(StreamFrame::Error { message, .. })) => {
                            out.push_str(&error_event(&message));
                            s.done = true;
                            break;
                        }
                        Err(e) => {
                            out.push_str(&error_event(&e.to_string()));
                            s.done = true;
                            break;
                        }
                    }
                }
            }
        }
        Some((Ok(bytes::Bytes::from(out)), s))
    })
}
