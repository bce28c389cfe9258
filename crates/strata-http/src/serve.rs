//! The accept loops and the drain: listeners (plain or TLS) feed one pool of connections under
//! one cap; on shutdown they stop accepting, connections finish what they have in flight, and
//! the drain's deadline and a hard close bound how long that may take.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio_rustls::TlsAcceptor;

use crate::metrics::EdgeMetrics;
use crate::tls::TlsServer;
use crate::{ServeOptions, HARD_CLOSE_AFTER_DEADLINE};

/// A bound socket and whether it speaks TLS. A plain listener serves HTTP/1.1 and HTTP/2 with
/// prior knowledge (h2c); a TLS listener serves both, chosen by ALPN.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsServer>,
}

impl Listener {
    pub fn plain(tcp: TcpListener) -> Listener {
        Listener { tcp, tls: None }
    }

    pub fn tls(tcp: TcpListener, tls: TlsServer) -> Listener {
        Listener { tcp, tls: Some(tls) }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

impl From<TcpListener> for Listener {
    fn from(tcp: TcpListener) -> Listener {
        Listener::plain(tcp)
    }
}

/// What every connection of one [`serve`] shares.
pub(crate) struct Shared {
    pub options: ServeOptions,
    pub metrics: EdgeMetrics,
    /// HTTP/1.1 and HTTP/2, for connections whose version is known before hyper reads (see
    /// `connection::Speaks`).
    pub http1: http1::Builder,
    pub http2: http2::Builder<TokioExecutor>,
    /// Either, told apart by reading: for the rare connection whose first bytes do not say.
    pub either: auto::Builder<TokioExecutor>,
    /// Set when connections still open are to be closed by force.
    pub force: watch::Sender<bool>,
    open: AtomicUsize,
    closed: Notify,
}

impl Shared {
    fn new(options: ServeOptions) -> Shared {
        // Head and idle deadlines are the connection watchdog's (see `connection`).
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .keep_alive(true);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2.timer(TokioTimer::new());
        let mut either = auto::Builder::new(TokioExecutor::new());
        either
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .keep_alive(true);
        either.http2().timer(TokioTimer::new());
        Shared {
            options,
            metrics: EdgeMetrics::register(),
            http1,
            http2,
            either,
            force: watch::Sender::new(false),
            open: AtomicUsize::new(0),
            closed: Notify::new(),
        }
    }

    /// A place among the open connections, unless they are at the cap.
    fn try_open(self: &Arc<Self>) -> Option<Slot> {
        let max = self.options.max_connections;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()?;
        self.metrics.open_connections.increment(1.0);
        Some(Slot(Arc::clone(self)))
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    async fn all_closed(&self) {
        loop {
            let mut closed = pin!(self.closed.notified());
            closed.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            closed.await;
        }
    }
}

/// One open connection's place; dropping it frees the place.
pub(crate) struct Slot(Arc<Shared>);

impl Slot {
    pub fn shared(&self) -> &Arc<Shared> {
        &self.0
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.metrics.open_connections.decrement(1.0);
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.closed.notify_waiters();
        }
    }
}

/// Serves on every listener until `shutdown` completes, then drains:
///
/// 1. [`crate::Drain::started`] fires; listeners close; idle connections close at once and busy
///    ones finish the requests (and streams) they carry, then close (HTTP/2: GOAWAY).
/// 2. If connections are still open after [`ServeOptions::shutdown_grace`],
///    [`crate::Drain::deadline`] fires so the application can end its streams cleanly.
/// 3. [`HARD_CLOSE_AFTER_DEADLINE`] later, the connections left are closed by force.
///
/// `handler` answers each request; an `Err` closes the connection without an answer (the
/// emulator's dropped connections).
pub async fn serve<H, F>(
    listeners: impl IntoIterator<Item = Listener>,
    handler: H,
    shutdown: impl Future<Output = ()>,
    options: ServeOptions,
) -> io::Result<()>
where
    H: Fn(Request<Body>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, io::Error>> + Send + 'static,
{
    let shared = Arc::new(Shared::new(options));
    let mut accepting = Vec::new();
    let mut reloading = Vec::new();
    for listener in listeners {
        let acceptor = listener.tls.as_ref().map(TlsServer::acceptor);
        if let Some(tls) = listener.tls {
            reloading.push(tokio::spawn(tls.watch(shared.options.tls_reload_every)));
        }
        accepting.push(tokio::spawn(accept(
            listener.tcp,
            acceptor,
            handler.clone(),
            Arc::clone(&shared),
        )));
    }
    shutdown.await;
    let options = &shared.options;
    options.drain.begin();
    for task in accepting {
        let _ = task.await;
    }
    let open = shared.open();
    if open > 0 {
        tracing::info!(
            open,
            grace_s = options.shutdown_grace.as_secs(),
            "shutdown: draining connections"
        );
    }
    if tokio::time::timeout(options.shutdown_grace, shared.all_closed())
        .await
        .is_err()
    {
        tracing::warn!(
            open = shared.open(),
            grace_s = options.shutdown_grace.as_secs(),
            "shutdown: the grace is over with requests still in flight; they are told to end"
        );
        options.drain.reach_deadline();
        if tokio::time::timeout(HARD_CLOSE_AFTER_DEADLINE, shared.all_closed())
            .await
            .is_err()
        {
            tracing::warn!(open = shared.open(), "shutdown: closing the connections still open");
            shared.force.send_replace(true);
            let _ = tokio::time::timeout(Duration::from_secs(1), shared.all_closed()).await;
        }
    }
    for task in reloading {
        task.abort();
    }
    Ok(())
}

/// Accepts on one listener until draining starts (then drops it, so the port closes).
async fn accept<H, F>(tcp: TcpListener, tls: Option<TlsAcceptor>, handler: H, shared: Arc<Shared>)
where
    H: Fn(Request<Body>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, io::Error>> + Send + 'static,
{
    let mut stop = pin!(shared.options.drain.started());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut stop => return,
        };
        let Some(slot) = shared.try_open() else {
            shared.metrics.max_connections.increment(1);
            tracing::debug!(%peer, max = shared.options.max_connections, "connection closed: too many open");
            drop(stream);
            continue;
        };
        tokio::spawn(crate::connection::run(stream, tls.clone(), handler.clone(), slot));
    }
}
