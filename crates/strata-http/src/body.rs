//! Request bodies with a deadline and a size cap, and response bodies that mark their request
//! finished when they are dropped (so the connection knows when it is idle).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::Refusal;

/// Why reading a request body failed. A handler sees it as the source of its body error
/// (`axum::Error`), so it can tell the edge's refusals from a client that went away.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body was not received whole in time; the edge answers 408 whatever the handler does.
    #[error("the request body was not received within {} ms", .after.as_millis())]
    Timeout { after: Duration },
    /// The body is longer than the limit; the edge answers 413 whatever the handler does.
    #[error("the request body is larger than the maximum of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The connection failed or the client aborted the body.
    #[error("the request body could not be read: {0}")]
    Read(#[source] hyper::Error),
}

/// What a request's body read ran into, shared between the body and the service that answers
/// (which replaces the handler's answer by the edge's refusal).
#[derive(Debug, Default)]
pub(crate) struct Verdict(AtomicU8);

const NONE: u8 = 0;
const TOO_LARGE: u8 = 1;
const TIMED_OUT: u8 = 2;

impl Verdict {
    fn set(&self, code: u8) {
        let _ = self.0.compare_exchange(NONE, code, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The refusal the body read ran into, if any.
    pub fn refusal(&self, limit: u64, after: Duration) -> Option<Refusal> {
        match self.0.load(Ordering::Acquire) {
            TOO_LARGE => Some(Refusal::BodyTooLarge { limit }),
            TIMED_OUT => Some(Refusal::BodyTimeout { after }),
            _ => None,
        }
    }
}

/// A request body read under the edge's rules: it fails with [`BodyError::Timeout`] once its
/// deadline passes while the client is not sending, and with [`BodyError::TooLarge`] once more
/// than the limit arrived. The deadline's timer is only armed when the body has to wait, so a
/// body that arrives with its head costs no timer.
#[derive(Debug)]
pub struct EdgeBody<B = hyper::body::Incoming> {
    inner: B,
    deadline: Instant,
    after: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    limit: u64,
    seen: u64,
    failed: bool,
    verdict: Arc<Verdict>,
}

impl<B> EdgeBody<B> {
    pub(crate) fn new(inner: B, after: Duration, limit: u64, verdict: Arc<Verdict>) -> EdgeBody<B> {
        EdgeBody {
            inner,
            deadline: Instant::now() + after,
            after,
            timer: None,
            limit,
            seen: 0,
            failed: false,
            verdict,
        }
    }
}

impl<B> Body for EdgeBody<B>
where
    B: Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len() as u64);
                    if this.seen > this.limit {
                        this.failed = true;
                        this.verdict.set(TOO_LARGE);
                        return Poll::Ready(Some(Err(BodyError::TooLarge { limit: this.limit })));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.failed = true;
                Poll::Ready(Some(Err(BodyError::Read(e))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.as_mut().poll(cx).is_ready() {
                    this.failed = true;
                    this.verdict.set(TIMED_OUT);
                    return Poll::Ready(Some(Err(BodyError::Timeout { after: this.after })));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Held while a request is in flight; dropping it tells the connection.
pub(crate) struct InFlight(pub(crate) Arc<crate::connection::Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that ends its request's [`InFlight`] when hyper drops it (after the last
/// frame is written, or when the client goes away).
pub struct ResponseBody<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, in_flight: InFlight) -> ResponseBody<B> {
        ResponseBody {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl<B: Body + Unpin> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body of `chunks`, then pending forever (a client that stalls).
    struct Stalling(std::collections::VecDeque<Bytes>);

    impl Body for Stalling {
        type Data = Bytes;
        type Error = hyper::Error;
        fn poll_frame(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
            match self.get_mut().0.pop_front() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => Poll::Pending,
            }
        }
    }

    fn stalling(chunks: &[&'static str]) -> Stalling {
        Stalling(chunks.iter().map(|c| Bytes::from_static(c.as_bytes())).collect())
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_at_its_deadline_with_a_timeout() {
        let verdict = Arc::new(Verdict::default());
        let after = Duration::from_millis(1000);
        let mut body = EdgeBody::new(stalling(&["ab", "cd"]), after, 100, Arc::clone(&verdict));
        let started = Instant::now();
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "ab");
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "cd");
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(err, BodyError::Timeout { .. }), "{err}");
        assert_eq!(started.elapsed(), after);
        assert_eq!(verdict.refusal(100, after), Some(Refusal::BodyTimeout { after }));
        assert!(body.frame().await.is_none(), "a failed body ends");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_fails_as_too_large() {
        let verdict = Arc::new(Verdict::default());
        let after = Duration::from_secs(5);
        let mut body = EdgeBody::new(stalling(&["12345", "67890"]), after, 8, Arc::clone(&verdict));
        assert!(body.frame().await.unwrap().is_ok());
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 8 }), "{err}");
        assert_eq!(verdict.refusal(8, after), Some(Refusal::BodyTooLarge { limit: 8 }));
    }

    #[tokio::test]
    async fn a_body_within_its_limits_passes_unchanged() {
        let verdict = Arc::new(Verdict::default());
        let full = http_body_util::Full::new(Bytes::from_static(b"hello"))
            .map_err(|never: std::convert::Infallible| -> hyper::Error { match never {} });
        let body = EdgeBody::new(full, Duration::from_secs(1), 5, Arc::clone(&verdict));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
        assert_eq!(verdict.refusal(5, Duration::from_secs(1)), None);
    }
}
