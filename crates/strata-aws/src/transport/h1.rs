//! HTTP/1.1 keep-alive connections to upstreams, one call in flight on each: a call takes an
//! idle connection to its host, or opens a new one, and gives it back when its answer's body
//! has been read to the end ([`Lease`]). A body dropped before its end takes its connection
//! with it (the rest of the answer would have to be read first).
//!
//! Why not hyper-util's pooled client: per call it hashed the host three times, cloned the
//! connector into a lazy connect future, formatted the `host` header, and spawned a task (with
//! a oneshot) to put the connection back once it was ready again — ~5 % of a relayed Converse
//! call's CPU under `perf`. Here a call locks the pool twice (take, give back) and spawns
//! nothing; the connection's own task is hyper's, spawned once per connection.
//!
//! A connection the host closed while idle is noticed when taken (its sender is no longer
//! ready) and dropped; a request that the connection could not take is sent again on another,
//! as hyper-util does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use parking_lot::Mutex;
use tower_service::Service;

use super::TransportError;

type Key = (Scheme, Authority);
type Sender = SendRequest<Full<Bytes>>;

/// How often, at most, idle connections past the timeout are swept from every host, when a
/// connection is given back (a host that gets no more calls would otherwise keep its idle
/// connections until the server closes them; with no calls at all, the servers close them).
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// The idle connections, by host.
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: HttpsConnector<HttpConnector>,
    idle_timeout: Duration,
    max_idle_per_host: usize,
    /// Set when the pool was made; idle times count from it (ms).
    epoch: Instant,
    hosts: Mutex<HashMap<Key, Vec<Idle>>>,
    /// When idle connections were last swept (ms since the epoch).
    swept: AtomicU64,
}

struct Idle {
    sender: Sender,
    /// When it was given back (ms since the pool's epoch).
    since: u64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1Pool")
            .field("max_idle_per_host", &self.inner.max_idle_per_host)
            .finish_non_exhaustive()
    }
}

/// A call's connection, given back to the pool when its answer's body ends.
pub(crate) struct Lease {
    pool: Pool,
    /// The connection and its host, until given back.
    held: Option<(Key, Sender)>,
}

impl Lease {
    /// The answer's body was read to its end: the connection serves the next call. (Dropped
    /// without this, the lease drops its connection.)
    pub(crate) fn give_back(&mut self) {
        if let Some((key, sender)) = self.held.take() {
            self.pool.put(key, sender);
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lease")
    }
}

impl Pool {
    pub(crate) fn new(
        connector: HttpsConnector<HttpConnector>,
        idle_timeout: Duration,
        max_idle_per_host: usize,
    ) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                connector,
                idle_timeout,
                max_idle_per_host,
                epoch: Instant::now(),
                hosts: Mutex::default(),
                swept: AtomicU64::new(0),
            }),
        }
    }

    /// Sends `request` (an absolute URL) on an idle connection to its host, or a new one. The
    /// answer's body comes with the connection's lease, to give back when the body has ended.
    ///
    /// (A function returning an `async move` block, as [`super::HttpClient::request`].)
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    pub(crate) fn send(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> impl std::future::Future<Output = Result<http::Response<(Incoming, Lease)>, TransportError>> + Send + '_ {
        async move {
            let uri = request.uri();
            let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned()) else {
                return Err(TransportError::msg(format!("not an absolute URL: {uri}")));
            };
            let key = (scheme, authority);
            let mut request = origin_form(super::with_host(request));
            loop {
                // The connect future (TCP, TLS, the handshake: kilobytes) is boxed: inline, every
                // call's future would be that much larger, though few calls open a connection.
                let (mut sender, reused) = match self.take(&key) {
                    Some(sender) => (sender, true),
                    None => (Box::pin(self.connect(&key)).await?, false),
                };
                // An idle connection the host has closed is no longer ready: the next one.
                if let Err(e) = sender.ready().await {
                    if reused {
                        continue;
                    }
                    return Err(e.into());
                }
                match sender.try_send_request(request).await {
                    Ok(response) => {
                        let lease = Lease {
                            pool: self.clone(),
                            held: Some((key, sender)),
                        };
                        return Ok(response.map(|body| (body, lease)));
                    }
                    // The connection closed before it took the request: another one, as
                    // hyper-util's client does.
                    Err(mut e) => match e.take_message() {
                        Some(unsent) if reused => request = unsent,
                        _ => return Err(e.into_error().into()),
                    },
                }
            }
        }
    }

    /// An idle connection to `key`, the most recently used first (the likeliest still open).
    fn take(&self, key: &Key) -> Option<Sender> {
        let inner = &self.inner;
        let now = inner.epoch.elapsed().as_millis() as u64;
        let idle_ms = inner.idle_timeout.as_millis() as u64;
        let mut hosts = inner.hosts.lock();
        let idle = hosts.get_mut(key)?;
        while let Some(conn) = idle.pop() {
            if now.saturating_sub(conn.since) <= idle_ms && !conn.sender.is_closed() {
                return Some(conn.sender);
            }
        }
        None
    }

    /// Keeps a connection whose call is done for the next call to its host.
    fn put(&self, key: Key, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let inner = &self.inner;
        let now = inner.epoch.elapsed().as_millis() as u64;
        let mut hosts = inner.hosts.lock();
        if now.saturating_sub(inner.swept.load(Ordering::Relaxed)) > SWEEP_EVERY.as_millis() as u64 {
            inner.swept.store(now, Ordering::Relaxed);
            let idle_ms = inner.idle_timeout.as_millis() as u64;
            hosts.retain(|_, idle| {
                idle.retain(|c| now.saturating_sub(c.since) <= idle_ms && !c.sender.is_closed());
                !idle.is_empty()
            });
        }
        let idle = hosts.entry(key).or_default();
        if idle.len() < inner.max_idle_per_host {
            idle.push(Idle { sender, since: now });
        }
    }

    /// A new connection to `key`; its task runs until the connection closes.
    async fn connect(&self, (scheme, authority): &Key) -> Result<Sender, TransportError> {
        let uri = http::Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| TransportError::msg(e.to_string()))?;
        let mut connector = self.inner.connector.clone();
        let io = connector.call(uri).await.map_err(TransportError::from_boxed)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP/1.1 upstream connection ended");
            }
        });
        Ok(sender)
    }

    /// Idle connections kept for `scheme://authority`.
    #[cfg(test)]
    pub(crate) fn idle(&self, scheme: Scheme, authority: Authority) -> usize {
        self.inner.hosts.lock().get(&(scheme, authority)).map_or(0, Vec::len)
    }
}

/// The request with its URL in origin form (`/path?query`), as HTTP/1.1 sends it to a server.
fn origin_form(mut request: http::Request<Full<Bytes>>) -> http::Request<Full<Bytes>> {
    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(path);
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::super::{client_with, Exchange, HttpClient, Protocol};
    use super::*;

    /// How the test server ends each answer.
    #[derive(Clone, Copy)]
    enum Then {
        /// Keeps the connection for the next request.
        KeepAlive,
        /// Closes the connection without saying so.
        Close,
        /// Sends half of a chunked body and waits.
        Stall,
    }

    /// A plain HTTP/1.1 server answering `ok` to each request; the connections it accepted.
    async fn server(then: Then) -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // A request without a body ends with its head.
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            let mut chunk = [0u8; 1024];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buf.clear();
                        match then {
                            Then::Stall => {
                                let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n";
                                let _ = socket.write_all(head.as_bytes()).await;
                                tokio::time::sleep(Duration::from_secs(60)).await;
                                return;
                            }
                            _ => {
                                let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                                if socket.write_all(answer.as_bytes()).await.is_err() {
                                    return;
                                }
                                if matches!(then, Then::Close) {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        (port, accepted)
    }

    fn client() -> HttpClient {
        let tls = rustls::ClientConfig::builder_with_provider(super::super::crypto())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        client_with(tls, Protocol::Http1)
    }

    /// A GET of the test server's `/x`.
    fn request(port: u16) -> http::Request<Full<Bytes>> {
        http::Request::get(format!("http://127.0.0.1:{port}/x"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    async fn get(client: &HttpClient, port: u16) -> Bytes {
        let response = client.request(request(port), Exchange::Complete).await.unwrap();
        response.into_body().collect().await.unwrap().to_bytes()
    }

    fn idle(client: &HttpClient, port: u16) -> usize {
        client
            .http1
            .idle(Scheme::HTTP, format!("127.0.0.1:{port}").parse().unwrap())
    }

    #[tokio::test]
    async fn calls_one_after_another_share_one_connection() {
        let (port, accepted) = server(Then::KeepAlive).await;
        let client = client();
        for _ in 0..5 {
            assert_eq!(get(&client, port).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(idle(&client, port), 1);
    }

    #[tokio::test]
    async fn calls_at_once_each_get_a_connection_and_all_are_kept() {
        let (port, accepted) = server(Then::KeepAlive).await;
        let client = client();
        // Three answers' heads held at once: three connections.
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(client.request(request(port), Exchange::Complete).await.unwrap());
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        assert_eq!(
            idle(&client, port),
            0,
            "a connection is not idle before its body is read"
        );
        for response in held {
            assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "ok");
        }
        assert_eq!(idle(&client, port), 3);
        assert_eq!(get(&client, port).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced_without_an_error() {
        let (port, accepted) = server(Then::Close).await;
        let client = client();
        assert_eq!(get(&client, port).await, "ok");
        // Let the close arrive, then again: a new connection, no error.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(get(&client, port).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_takes_its_connection_along() {
        let (port, accepted) = server(Then::Stall).await;
        let client = client();
        let response = client.request(request(port), Exchange::Stream).await.unwrap();
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "ok");
        drop(body);
        assert_eq!(idle(&client, port), 0);
        let _second = client.request(request(port), Exchange::Stream).await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}
