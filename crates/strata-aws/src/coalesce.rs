//! Relaying a stream in as few writes as it allows. An upstream event stream arrives one frame
//! per body chunk, and relaying each chunk on its own cost one `writev` per frame to the client
//! (dozens per answer). Here every chunk that is already there — or turns up while the task
//! lets the connection run once — is joined to the one about to be sent; nothing ever waits for
//! the network, so the first byte still goes out as soon as it arrives.

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};

/// Largest joined chunk.
const MAX_JOINED: usize = 64 * 1024;

struct State<E> {
    inner: BoxStream<'static, Result<Bytes, E>>,
    /// An error or the end seen while joining, handed out after the joined bytes.
    held: Option<Option<Result<Bytes, E>>>,
}

/// `inner` with its ready chunks joined.
pub fn coalesce<E: Send + 'static>(
    inner: BoxStream<'static, Result<Bytes, E>>,
) -> BoxStream<'static, Result<Bytes, E>> {
    futures::stream::unfold(State { inner, held: None }, |mut s| async move {
        let first = match s.held.take() {
            Some(held) => held?,
            None => s.inner.next().await?,
        };
        let Ok(first) = first else {
            return Some((first, s));
        };
        let mut joined: Option<BytesMut> = None;
        let mut len = first.len();
        // Take what is ready; when nothing is, let the connection task run once and look
        // again, and stop at the first look that finds nothing new.
        let mut yielded_for_nothing = false;
        while len < MAX_JOINED {
            match s.inner.next().now_or_never() {
                Some(Some(Ok(more))) => {
                    len += more.len();
                    joined
                        .get_or_insert_with(|| BytesMut::from(&first[..]))
                        .extend_from_slice(&more);
                    yielded_for_nothing = false;
                }
                Some(next) => {
                    s.held = Some(next);
                    break;
                }
                None if yielded_for_nothing => break,
                None => {
                    tokio::task::yield_now().await;
                    yielded_for_nothing = true;
                }
            }
        }
        let chunk = joined.map(BytesMut::freeze).unwrap_or(first);
        Some((Ok(chunk), s))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(items: Vec<Result<&'static str, &'static str>>) -> BoxStream<'static, Result<Bytes, &'static str>> {
        futures::stream::iter(items.into_iter().map(|r| r.map(|s| Bytes::from_static(s.as_bytes())))).boxed()
    }

    #[tokio::test]
    async fn joins_ready_chunks_and_keeps_errors_in_place() {
        let out: Vec<_> = coalesce(chunks(vec![Ok("a"), Ok("b"), Err("broke"), Ok("c")]))
            .collect()
            .await;
        assert_eq!(out, vec![Ok(Bytes::from("ab")), Err("broke"), Ok(Bytes::from("c"))]);
    }

    #[tokio::test]
    async fn never_waits_for_a_chunk_that_has_not_arrived() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, &'static str>>();
        let mut relayed = coalesce(rx.boxed());
        tx.unbounded_send(Ok(Bytes::from_static(b"first"))).unwrap();
        // The second chunk is not sent yet: the first must come out on its own.
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), relayed.next())
            .await
            .unwrap();
        assert_eq!(first, Some(Ok(Bytes::from_static(b"first"))));
        tx.unbounded_send(Ok(Bytes::from_static(b"second"))).unwrap();
        drop(tx);
        assert_eq!(relayed.next().await, Some(Ok(Bytes::from_static(b"second"))));
        assert_eq!(relayed.next().await, None);
    }
}
