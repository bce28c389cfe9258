//! SageMaker runtime's error format: `x-amzn-ErrorType` plus `{"message": …}` (botocore's
//! rest-json parser takes the code from the header, the message from `message` or `Message`),
//! with the status botocore's `sagemaker-runtime` model gives each error and `retry-after` on
//! every 429. One table maps each class. Failures of what stands behind an endpoint are told as
//! SageMaker tells a model container's: a model that gave no answer in time or refused its
//! input is a `ModelError` (424); the gateway's own access to Bedrock failing is an
//! `InternalDependencyException` (530).

use axum::response::Response;
use strata_core::BedrockErrorKind;

use crate::error::{Class, GatewayError};

/// The error code and status for a failure.
pub fn error_type(e: &GatewayError) -> (&'static str, u16) {
    if e.upstream_kind == Some(BedrockErrorKind::ModelErrorException) {
        return ("ModelError", 424);
    }
    match e.class {
        Class::Unauthenticated => ("UnrecognizedClientException", 403),
        Class::InvalidSignature => ("InvalidSignatureException", 403),
        Class::IncompleteSignature => ("IncompleteSignatureException", 403),
        Class::Forbidden | Class::NoRoute => ("AccessDeniedException", 403),
        Class::NotFound => ("UnknownOperationException", 404),
        Class::MethodNotAllowed => ("UnknownOperationException", 405),
        Class::UnknownModel | Class::Invalid => ("ValidationError", 400),
        Class::TooLarge => ("ValidationError", 413),
        Class::RateLimited | Class::Throttled => ("ThrottlingException", 429),
        Class::BudgetExceeded => ("ServiceQuotaExceededException", 400),
        Class::LimitsUnavailable | Class::Unavailable => ("ServiceUnavailable", 503),
        // A model still loading: 503 with `retry-after`, as in every dialect (SageMaker says 429).
        Class::ColdStart => ("ModelNotReadyException", 503),
        Class::Timeout => ("ModelError", 424),
        Class::UpstreamDenied | Class::UpstreamNotFound => ("InternalDependencyException", 530),
        Class::Internal => ("InternalFailure", 500),
    }
}

/// The SageMaker-shaped answer for a failure (AWS's JSON error shape, as Bedrock's).
pub fn response(e: &GatewayError) -> Response {
    let (kind, status) = error_type(e);
    crate::inbound::bedrock::error::aws_json_error(e, kind, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_a_sagemaker_code_and_status() {
        let table = [
            (Class::Unauthenticated, "UnrecognizedClientException", 403),
            (Class::InvalidSignature, "InvalidSignatureException", 403),
            (Class::IncompleteSignature, "IncompleteSignatureException", 403),
            (Class::Forbidden, "AccessDeniedException", 403),
            (Class::NotFound, "UnknownOperationException", 404),
            (Class::UnknownModel, "ValidationError", 400),
            (Class::MethodNotAllowed, "UnknownOperationException", 405),
            (Class::Invalid, "ValidationError", 400),
            (Class::TooLarge, "ValidationError", 413),
            (Class::RateLimited, "ThrottlingException", 429),
            (Class::BudgetExceeded, "ServiceQuotaExceededException", 400),
            (Class::LimitsUnavailable, "ServiceUnavailable", 503),
            (Class::NoRoute, "AccessDeniedException", 403),
            (Class::Throttled, "ThrottlingException", 429),
            (Class::ColdStart, "ModelNotReadyException", 503),
            (Class::Unavailable, "ServiceUnavailable", 503),
            (Class::Timeout, "ModelError", 424),
            (Class::UpstreamDenied, "InternalDependencyException", 530),
            (Class::UpstreamNotFound, "InternalDependencyException", 530),
            (Class::Internal, "InternalFailure", 500),
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
    fn a_models_own_error_is_a_model_error() {
        let mut e = GatewayError::gateway(Class::Invalid, "the model failed");
        e.upstream_kind = Some(BedrockErrorKind::ModelErrorException);
        assert_eq!(error_type(&e), ("ModelError", 424));
        e.upstream_kind = Some(BedrockErrorKind::ValidationException);
        assert_eq!(error_type(&e), ("ValidationError", 400));
    }
}
