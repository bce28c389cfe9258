//! The usage writer's own SQLite connection, on a thread of its own (rusqlite), for a store in
//! a SQLite file. The writer's task hands each batch over and awaits it back with the outcome.
//!
//! Why not the store's sqlx pool: sqlx boxes every bound value, copies it again to its worker
//! thread and clears it after the statement, ~15k instructions per record of the ~36k the writer
//! cost (callgrind, `WRITER=1 bench/instructions.sh`, issue 16). And a thread of our own can run
//! at a lower priority than the runtime's: a batch of SQLite work then waits while requests
//! have the cores (a first token's write, say) instead of taking its turn beside them.
//!
//! The task keeps the retries: a failed batch comes back with its error, is retried with
//! backoff, and the connection is opened again for it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Connection, OpenFlags};
use thread_priority::{set_current_thread_priority, ThreadPriority, ThreadPriorityValue};
use tokio::sync::oneshot;

use super::Queued;
use crate::error::StoreError;
use crate::store::usage::insert_usage_sqlite;
use crate::store::SQLITE_BUSY_TIMEOUT;

/// The thread's priority on thread-priority's 0–99 scale: on Linux nice 9, a tenth of the
/// weight of the runtime's threads (nice 0) when both want a core. Not the lowest: under
/// sustained full load the writer must still keep up (its share is ~8 % of a request's CPU), or
/// the queue fills and requests wait for places.
const PRIORITY: u8 = 25;

/// The thread's handle; the thread ends when this is dropped (after its current batch).
pub(super) struct Thread {
    jobs: mpsc::Sender<Job>,
}

struct Job {
    batch: Vec<Queued>,
    done: oneshot::Sender<(Vec<Queued>, Result<(), StoreError>)>,
}

impl Thread {
    /// Starts the thread for the database in `file`. The connection opens with the first batch.
    pub(super) fn start(file: &Path) -> std::io::Result<Thread> {
        let (jobs, rx) = mpsc::channel();
        let file = file.to_owned();
        std::thread::Builder::new()
            .name("usage-sqlite".to_owned())
            .spawn(move || run(&file, &rx))?;
        Ok(Thread { jobs })
    }

    /// Commits `batch` in one transaction; `batch` is handed back either way.
    pub(super) async fn write(&self, batch: &mut Vec<Queued>) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        let job = Job {
            batch: std::mem::take(batch),
            done,
        };
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            *batch = job.batch;
            return Err(StoreError::WriterGone);
        }
        // The thread answers every job, even one that panicked; only a thread killed outright
        // would not, and then the batch is gone with it.
        let (back, result) = answer.await.map_err(|_| StoreError::WriterGone)?;
        *batch = back;
        result
    }
}

fn run(file: &Path, jobs: &mpsc::Receiver<Job>) {
    if let Err(e) = lower_priority() {
        tracing::warn!(error = %e, "usage writer thread keeps the default priority");
    }
    let mut conn = None;
    while let Ok(Job { batch, done }) = jobs.recv() {
        let result =
            catch_unwind(AssertUnwindSafe(|| write(&mut conn, file, &batch))).unwrap_or(Err(StoreError::WriterGone));
        if result.is_err() {
            // Opened again for the retry: whatever state the failure left goes with it.
            conn = None;
        }
        // The task may be gone (the runtime shutting down); the batch then drops here.
        let _ = done.send((batch, result));
    }
}

/// This thread's priority to [`PRIORITY`].
fn lower_priority() -> Result<(), String> {
    let value = ThreadPriorityValue::try_from(PRIORITY).map_err(|e| format!("{e:?}"))?;
    set_current_thread_priority(ThreadPriority::Crossplatform(value)).map_err(|e| format!("{e:?}"))
}

fn write(conn: &mut Option<Connection>, file: &Path, batch: &[Queued]) -> Result<(), StoreError> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(open(file)?),
    };
    insert_usage_sqlite(conn, batch)?;
    Ok(())
}

/// The store's pools created the file, migrated it and set WAL (which the file keeps); the
/// rest is per connection, as for the pools.
fn open(file: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}
