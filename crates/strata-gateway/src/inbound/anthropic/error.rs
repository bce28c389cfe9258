//! Anthropic's error format: `{"type": "error", "error": {"type", "message"}}` with the status
//! Anthropic uses for the type, and `retry-after` on every 429. One table maps each class.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Class, GatewayError};

/// Status and error type for a class.
pub fn error_kind(class: Class) -> (StatusCode, &'static str) {
    use StatusCode as S;
    match class {
        Class::Unauthenticated | Class::InvalidSignature | Class::IncompleteSignature => {
            (S::UNAUTHORIZED, "authentication_error")
        }
        Class::Forbidden | Class::NoRoute | Class::UpstreamDenied => (S::FORBIDDEN, "permission_error"),
        Class::NotFound | Class::UnknownModel | Class::UpstreamNotFound => (S::NOT_FOUND, "not_found_error"),
        Class::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "invalid_request_error"),
        Class::Invalid => (S::BAD_REQUEST, "invalid_request_error"),
        Class::TooLarge => (S::PAYLOAD_TOO_LARGE, "request_too_large"),
        Class::RateLimited | Class::Throttled => (S::TOO_MANY_REQUESTS, "rate_limit_error"),
        // A spending cap: Anthropic's billing error, which clients do not retry.
        Class::BudgetExceeded => (S::PAYMENT_REQUIRED, "billing_error"),
        Class::LimitsUnavailable => (S::SERVICE_UNAVAILABLE, "api_error"),
        // A model still loading: 503 with `retry-after`, as in every dialect.
        Class::ColdStart => (S::SERVICE_UNAVAILABLE, "overloaded_error"),
        Class::Unavailable => (S::BAD_GATEWAY, "api_error"),
        Class::Timeout => (S::GATEWAY_TIMEOUT, "timeout_error"),
        Class::Internal => (S::INTERNAL_SERVER_ERROR, "api_error"),
    }
}

/// The Anthropic-shaped answer for a failure.
pub fn response(e: &GatewayError) -> Response {
    let (status, kind) = error_kind(e.class);
    let body = json!({"type": "error", "error": {"type": kind, "message": e.message}});
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if status == StatusCode::TOO_MANY_REQUESTS || (e.class.retryable() && e.retry_after.is_some()) {
        headers.insert("retry-after", HeaderValue::from(e.retry_after_secs()));
    }
    response
}

/// The `error` event that ends a stream which failed after it began.
pub fn stream_event(message: &str, class: Class) -> String {
    let (_, kind) = error_kind(class);
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    format!("event: error\ndata: {body}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_a_status_and_type() {
        let table = [
            (Class::Unauthenticated, 401, "authentication_error"),
            (Class::InvalidSignature, 401, "authentication_error"),
            (Class::IncompleteSignature, 401, "authentication_error"),
            (Class::Forbidden, 403, "permission_error"),
            (Class::NotFound, 404, "not_found_error"),
            (Class::UnknownModel, 404, "not_found_error"),
            (Class::MethodNotAllowed, 405, "invalid_request_error"),
            (Class::Invalid, 400, "invalid_request_error"),
            (Class::TooLarge, 413, "request_too_large"),
            (Class::RateLimited, 429, "rate_limit_error"),
            (Class::BudgetExceeded, 402, "billing_error"),
            (Class::LimitsUnavailable, 503, "api_error"),
            (Class::NoRoute, 403, "permission_error"),
            (Class::Throttled, 429, "rate_limit_error"),
            (Class::ColdStart, 503, "overloaded_error"),
            (Class::Unavailable, 502, "api_error"),
            (Class::Timeout, 504, "timeout_error"),
            (Class::UpstreamDenied, 403, "permission_error"),
            (Class::UpstreamNotFound, 404, "not_found_error"),
            (Class::Internal, 500, "api_error"),
        ];
        assert_eq!(table.len(), Class::ALL.len());
        for (class, status, kind) in table {
            assert_eq!(
                error_kind(class),
                (StatusCode::from_u16(status).unwrap(), kind),
                "{class:?}"
            );
            let r = response(&GatewayError::gateway(class, "why"));
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(r.headers()["content-type"], "application/json");
            if status == 429 {
                assert_eq!(r.headers()["retry-after"], "1", "{class:?}");
            }
        }
        let event = stream_event("cut", Class::Unavailable);
        assert!(event.starts_with("event: error\ndata: "));
        let data: serde_json::Value = serde_json::from_str(event.trim_end().split_once("data: ").unwrap().1).unwrap();
        assert_eq!(
            data,
            json!({"type": "error", "error": {"type": "api_error", "message": "cut"}})
        );
    }
}
