//! The classes of error Bedrock answers with, each with its HTTP status and retry class.

use serde::{Deserialize, Serialize};

/// A Bedrock error class, named as in the `x-amzn-ErrorType` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BedrockErrorKind {
    ValidationException,
    AccessDeniedException,
    ResourceNotFoundException,
    ThrottlingException,
    ModelNotReadyException,
    ServiceQuotaExceededException,
    ServiceUnavailableException,
    InternalServerException,
    ModelTimeoutException,
    ModelErrorException,
    ModelStreamErrorException,
    ConflictException,
    UnrecognizedClientException,
    InvalidSignatureException,
    IncompleteSignatureException,
    MissingAuthenticationTokenException,
    ExpiredTokenException,
}

impl BedrockErrorKind {
    pub const ALL: [BedrockErrorKind; 17] = [
        Self::ValidationException,
        Self::AccessDeniedException,
        Self::ResourceNotFoundException,
        Self::ThrottlingException,
        Self::ModelNotReadyException,
        Self::ServiceQuotaExceededException,
        Self::ServiceUnavailableException,
        Self::InternalServerException,
        Self::ModelTimeoutException,
        Self::ModelErrorException,
        Self::ModelStreamErrorException,
        Self::ConflictException,
        Self::UnrecognizedClientException,
        Self::InvalidSignatureException,
        Self::IncompleteSignatureException,
        Self::MissingAuthenticationTokenException,
        Self::ExpiredTokenException,
    ];

    /// The name sent in `x-amzn-ErrorType`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ValidationException => "ValidationException",
            Self::AccessDeniedException => "AccessDeniedException",
            Self::ResourceNotFoundException => "ResourceNotFoundException",
            Self::ThrottlingException => "ThrottlingException",
            Self::ModelNotReadyException => "ModelNotReadyException",
            Self::ServiceQuotaExceededException => "ServiceQuotaExceededException",
            Self::ServiceUnavailableException => "ServiceUnavailableException",
            Self::InternalServerException => "InternalServerException",
            Self::ModelTimeoutException => "ModelTimeoutException",
            Self::ModelErrorException => "ModelErrorException",
            Self::ModelStreamErrorException => "ModelStreamErrorException",
            Self::ConflictException => "ConflictException",
            Self::UnrecognizedClientException => "UnrecognizedClientException",
            Self::InvalidSignatureException => "InvalidSignatureException",
            Self::IncompleteSignatureException => "IncompleteSignatureException",
            Self::MissingAuthenticationTokenException => "MissingAuthenticationTokenException",
            Self::ExpiredTokenException => "ExpiredTokenException",
        }
    }

    /// Reads an error name as sent in `x-amzn-ErrorType` (which may carry a `:uri` suffix) or in a
    /// stream's `:exception-type` header (lowerCamel).
    pub fn from_name(raw: &str) -> Option<Self> {
        let name = raw.split(':').next().unwrap_or(raw);
        Self::ALL.into_iter().find(|k| {
            let n = k.name();
            let (n, m) = (n.as_bytes(), name.as_bytes());
            n.len() == m.len() && n[1..] == m[1..] && n[0].eq_ignore_ascii_case(&m[0])
        })
    }

    /// The lowerCamel name used in an event stream's `:exception-type` header.
    pub fn stream_name(self) -> String {
        let name = self.name();
        let mut out = String::with_capacity(name.len());
        let mut chars = name.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_lowercase());
        }
        out.extend(chars);
        out
    }

    /// The HTTP status Bedrock answers this error with.
    pub fn status(self) -> u16 {
        match self {
            Self::ValidationException | Self::ServiceQuotaExceededException => 400,
            Self::AccessDeniedException
            | Self::UnrecognizedClientException
            | Self::InvalidSignatureException
            | Self::IncompleteSignatureException
            | Self::MissingAuthenticationTokenException
            | Self::ExpiredTokenException => 403,
            Self::ResourceNotFoundException => 404,
            Self::ModelTimeoutException => 408,
            Self::ConflictException => 409,
            Self::ModelErrorException => 424,
            Self::ModelStreamErrorException => 424,
            Self::ThrottlingException | Self::ModelNotReadyException => 429,
            Self::InternalServerException => 500,
            Self::ServiceUnavailableException => 503,
        }
    }

    /// Whether the AWS SDKs' standard retry mode retries this class.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Self::ThrottlingException
                | Self::ModelNotReadyException
                | Self::ServiceUnavailableException
                | Self::InternalServerException
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_both_spellings() {
        for kind in BedrockErrorKind::ALL {
            assert_eq!(BedrockErrorKind::from_name(kind.name()), Some(kind));
            assert_eq!(BedrockErrorKind::from_name(&kind.stream_name()), Some(kind));
        }
        assert_eq!(
            BedrockErrorKind::from_name("ThrottlingException:http://internal.amazon.com/coral/"),
            Some(BedrockErrorKind::ThrottlingException)
        );
        assert_eq!(BedrockErrorKind::from_name("Nope"), None);
    }

    #[test]
    fn retry_classes_follow_the_sdk_standard_mode() {
        assert!(BedrockErrorKind::ThrottlingException.retryable());
        assert!(BedrockErrorKind::ModelNotReadyException.retryable());
        assert!(!BedrockErrorKind::ValidationException.retryable());
        assert!(!BedrockErrorKind::AccessDeniedException.retryable());
        assert_eq!(BedrockErrorKind::ModelNotReadyException.status(), 429);
    }
}
