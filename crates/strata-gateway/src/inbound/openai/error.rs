//! OpenAI's error format: `{"error": {"message", "type", "param", "code"}}` with the status
//! OpenAI uses, and `retry-after` on every 429. One table maps each class.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Class, GatewayError};

/// Status, error type and code for a class.
pub fn error_kind(class: Class) -> (StatusCode, &'static str, &'static str) {
    use StatusCode as S;
    match class {
        Class::Unauthenticated => (S::UNAUTHORIZED, "invalid_request_error", "invalid_api_key"),
        Class::InvalidSignature => (S::UNAUTHORIZED, "invalid_request_error", "invalid_signature"),
        Class::IncompleteSignature => (S::UNAUTHORIZED, "invalid_request_error", "incomplete_signature"),
        Class::Forbidden => (S::FORBIDDEN, "permission_error", "permission_denied"),
        Class::NotFound => (S::NOT_FOUND, "invalid_request_error", "not_found"),
        Class::UnknownModel => (S::NOT_FOUND, "invalid_request_error", "model_not_found"),
        Class::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "invalid_request_error", "method_not_allowed"),
        Class::Invalid => (S::BAD_REQUEST, "invalid_request_error", "invalid_request"),
        Class::TooLarge => (S::PAYLOAD_TOO_LARGE, "invalid_request_error", "request_too_large"),
        Class::RateLimited => (S::TOO_MANY_REQUESTS, "rate_limit_error", "rate_limit_exceeded"),
        Class::BudgetExceeded => (S::TOO_MANY_REQUESTS, "insufficient_quota", "insufficient_quota"),
        Class::LimitsUnavailable => (S::SERVICE_UNAVAILABLE, "server_error", "limits_unavailable"),
        Class::NoRoute => (S::FORBIDDEN, "permission_error", "no_allowed_deployment"),
        Class::Throttled => (S::TOO_MANY_REQUESTS, "rate_limit_error", "rate_limit_exceeded"),
        Class::ColdStart => (S::SERVICE_UNAVAILABLE, "server_error", "model_not_ready"),
        Class::Unavailable => (S::BAD_GATEWAY, "server_error", "upstream_unavailable"),
        Class::Timeout => (S::GATEWAY_TIMEOUT, "timeout_error", "timeout"),
        Class::UpstreamDenied => (S::FORBIDDEN, "permission_error", "upstream_access_denied"),
        Class::UpstreamNotFound => (S::NOT_FOUND, "invalid_request_error", "model_not_found"),
        Class::Internal => (S::INTERNAL_SERVER_ERROR, "server_error", "internal_error"),
    }
}

/// The OpenAI-shaped answer for a failure.
pub fn response(e: &GatewayError) -> Response {
    let (status, kind, code) = error_kind(e.class);
    let body = json!({"error": {"message": e.message, "type": kind, "param": e.param, "code": code}});
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if status == StatusCode::TOO_MANY_REQUESTS || (e.class.retryable() && e.retry_after.is_some()) {
        headers.insert("retry-after", HeaderValue::from(e.retry_after_secs()));
    }
    response
}

/// An SSE `data:` line carrying an error, for failures after the stream began.
pub fn stream_event(message: &str, code: &str) -> String {
    let body = json!({"error": {"message": message, "type": "server_error", "code": code}});
    format!("data: {body}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_a_status_type_and_code() {
        let table = [
            (Class::Unauthenticated, 401, "invalid_api_key"),
            (Class::InvalidSignature, 401, "invalid_signature"),
            (Class::IncompleteSignature, 401, "incomplete_signature"),
            (Class::Forbidden, 403, "permission_denied"),
            (Class::NotFound, 404, "not_found"),
            (Class::UnknownModel, 404, "model_not_found"),
            (Class::MethodNotAllowed, 405, "method_not_allowed"),
            (Class::Invalid, 400, "invalid_request"),
            (Class::TooLarge, 413, "request_too_large"),
            (Class::RateLimited, 429, "rate_limit_exceeded"),
            (Class::BudgetExceeded, 429, "insufficient_quota"),
            (Class::LimitsUnavailable, 503, "limits_unavailable"),
            (Class::NoRoute, 403, "no_allowed_deployment"),
            (Class::Throttled, 429, "rate_limit_exceeded"),
            (Class::ColdStart, 503, "model_not_ready"),
            (Class::Unavailable, 502, "upstream_unavailable"),
            (Class::Timeout, 504, "timeout"),
            (Class::UpstreamDenied, 403, "upstream_access_denied"),
            (Class::UpstreamNotFound, 404, "model_not_found"),
            (Class::Internal, 500, "internal_error"),
        ];
        assert_eq!(table.len(), Class::ALL.len());
        for (class, status, code) in table {
            let e = GatewayError::gateway(class, "why").with_param("model");
            assert_eq!(error_kind(class).0.as_u16(), status, "{class:?}");
            assert_eq!(error_kind(class).2, code, "{class:?}");
            let r = response(&e);
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(r.headers()["content-type"], "application/json");
            if status == 429 {
                assert_eq!(r.headers()["retry-after"], "1", "{class:?}");
            }
        }
    }
}
