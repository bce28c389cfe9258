//! Paced response bodies: frames sent at their planned times, optionally cut mid-way.

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::stream;

/// Pause before a `drop` cut so what was sent reaches the client first.
const FLUSH_BEFORE_DROP: Duration = Duration::from_millis(50);

/// How a stream ends early.
#[derive(Debug, Clone)]
pub enum Cut {
    /// After `after` frames, send this exception frame and end cleanly.
    Exception { after: usize, frame: Bytes },
    /// After `after` frames, drop the connection.
    Drop { after: usize },
}

/// A body that sends each frame after its delay. Dropping the body (the client went away)
/// stops the sending at once. `guard` lives as long as the stream (the in-flight count).
pub fn paced_body<G: Send + 'static>(frames: Vec<(Duration, Bytes)>, cut: Option<Cut>, guard: G) -> Body {
    let queue: VecDeque<(Duration, Bytes)> = frames.into();
    let state = (queue, 0usize, cut, false);
    let s = stream::unfold(state, move |(mut queue, sent, cut, done)| async move {
        if done {
            return None;
        }
        match &cut {
            Some(Cut::Exception { after, frame }) if sent == *after => {
                let frame = frame.clone();
                return Some((Ok(frame), (queue, sent + 1, cut, true)));
            }
            Some(Cut::Drop { after }) if sent == *after => {
                // Let the server flush the head and the frames sent so far, so the client sees
                // a stream that starts and then breaks, not a connection refused outright.
                tokio::time::sleep(FLUSH_BEFORE_DROP).await;
                let err = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "stream cut by fault injection");
                return Some((Err(err), (queue, sent, cut, true)));
            }
            _ => {}
        }
        let (delay, frame) = queue.pop_front()?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some((Ok::<Bytes, std::io::Error>(frame), (queue, sent + 1, cut, false)))
    });
    let guarded = futures::StreamExt::map(s, move |item| {
        let _ = &guard;
        item
    });
    Body::from_stream(guarded)
}
