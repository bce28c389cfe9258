//! HTTP serving plumbing shared by the gateway and the emulator: an HTTP/1.1 keep-alive accept
//! loop with a deadline on request heads (so a slowloris client cannot hold a connection open),
//! where a handler may also refuse to answer and close the connection, and cheap request IDs.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// A client must send a whole request head within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// After `shutdown`, how long requests in flight (streams included) may take to finish before
/// their connections are dropped.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// Serves until `shutdown` completes, then stops accepting and lets requests in flight finish
/// (up to [`DRAIN_DEADLINE`]). `handler` answers each request; an `Err` closes the connection
/// without an answer (used to emulate dropped connections).
pub async fn serve<H, F>(listener: TcpListener, handler: H, shutdown: impl Future<Output = ()>) -> std::io::Result<()>
where
    H: Fn(Request<Body>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, std::io::Error>> + Send + 'static,
{
    tokio::pin!(shutdown);
    // Every connection is watched, so that on shutdown idle ones close at once and busy ones
    // finish the request they are answering (then close) instead of being cut.
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| handler(req.map(Body::new)));
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(true);
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_DEADLINE, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            deadline_s = DRAIN_DEADLINE.as_secs(),
            "shutdown: requests still in flight after the drain deadline are cut"
        );
    }
    Ok(())
}

/// A request ID in AWS's UUID shape: a per-process random prefix and a counter, unique without
/// a random draw per request.
pub fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = *PREFIX.get_or_init(rand::random::<u32>);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (n >> 48) & 0xffff,
        (n >> 36) & 0xfff,
        (n >> 24) & 0xfff,
        n & 0xff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_unique_and_uuid_shaped() {
        let a = super::new_request_id();
        let b = super::new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
