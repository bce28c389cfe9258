//! Bedrock's error format: `x-amzn-ErrorType` plus `{"message": …}`, the status Bedrock uses
//! for that type, and `retry-after` on every 429 (and on other retryable errors with a known wait). One table maps each class.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use strata_core::BedrockErrorKind as K;

use crate::error::{Class, GatewayError};

/// The error type and status for a class (the upstream's own type wins when it sent one).
pub fn error_type(e: &GatewayError) -> (&'static str, u16) {
    // A model still loading when the request gives up waiting (or asked not to wait): 503 with
    // `retry-after` in every dialect, under Bedrock's own type (Bedrock itself answers 429).
    if e.class == Class::ColdStart {
        return (K::ModelNotReadyException.name(), 503);
    }
    if let Some(kind) = e.upstream_kind {
        return (kind.name(), kind.status());
    }
    let kind = match e.class {
        Class::Unauthenticated => K::UnrecognizedClientException,
        Class::InvalidSignature => K::InvalidSignatureException,
        Class::IncompleteSignature => K::IncompleteSignatureException,
        Class::Forbidden | Class::NoRoute | Class::UpstreamDenied => K::AccessDeniedException,
        Class::NotFound => return ("UnknownOperationException", 404),
        Class::MethodNotAllowed => return ("UnknownOperationException", 405),
        Class::UnknownModel | Class::Invalid => K::ValidationException,
        Class::TooLarge => return (K::ValidationException.name(), 413),
        Class::RateLimited | Class::Throttled => K::ThrottlingException,
        Class::BudgetExceeded => K::ServiceQuotaExceededException,
        Class::LimitsUnavailable => K::ServiceUnavailableException,
        Class::ColdStart => K::ModelNotReadyException,
        Class::Unavailable => K::ServiceUnavailableException,
        Class::Timeout => K::ModelTimeoutException,
        Class::UpstreamNotFound => K::ResourceNotFoundException,
        Class::Internal => K::InternalServerException,
    };
    (kind.name(), kind.status())
}

/// The Bedrock-shaped answer for a failure.
pub fn response(e: &GatewayError) -> Response {
    let (kind, status) = error_type(e);
    aws_json_error(e, kind, status)
}

/// An AWS JSON-protocol error (Bedrock's, SageMaker runtime's): `x-amzn-ErrorType: kind`, body
/// `{"message": …}`, and `retry-after` on a 429 or a retryable error with a known wait.
pub fn aws_json_error(e: &GatewayError, kind: &'static str, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({ "message": e.message }).to_string();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-amzn-errortype", HeaderValue::from_static(kind));
    if status == StatusCode::TOO_MANY_REQUESTS || (e.class.retryable() && e.retry_after.is_some()) {
        headers.insert("retry-after", HeaderValue::from(e.retry_after_secs()));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_a_bedrock_type_and_status() {
        let table = [
            (Class::Unauthenticated, "UnrecognizedClientException", 403),
            (Class::InvalidSignature, "InvalidSignatureException", 403),
            (Class::IncompleteSignature, "IncompleteSignatureException", 403),
            (Class::Forbidden, "AccessDeniedException", 403),
            (Class::NotFound, "UnknownOperationException", 404),
            (Class::UnknownModel, "ValidationException", 400),
            (Class::MethodNotAllowed, "UnknownOperationException", 405),
            (Class::Invalid, "ValidationException", 400),
            (Class::TooLarge, "ValidationException", 413),
            (Class::RateLimited, "ThrottlingException", 429),
            (Class::BudgetExceeded, "ServiceQuotaExceededException", 400),
            (Class::LimitsUnavailable, "ServiceUnavailableException", 503),
            (Class::NoRoute, "AccessDeniedException", 403),
            (Class::Throttled, "ThrottlingException", 429),
            (Class::ColdStart, "ModelNotReadyException", 503),
            (Class::Unavailable, "ServiceUnavailableException", 503),
            (Class::Timeout, "ModelTimeoutException", 408),
            (Class::UpstreamDenied, "AccessDeniedException", 403),
            (Class::UpstreamNotFound, "ResourceNotFoundException", 404),
            (Class::Internal, "InternalServerException", 500),
        ];
        assert_eq!(table.len(), Class::ALL.len());
        for (class, kind, status) in table {
            let e = GatewayError::gateway(class, "why");
            assert_eq!(error_type(&e), (kind, status), "{class:?}");
            let r = response(&e);
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(r.headers()["x-amzn-errortype"], kind);
            assert_eq!(r.headers()["content-type"], "application/json");
            assert_eq!(r.headers().contains_key("retry-after"), status == 429, "{class:?}");
        }
    }

    #[test]
    fn the_upstreams_own_type_is_passed_through() {
        let mut e = GatewayError::gateway(Class::Throttled, "quota");
        e.upstream_kind = Some(K::ServiceQuotaExceededException);
        assert_eq!(error_type(&e), ("ServiceQuotaExceededException", 400));
    }
}
