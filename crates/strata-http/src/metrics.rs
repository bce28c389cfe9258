//! The edge's metrics (names as constants), registered once per server so the accept loop
//! and the request path only bump handles.

use metrics::{Counter, Gauge};

/// Connections and requests the edge refused or closed, by `reason` (see [`reason`]).
pub const REFUSED: &str = "strata_http_refused_total";
/// Connections open now.
pub const OPEN_CONNECTIONS: &str = "strata_http_open_connections";
/// TLS certificate reloads, by `outcome` (`ok`, `error`).
pub const TLS_RELOADS: &str = "strata_http_tls_reloads_total";
/// TLS handshakes that failed (bad client hello, unknown CA on the client's side, …).
pub const TLS_HANDSHAKE_FAILURES: &str = "strata_http_tls_handshake_failures_total";

/// Values of the `reason` label of [`REFUSED`].
pub mod reason {
    /// A `Content-Length` or a body over the size limit (answered 413).
    pub const BODY_TOO_LARGE: &str = "body_too_large";
    /// A body not received whole in time (answered 408, connection closed).
    pub const BODY_TIMEOUT: &str = "body_timeout";
    /// A request head (or the TLS handshake) not received in time (connection closed).
    pub const HEADER_TIMEOUT: &str = "header_timeout";
    /// A keep-alive connection idle too long (closed).
    pub const IDLE_TIMEOUT: &str = "idle_timeout";
    /// A connection over the cap (closed as soon as accepted).
    pub const MAX_CONNECTIONS: &str = "max_connections";
}

/// Handles of every edge metric.
#[derive(Debug, Clone)]
pub(crate) struct EdgeMetrics {
    pub body_too_large: Counter,
    pub body_timeout: Counter,
    pub header_timeout: Counter,
    pub idle_timeout: Counter,
    pub max_connections: Counter,
    pub open_connections: Gauge,
    pub handshake_failures: Counter,
}

impl EdgeMetrics {
    pub fn register() -> EdgeMetrics {
        let refused = |r: &'static str| metrics::counter!(REFUSED, "reason" => r);
        EdgeMetrics {
            body_too_large: refused(reason::BODY_TOO_LARGE),
            body_timeout: refused(reason::BODY_TIMEOUT),
            header_timeout: refused(reason::HEADER_TIMEOUT),
            idle_timeout: refused(reason::IDLE_TIMEOUT),
            max_connections: refused(reason::MAX_CONNECTIONS),
            open_connections: metrics::gauge!(OPEN_CONNECTIONS),
            handshake_failures: metrics::counter!(TLS_HANDSHAKE_FAILURES),
        }
    }

    pub fn refused(&self, refusal: &crate::Refusal) -> &Counter {
        match refusal {
            crate::Refusal::BodyTooLarge { .. } => &self.body_too_large,
            crate::Refusal::BodyTimeout { .. } => &self.body_timeout,
        }
    }
}
