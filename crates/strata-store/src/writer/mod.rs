//! The usage writer: requests hand their records to a bounded queue through [`Slot`]s, and one
//! background task writes them in batches (see the crate docs for the guarantees).
//!
//! A place in the queue is a semaphore permit. It is taken with the slot, travels with the
//! record through the channel and is released only when the record's batch is committed, so
//! `capacity` bounds records in memory whether they wait in the channel, in a failing batch, or
//! in a request that has not finished yet. The channel itself is unbounded because the permit
//! already guarantees room: that is what lets [`Slot::send`] be synchronous, for `Drop` guards.

mod sqlite;
mod task;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::error::StoreError;
use crate::store::usage::UsageRecord;
use crate::store::Store;

/// Counter: times a request waited for a place because the usage queue was full.
pub const USAGE_QUEUE_FULL_TOTAL: &str = "strata_usage_queue_full_total";
/// Counter: usage rows committed.
pub const USAGE_WRITTEN_TOTAL: &str = "strata_usage_written_total";
/// Counter: batch writes that failed (and were retried).
pub const USAGE_WRITE_FAILURES_TOTAL: &str = "strata_usage_write_failures_total";

/// A point-in-time view of the writer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterStats {
    /// Records sent and not yet committed.
    pub queued: u64,
    /// Records committed.
    pub written: u64,
    /// Batches committed.
    pub batches: u64,
    /// Batch writes that failed and were retried.
    pub failed_writes: u64,
    /// Times a caller waited for a place because the queue was full.
    pub full_waits: u64,
    /// Records sent after [`UsageWriter::close`] (or after the writer's task died): not written.
    pub lost: u64,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    written: AtomicU64,
    batches: AtomicU64,
    failed_writes: AtomicU64,
    full_waits: AtomicU64,
    lost: AtomicU64,
}

/// A record on its way to the database, holding its place in the queue.
struct Queued {
    record: UsageRecord,
    _place: OwnedSemaphorePermit,
}

/// The writer hands its queued records to the store as they are, without copying them out.
impl std::borrow::Borrow<UsageRecord> for Queued {
    fn borrow(&self) -> &UsageRecord {
        &self.record
    }
}

/// What the handles and the task share.
struct Shared {
    places: Arc<Semaphore>,
    capacity: usize,
    counters: Counters,
    closing: AtomicBool,
    /// Wakes the task when `close` is called or a slot is dropped unsent (so a closing writer
    /// re-checks whether anything is still owed).
    wake: Notify,
}

/// The handle requests use to queue their usage records. Cheap to clone.
#[derive(Clone)]
pub struct UsageWriter {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Queued>,
    /// The task's total of written records, once it has finished.
    done: watch::Receiver<Option<u64>>,
}

/// A place in the usage queue, held from a request's start until its record is sent.
#[must_use = "dropping a slot unsent frees its place; send the request's record with it"]
pub struct Slot {
    place: Option<OwnedSemaphorePermit>,
    tx: mpsc::UnboundedSender<Queued>,
    shared: Arc<Shared>,
}

impl Store {
    /// Starts a usage writer holding at most `capacity` records (at least 1). Spawns its task on
    /// the current Tokio runtime; the task ends after [`UsageWriter::close`], or once every
    /// handle and slot is dropped and everything sent is written.
    pub fn usage_writer(&self, capacity: usize) -> UsageWriter {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        let shared = Arc::new(Shared {
            places: Arc::new(Semaphore::new(capacity)),
            capacity,
            counters: Counters::default(),
            closing: AtomicBool::new(false),
            wake: Notify::new(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done) = watch::channel(None);
        tokio::spawn(task::run(self.usage_sink(), Arc::clone(&shared), rx, done_tx));
        UsageWriter { shared, tx, done }
    }
}

/// Where the writer's batches go.
enum Sink {
    /// Through the store's pool: PostgreSQL, and SQLite in memory.
    Store(Store),
    /// A SQLite file's connection of the writer's own ([`sqlite`]).
    Sqlite(sqlite::Thread),
}

impl Sink {
    /// Commits `batch` in one transaction (see [`Store::insert_usage`]), leaving it as it was.
    async fn write(&self, batch: &mut Vec<Queued>) -> Result<(), StoreError> {
        match self {
            Sink::Store(store) => store.insert_usage(batch.as_slice()).await,
            Sink::Sqlite(thread) => thread.write(batch).await,
        }
    }
}

impl Store {
    fn usage_sink(&self) -> Sink {
        let Some(file) = self.sqlite_file() else {
            return Sink::Store(self.clone());
        };
        match sqlite::Thread::start(file) {
            Ok(thread) => Sink::Sqlite(thread),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the usage writer's thread; writing through the store's pool");
                Sink::Store(self.clone())
            }
        }
    }
}

impl UsageWriter {
    /// A place in the queue, taken when a request starts so its record can be sent synchronously
    /// from a `Drop` guard later. Waits while the queue is full (backpressure on new requests,
    /// counted in [`USAGE_QUEUE_FULL_TOTAL`]); never drops a record. After [`close`](Self::close)
    /// it returns at once a slot whose record is counted as lost: stop taking requests first.
    pub async fn slot(&self) -> Slot {
        let place = match Arc::clone(&self.shared.places).try_acquire_owned() {
            Ok(place) => Some(place),
            Err(TryAcquireError::Closed) => None,
            Err(TryAcquireError::NoPermits) => {
                self.shared.counters.full_waits.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(USAGE_QUEUE_FULL_TOTAL).increment(1);
                Arc::clone(&self.shared.places).acquire_owned().await.ok()
            }
        };
        self.slot_with(place)
    }

    /// A place if one is free now; `None` when the queue is full or the writer is closed.
    pub fn try_slot(&self) -> Option<Slot> {
        let place = Arc::clone(&self.shared.places).try_acquire_owned().ok()?;
        Some(self.slot_with(Some(place)))
    }

    fn slot_with(&self, place: Option<OwnedSemaphorePermit>) -> Slot {
        Slot {
            place,
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// Stops handing out slots, then waits up to `deadline` for every record already sent or
    /// still owed by live slots to be written, and returns how many records this writer wrote in
    /// all. Past the deadline: [`StoreError::Unflushed`] with the count still unwritten (the task
    /// keeps trying until the process exits). Every clone may call it; all see the same total.
    pub async fn close(&self, deadline: Duration) -> Result<u64, StoreError> {
        self.shared.places.close();
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        let mut done = self.done.clone();
        let finished = tokio::time::timeout(deadline, async {
            done.wait_for(Option::is_some)
                .await
                .map(|total| total.unwrap_or_default())
        })
        .await;
        match finished {
            Ok(Ok(total)) => Ok(total),
            Ok(Err(_)) => Err(StoreError::WriterGone),
            Err(_) => {
                let held = self.shared.capacity - self.shared.places.available_permits();
                Err(StoreError::Unflushed {
                    written: self.shared.counters.written.load(Ordering::Relaxed),
                    pending: held as u64,
                })
            }
        }
    }

    pub fn stats(&self) -> WriterStats {
        let c = &self.shared.counters;
        WriterStats {
            queued: c.queued.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            failed_writes: c.failed_writes.load(Ordering::Relaxed),
            full_waits: c.full_waits.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
        }
    }
}

impl Slot {
    /// Hands the record to the writer. Synchronous and never blocks: the place was reserved.
    pub fn send(mut self, record: UsageRecord) {
        let counters = &self.shared.counters;
        let Some(place) = self.place.take() else {
            counters.lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                lost = counters.lost.load(Ordering::Relaxed),
                "usage record sent after the writer closed"
            );
            return;
        };
        counters.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Queued { record, _place: place }).is_err() {
            counters.queued.fetch_sub(1, Ordering::Relaxed);
            counters.lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                lost = counters.lost.load(Ordering::Relaxed),
                "usage writer task is gone; record lost"
            );
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.place.take().is_some() {
            // The place is free again; a closing writer may now be owed nothing more.
            self.shared.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn file_store(dir: &tempfile::TempDir) -> Store {
        Store::open(&format!("sqlite:{}", dir.path().join("usage.db").display()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_sqlite_file_gets_a_writer_connection_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_store(&dir).await;
        assert!(matches!(file.usage_sink(), Sink::Sqlite(_)));
        let memory = Store::open("sqlite::memory:").await.unwrap();
        assert!(matches!(memory.usage_sink(), Sink::Store(_)));
    }

    /// The niceness of this process's threads named `name` (Linux's `/proc`).
    #[cfg(target_os = "linux")]
    fn nice_of_threads(name: &str) -> Vec<i64> {
        let tasks = std::fs::read_dir("/proc/self/task").unwrap();
        tasks
            .filter_map(|task| {
                let dir = task.ok()?.path();
                let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
                if comm.trim_end() != name {
                    return None;
                }
                // Fields after the command's closing parenthesis, from the third (state) on:
                // niceness is the 19th.
                let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                let (_, rest) = stat.rsplit_once(')')?;
                rest.split_whitespace().nth(16)?.parse().ok()
            })
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_writer_thread_runs_below_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let _sink = file_store(&dir).await.usage_sink();
        // The thread lowers its own priority as it starts.
        let give_up = std::time::Instant::now() + Duration::from_secs(30);
        while !nice_of_threads("usage-sqlite").iter().any(|&nice| nice >= 9) {
            assert!(
                std::time::Instant::now() < give_up,
                "{:?}",
                nice_of_threads("usage-sqlite")
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
