//! The process's life as the request path and the health endpoints see it: serving, draining
//! (shutdown began: `/readyz` answers 503, requests in flight finish), and the drain deadline
//! (streams still open end with an error event instead of being cut).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{BoxStream, Stream};
use strata_aws::UpstreamError;
use strata_core::ErrorClass;
use strata_http::Drain;

use crate::upstream::Chunk;

/// Shared by every request: the edge's [`Drain`] (the server fires it; the gateway reads it).
#[derive(Debug, Default)]
pub struct Lifecycle {
    drain: Drain,
}

/// What a stream still open at the drain deadline is told.
pub const SHUTDOWN_MESSAGE: &str =
    "the gateway is shutting down and could not finish this stream in time; retry the request";

impl Lifecycle {
    /// The drain the server is to fire (hand it to `strata_gateway::server::serve_options`).
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// Shutdown began (`/readyz` answers 503).
    pub fn draining(&self) -> bool {
        self.drain.is_draining()
    }

    /// `rest` of a stream, ending with a shutdown error when the drain deadline passes first.
    pub fn cuttable(
        &self,
        rest: BoxStream<'static, Result<Chunk, UpstreamError>>,
    ) -> BoxStream<'static, Result<Chunk, UpstreamError>> {
        let drain = self.drain.clone();
        Box::pin(Cuttable {
            rest,
            deadline: Box::pin(async move { drain.deadline().await }),
            ended: false,
        })
    }
}

/// A stream that ends with one shutdown error if its deadline fires before it ends.
struct Cuttable {
    rest: BoxStream<'static, Result<Chunk, UpstreamError>>,
    deadline: Pin<Box<dyn Future<Output = ()> + Send>>,
    ended: bool,
}

impl Stream for Cuttable {
    type Item = Result<Chunk, UpstreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.ended = true;
            return Poll::Ready(Some(Err(shutdown_error())));
        }
        let next = self.rest.as_mut().poll_next(cx);
        if let Poll::Ready(None) = next {
            self.ended = true;
        }
        next
    }
}

fn shutdown_error() -> UpstreamError {
    UpstreamError::new(ErrorClass::Unavailable, Some(503), SHUTDOWN_MESSAGE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn chunk() -> Result<Chunk, UpstreamError> {
        Ok(Chunk::default())
    }

    #[tokio::test]
    async fn a_stream_that_ends_before_the_deadline_is_untouched() {
        let life = Lifecycle::default();
        let s = life.cuttable(futures::stream::iter(vec![chunk(), chunk()]).boxed());
        let items: Vec<_> = s.collect().await;
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn an_open_stream_ends_with_an_error_at_the_deadline() {
        let life = Lifecycle::default();
        let endless = futures::stream::iter(vec![chunk()])
            .chain(futures::stream::pending())
            .boxed();
        let mut s = life.cuttable(endless);
        assert!(s.next().await.is_some_and(|c| c.is_ok()));
        life.drain().reach_deadline();
        assert!(life.draining());
        match s.next().await {
            Some(Err(e)) => assert_eq!(e.class, ErrorClass::Unavailable),
            _ => panic!("expected the shutdown error"),
        }
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn a_stream_started_after_the_deadline_ends_at_once() {
        let life = Lifecycle::default();
        life.drain().reach_deadline();
        let mut s = life.cuttable(futures::stream::pending().boxed());
        assert!(matches!(s.next().await, Some(Err(_))));
        assert!(s.next().await.is_none());
    }
}
