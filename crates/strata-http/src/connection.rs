//! One accepted connection: the TLS handshake (if its listener has TLS), HTTP/1.1 or HTTP/2
//! (by ALPN, or by the prior-knowledge preface on a plain port), the edge's checks around each
//! request, and a watchdog over the connection's phase:
//!
//! ```text
//! accepted ──first request head (and handshake) within header_timeout──▶ busy
//! busy ──every response finished──▶ idle ──a byte of the next head──▶ head ──head whole──▶ busy
//! idle longer than idle_timeout: closed (HTTP/2: GOAWAY)   head longer than header_timeout: closed
//! ```
//!
//! (hyper's own `header_read_timeout` starts when it waits for a head, idle or not, so it cannot
//! tell an idle keep-alive connection from a slow head; the watchdog does both.)

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, Response, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulConnection;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::body::{EdgeBody, InFlight, ResponseBody, Verdict};
use crate::drain::fired;
use crate::serve::{Shared, Slot};
use crate::woken::Woken;
use crate::{Refusal, RequestHead};

/// Serves one accepted connection until it ends, is closed by the watchdog, or is closed by
/// force at the end of a drain. `slot` counts it among the open connections until then.
pub(crate) async fn run<H, F>(stream: TcpStream, tls: Option<TlsAcceptor>, handler: H, slot: Slot)
where
    H: Fn(Request<Body>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, io::Error>> + Send + 'static,
{
    let shared = Arc::clone(slot.shared());
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new(Instant::now()));
    match tls {
        None => {
            let Some(peeked) = opening(&shared, Speaks::peek(&stream)).await else {
                return;
            };
            let speaks = match peeked {
                Ok(Some(speaks)) => speaks,
                // Closed before a byte came.
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "connection failed before its first request");
                    return;
                }
            };
            serve_io(stream, speaks, activity, handler, shared).await;
        }
        // Boxed: the handshake's and the TLS session's state would otherwise make every
        // connection's task as large as a TLS connection's.
        Some(acceptor) => Box::pin(serve_tls(stream, acceptor, activity, handler, shared)).await,
    }
    drop(slot);
}

async fn serve_tls<H, F>(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    activity: Arc<Activity>,
    handler: H,
    shared: Arc<Shared>,
) where
    H: Fn(Request<Body>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, io::Error>> + Send + 'static,
{
    let Some(handshake) = opening(&shared, acceptor.accept(stream)).await else {
        return;
    };
    let stream = match handshake {
        Ok(stream) => stream,
        Err(e) => {
            shared.metrics.handshake_failures.increment(1);
            tracing::debug!(error = %e, "TLS handshake failed");
            return;
        }
    };
    let speaks = Speaks::by_alpn(stream.get_ref().1.alpn_protocol());
    serve_io(stream, speaks, activity, handler, shared).await;
}

/// A connection's opening step (the TLS handshake, the first bytes), which counts toward the
/// first head's time: `None` when it took longer (counted) or the connection was closed by force.
async fn opening<T>(shared: &Shared, step: impl Future<Output = T>) -> Option<T> {
    let deadline = Instant::now() + shared.options.header_timeout;
    tokio::select! {
        done = tokio::time::timeout_at(deadline, step) => match done {
            Ok(done) => Some(done),
            Err(_elapsed) => {
                shared.metrics.header_timeout.increment(1);
                None
            }
        },
        () = fired(shared.force.subscribe()) => None,
    }
}

/// Which HTTP a connection speaks, told before hyper reads from it.
///
/// hyper-util's version detection reads the first bytes itself and hands them back to hyper
/// (24 bytes, HTTP/2's preface length) before the rest: hyper's read buffer, 8 KiB, then had to
/// grow for the remaining head and doubled to 16 KiB on every connection (dhat: 16 KiB per
/// stream). Peeking at the socket (or asking ALPN) leaves the bytes where they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speaks {
    Http1,
    Http2,
    /// The first bytes do not say yet (a prefix of the preface, or TLS without ALPN): hyper-util
    /// reads until they do.
    Either,
}

/// What an HTTP/2 connection with prior knowledge begins with (RFC 9113, 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

impl Speaks {
    /// From the first bytes a client sent; `None` when the connection ended before any.
    async fn peek(stream: &TcpStream) -> io::Result<Option<Speaks>> {
        let mut first = [0u8; PREFACE.len()];
        let n = stream.peek(&mut first).await?;
        Ok((n > 0).then(|| Speaks::by_first_bytes(&first[..n])))
    }

    fn by_first_bytes(first: &[u8]) -> Speaks {
        if !PREFACE.starts_with(first) {
            Speaks::Http1
        } else if first.len() == PREFACE.len() {
            Speaks::Http2
        } else {
            Speaks::Either
        }
    }

    fn by_alpn(protocol: Option<&[u8]>) -> Speaks {
        match protocol {
            Some(b"h2") => Speaks::Http2,
            Some(b"http/1.1") => Speaks::Http1,
            _ => Speaks::Either,
        }
    }
}

async fn serve_io<S, H, F>(io: S, speaks: Speaks, activity: Arc<Activity>, handler: H, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Body>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, io::Error>> + Send + 'static,
{
    let service = EdgeService {
        handler,
        activity: Arc::clone(&activity),
        shared: Arc::clone(&shared),
    };
    let io = TokioIo::new(Tracked {
        inner: io,
        activity: Arc::clone(&activity),
    });
    match speaks {
        Speaks::Http1 => watch(shared.http1.serve_connection(io, service), &activity, &shared).await,
        // Boxed, so that HTTP/1.1 connections' tasks are the size of their own state.
        Speaks::Http2 => Box::pin(watch(shared.http2.serve_connection(io, service), &activity, &shared)).await,
        Speaks::Either => Box::pin(watch(shared.either.serve_connection(io, service), &activity, &shared)).await,
    }
}

/// Drives `conn` beside the drain, the forced close and the watchdog.
async fn watch<C>(conn: C, activity: &Activity, shared: &Shared)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    let mut conn = pin!(conn);
    let options = &shared.options;
    // The signals beside the connection are polled only when they were woken (see `woken`).
    let drain = pin!(options.drain.started());
    let force = pin!(fired(shared.force.subscribe()));
    let expired = pin!(activity.expired(options.header_timeout, options.idle_timeout));
    let (mut drain, mut force, mut expired) = (Woken::new(drain), Woken::new(force), Woken::new(expired));
    // Once closing, the connection finishes what it has in flight and ends; `watching` is off
    // once the watchdog's verdict is acted on.
    let mut closing = false;
    let mut watching = true;
    let mut give_up_at: Option<Instant> = None;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended");
                }
                return;
            }
            () = &mut force => return,
            () = &mut drain, if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            expiry = &mut expired, if watching => match expiry {
                Expiry::Head => {
                    shared.metrics.header_timeout.increment(1);
                    return;
                }
                Expiry::Idle => {
                    shared.metrics.idle_timeout.increment(1);
                    if closing {
                        return;
                    }
                    // HTTP/1 closes at once; HTTP/2 says GOAWAY first. A peer that never
                    // answers the GOAWAY is dropped after one more header timeout.
                    closing = true;
                    watching = false;
                    give_up_at = Some(Instant::now() + options.header_timeout);
                    conn.as_mut().graceful_shutdown();
                }
            },
            () = until(give_up_at) => return,
        }
    }
}

async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Where a connection is in its life, as the watchdog sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted; its first request head has not arrived whole.
    First,
    /// Requests in flight.
    Busy,
    /// Nothing in flight and nothing received since.
    Idle,
    /// Nothing in flight, and bytes of a next head arrived.
    Head,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    since: Instant,
    in_flight: u32,
    /// HTTP/2 connections carry frames (PING, WINDOW_UPDATE) while idle: no `Head` phase.
    h2: bool,
}

/// What the watchdog found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// A request head (the first one, or one begun after an idle time) took too long.
    Head,
    /// Idle too long.
    Idle,
}

/// A connection's phase, shared by its reader (bytes arriving), its requests (started,
/// finished) and its watchdog.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<State>,
    /// Mirrors `phase == Idle`, so reads check one flag instead of taking the lock.
    idle: AtomicBool,
}

impl Activity {
    pub(crate) fn new(accepted: Instant) -> Activity {
        Activity {
            state: Mutex::new(State {
                phase: Phase::First,
                since: accepted,
                in_flight: 0,
                h2: false,
            }),
            idle: AtomicBool::new(false),
        }
    }

    fn bytes_read(&self) {
        if !self.idle.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.state.lock();
        if state.phase == Phase::Idle && !state.h2 {
            state.phase = Phase::Head;
            state.since = Instant::now();
            self.idle.store(false, Ordering::Relaxed);
        }
    }

    pub(crate) fn request_started(self: &Arc<Self>, version: Version) -> InFlight {
        let mut state = self.state.lock();
        state.in_flight += 1;
        state.phase = Phase::Busy;
        state.h2 |= version == Version::HTTP_2;
        self.idle.store(false, Ordering::Relaxed);
        drop(state);
        InFlight(Arc::clone(self))
    }

    pub(crate) fn request_finished(&self) {
        let mut state = self.state.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.phase = Phase::Idle;
            state.since = Instant::now();
            self.idle.store(true, Ordering::Relaxed);
        }
    }

    fn deadline(&self, header: Duration, idle: Duration) -> Option<(Instant, Expiry)> {
        let state = self.state.lock();
        match state.phase {
            Phase::Busy => None,
            Phase::First | Phase::Head => Some((state.since + header, Expiry::Head)),
            Phase::Idle => Some((state.since + idle, Expiry::Idle)),
        }
    }

    /// Completes when the connection has been in one phase past that phase's deadline.
    ///
    /// Phase changes wake nobody (a wake-up per request start and end cost a task switch each,
    /// ~25 µs of CPU per request in `bench/gateway_overhead.sh`): the watchdog sleeps to the
    /// current phase's deadline and looks again, and while requests are in flight or the
    /// connection is idle it looks at least every half of the shorter timeout. A phase begun
    /// while it sleeps (idle after busy, a head after idle) is therefore seen within that half:
    /// an idle connection still closes at its idle timeout, and a head begun after an idle
    /// time within 1.5× the header timeout. (Sleeping through the idle time to its deadline, the
    /// watchdog once let a slow head begun in it run to the idle timeout.)
    pub(crate) async fn expired(&self, header: Duration, idle: Duration) -> Expiry {
        let look = header.min(idle) / 2;
        loop {
            match self.deadline(header, idle) {
                None => tokio::time::sleep(look).await,
                Some((at, expiry)) => {
                    let now = Instant::now();
                    if now >= at {
                        return expiry;
                    }
                    let wake = if expiry == Expiry::Idle { at.min(now + look) } else { at };
                    tokio::time::sleep_until(wake).await;
                }
            }
        }
    }
}

/// The connection's byte stream, telling its [`Activity`] when bytes arrive.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The per-connection service: the edge's checks around the application's handler.
#[derive(Clone)]
struct EdgeService<H> {
    handler: H,
    activity: Arc<Activity>,
    shared: Arc<Shared>,
}

type Answer = Response<ResponseBody<Body>>;

impl<H, F> hyper::service::Service<Request<Incoming>> for EdgeService<H>
where
    H: Fn(Request<Body>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, io::Error>> + Send + 'static,
{
    type Response = Answer;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, io::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.request_started(request.version());
        let options = &self.shared.options;
        let (parts, incoming) = request.into_parts();
        let head = RequestHead {
            method: parts.method.clone(),
            uri: detached(&parts.uri),
            version: parts.version,
        };
        if declared_length(&parts.headers).is_some_and(|n| n > options.max_body_bytes) {
            // Answered before the body is polled, so hyper never sends `100 Continue`.
            let refusal = Refusal::BodyTooLarge {
                limit: options.max_body_bytes,
            };
            self.shared.metrics.body_too_large.increment(1);
            if is_h1(head.version) && !expects_continue(&parts.headers) {
                // The client is sending the body anyway: read and discard it for a while, so
                // it gets to read the answer instead of a reset.
                linger(incoming, options.body_timeout);
            }
            let response = refuse(&self.shared, &refusal, &head);
            return Box::pin(std::future::ready(
                Ok(response.map(|b| ResponseBody::new(b, in_flight))),
            ));
        }
        let verdict = Arc::new(Verdict::default());
        let body = EdgeBody::new(
            incoming,
            options.body_timeout,
            options.max_body_bytes,
            Arc::clone(&verdict),
        );
        let answer = (self.handler)(Request::from_parts(parts, Body::new(body)));
        let shared = Arc::clone(&self.shared);
        // `map`, not `async move { answer.await }`: an async block keeps the captured future and
        // the awaited one in separate places, twice the handler's future (5.5 KiB) per request
        // in flight (dhat: 11.2 KiB live per stream waiting for its first event).
        Box::pin(futures::FutureExt::map(answer, move |answer| {
            let mut response = answer?;
            let options = &shared.options;
            if let Some(refusal) = verdict.refusal(options.max_body_bytes, options.body_timeout) {
                shared.metrics.refused(&refusal).increment(1);
                response = refuse(&shared, &refusal, &head);
            }
            Ok(response.map(|b| ResponseBody::new(b, in_flight)))
        }))
    }
}

/// A copy of `uri` that owns its text. hyper's URI is a slice of the connection's read buffer
/// (8 KiB): a clone held until the answer is ready kept that buffer alive for the whole call,
/// beside the one hyper reads the next bytes into — 8 KiB more per request in flight.
fn detached(uri: &axum::http::Uri) -> axum::http::Uri {
    let Some(text) = uri.path_and_query().map(|p| p.as_str()) else {
        return uri.clone();
    };
    axum::http::uri::PathAndQuery::from_maybe_shared(bytes::Bytes::copy_from_slice(text.as_bytes()))
        .map(axum::http::Uri::from)
        .unwrap_or_else(|_| uri.clone())
}

/// The application's answer to a refusal, closing an HTTP/1 connection after it.
fn refuse(shared: &Shared, refusal: &Refusal, head: &RequestHead) -> Response<Body> {
    let mut response = (shared.options.refuse)(refusal, head);
    *response.status_mut() = refusal.status();
    if is_h1(head.version) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn is_h1(version: Version) -> bool {
    matches!(version, Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11)
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads and drops a refused body for at most `for_at_most`.
fn linger(body: Incoming, for_at_most: Duration) {
    tokio::spawn(async move {
        let mut body = body;
        let _ = tokio::time::timeout(
            for_at_most,
            async move { while let Some(Ok(_)) = body.frame().await {} },
        )
        .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(75);

    #[test]
    fn the_first_bytes_or_alpn_say_which_http() {
        assert_eq!(
            Speaks::by_first_bytes(b"POST /v1/chat/completions HTTP/1.1\r\n"),
            Speaks::Http1
        );
        assert_eq!(Speaks::by_first_bytes(b"G"), Speaks::Http1);
        assert_eq!(Speaks::by_first_bytes(b"PRIX"), Speaks::Http1);
        assert_eq!(Speaks::by_first_bytes(PREFACE), Speaks::Http2);
        assert_eq!(Speaks::by_first_bytes(b"PRI * HTTP/2"), Speaks::Either);
        assert_eq!(Speaks::by_alpn(Some(b"h2")), Speaks::Http2);
        assert_eq!(Speaks::by_alpn(Some(b"http/1.1")), Speaks::Http1);
        assert_eq!(Speaks::by_alpn(None), Speaks::Either);
    }

    #[test]
    fn a_detached_uri_owns_its_text() {
        let read_buffer = bytes::Bytes::from_static(b"POST /v1/chat/completions?x=1 HTTP/1.1");
        let uri = axum::http::Uri::from_maybe_shared(read_buffer.slice(5..29)).unwrap();
        let copy = detached(&uri);
        assert_eq!(copy, "/v1/chat/completions?x=1");
        assert_eq!(copy.path(), "/v1/chat/completions");
        let text = copy.path_and_query().map(|p| p.as_str().as_ptr());
        assert_ne!(text, Some(read_buffer[5..].as_ptr()), "not a slice of the read buffer");
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_must_send_its_first_head_in_time() {
        let activity = Activity::new(Instant::now());
        activity.bytes_read();
        let start = Instant::now();
        assert_eq!(activity.expired(HEADER, IDLE).await, Expiry::Head);
        assert_eq!(start.elapsed(), HEADER);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_idle_timeout_and_a_begun_head_after_the_header_timeout() {
        let activity = Arc::new(Activity::new(Instant::now()));
        let in_flight = activity.request_started(Version::HTTP_11);
        // Busy: no deadline, however long the answer takes.
        let busy = tokio::time::timeout(Duration::from_secs(3600), activity.expired(HEADER, IDLE)).await;
        assert!(busy.is_err(), "a busy connection never expires");
        drop(in_flight);
        let start = Instant::now();
        assert_eq!(activity.expired(HEADER, IDLE).await, Expiry::Idle);
        assert_eq!(start.elapsed(), IDLE);

        let in_flight = activity.request_started(Version::HTTP_11);
        drop(in_flight);
        tokio::time::sleep(Duration::from_secs(30)).await;
        activity.bytes_read();
        let start = Instant::now();
        assert_eq!(activity.expired(HEADER, IDLE).await, Expiry::Head);
        assert_eq!(start.elapsed(), HEADER);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_begun_while_the_watchdog_sleeps_through_an_idle_time_is_timed_by_the_header_timeout() {
        let activity = Arc::new(Activity::new(Instant::now()));
        drop(activity.request_started(Version::HTTP_11));
        // The watchdog is already waiting when the connection goes idle and, later, a head
        // begins: it must not sleep on to the idle deadline.
        let watchdog = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { activity.expired(HEADER, IDLE).await }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        activity.bytes_read();
        let head_began = Instant::now();
        assert_eq!(watchdog.await.unwrap(), Expiry::Head);
        let took = head_began.elapsed();
        assert!(took >= HEADER && took <= HEADER + HEADER / 2, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn http2_frames_while_idle_do_not_start_a_head() {
        let activity = Arc::new(Activity::new(Instant::now()));
        drop(activity.request_started(Version::HTTP_2));
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(5)).await;
        activity.bytes_read(); // a PING
        assert_eq!(activity.expired(HEADER, IDLE).await, Expiry::Idle);
        assert_eq!(start.elapsed(), IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_started_while_waiting_moves_the_deadline() {
        let activity = Arc::new(Activity::new(Instant::now()));
        let watchdog = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move { activity.expired(HEADER, IDLE).await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        let in_flight = activity.request_started(Version::HTTP_11);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!watchdog.is_finished(), "a busy connection never expires");
        drop(in_flight);
        let finished = Instant::now();
        assert_eq!(watchdog.await.unwrap(), Expiry::Idle);
        assert_eq!(finished.elapsed(), IDLE);
    }

    #[test]
    fn declared_lengths_and_expectations_are_read_from_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(declared_length(&headers), None);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("31457280"));
        headers.insert(header::EXPECT, HeaderValue::from_static("100-Continue"));
        assert_eq!(declared_length(&headers), Some(31_457_280));
        assert!(expects_continue(&headers));
    }
}
