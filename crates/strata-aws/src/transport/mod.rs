//! The HTTP client under the runtime client: hyper over rustls (aws-lc-rs, the platform's trust
//! store) — plain `http://` too, for the emulator and local proxies. Requests go out as built,
//! without a general-purpose client's per-request URL parsing and middleware.
//!
//! Two clients under one: a pool of keep-alive HTTP/1.1 connections ([`h1`]), one per call in
//! flight, and an HTTP/2 pool ([`h2`]) where calls share connections up to a number of streams
//! each and further connections open as needed. [`Protocol`] says which calls go where; a host
//! that does not speak HTTP/2 is spoken to over HTTP/1.1 whatever it says.
//!
//! Why two: a stream held open for a minute costs a connection of its own over HTTP/1.1 (~36 KiB
//! in hyper, the buffers and the connection's task) and a few hundred bytes over HTTP/2; a short
//! call costs fewer instructions over HTTP/1.1 (no framing, no header compression). So by default
//! streams go over HTTP/2 and short calls over HTTP/1.1.
//!
//! Why not hyper's client with `h2` offered by ALPN: it would put every call to one host — all
//! accounts of a region share `bedrock-runtime.{region}` — on one HTTP/2 connection, and its pool
//! never opens a second one when that connection's `SETTINGS_MAX_CONCURRENT_STREAMS` is reached
//! (hyperium/hyper#2197, #3623): calls beyond the server's limit (often 100–128) would queue
//! inside the gateway for as long as a model takes to answer.

mod h1;
mod h2;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::ClientConfig;
use rustls_platform_verifier::BuilderVerifierExt;

/// How long an idle pooled connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per host.
const MAX_IDLE_PER_HOST: usize = 256;
/// Longest wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP versions calls go out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Every call over HTTP/1.1, one pooled keep-alive connection per call in flight.
    #[default]
    Http1,
    /// `calls` over HTTP/2 where the host speaks it — agrees to `h2` by ALPN over TLS, answers
    /// the preface over plain `http://` (prior knowledge) — sharing connections, up to
    /// `max_streams` in flight on each; the other calls, and every call to a host that does not
    /// speak HTTP/2, over HTTP/1.1.
    Http2 { max_streams: usize, calls: Http2Calls },
}

/// Which calls [`Protocol::Http2`] sends over HTTP/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http2Calls {
    /// Calls whose answer streams ([`Exchange::Stream`]).
    Streams,
    /// Every call.
    All,
}

/// What a call's answer is: read whole, or streamed for as long as the upstream writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    Complete,
    Stream,
}

/// The client: HTTP/1.1, and HTTP/2 for the calls [`Protocol`] names.
#[derive(Clone)]
pub struct HttpClient {
    http1: h1::Pool,
    http2: Option<(h2::Pool, Http2Calls)>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.http2 {
            None => f.write_str("HttpClient(HTTP/1.1)"),
            Some((pool, calls)) => write!(f, "HttpClient(HTTP/2 for {calls:?}, {pool:?})"),
        }
    }
}

impl HttpClient {
    /// Sends a request (an absolute URL) and returns the answer's head; its body streams.
    /// (A function returning an `async move` block: an `async fn` would keep a second copy of
    /// the request in its future for the whole call.)
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    pub fn request(
        &self,
        request: http::Request<Full<Bytes>>,
        exchange: Exchange,
    ) -> impl std::future::Future<Output = Result<http::Response<Body>, TransportError>> + Send + '_ {
        async move {
            let request = match &self.http2 {
                Some((pool, calls)) if *calls == Http2Calls::All || exchange == Exchange::Stream => {
                    match pool.send(request).await? {
                        h2::Sent::Http2(response, lease) => {
                            return Ok(response.map(|stream| Body {
                                inner: Inner::Http2(stream),
                                _lease: Some(lease),
                            }))
                        }
                        h2::Sent::NotHttp2(request) => request,
                    }
                }
                _ => request,
            };
            let response = self.http1.send(request).await?;
            Ok(response.map(|(body, lease)| Body {
                inner: Inner::Http1(body, lease),
                _lease: None,
            }))
        }
    }
}

/// `request` with a `host` header, when it has none, of its URL's authority as written — what
/// a signature signs (HTTP/1.1 only: HTTP/2 sends the authority as `:authority`).
fn with_host(mut request: http::Request<Full<Bytes>>) -> http::Request<Full<Bytes>> {
    if let Some(authority) = request.uri().authority() {
        // An authority with user information is left to hyper (which sends the host alone).
        if !authority.as_str().contains('@') {
            if let Ok(host) = http::HeaderValue::from_str(authority.as_str()) {
                request.headers_mut().entry(http::header::HOST).or_insert(host);
            }
        }
    }
    request
}

/// An answer's body. Over HTTP/2 it holds the call's stream on its shared connection until it
/// is dropped.
#[derive(Debug)]
pub struct Body {
    inner: Inner,
    _lease: Option<h2::Lease>,
}

#[derive(Debug)]
enum Inner {
    /// The body, and its connection's lease until the body ends.
    Http1(Incoming, h1::Lease),
    Http2(::h2::RecvStream),
}

impl Drop for Body {
    fn drop(&mut self) {
        // Read to its end without the end having been polled (its length said so): the
        // connection is free. Otherwise the lease takes it along.
        if let Inner::Http1(body, lease) = &mut self.inner {
            if hyper::body::Body::is_end_stream(body) {
                lease.give_back();
            }
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        match &mut self.get_mut().inner {
            Inner::Http1(body, lease) => {
                let frame = std::pin::Pin::new(&mut *body).poll_frame(cx);
                if matches!(frame, std::task::Poll::Ready(None)) {
                    lease.give_back();
                }
                frame.map_err(TransportError::from)
            }
            Inner::Http2(stream) => h2::poll_frame(stream, cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Http1(body, _) => body.is_end_stream(),
            Inner::Http2(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Http1(body, _) => body.size_hint(),
            Inner::Http2(_) => SizeHint::default(),
        }
    }
}

/// A call that did not get an answer: no connection, a broken one, a timeout.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(Box<dyn std::error::Error + Send + Sync>);

impl TransportError {
    fn msg(message: String) -> Self {
        TransportError(message.into())
    }

    fn timeout(message: String) -> Self {
        TransportError(Box::new(std::io::Error::new(std::io::ErrorKind::TimedOut, message)))
    }

    fn from_boxed(e: Box<dyn std::error::Error + Send + Sync>) -> Self {
        TransportError(e)
    }

    /// Whether it was a timeout (a connect timeout surfaces as an I/O `TimedOut`).
    pub fn is_timeout(&self) -> bool {
        is_timeout(&*self.0)
    }

    /// The error and its sources, for a message.
    pub fn source_error(&self) -> &(dyn std::error::Error + 'static) {
        &*self.0
    }
}

impl From<hyper::Error> for TransportError {
    fn from(e: hyper::Error) -> Self {
        TransportError(Box::new(e))
    }
}

impl From<::h2::Error> for TransportError {
    fn from(e: ::h2::Error) -> Self {
        TransportError(Box::new(e))
    }
}

/// The TLS set-up failed (no usable trust store).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS: {0}")]
pub struct TlsSetupError(#[from] rustls::Error);

/// Builds the client.
pub fn http_client(protocol: Protocol) -> Result<HttpClient, TlsSetupError> {
    let tls = ClientConfig::builder_with_provider(crypto())
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
    Ok(client_with(tls, protocol))
}

fn crypto() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The client over `tls`.
fn client_with(tls: ClientConfig, protocol: Protocol) -> HttpClient {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = || {
        HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_or_http()
    };
    let http1 = h1::Pool::new(
        https().enable_http1().wrap_connector(tcp.clone()),
        IDLE_TIMEOUT,
        MAX_IDLE_PER_HOST,
    );
    let http2 = match protocol {
        Protocol::Http1 => None,
        // Both versions offered, so that a host without HTTP/2 says so by choosing `http/1.1`
        // rather than by failing the handshake.
        Protocol::Http2 { max_streams, calls } => Some((
            h2::Pool::new(
                https().enable_all_versions().wrap_connector(tcp),
                max_streams,
                IDLE_TIMEOUT,
            ),
            calls,
        )),
    };
    HttpClient { http1, http2 }
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
    fn the_host_header_is_the_authority_as_written_and_one_given_is_kept() {
        let host = |url: &str, given: Option<&str>| {
            let mut request = http::Request::post(url);
            if let Some(given) = given {
                request = request.header("host", given);
            }
            let request = with_host(request.body(Full::new(Bytes::new())).unwrap());
            request
                .headers()
                .get_all("host")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(host("http://127.0.0.1:4566/model/x/converse", None), ["127.0.0.1:4566"]);
        assert_eq!(
            host("https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse", None),
            ["bedrock-runtime.us-east-1.amazonaws.com"]
        );
        // As signed, the default port too when the URL writes it.
        assert_eq!(host("https://example.com:443/", None), ["example.com:443"]);
        assert_eq!(host("http://127.0.0.1:4566/", Some("other")), ["other"]);
        assert!(host("http://user@127.0.0.1:4566/", None).is_empty());
    }

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

    /// A server on `listener` that answers with the HTTP version a request came in, once
    /// `gate` reads true; `seen` counts the requests that arrived.
    fn version_server(
        listener: strata_http::Listener,
        gate: tokio::sync::watch::Receiver<bool>,
        seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let handler = move |request: http::Request<axum::body::Body>| {
            let mut gate = gate.clone();
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = gate.wait_for(|open| *open).await;
                let version = format!("{:?}", request.version());
                Ok::<_, std::io::Error>(http::Response::new(axum::body::Body::from(version)))
            }
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(strata_http::serve(
            [listener],
            handler,
            async {
                let _ = stopped.await;
            },
            strata_http::ServeOptions::default(),
        ));
        (stop, server)
    }

    /// A TLS listener with a fresh certificate for `localhost`, and a client config trusting it.
    async fn tls_listener() -> (strata_http::Listener, u16, ClientConfig) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let server_tls =
            strata_http::TlsServer::from_pem(cert.cert.pem().as_bytes(), cert.signing_key.serialize_pem().as_bytes())
                .unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let tls = ClientConfig::builder_with_provider(crypto())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (strata_http::Listener::tls(tcp, server_tls), port, tls)
    }

    async fn get(client: &HttpClient, url: &str) -> (http::Version, Bytes) {
        exchange(client, url, Exchange::Stream).await
    }

    /// A GET of `url` as `kind` of call: the answer's version and body.
    async fn exchange(client: &HttpClient, url: &str, kind: Exchange) -> (http::Version, Bytes) {
        use http_body_util::BodyExt;
        let request = http::Request::get(url).body(Full::new(Bytes::new())).unwrap();
        let response = client.request(request, kind).await.unwrap();
        let version = response.version();
        (version, response.into_body().collect().await.unwrap().to_bytes())
    }

    /// `n` GETs of `url` at once, each on its own task.
    fn spawn_gets(client: &HttpClient, url: &str, n: usize) -> Vec<tokio::task::JoinHandle<(http::Version, Bytes)>> {
        (0..n)
            .map(|_| {
                let (client, url) = (client.clone(), url.to_owned());
                tokio::spawn(async move { get(&client, &url).await })
            })
            .collect()
    }

    /// The calls in flight on each of `pool`'s connections to `http://127.0.0.1:{port}`.
    fn local_streams(pool: &h2::Pool, port: u16) -> Vec<usize> {
        let authority: http::uri::Authority = format!("127.0.0.1:{port}").parse().unwrap();
        pool.streams(http::uri::Scheme::HTTP, authority)
    }

    fn h2_pool(client: &HttpClient) -> &h2::Pool {
        let Some((pool, _)) = &client.http2 else {
            panic!("an HTTP/2 client")
        };
        pool
    }

    /// A TLS version server that answers at once, and a client of it speaking `protocol`.
    struct OverTls {
        client: HttpClient,
        url: String,
        stop: tokio::sync::oneshot::Sender<()>,
        server: tokio::task::JoinHandle<std::io::Result<()>>,
        _open: tokio::sync::watch::Sender<bool>,
    }

    impl OverTls {
        async fn start(protocol: Protocol) -> OverTls {
            let (listener, port, tls) = tls_listener().await;
            let (open, gate) = tokio::sync::watch::channel(true);
            let (stop, server) = version_server(listener, gate, Default::default());
            OverTls {
                client: client_with(tls, protocol),
                url: format!("https://localhost:{port}/"),
                stop,
                server,
                _open: open,
            }
        }

        async fn exchange(&self, kind: Exchange) -> (http::Version, Bytes) {
            exchange(&self.client, &self.url, kind).await
        }

        async fn stop(self) {
            let _ = self.stop.send(());
            self.server.await.unwrap().unwrap();
        }
    }

    /// HTTP/2 for `calls`, ten streams a connection.
    fn http2(calls: Http2Calls) -> Protocol {
        Protocol::Http2 { max_streams: 10, calls }
    }

    #[tokio::test]
    async fn calls_go_out_over_http1_to_a_server_that_offers_h2_first() {
        let t = OverTls::start(Protocol::Http1).await;
        let answer = t.exchange(Exchange::Stream).await;
        assert_eq!(answer.0, http::Version::HTTP_11);
        assert_eq!(answer.1, "HTTP/1.1", "the server was asked over HTTP/1.1");
        t.stop().await;
    }

    #[tokio::test]
    async fn http2_calls_agree_on_h2_by_alpn_over_tls() {
        let t = OverTls::start(http2(Http2Calls::All)).await;
        let complete = t.exchange(Exchange::Complete).await;
        assert_eq!(complete, (http::Version::HTTP_2, Bytes::from("HTTP/2.0")));
        t.stop().await;
    }

    #[tokio::test]
    async fn by_default_streams_go_over_http2_and_complete_answers_over_http1() {
        let t = OverTls::start(http2(Http2Calls::Streams)).await;
        let complete = t.exchange(Exchange::Complete).await;
        assert_eq!(complete, (http::Version::HTTP_11, Bytes::from("HTTP/1.1")));
        let stream = t.exchange(Exchange::Stream).await;
        assert_eq!(stream, (http::Version::HTTP_2, Bytes::from("HTTP/2.0")));
        t.stop().await;
    }

    /// A server of HTTP/1.1 only (hyper's: it refuses the HTTP/2 preface) answering with the
    /// version a request came in, over TLS choosing `http/1.1` by ALPN when `tls`; its port, a
    /// client config trusting it.
    async fn http1_only_server(tls: bool) -> (u16, ClientConfig, tokio::task::JoinHandle<()>) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let mut server_tls = rustls::ServerConfig::builder_with_provider(crypto())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        server_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server_tls));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let client_tls = ClientConfig::builder_with_provider(crypto())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(io: S) {
            let service = hyper::service::service_fn(|request: http::Request<Incoming>| async move {
                let version = format!("{:?}", request.version());
                Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(version))))
            });
            let io = hyper_util::rt::TokioIo::new(io);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        }
        let server = tokio::spawn(async move {
            while let Ok((socket, _)) = tcp.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match tls {
                        true => {
                            if let Ok(stream) = acceptor.accept(socket).await {
                                serve(stream).await
                            }
                        }
                        false => serve(socket).await,
                    }
                });
            }
        });
        (port, client_tls, server)
    }

    #[tokio::test]
    async fn streams_to_a_host_without_http2_go_over_http1_and_it_is_not_asked_again() {
        for tls in [true, false] {
            let (port, client_tls, server) = http1_only_server(tls).await;
            let (scheme, host) = match tls {
                true => (http::uri::Scheme::HTTPS, "localhost"),
                false => (http::uri::Scheme::HTTP, "127.0.0.1"),
            };
            let url = format!("{scheme}://{host}:{port}/");
            let authority: http::uri::Authority = format!("{host}:{port}").parse().unwrap();
            for calls in [Http2Calls::Streams, Http2Calls::All] {
                let client = client_with(client_tls.clone(), Protocol::Http2 { max_streams: 10, calls });
                let pool = h2_pool(&client);
                assert!(!pool.speaks_http1(scheme.clone(), authority.clone()));
                let answer = get(&client, &url).await;
                assert_eq!(answer, (http::Version::HTTP_11, Bytes::from("HTTP/1.1")), "tls: {tls}");
                assert!(pool.speaks_http1(scheme.clone(), authority.clone()), "tls: {tls}");
                // The next stream goes straight to HTTP/1.1: no HTTP/2 connection is tried.
                let answer = get(&client, &url).await;
                assert_eq!(answer, (http::Version::HTTP_11, Bytes::from("HTTP/1.1")));
                assert_eq!(
                    pool.streams(scheme.clone(), authority.clone()),
                    vec![0],
                    "the one refused"
                );
            }
            server.abort();
        }
    }

    #[tokio::test]
    async fn http2_calls_share_connections_up_to_max_streams_and_open_more_past_it() {
        use std::sync::atomic::Ordering;
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let (open, gate) = tokio::sync::watch::channel(false);
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stop, server) = version_server(strata_http::Listener::plain(tcp), gate, seen.clone());
        let (_, _, tls) = tls_listener().await;
        let client = client_with(
            tls,
            Protocol::Http2 {
                max_streams: 2,
                calls: Http2Calls::All,
            },
        );
        let pool = h2_pool(&client);
        let url = format!("http://127.0.0.1:{port}/");
        let streams = || local_streams(pool, port);

        // Five calls in flight at once, the server holding every answer: three connections.
        let calls = spawn_gets(&client, &url, 5);
        while seen.load(Ordering::SeqCst) < 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(streams(), vec![2, 2, 1]);
        open.send(true).unwrap();
        for call in calls {
            assert_eq!(call.await.unwrap(), (http::Version::HTTP_2, Bytes::from("HTTP/2.0")));
        }
        assert_eq!(streams(), vec![0, 0, 0], "every stream was given back with its body");

        // A call whose body is still unread holds its stream, on the first connection.
        let request = http::Request::get(&url).body(Full::new(Bytes::new())).unwrap();
        let held = client.request(request, Exchange::Stream).await.unwrap();
        assert_eq!(streams(), vec![1, 0, 0]);
        drop(held);
        assert_eq!(streams(), vec![0, 0, 0]);
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn http2_calls_open_another_connection_at_the_servers_stream_limit() {
        // An h2c server announcing 2 concurrent streams, holding every answer until `open`.
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let (open, gate) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = tcp.accept().await else { return };
                let gate = gate.clone();
                tokio::spawn(async move {
                    let mut conn = ::h2::server::Builder::new()
                        .max_concurrent_streams(2)
                        .handshake::<_, Bytes>(socket)
                        .await
                        .unwrap();
                    while let Some(Ok((_, mut respond))) = conn.accept().await {
                        let mut gate = gate.clone();
                        tokio::spawn(async move {
                            let _ = gate.wait_for(|open| *open).await;
                            let mut body = respond.send_response(http::Response::new(()), false).unwrap();
                            let _ = body.send_data(Bytes::from_static(b"ok"), true);
                        });
                    }
                });
            }
        });
        let (_, _, tls) = tls_listener().await;
        let client = client_with(
            tls,
            Protocol::Http2 {
                max_streams: 10,
                calls: Http2Calls::All,
            },
        );
        let pool = h2_pool(&client);
        let url = format!("http://127.0.0.1:{port}/");
        let streams = || local_streams(pool, port);

        // Five calls at once: all take a stream on the first connection before it is open, and
        // those past the server's 2 move on once its settings are known (none is refused).
        let calls = spawn_gets(&client, &url, 5);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while streams().iter().sum::<usize>() < 5 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut held = streams();
        held.sort_unstable();
        assert_eq!(held, vec![1, 2, 2], "no connection past the server's 2, not 10 on one");
        open.send(true).unwrap();
        for call in calls {
            assert_eq!(call.await.unwrap(), (http::Version::HTTP_2, Bytes::from("ok")));
        }
        // A later call takes room on a connection already open.
        let request = http::Request::get(&url).body(Full::new(Bytes::new())).unwrap();
        let later = client.request(request, Exchange::Stream).await.unwrap();
        assert_eq!((streams().len(), streams().iter().sum::<usize>()), (3, 1));
        drop(later);
        server.abort();
    }

    #[tokio::test]
    async fn http2_bodies_larger_than_the_windows_go_both_ways() {
        // An echo: the answer is the request's body, as the server read it.
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let handler = |request: http::Request<axum::body::Body>| async move {
            let body = axum::body::to_bytes(request.into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            Ok::<_, std::io::Error>(http::Response::new(axum::body::Body::from(body)))
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options = strata_http::ServeOptions {
            max_body_bytes: 64 << 20,
            ..Default::default()
        };
        let server = tokio::spawn(strata_http::serve(
            [strata_http::Listener::plain(tcp)],
            handler,
            async {
                let _ = stopped.await;
            },
            options,
        ));
        let (_, _, tls) = tls_listener().await;
        let client = client_with(
            tls,
            Protocol::Http2 {
                max_streams: 4,
                calls: Http2Calls::All,
            },
        );
        // 7 MiB: past the stream's 2 MiB and the connection's 5 MiB window, both ways.
        let sent: Bytes = (0..7u32 << 20).map(|i| (i % 251) as u8).collect::<Vec<_>>().into();
        let request = http::Request::post(format!("http://127.0.0.1:{port}/"))
            .body(Full::new(sent.clone()))
            .unwrap();
        let response = client.request(request, Exchange::Stream).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        let read = http_body_util::BodyExt::collect(response.into_body());
        let echoed = tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("the whole answer, not a stall on flow control")
            .unwrap()
            .to_bytes();
        assert!(echoed == sent, "echoed {} of {} bytes", echoed.len(), sent.len());
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn http2_to_a_closed_port_is_a_connection_error_and_leaves_no_connection() {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        drop(tcp);
        let (_, _, tls) = tls_listener().await;
        let client = client_with(
            tls,
            Protocol::Http2 {
                max_streams: 2,
                calls: Http2Calls::All,
            },
        );
        let request = http::Request::get(format!("http://127.0.0.1:{port}/"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let e = client.request(request, Exchange::Stream).await.unwrap_err();
        assert!(!e.is_timeout());
        let pool = h2_pool(&client);
        let authority: http::uri::Authority = format!("127.0.0.1:{port}").parse().unwrap();
        // The failed connection is still listed with the failed call's stream given back; the
        // next call drops it and tries a new one.
        assert_eq!(pool.streams(http::uri::Scheme::HTTP, authority.clone()), vec![0]);
        let request = http::Request::get(format!("http://127.0.0.1:{port}/"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert!(client.request(request, Exchange::Stream).await.is_err());
        assert_eq!(pool.streams(http::uri::Scheme::HTTP, authority), vec![0]);
    }
}
