//! Errors as values: every way a request can fail has a [`Class`] (what it means, which decides
//! the status each dialect answers with) and a [`Source`] (whose fault: the client's, the
//! gateway's, or an upstream target's). Dialects map classes to their own status, code and
//! headers in one table each; nothing chooses a status from message text.

use std::sync::Arc;
use std::time::Duration;

use strata_aws::UpstreamError;
use strata_core::{BedrockErrorKind, ErrorClass};

/// What a failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// No key, or a key the gateway does not know (an API key, or a SigV4 access key id).
    Unauthenticated,
    /// A SigV4 signature that does not verify: wrong secret, a request changed after signing,
    /// or signed too long ago (or ahead).
    InvalidSignature,
    /// A SigV4 `Authorization` header that cannot be read, or no `X-Amz-Date`.
    IncompleteSignature,
    /// The key may not do this (an admin key calling a model, a model outside the key's list).
    Forbidden,
    /// No such path.
    NotFound,
    /// No such model (neither a logical model nor a concrete ID the key reaches).
    UnknownModel,
    /// The path exists, the method does not.
    MethodNotAllowed,
    /// The request is malformed or asks for something no target can do.
    Invalid,
    /// The body is over the size limit.
    TooLarge,
    /// A tenant or deployment limit refused the request for now.
    RateLimited,
    /// The tenant's spending cap for the day or month is reached.
    BudgetExceeded,
    /// The shared limits (Redis) cannot be reached and the tenant fails closed.
    LimitsUnavailable,
    /// Nothing the key may use can serve the model (residency, access, API).
    NoRoute,
    /// Upstream throttled every attempt.
    Throttled,
    /// The model is loading.
    ColdStart,
    /// Upstream failed (5xx, connection).
    Unavailable,
    /// No answer in time (upstream, or the request's deadline).
    Timeout,
    /// Upstream refused the gateway's credentials or access.
    UpstreamDenied,
    /// Upstream does not know the model.
    UpstreamNotFound,
    /// A fault of the gateway itself.
    Internal,
}

impl Class {
    pub const ALL: [Class; 20] = [
        Class::Unauthenticated,
        Class::InvalidSignature,
        Class::IncompleteSignature,
        Class::Forbidden,
        Class::NotFound,
        Class::UnknownModel,
        Class::MethodNotAllowed,
        Class::Invalid,
        Class::TooLarge,
        Class::RateLimited,
        Class::BudgetExceeded,
        Class::LimitsUnavailable,
        Class::NoRoute,
        Class::Throttled,
        Class::ColdStart,
        Class::Unavailable,
        Class::Timeout,
        Class::UpstreamDenied,
        Class::UpstreamNotFound,
        Class::Internal,
    ];

    /// The label in metrics and usage records.
    pub fn label(self) -> &'static str {
        match self {
            Class::Unauthenticated => "unauthenticated",
            Class::InvalidSignature => "invalid_signature",
            Class::IncompleteSignature => "incomplete_signature",
            Class::Forbidden => "forbidden",
            Class::NotFound => "not_found",
            Class::UnknownModel => "unknown_model",
            Class::MethodNotAllowed => "method_not_allowed",
            Class::Invalid => "invalid",
            Class::TooLarge => "too_large",
            Class::RateLimited => "rate_limited",
            Class::BudgetExceeded => "budget_exceeded",
            Class::LimitsUnavailable => "limits_unavailable",
            Class::NoRoute => "no_route",
            Class::Throttled => "throttled",
            Class::ColdStart => "cold_start",
            Class::Unavailable => "unavailable",
            Class::Timeout => "timeout",
            Class::UpstreamDenied => "upstream_denied",
            Class::UpstreamNotFound => "upstream_not_found",
            Class::Internal => "internal",
        }
    }

    /// The class of an upstream failure.
    pub fn of_upstream(class: ErrorClass) -> Class {
        match class {
            ErrorClass::Throttled => Class::Throttled,
            ErrorClass::ColdStart => Class::ColdStart,
            ErrorClass::Unavailable | ErrorClass::Connect => Class::Unavailable,
            ErrorClass::Timeout => Class::Timeout,
            ErrorClass::Invalid => Class::Invalid,
            ErrorClass::Denied => Class::UpstreamDenied,
            ErrorClass::NotFound => Class::UpstreamNotFound,
        }
    }

    /// Whether the client may send the same request again later and hope for another answer.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Class::RateLimited
                | Class::LimitsUnavailable
                | Class::Throttled
                | Class::ColdStart
                | Class::Unavailable
                | Class::Timeout
        )
    }
}

/// Whose fault a failure is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Client,
    Gateway,
    /// The target (route label) whose answer ended the request.
    Upstream {
        target: Arc<str>,
    },
}

impl Source {
    pub fn label(&self) -> &'static str {
        match self {
            Source::Client => "client",
            Source::Gateway => "gateway",
            Source::Upstream { .. } => "upstream",
        }
    }
}

/// A request's failure.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub class: Class,
    pub source: Source,
    /// Said to the client; from an upstream, its own message (which may quote the prompt, so it
    /// is never logged at INFO).
    pub message: String,
    /// The request parameter to blame, when there is one.
    pub param: Option<String>,
    /// When to try again (sent as `retry-after`).
    pub retry_after: Option<Duration>,
    /// The upstream's own Bedrock error type, passed through on the Bedrock API.
    pub upstream_kind: Option<BedrockErrorKind>,
    /// What is left of the tenant's limits, for `x-ratelimit-*` headers on a refusal.
    pub headroom: Option<Box<strata_quota::Headroom>>,
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GatewayError {}

impl GatewayError {
    pub fn new(class: Class, source: Source, message: impl Into<String>) -> Self {
        GatewayError {
            class,
            source,
            message: message.into(),
            param: None,
            retry_after: None,
            upstream_kind: None,
            headroom: None,
        }
    }

    /// The client's mistake.
    pub fn client(class: Class, message: impl Into<String>) -> Self {
        Self::new(class, Source::Client, message)
    }

    /// A refusal or fault of the gateway.
    pub fn gateway(class: Class, message: impl Into<String>) -> Self {
        Self::new(class, Source::Gateway, message)
    }

    /// The failure an upstream target answered with.
    pub fn upstream(target: Arc<str>, e: UpstreamError) -> Self {
        GatewayError {
            class: Class::of_upstream(e.class),
            source: Source::Upstream { target },
            message: e.message,
            param: None,
            retry_after: e.retry_after,
            upstream_kind: e.kind,
            headroom: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    pub fn with_headroom(mut self, headroom: strata_quota::Headroom) -> Self {
        self.headroom = Some(Box::new(headroom));
        self
    }

    /// The `retry-after` to send with a 429 (never absent on one): the known wait, else one
    /// second.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after
            .map(|d| d.as_secs_f64().ceil() as u64)
            .unwrap_or(1)
            .max(1)
    }
}

/// At most `limit` characters of an upstream message, for DEBUG logs.
pub fn truncated(message: &str, limit: usize) -> &str {
    match message.char_indices().nth(limit) {
        Some((i, _)) => &message[..i],
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_upstream_class_has_a_gateway_class() {
        for (upstream, class) in [
            (ErrorClass::Throttled, Class::Throttled),
            (ErrorClass::ColdStart, Class::ColdStart),
            (ErrorClass::Unavailable, Class::Unavailable),
            (ErrorClass::Connect, Class::Unavailable),
            (ErrorClass::Timeout, Class::Timeout),
            (ErrorClass::Invalid, Class::Invalid),
            (ErrorClass::Denied, Class::UpstreamDenied),
            (ErrorClass::NotFound, Class::UpstreamNotFound),
        ] {
            assert_eq!(Class::of_upstream(upstream), class);
        }
        let labels: std::collections::HashSet<_> = Class::ALL.iter().map(|c| c.label()).collect();
        assert_eq!(labels.len(), Class::ALL.len());
    }

    #[test]
    fn retry_after_is_whole_seconds_and_never_zero() {
        let e = GatewayError::gateway(Class::RateLimited, "x");
        assert_eq!(e.retry_after_secs(), 1);
        assert_eq!(
            e.clone()
                .with_retry_after(Duration::from_millis(1200))
                .retry_after_secs(),
            2
        );
        assert_eq!(e.with_retry_after(Duration::ZERO).retry_after_secs(), 1);
        assert_eq!(truncated("héllo", 2), "hé");
        assert_eq!(truncated("hi", 10), "hi");
    }
}
