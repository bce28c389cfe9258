//! HTTP/2 connections to upstreams, shared by the calls in flight: a call takes a stream on
//! the first open connection to its host with fewer than `max_streams` calls in flight, and a new
//! connection is opened only when every one is full. A stream is held (the [`Lease`]) until the
//! answer's body is read or dropped, so a long ConverseStream keeps its place.
//!
//! Why not hyper-util's pool with HTTP/2: it keeps one connection per host and never opens a
//! second when the server's `SETTINGS_MAX_CONCURRENT_STREAMS` is reached (hyperium/hyper#2197,
//! #3623); calls past the limit wait. Here the limit is ours (`max_streams`; Bedrock's is not
//! published, 100 is the common floor), or the server's when it announces fewer.
//!
//! What sharing saves is memory: an HTTP/1.1 call in flight holds a connection of its own, with
//! hyper's fixed buffers (~32 KiB: read buffer, header buffer, dispatch channel); an HTTP/2
//! stream holds a few hundred bytes of state on a connection that serves many.
//!
//! Calls speak the `h2` crate directly rather than through hyper's HTTP/2 client: hyper spawns
//! two tasks per request (one sends the body, one waits for the answer's head and hands it over,
//! 2.6 KiB each until the head arrives, dhat), where here the call's own future sends the body
//! and awaits the head.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use ::h2::client::SendRequest;
use ::h2::{Reason, RecvStream};
use bytes::Bytes;
use futures::FutureExt;
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::uri::{Authority, Scheme};
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use parking_lot::Mutex;
use tokio::sync::OnceCell;
use tower_service::Service;

use super::TransportError;

type Key = (Scheme, Authority);

// Flow-control windows and buffers as hyper's HTTP/2 client sets them: a stream may have 2 MiB
// in flight unread, a connection 5 MiB (h2's own default, 64 KiB, would stall a large answer on
// window updates).
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;
const MAX_SEND_BUFFER: usize = 1024 * 1024;
const MAX_HEADER_LIST: u32 = 16 * 1024;

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
    hosts: Mutex<HashMap<Key, Host>>,
}

/// A host's connections, and until when its calls go over HTTP/1.1 (ms since the pool's epoch;
/// 0: they do not) because it did not speak HTTP/2 when last asked.
#[derive(Default)]
struct Host {
    conns: Vec<Arc<Conn>>,
    http1_until: u64,
}

/// How long a host that did not speak HTTP/2 is spoken to over HTTP/1.1 before it is asked
/// again (a proxy in front of it may change; asking costs one connection).
const HTTP1_FOR: Duration = Duration::from_secs(600);

/// What [`Pool::send`] did with a request.
pub(crate) enum Sent {
    /// The answer's head; its body holds the stream's lease.
    Http2(http::Response<RecvStream>, Lease),
    /// Nothing: the host does not speak HTTP/2 (or did not when last asked). The request,
    /// unsent, is for HTTP/1.1.
    NotHttp2(http::Request<Full<Bytes>>),
}

/// Why a connection could not be opened, shared by every call that waited on its handshake.
#[derive(Debug)]
enum Failed {
    /// The host chose HTTP/1.1 by ALPN, or (plain `http://`) did not answer the HTTP/2 preface
    /// as an HTTP/2 server would.
    NotHttp2(String),
    /// No connection: refused, unreachable, TLS, a timeout.
    Transport { message: String, timeout: bool },
}

impl Failed {
    fn transport(e: &TransportError) -> Failed {
        Failed::Transport {
            message: crate::error_chain(e.source_error()),
            timeout: e.is_timeout(),
        }
    }

    /// The error a call that waited on this connection fails with.
    fn error(&self) -> TransportError {
        match self {
            Failed::NotHttp2(why) => TransportError::msg(why.clone()),
            Failed::Transport { message, timeout: true } => TransportError::timeout(message.clone()),
            Failed::Transport {
                message,
                timeout: false,
            } => TransportError::msg(message.clone()),
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max_streams", &self.inner.max_streams)
            .finish_non_exhaustive()
    }
}

/// One connection: its sender once the handshake is done, or why there is none (the first call
/// to lease it connects; the others wait for that handshake and share its outcome).
struct Conn {
    sender: OnceCell<Result<SendRequest<Bytes>, Failed>>,
    in_flight: AtomicUsize,
    /// When the last stream ended (ms since the pool's epoch).
    idle_since: AtomicU64,
    /// The connection ended: no new calls. Set by the connection's task (which holds only this
    /// flag: a `Conn` there would keep its own sender, and so the connection, alive).
    ended: Arc<AtomicBool>,
}

impl Conn {
    fn closed(&self) -> bool {
        self.ended.load(Ordering::Relaxed) || matches!(self.sender.get(), Some(Err(_)))
    }

    /// Calls this connection takes at once: ours, or fewer when the server's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` says so — calls past the server's limit would wait on
    /// this connection (in `ready`, or be refused) while a new one could serve them. Until the
    /// connection is open the server's figure is unknown and calls count against ours; those
    /// past the server's then move on (see [`Pool::send`]).
    fn limit(&self, ours: usize) -> usize {
        match self.sender.get() {
            Some(Ok(sender)) => ours.min(sender.current_max_send_streams()).max(1),
            _ => ours,
        }
    }
}

/// `step`'s output, or a timeout error saying what did not happen (`missing`) within
/// [`super::CONNECT_TIMEOUT`].
async fn within_connect_timeout<T>(
    step: impl std::future::Future<Output = T>,
    missing: impl FnOnce() -> String,
) -> Result<T, TransportError> {
    tokio::time::timeout(super::CONNECT_TIMEOUT, step)
        .await
        .map_err(|_| TransportError::timeout(format!("{} within {:?}", missing(), super::CONNECT_TIMEOUT)))
}

/// A stream taken on a connection, given back when dropped.
pub(crate) struct Lease {
    conn: Arc<Conn>,
    /// Calls in flight on the connection when this one took its stream.
    index: usize,
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
    /// lease until its body is dropped. A host that does not speak HTTP/2 gets nothing: the
    /// request comes back for HTTP/1.1.
    ///
    /// (A function returning an `async move` block, the request's head handed to h2 by a plain
    /// function: as an `async fn` this future kept the request twice and its head twice more
    /// while it waited for the answer, ~1 KiB per call in flight, `-Zprint-type-sizes`.)
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    pub(crate) fn send(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> impl std::future::Future<Output = Result<Sent, TransportError>> + Send + '_ {
        async move {
            let uri = request.uri();
            let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned()) else {
                return Err(TransportError::msg(format!("not an absolute URL: {uri}")));
            };
            let key = (scheme, authority);
            let (lease, sender) = loop {
                let Some(lease) = self.lease(&key) else {
                    return Ok(Sent::NotHttp2(request));
                };
                // The handshake's future (TCP, TLS, HTTP/2: ~6.3 KiB) is boxed: inline, every
                // call's future — and so every call in flight — would be that much larger,
                // though only the first call on a connection runs it.
                let conn = &lease.conn;
                let opened = conn
                    .sender
                    .get_or_init(|| Box::pin(self.connect(&key, Arc::clone(&conn.ended))))
                    .await;
                match opened {
                    // Calls that took a stream while the connection was being opened learn the
                    // server's limit only now: those past it go to another connection rather
                    // than wait here.
                    Ok(sender) => {
                        if lease.index < conn.limit(self.inner.max_streams) {
                            let sender = sender.clone();
                            break (lease, sender);
                        }
                    }
                    Err(Failed::NotHttp2(why)) => {
                        self.speak_http1(&key, why);
                        return Ok(Sent::NotHttp2(request));
                    }
                    Err(failed) => return Err(failed.error()),
                }
            };
            // Waits while the server's limit of concurrent streams is reached (it may lower it).
            let sender = sender.ready().await.map_err(TransportError::from)?;
            let (answer, _stream) = start(sender, request)?;
            let response = answer.await.map_err(TransportError::from)?;
            Ok(Sent::Http2(response, lease))
        }
    }

    /// Calls to `key` go over HTTP/1.1 for [`HTTP1_FOR`].
    fn speak_http1(&self, key: &Key, why: &str) {
        let inner = &self.inner;
        let until = inner.epoch.elapsed().saturating_add(HTTP1_FOR).as_millis() as u64;
        let mut hosts = inner.hosts.lock();
        let host = hosts.entry(key.clone()).or_default();
        if host.http1_until < until {
            if host.http1_until == 0 {
                tracing::info!(
                    host = %key.1,
                    why,
                    "upstream does not speak HTTP/2: its calls go over HTTP/1.1 for {} s before it is asked again",
                    HTTP1_FOR.as_secs()
                );
            }
            host.http1_until = until;
        }
    }

    /// A stream on the first connection to `key` with room, or on a new one; none while the host
    /// is spoken to over HTTP/1.1.
    fn lease(&self, key: &Key) -> Option<Lease> {
        let inner = &self.inner;
        let now = inner.epoch.elapsed().as_millis() as u64;
        let idle_ms = inner.idle_timeout.as_millis() as u64;
        let mut hosts = inner.hosts.lock();
        let host = hosts.entry(key.clone()).or_default();
        if host.http1_until != 0 {
            if now < host.http1_until {
                return None;
            }
            host.http1_until = 0;
        }
        let conns = &mut host.conns;
        // Closed connections go, and idle ones past the timeout (dropping the last sender ends
        // the connection).
        conns.retain(|c| {
            let idle = c.in_flight.load(Ordering::Acquire) == 0
                && now.saturating_sub(c.idle_since.load(Ordering::Relaxed)) > idle_ms;
            !c.closed() && !idle
        });
        let conn = match conns
            .iter()
            .find(|c| c.in_flight.load(Ordering::Acquire) < c.limit(inner.max_streams))
        {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(Conn {
                    sender: OnceCell::new(),
                    in_flight: AtomicUsize::new(0),
                    idle_since: AtomicU64::new(now),
                    ended: Arc::default(),
                });
                conns.push(c.clone());
                c
            }
        };
        let index = conn.in_flight.fetch_add(1, Ordering::AcqRel);
        Some(Lease {
            conn,
            index,
            epoch: inner.epoch,
        })
    }

    /// A new HTTP/2 connection: TLS offering `h2` and `http/1.1` by ALPN for `https`, prior
    /// knowledge for `http`. `ended` is set when it ends.
    ///
    /// A host that chooses `http/1.1`, or a plain-`http` one that does not answer the HTTP/2
    /// preface with its SETTINGS (an HTTP/1.1 server answers `400` and closes, which reads as a
    /// protocol error), does not speak HTTP/2. Over TLS, once `h2` is agreed, a failure is the
    /// connection's.
    async fn connect(&self, (scheme, authority): &Key, ended: Arc<AtomicBool>) -> Result<SendRequest<Bytes>, Failed> {
        let uri = http::Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| Failed::transport(&TransportError::msg(e.to_string())))?;
        let mut connector = self.inner.connector.clone();
        let io = within_connect_timeout(connector.call(uri), || format!("no connection to {authority}"))
            .await
            .and_then(|io| io.map_err(TransportError::from_boxed))
            .map_err(|e| Failed::transport(&e))?;
        let tls = *scheme == Scheme::HTTPS;
        if tls && !io.connected().is_negotiated_h2() {
            return Err(Failed::NotHttp2(format!("{authority} chose HTTP/1.1 by ALPN")));
        }
        let not_http2 = |e: TransportError| match tls {
            true => Failed::transport(&e),
            false => Failed::NotHttp2(format!(
                "{authority} did not answer as an HTTP/2 server: {}",
                crate::error_chain(e.source_error())
            )),
        };
        let (sender, mut connection) = ::h2::client::Builder::new()
            .enable_push(false)
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_send_buffer_size(MAX_SEND_BUFFER)
            .max_header_list_size(MAX_HEADER_LIST)
            .handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| not_http2(e.into()))?;
        let ping = connection.ping_pong();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP/2 upstream connection ended");
            }
            ended.store(true, Ordering::Relaxed);
        });
        // A ping's answer comes after the server's SETTINGS (its first frame), so from here
        // on the sender knows the server's limit of concurrent streams. One round trip, once
        // per connection.
        if let Some(mut ping) = ping {
            within_connect_timeout(ping.ping(::h2::Ping::opaque()), || {
                format!("no HTTP/2 settings from {authority}")
            })
            .await
            .and_then(|pong| pong.map_err(TransportError::from))
            .map_err(not_http2)?;
        }
        Ok(sender)
    }

    /// Whether calls to `scheme://authority` go over HTTP/1.1 (it did not speak HTTP/2).
    #[cfg(test)]
    pub(crate) fn speaks_http1(&self, scheme: Scheme, authority: Authority) -> bool {
        let hosts = self.inner.hosts.lock();
        hosts
            .get(&(scheme, authority))
            .is_some_and(|host| host.http1_until != 0)
    }

    /// Connections open to `scheme://authority`, and the calls in flight on each.
    #[cfg(test)]
    pub(crate) fn streams(&self, scheme: Scheme, authority: Authority) -> Vec<usize> {
        let hosts = self.inner.hosts.lock();
        hosts
            .get(&(scheme, authority))
            .map(|host| host.conns.iter().map(|c| c.in_flight.load(Ordering::Acquire)).collect())
            .unwrap_or_default()
    }
}

/// Sends `request`'s head and body on a new stream of `sender`'s connection: the answer to
/// wait for, and the stream's sending half (held until then).
fn start(
    mut sender: SendRequest<Bytes>,
    request: http::Request<Full<Bytes>>,
) -> Result<(::h2::client::ResponseFuture, ::h2::SendStream<Bytes>), TransportError> {
    let (head, body) = request.into_parts();
    // A `Full` body is one frame, there at once (never pending: were it, sending nothing in its
    // place would be a wrong request, so it is an error).
    let Some(Ok(collected)) = body.collect().now_or_never() else {
        return Err(TransportError::msg(
            "the request body was not ready to send".to_string(),
        ));
    };
    let body = collected.to_bytes();
    let mut request = http::Request::from_parts(head, ());
    if !body.is_empty() {
        // As hyper sends it over HTTP/1.1 and HTTP/2 alike.
        request
            .headers_mut()
            .entry(CONTENT_LENGTH)
            .or_insert_with(|| HeaderValue::from(body.len()));
    }
    let (answer, mut stream) = sender
        .send_request(request, body.is_empty())
        .map_err(TransportError::from)?;
    if !body.is_empty() {
        // Queued whole; h2 sends it as the windows allow.
        stream.send_data(body, true).map_err(TransportError::from)?;
    }
    Ok((answer, stream))
}

/// The next frame of an answer's body, its read bytes given back to the stream's window.
pub(crate) fn poll_frame(
    recv: &mut RecvStream,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
    match ready!(recv.poll_data(cx)) {
        Some(Ok(data)) => {
            // Fails only when the stream is gone, which the next poll reports.
            let _ = recv.flow_control().release_capacity(data.len());
            Poll::Ready(Some(Ok(Frame::data(data))))
        }
        // A reset without an error after the answer (the server is done with the request).
        Some(Err(e)) if e.reason() == Some(Reason::NO_ERROR) => Poll::Ready(None),
        Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
        None => match ready!(recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e.into()))),
        },
    }
}
