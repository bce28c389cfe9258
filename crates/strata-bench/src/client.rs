//! One send over the pooled HTTP/1.1 client, timed to the first body byte and to the end.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::target::Target;

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
    /// A 2xx answer read to its end: (first body byte, end), both measured from `since`.
    Ok { first_byte: Duration, end: Duration },
    /// An answer with another status.
    Status(u16),
    /// Connection refused or broken, or a body cut short.
    Transport,
    /// No whole answer within the timeout.
    Timeout,
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
    let Ok(response) = client.request(target.request()).await else {
        return Outcome::Transport;
    };
    let status = response.status();
    let mut body = response.into_body();
    let mut first_byte = None;
    loop {
        match body.frame().await {
            None => break,
            Some(Err(_)) => return Outcome::Transport,
            Some(Ok(frame)) => {
                if first_byte.is_none() && frame.data_ref().is_some_and(|d| !d.is_empty()) {
                    first_byte = Some(since.elapsed());
                }
            }
        }
    }
    let end = since.elapsed();
    if !status.is_success() {
        return Outcome::Status(status.as_u16());
    }
    Outcome::Ok {
        first_byte: first_byte.unwrap_or(end),
        end,
    }
}
