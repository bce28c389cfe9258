//! What a failed upstream call means for the request: the class decides retry, cooldown and
//! fallback. Every upstream error is mapped to a class once, where it is received.

use serde::{Deserialize, Serialize};

use crate::BedrockErrorKind;

/// The meaning of an upstream failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 429 / quota: try elsewhere or later.
    Throttled,
    /// The model is loading (custom model import cold start): retry after a pause.
    ColdStart,
    /// 5xx or the service said it is unavailable.
    Unavailable,
    /// The connection failed or dropped before an answer.
    Connect,
    /// The upstream took too long.
    Timeout,
    /// The request itself is wrong: no retry, the client must change it.
    Invalid,
    /// Credentials or access: no retry on this target, but another account may work.
    Denied,
    /// The model or resource does not exist there.
    NotFound,
}

impl ErrorClass {
    /// Whether trying again (here or on another candidate) may help.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Throttled
                | ErrorClass::ColdStart
                | ErrorClass::Unavailable
                | ErrorClass::Connect
                | ErrorClass::Timeout
        )
    }

    /// Whether another candidate (other account, region or model) may succeed where this one
    /// failed, even though retrying the same one will not.
    pub fn try_other_candidates(self) -> bool {
        self.retryable() || matches!(self, ErrorClass::Denied | ErrorClass::NotFound)
    }

    /// Whether the failure counts against the target's health (cooldown). A cold start does
    /// not: the target is loading the model and will serve once it is loaded.
    pub fn counts_against_target(self) -> bool {
        !matches!(self, ErrorClass::Invalid | ErrorClass::ColdStart)
    }

    /// The class of a Bedrock error.
    pub fn of_bedrock(kind: BedrockErrorKind) -> ErrorClass {
        use BedrockErrorKind as K;
        match kind {
            K::ThrottlingException | K::ServiceQuotaExceededException => ErrorClass::Throttled,
            K::ModelNotReadyException => ErrorClass::ColdStart,
            K::ServiceUnavailableException | K::InternalServerException | K::ModelStreamErrorException => {
                ErrorClass::Unavailable
            }
            K::ModelTimeoutException => ErrorClass::Timeout,
            K::ValidationException | K::ModelErrorException | K::ConflictException => ErrorClass::Invalid,
            K::AccessDeniedException
            | K::UnrecognizedClientException
            | K::InvalidSignatureException
            | K::IncompleteSignatureException
            | K::MissingAuthenticationTokenException
            | K::ExpiredTokenException => ErrorClass::Denied,
            K::ResourceNotFoundException => ErrorClass::NotFound,
        }
    }

    /// The class of a bare HTTP status, when no error type was sent.
    pub fn of_status(status: u16) -> ErrorClass {
        match status {
            429 => ErrorClass::Throttled,
            408 | 504 => ErrorClass::Timeout,
            401 | 403 => ErrorClass::Denied,
            404 => ErrorClass::NotFound,
            500..=599 => ErrorClass::Unavailable,
            _ => ErrorClass::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_agree_with_the_sdk_retry_rules() {
        for kind in BedrockErrorKind::ALL {
            let class = ErrorClass::of_bedrock(kind);
            if kind.retryable() {
                assert!(class.retryable(), "{kind:?}");
            }
        }
        assert!(!ErrorClass::of_bedrock(BedrockErrorKind::ValidationException).try_other_candidates());
        assert!(ErrorClass::of_bedrock(BedrockErrorKind::AccessDeniedException).try_other_candidates());
        assert_eq!(ErrorClass::of_status(503), ErrorClass::Unavailable);
    }
}
