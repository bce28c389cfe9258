//! The checked `server:` section: the HTTP edge's TLS listener, deadlines, limits and shutdown
//! grace, with strata-http's defaults for what the file leaves out. (Read at start only:
//! changing it needs a restart, except the certificate files, which are reloaded.)

use std::net::SocketAddr;
use std::time::Duration;

use strata_http::TlsFiles;

use super::file::ServerConfig;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The edge's settings, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// The HTTPS listener: its address and PEM files; `None`: plain HTTP only.
    pub tls: Option<TlsListener>,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_body_bytes: u64,
    pub shutdown_grace: Duration,
}

/// An HTTPS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListener {
    pub listen: SocketAddr,
    pub files: TlsFiles,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            tls: None,
            header_timeout: strata_http::DEFAULT_HEADER_TIMEOUT,
            body_timeout: strata_http::DEFAULT_BODY_TIMEOUT,
            idle_timeout: strata_http::DEFAULT_IDLE_TIMEOUT,
            max_connections: strata_http::DEFAULT_MAX_CONNECTIONS,
            max_body_bytes: strata_http::DEFAULT_MAX_BODY_BYTES,
            shutdown_grace: strata_http::DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// Checks the section (every problem named by its path) and applies the defaults. `listen` is
/// the plain listener's address, which the HTTPS one must not reuse.
pub(super) fn check(server: &ServerConfig, listen: Option<SocketAddr>, problems: &mut Vec<String>) -> ServerSettings {
    let defaults = ServerSettings::default();
    let mut millis = |value: Option<u64>, field: &str, default: Duration| match value {
        Some(0) => {
            problems.push(format!("server.{field}: must be more than 0"));
            default
        }
        Some(ms) => Duration::from_millis(ms),
        None => default,
    };
    let header_timeout = millis(server.header_timeout_ms, "header_timeout_ms", defaults.header_timeout);
    let body_timeout = millis(server.body_timeout_ms, "body_timeout_ms", defaults.body_timeout);
    let idle_timeout = millis(server.idle_timeout_ms, "idle_timeout_ms", defaults.idle_timeout);
    if server.max_connections == Some(0) {
        problems.push("server.max_connections: must be at least 1".into());
    }
    if server.max_body_bytes == Some(0) {
        problems.push("server.max_body_bytes: must be at least 1".into());
    }
    let tls = match (&server.tls, server.tls_listen) {
        (None, None) => None,
        (Some(_), None) => {
            problems.push(
                "server.tls: needs server.tls_listen, the address to serve HTTPS on (listen stays plain HTTP)".into(),
            );
            None
        }
        (None, Some(_)) => {
            problems.push("server.tls_listen: needs server.tls with cert_file and key_file".into());
            None
        }
        (Some(tls), Some(at)) => {
            for (path, field) in [(&tls.cert_file, "cert_file"), (&tls.key_file, "key_file")] {
                if path.as_os_str().is_empty() {
                    problems.push(format!("server.tls.{field}: must name a PEM file"));
                }
            }
            if Some(at) == listen || (listen.is_none() && at.to_string() == DEFAULT_LISTEN) {
                problems.push(format!(
                    "server.tls_listen: {at} is also `listen`; a listener is either plain or TLS, give each its own port"
                ));
            }
            Some(TlsListener {
                listen: at,
                files: TlsFiles {
                    cert_file: tls.cert_file.clone(),
                    key_file: tls.key_file.clone(),
                },
            })
        }
    };
    ServerSettings {
        tls,
        header_timeout,
        body_timeout,
        idle_timeout,
        max_connections: server.max_connections.unwrap_or(defaults.max_connections).max(1),
        max_body_bytes: server.max_body_bytes.unwrap_or(defaults.max_body_bytes).max(1),
        shutdown_grace: server
            .shutdown_grace_seconds
            .map_or(defaults.shutdown_grace, Duration::from_secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(server: &str) -> Result<crate::config::Config, String> {
        let text = format!("listen: 127.0.0.1:8080\n{server}");
        crate::config::from_text(&text, "edge.yaml", |_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn an_absent_section_takes_the_edge_defaults() {
        assert_eq!(load("").unwrap().server, ServerSettings::default());
    }

    #[test]
    fn the_section_is_read_with_tls_on_its_own_listener() {
        let config = load(
            "server:\n  tls_listen: 0.0.0.0:8443\n  tls: {cert_file: /etc/strata/tls.crt, key_file: /etc/strata/tls.key}\n  \
             header_timeout_ms: 5000\n  body_timeout_ms: 1000\n  idle_timeout_ms: 60000\n  max_connections: 50\n  \
             max_body_bytes: 1048576\n  shutdown_grace_seconds: 10\n",
        )
        .unwrap();
        let s = config.server;
        let tls = s.tls.unwrap();
        assert_eq!(tls.listen.to_string(), "0.0.0.0:8443");
        assert_eq!(tls.files.cert_file.to_str(), Some("/etc/strata/tls.crt"));
        assert_eq!(
            (s.header_timeout, s.body_timeout, s.idle_timeout),
            (Duration::from_secs(5), Duration::from_secs(1), Duration::from_secs(60))
        );
        assert_eq!((s.max_connections, s.max_body_bytes), (50, 1_048_576));
        assert_eq!(s.shutdown_grace, Duration::from_secs(10));
    }

    #[test]
    fn problems_name_their_field() {
        let err =
            load("server:\n  tls: {cert_file: a.pem, key_file: b.pem}\n  body_timeout_ms: 0\n  max_connections: 0\n")
                .unwrap_err();
        for field in [
            "server.tls: needs server.tls_listen",
            "server.body_timeout_ms",
            "server.max_connections",
        ] {
            assert!(err.contains(field), "{field} in {err}");
        }
        let err =
            load("server:\n  tls_listen: 127.0.0.1:8080\n  tls: {cert_file: a.pem, key_file: b.pem}\n").unwrap_err();
        assert!(
            err.contains("server.tls_listen: 127.0.0.1:8080 is also `listen`"),
            "{err}"
        );
        let err = load("server:\n  tls_listen: 127.0.0.1:8443\n").unwrap_err();
        assert!(err.contains("server.tls_listen: needs server.tls"), "{err}");
        let err = load("server:\n  tls: {cert: a.pem, key_file: b.pem}\n").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
    }
}
