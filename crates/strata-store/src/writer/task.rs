//! The writer's background task: gathers records into batches, commits each in one transaction,
//! retries failed commits with backoff, and on close drains until nothing is owed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{Queued, Shared, Sink, USAGE_WRITE_FAILURES_TOTAL, USAGE_WRITTEN_TOTAL};

/// Most records in one batch.
const MAX_BATCH: usize = 500;
/// How long the first record of a batch waits for company, so moderate traffic makes a few
/// larger transactions rather than one per request.
const LINGER: Duration = Duration::from_millis(100);
/// Backoff between retries of a failed batch: doubles from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

pub(super) async fn run(
    sink: Sink,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    done: watch::Sender<Option<u64>>,
) {
    let mut batch: Vec<Queued> = Vec::with_capacity(MAX_BATCH.min(shared.capacity));
    loop {
        if !gather(&shared, &mut rx, &mut batch).await {
            // Every sender is gone (no handle, no slot): write what is left and stop.
            write(&sink, &shared, &mut batch).await;
            break;
        }
        if batch.is_empty() {
            // Woken with nothing to write: stop once closing and nothing is owed. Every record
            // in the channel or in a live slot holds a place, so all places free means done.
            if shared.closing.load(Ordering::SeqCst) && shared.places.available_permits() == shared.capacity {
                break;
            }
            continue;
        }
        write(&sink, &shared, &mut batch).await;
    }
    let written = shared.counters.written.load(Ordering::Relaxed);
    done.send_replace(Some(written));
}

/// Waits for records (or a wake-up) and fills `batch`: up to [`MAX_BATCH`], for at most
/// [`LINGER`] after the first, and no longer than needed when the queue is full (someone is
/// waiting for a place) or the writer is closing. False when the channel has no senders left.
async fn gather(shared: &Shared, rx: &mut mpsc::UnboundedReceiver<Queued>, batch: &mut Vec<Queued>) -> bool {
    if batch.is_empty() {
        if shared.closing.load(Ordering::SeqCst) && shared.places.available_permits() == shared.capacity {
            return true;
        }
        tokio::select! {
            n = rx.recv_many(batch, MAX_BATCH) => {
                if n == 0 {
                    return false;
                }
            }
            _ = shared.wake.notified() => return true,
        }
    }
    let deadline = Instant::now() + LINGER;
    while batch.len() < MAX_BATCH {
        if shared.closing.load(Ordering::SeqCst) || shared.places.available_permits() == 0 {
            break;
        }
        let room = MAX_BATCH - batch.len();
        tokio::select! {
            n = rx.recv_many(batch, room) => {
                if n == 0 {
                    return false;
                }
            }
            _ = tokio::time::sleep_until(deadline) => break,
            // Closing, or a slot dropped unsent: re-check the conditions above.
            _ = shared.wake.notified() => {}
        }
    }
    true
}

/// Commits `batch`, retrying with backoff until it succeeds, then frees its places.
async fn write(sink: &Sink, shared: &Shared, batch: &mut Vec<Queued>) {
    if batch.is_empty() {
        return;
    }
    let mut pause = RETRY_FIRST;
    loop {
        match sink.write(batch).await {
            Ok(()) => break,
            Err(e) => {
                let failed = shared.counters.failed_writes.fetch_add(1, Ordering::Relaxed) + 1;
                metrics::counter!(USAGE_WRITE_FAILURES_TOTAL).increment(1);
                // Counts and the database's error only: never record text.
                tracing::warn!(
                    rows = batch.len(),
                    failed_writes = failed,
                    retry_in_ms = pause.as_millis() as u64,
                    error = %e,
                    "usage batch write failed; will retry"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
    let n = batch.len() as u64;
    let c = &shared.counters;
    c.written.fetch_add(n, Ordering::Relaxed);
    c.batches.fetch_add(1, Ordering::Relaxed);
    c.queued.fetch_sub(n, Ordering::Relaxed);
    metrics::counter!(USAGE_WRITTEN_TOTAL).increment(n);
    // Dropping the queued records frees their places: only now may new requests take them.
    batch.clear();
}
