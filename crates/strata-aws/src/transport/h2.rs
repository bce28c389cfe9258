//! HTTP/2 connections to upstreams, shared by the calls in flight: a call takes a stream on
//! the first open connection to its host with fewer than `max_streams` calls in flight, and a new
//! connection is opened only when every one is full. A stream is held (the [`Lease`]) until the
//! answer's body is read or dropped, so a long ConverseStream keeps its place.
//!
//! Why not hyper-util's pool with HTTP/2: it keeps one connection per host and never opens a
//! second when the server's `SETTINGS_MAX_CONCURRENT_STREAMS` is reached (hyperium/hyper#2197,
//! #3623); calls past the limit wait. Here the limit is ours (`max_streams`, at most what the
//! servers allow: Bedrock's is not published, 100 is the common floor).
//!
//! What sharing saves is memory: an HTTP/1.1 call in flight holds a connection of its own, with
//! hyper's fixed buffers (~32 KiB: read buffer, header buffer, dispatch channel); an HTTP/2
//! stream holds a few hundred bytes of state on a connection that serves many.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http_body_util::Full;
use hyper::client::conn::http2::SendRequest;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parking_lot::Mutex;
use tokio::sync::OnceCell;
use tower_service::Service;

use super::TransportError;

type Key = (Scheme, Authority);

/// The shared connections, by host.
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: HttpsConnector<HttpConnector>,
    max_streams: usize,
    idle_timeout: Duration,
    /// Set when the pool was made; connections' idle times count from it (ms).
    epoch: Instant,
    hosts: Mutex<HashMap<Key, Vec<Arc<Conn>>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max_streams", &self.inner.max_streams)
            .finish_non_exhaustive()
    }
}

/// One connection: its sender once the handshake is done (the first call to lease it connects;
/// the others wait for that handshake).
struct Conn {
    sender: OnceCell<SendRequest<Full<Bytes>>>,
    in_flight: AtomicUsize,
    /// When the last stream ended (ms since the pool's epoch).
    idle_since: AtomicU64,
    /// The handshake failed: no new calls.
    failed: std::sync::atomic::AtomicBool,
}

impl Conn {
    fn closed(&self) -> bool {
        self.failed.load(Ordering::Relaxed) || self.sender.get().is_some_and(SendRequest::is_closed)
    }
}

/// A stream taken on a connection, given back when dropped.
pub(crate) struct Lease {
    conn: Arc<Conn>,
    epoch: Instant,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lease")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.conn.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let now = self.epoch.elapsed().as_millis() as u64;
            self.conn.idle_since.store(now, Ordering::Relaxed);
        }
    }
}

impl Pool {
    pub(crate) fn new(connector: HttpsConnector<HttpConnector>, max_streams: usize, idle_timeout: Duration) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                connector,
                max_streams: max_streams.max(1),
                idle_timeout,
                epoch: Instant::now(),
                hosts: Mutex::default(),
            }),
        }
    }

    /// Sends `request` (an absolute URL) on a shared connection; the answer holds the stream's
    /// lease until its body is dropped.
    pub(crate) async fn send(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<(http::Response<hyper::body::Incoming>, Lease), TransportError> {
        let uri = request.uri();
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned()) else {
            return Err(TransportError::msg(format!("not an absolute URL: {uri}")));
        };
        let key = (scheme, authority);
        let lease = self.lease(&key);
        // The handshake's future (TCP, TLS, HTTP/2: ~6.6 KiB) is boxed: inline, every call's
        // future — and so every call in flight — would be that much larger, though only the first
        // call on a connection runs it.
        let sender = lease
            .conn
            .sender
            .get_or_try_init(|| Box::pin(self.connect(&key)))
            .await
            .inspect_err(|_| lease.conn.failed.store(true, Ordering::Relaxed))?;
        let mut sender = sender.clone();
        sender.ready().await.map_err(TransportError::from)?;
        let response = sender.send_request(request).await.map_err(TransportError::from)?;
        Ok((response, lease))
    }

    /// A stream on the first connection to `key` with room, or on a new one.
    fn lease(&self, key: &Key) -> Lease {
        let inner = &self.inner;
        let now = inner.epoch.elapsed().as_millis() as u64;
        let idle_ms = inner.idle_timeout.as_millis() as u64;
        let mut hosts = inner.hosts.lock();
        let conns = hosts.entry(key.clone()).or_default();
        // Closed connections go, and idle ones past the timeout (dropping the last sender ends
        // the connection).
        conns.retain(|c| {
            let idle = c.in_flight.load(Ordering::Acquire) == 0
                && now.saturating_sub(c.idle_since.load(Ordering::Relaxed)) > idle_ms;
            !c.closed() && !idle
        });
        let conn = match conns
            .iter()
            .find(|c| c.in_flight.load(Ordering::Acquire) < inner.max_streams)
        {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(Conn {
                    sender: OnceCell::new(),
                    in_flight: AtomicUsize::new(0),
                    idle_since: AtomicU64::new(now),
                    failed: Default::default(),
                });
                conns.push(c.clone());
                c
            }
        };
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        Lease {
            conn,
            epoch: inner.epoch,
        }
    }

    /// A new HTTP/2 connection: TLS with ALPN `h2` for `https`, prior knowledge for `http`.
    async fn connect(&self, (scheme, authority): &Key) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        let uri = http::Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| TransportError::msg(e.to_string()))?;
        let mut connector = self.inner.connector.clone();
        let io = tokio::time::timeout(super::CONNECT_TIMEOUT, connector.call(uri))
            .await
            .map_err(|_| {
                TransportError::timeout(format!(
                    "no connection to {authority} within {:?}",
                    super::CONNECT_TIMEOUT
                ))
            })?
            .map_err(TransportError::from_boxed)?;
        if *scheme == Scheme::HTTPS && !io.connected().is_negotiated_h2() {
            return Err(TransportError::msg(format!(
                "{authority} did not agree to HTTP/2 (ALPN)"
            )));
        }
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(io)
            .await
            .map_err(TransportError::from)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP/2 upstream connection ended");
            }
        });
        Ok(sender)
    }

    /// Connections open to `scheme://authority`, and the calls in flight on each.
    #[cfg(test)]
    pub(crate) fn streams(&self, scheme: Scheme, authority: Authority) -> Vec<usize> {
        let hosts = self.inner.hosts.lock();
        hosts
            .get(&(scheme, authority))
            .map(|cs| cs.iter().map(|c| c.in_flight.load(Ordering::Acquire)).collect())
            .unwrap_or_default()
    }
}
