//! What a server built on [`crate::serve`] may tune, with defaults that suit both the gateway
//! and the emulator, and the edge's refusals (answered by the caller's `refuse` hook so each
//! server speaks its own error dialect).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Response, StatusCode, Uri, Version};

use crate::drain::Drain;

/// A client must send a whole request head within this time (the first one counted from the
/// accept, TLS handshake included; later ones from their first byte).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body must arrive whole within this time from the end of its head.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// A keep-alive connection with no request in flight is closed after this time. Longer than
/// the usual load balancer's idle timeout (60 s), so the balancer, not Strata, closes first.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Connections open at once; beyond it new connections are closed as soon as accepted.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Largest request body (Bedrock's own limit is of this order).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 20 * 1024 * 1024;
/// After shutdown begins, how long requests in flight (streams included) may take.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often certificate files are checked for changes.
pub const DEFAULT_TLS_RELOAD_EVERY: Duration = Duration::from_secs(2);

/// Connections still open this long after the grace's deadline are closed by force: the time
/// the application has, once [`Drain::deadline`] fires, to end its open streams cleanly.
pub const HARD_CLOSE_AFTER_DEADLINE: Duration = Duration::from_secs(2);

/// What the edge refuses to read, answered through [`ServeOptions::refuse`] with the status
/// of [`Refusal::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The body is (or says it is, by `Content-Length`) larger than `limit` bytes: 413.
    BodyTooLarge { limit: u64 },
    /// The body did not arrive whole within `after` of the end of its head: 408.
    BodyTimeout { after: Duration },
}

impl Refusal {
    /// The HTTP status every answer to this refusal carries.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// Words for the client.
    pub fn message(&self) -> String {
        match self {
            Refusal::BodyTooLarge { limit } => {
                format!("The request body is larger than the maximum of {limit} bytes.")
            }
            Refusal::BodyTimeout { after } => {
                format!("The request body was not received within {} ms.", after.as_millis())
            }
        }
    }

    /// The `reason` label of [`crate::metrics::REFUSED`].
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::BodyTooLarge { .. } => crate::metrics::reason::BODY_TOO_LARGE,
            Refusal::BodyTimeout { .. } => crate::metrics::reason::BODY_TIMEOUT,
        }
    }
}

/// The parts of a refused request a `refuse` hook may look at (to pick its error dialect).
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    /// The path and query (origin form), in a copy of their own.
    pub uri: Uri,
    pub version: Version,
}

/// Answers an edge refusal. The status must be [`Refusal::status`]; the edge adds
/// `connection: close` on HTTP/1.
pub type Refuse = Arc<dyn Fn(&Refusal, &RequestHead) -> Response<Body> + Send + Sync>;

/// The default refusal: `{"message": …}` as JSON.
pub fn json_refusal(refusal: &Refusal, _head: &RequestHead) -> Response<Body> {
    let body = serde_json::json!({ "message": refusal.message() }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = refusal.status();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// How [`crate::serve`] treats connections. `Default` gives the documented defaults.
#[derive(Clone)]
pub struct ServeOptions {
    /// Deadline for a request head (see [`DEFAULT_HEADER_TIMEOUT`]).
    pub header_timeout: Duration,
    /// Deadline for a whole request body from the end of its head; a handler's body read then
    /// fails with [`crate::BodyError::Timeout`] and the client gets a 408.
    pub body_timeout: Duration,
    /// Idle keep-alive connections (no request in flight, no byte of a next one) close after it.
    pub idle_timeout: Duration,
    /// Connections open at once over all listeners; more are closed as soon as accepted.
    pub max_connections: usize,
    /// Largest request body: a larger `Content-Length` is answered 413 before the handler runs
    /// (and before any `100 Continue`); a longer body without one fails the handler's read.
    pub max_body_bytes: u64,
    /// After shutdown begins: how long requests in flight may take before [`Drain::deadline`]
    /// fires (connections left are closed [`HARD_CLOSE_AFTER_DEADLINE`] later).
    pub shutdown_grace: Duration,
    /// How often TLS certificate files are checked for changes.
    pub tls_reload_every: Duration,
    /// Answers the edge's refusals in the server's dialect.
    pub refuse: Refuse,
    /// Tells the application that shutdown has begun and when its deadline is reached.
    pub drain: Drain,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            tls_reload_every: DEFAULT_TLS_RELOAD_EVERY,
            refuse: Arc::new(json_refusal),
            drain: Drain::new(),
        }
    }
}

impl fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeOptions")
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("tls_reload_every", &self.tls_reload_every)
            .field("drain", &self.drain)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_their_status_and_reason() {
        let big = Refusal::BodyTooLarge { limit: 10 };
        let slow = Refusal::BodyTimeout {
            after: Duration::from_millis(1500),
        };
        assert_eq!((big.status().as_u16(), big.reason()), (413, "body_too_large"));
        assert_eq!((slow.status().as_u16(), slow.reason()), (408, "body_timeout"));
        assert!(big.message().contains("10 bytes"));
        assert!(slow.message().contains("1500 ms"));
        let head = RequestHead {
            method: Method::POST,
            uri: Uri::from_static("/x"),
            version: Version::HTTP_11,
        };
        let r = json_refusal(&slow, &head);
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(r.headers()["content-type"], "application/json");
    }
}
