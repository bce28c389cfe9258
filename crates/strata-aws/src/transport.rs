//! The HTTP client under the runtime client: hyper's pooled keep-alive client over rustls
//! (aws-lc-rs, the platform's trust store) — plain `http://` too, for the emulator and local
//! proxies. Requests go out as built, without a general-purpose client's per-request URL parsing
//! and middleware.
//!
//! HTTP/1.1 only, as boto3 and most gateways speak to Bedrock. Offering `h2` by ALPN would put
//! every call to one host — all accounts of a region share `bedrock-runtime.{region}` — on one
//! HTTP/2 connection, and hyper's pool never opens a second one when that connection's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` is reached (hyperium/hyper#2197, #3623): calls beyond the
//! server's limit (often 100–128) would queue inside the gateway for as long as a model takes to
//! answer. Over HTTP/1.1 each call in flight has its own pooled connection.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::ClientConfig;
use rustls_platform_verifier::BuilderVerifierExt;

/// The pooled client.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How long an idle pooled connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per host.
const MAX_IDLE_PER_HOST: usize = 256;
/// Longest wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The TLS set-up failed (no usable trust store).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS: {0}")]
pub struct TlsSetupError(#[from] rustls::Error);

/// Builds the pooled client.
pub fn http_client() -> Result<HttpClient, TlsSetupError> {
    let tls = ClientConfig::builder_with_provider(crypto())
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
    Ok(client_with(tls))
}

fn crypto() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The pooled client over `tls`.
fn client_with(tls: ClientConfig) -> HttpClient {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}

/// Whether a client error was a timeout (a connect timeout surfaces as an I/O `TimedOut`).
pub fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_timeouts_are_recognised_through_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("connect failed")]
        struct Wrapper(#[source] std::io::Error);
        let timed_out = Wrapper(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(is_timeout(&timed_out));
        let refused = Wrapper(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(!is_timeout(&refused));
    }

    #[tokio::test]
    async fn calls_go_out_over_http1_to_a_server_that_offers_h2_first() {
        use http_body_util::BodyExt;
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let server_tls =
            strata_http::TlsServer::from_pem(cert.cert.pem().as_bytes(), cert.signing_key.serialize_pem().as_bytes())
                .unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        // The server answers with the HTTP version the request came in.
        let handler = |request: http::Request<axum::body::Body>| async move {
            let version = format!("{:?}", request.version());
            Ok::<_, std::io::Error>(http::Response::new(axum::body::Body::from(version)))
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(strata_http::serve(
            [strata_http::Listener::tls(tcp, server_tls)],
            handler,
            async {
                let _ = stopped.await;
            },
            strata_http::ServeOptions::default(),
        ));

        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let tls = ClientConfig::builder_with_provider(crypto())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = client_with(tls);
        let request = http::Request::get(format!("https://localhost:{port}/"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_11);
        let seen = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(seen, "HTTP/1.1", "the server was asked over HTTP/1.1");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}
