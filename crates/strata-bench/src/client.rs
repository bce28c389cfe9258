//! One send over the pooled HTTP/1.1 client, timed to the first and last body bytes and to the
//! end, with the answer's output tokens read cheaply (a header, or the tail of the body).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::target::Target;
use crate::tokens::{output_tokens_in, OUTPUT_TOKEN_HEADER, TAIL_BYTES};

/// The keep-alive client every run shares (connections are reused across requests).
pub(crate) type Pooled = Client<HttpConnector, Full<Bytes>>;

pub(crate) fn pooled() -> Pooled {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector)
}

/// How one request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A 2xx answer read to its end; times measured from `since`.
    Ok(Answer),
    /// An answer with another status.
    Status(u16),
    /// No connection could be opened (refused, unreachable).
    Connect,
    /// The connection broke before the answer was whole (or the request could not be sent on it).
    Broken,
    /// No whole answer within the timeout.
    Timeout,
}

/// A successful answer's timings and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The first non-empty body chunk (time to first token, for a stream).
    pub first_byte: Duration,
    /// The last non-empty body chunk (time to last token).
    pub last_byte: Duration,
    /// The body's end.
    pub end: Duration,
    /// From `x-amzn-bedrock-output-token-count`, or the usage at the body's end; `None` when the
    /// answer names none.
    pub output_tokens: Option<u64>,
}

/// Sends `target` and reads the whole answer; times are measured from `since` (the moment the
/// request was due, for an open-loop run).
pub(crate) async fn send(client: &Pooled, target: &Target, since: Instant, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, exchange(client, target, since)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Timeout,
    }
}

async fn exchange(client: &Pooled, target: &Target, since: Instant) -> Outcome {
    let response = match client.request(target.request()).await {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Outcome::Connect,
        Err(_) => return Outcome::Broken,
    };
    let status = response.status();
    let counted = response
        .headers()
        .get(OUTPUT_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = response.into_body();
    let mut first_byte = None;
    let mut last_byte = None;
    // The last two data chunks (reference-counted, not copied): the usage is at the end.
    let mut tail: [Option<Bytes>; 2] = [None, None];
    loop {
        match body.frame().await {
            None => break,
            Some(Err(_)) => return Outcome::Broken,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if !data.is_empty() {
                        let now = since.elapsed();
                        first_byte.get_or_insert(now);
                        last_byte = Some(now);
                        if counted.is_none() {
                            tail = [tail[1].take(), Some(data)];
                        }
                    }
                }
            }
        }
    }
    let end = since.elapsed();
    if !status.is_success() {
        return Outcome::Status(status.as_u16());
    }
    let output_tokens = counted.or_else(|| tokens_in_tail(&tail));
    Outcome::Ok(Answer {
        first_byte: first_byte.unwrap_or(end),
        last_byte: last_byte.unwrap_or(end),
        end,
        output_tokens,
    })
}

/// Reads the usage from the last chunk, joined with the one before only when the last is short.
fn tokens_in_tail(tail: &[Option<Bytes>; 2]) -> Option<u64> {
    let last = tail[1].as_ref()?;
    if last.len() >= TAIL_BYTES {
        return output_tokens_in(&last[last.len() - TAIL_BYTES..]);
    }
    match &tail[0] {
        Some(before) => {
            let keep = (TAIL_BYTES - last.len()).min(before.len());
            let mut joined = Vec::with_capacity(keep + last.len());
            joined.extend_from_slice(&before[before.len() - keep..]);
            joined.extend_from_slice(last);
            output_tokens_in(&joined)
        }
        None => output_tokens_in(last),
    }
}
