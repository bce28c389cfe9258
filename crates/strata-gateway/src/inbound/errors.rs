//! Error answers in the caller's dialect: OpenAI error JSON on `/v1/*`, Bedrock's
//! `x-amzn-ErrorType` + `{"message"}` on `/model/*`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use strata_core::{BedrockErrorKind, ErrorClass};

use crate::request::execute::PipelineError;

/// A Bedrock-shaped error answer.
pub fn bedrock_error(kind: BedrockErrorKind, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, json!({"message": message.into()}).to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-amzn-errortype", HeaderValue::from_static(kind.name()));
    response
}

/// An OpenAI-shaped error answer.
pub fn openai_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: impl Into<String>,
) -> Response {
    let body = json!({"error": {"message": message.into(), "type": kind, "param": param, "code": code}});
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// The Bedrock error class that stands for an error class when the upstream sent none.
pub fn kind_of_class(class: ErrorClass) -> BedrockErrorKind {
    match class {
        ErrorClass::Throttled => BedrockErrorKind::ThrottlingException,
        ErrorClass::ColdStart => BedrockErrorKind::ModelNotReadyException,
        ErrorClass::Unavailable | ErrorClass::Connect => BedrockErrorKind::ServiceUnavailableException,
        ErrorClass::Timeout => BedrockErrorKind::ModelTimeoutException,
        ErrorClass::Invalid => BedrockErrorKind::ValidationException,
        ErrorClass::Denied => BedrockErrorKind::AccessDeniedException,
        ErrorClass::NotFound => BedrockErrorKind::ResourceNotFoundException,
    }
}

/// A pipeline failure as a Bedrock error.
pub fn pipeline_error_bedrock(e: &PipelineError) -> Response {
    match e {
        PipelineError::ModelNotAllowed(_) => bedrock_error(BedrockErrorKind::AccessDeniedException, e.to_string()),
        PipelineError::NoCandidate { reasons, .. } if busy(reasons) => {
            bedrock_error(BedrockErrorKind::ThrottlingException, e.to_string())
        }
        PipelineError::NoCandidate { .. } => bedrock_error(BedrockErrorKind::AccessDeniedException, e.to_string()),
        PipelineError::Deadline(_) => bedrock_error(BedrockErrorKind::ModelTimeoutException, e.to_string()),
        PipelineError::Upstream(u) => {
            bedrock_error(u.kind.unwrap_or_else(|| kind_of_class(u.class)), u.message.clone())
        }
    }
}

/// Whether the candidates were only unavailable for now (cooldown, local limits).
pub fn busy(reasons: &str) -> bool {
    reasons.contains("cooling down") || reasons.contains("rate limit")
}
