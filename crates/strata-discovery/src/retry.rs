//! Retrying one control-plane call: throttling, server errors, time-outs and network failures
//! are retried with exponential backoff and full jitter; anything else fails at once. Errors are
//! told apart by their structured code and status, never by message text.

use std::future::Future;
use std::time::Duration;

use aws_sdk_bedrock::error::{ProvideErrorMetadata, SdkError};
use rand::Rng;

/// First backoff; doubled each retry up to [`MAX_DELAY`], then a random point below it is taken.
const BASE_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// A control-plane call that failed for good.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct CallError {
    pub operation: &'static str,
    /// The AWS error code (`ThrottlingException`, `AccessDeniedException`, …) when there is one.
    pub code: Option<String>,
    pub message: String,
    pub attempts: u32,
    /// The service answered with an error no other attempt can fix (access denied, validation,
    /// an operation it does not know…), rather than attempts running out on throttling, server
    /// errors or the network.
    pub refused: bool,
}

impl CallError {
    pub fn throttled(&self) -> bool {
        self.code.as_deref().is_some_and(is_throttling)
    }

    /// The caller may not make this call (IAM): asking again will not help.
    pub fn denied(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation")
        )
    }
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "RequestLimitExceeded"
    )
}

/// Whether another attempt may help, and the error's code and message.
fn classify<E, R>(e: &SdkError<E, R>) -> (bool, Option<String>, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let code = err.code().map(str::to_string);
            let message = err.message().unwrap_or("no message").to_string();
            let retry = code.as_deref().is_some_and(|c| {
                is_throttling(c)
                    || matches!(
                        c,
                        "InternalServerException"
                            | "ServiceUnavailableException"
                            | "InternalFailure"
                            | "ServiceUnavailable"
                    )
            });
            (retry, code, message)
        }
        SdkError::TimeoutError(_) => (true, None, "timed out".to_string()),
        SdkError::DispatchFailure(_) => (
            true,
            None,
            format!("{}", aws_sdk_bedrock::error::DisplayErrorContext(e)),
        ),
        SdkError::ResponseError(_) => (
            true,
            None,
            format!("{}", aws_sdk_bedrock::error::DisplayErrorContext(e)),
        ),
        _ => (
            false,
            None,
            format!("{}", aws_sdk_bedrock::error::DisplayErrorContext(e)),
        ),
    }
}

/// Runs `call` up to `max_attempts` times.
pub async fn with_retries<T, E, R, F, Fut>(
    operation: &'static str,
    max_attempts: u32,
    mut call: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let (retry, code, message) = classify(&e);
                if !retry || attempt >= max_attempts {
                    return Err(CallError {
                        operation,
                        code,
                        message,
                        attempts: attempt,
                        refused: !retry && matches!(e, SdkError::ServiceError(_)),
                    });
                }
                tracing::debug!(operation, attempt, ?code, %message, "control-plane call retried");
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
}

/// Full-jitter backoff before attempt `attempt + 1`.
fn backoff(attempt: u32) -> Duration {
    let cap = BASE_DELAY
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_DELAY);
    let millis = cap.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_cap() {
        for attempt in 1..20 {
            assert!(backoff(attempt) <= MAX_DELAY);
        }
        assert!(backoff(1) <= BASE_DELAY);
    }
}
