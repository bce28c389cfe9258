//! Strata's persistence: one usage row per request, API key hashes and audit events, in an
//! embedded SQLite file (the default: nothing to run beside the gateway) or in PostgreSQL (shared
//! by replicas), chosen by the URL given to [`Store::open`]. The schema is migrated at open.
//!
//! # Tables
//! - `usage` — one row per request, keyed by `request_id` (a retried write never doubles a row).
//!   Queried by [`Store::usage`] as sums per tenant, model (the logical model, else the model as
//!   the client named it) or UTC day. `audit_body` holds request/response text only for tenants
//!   that opted in; nothing else in the store holds prompt text.
//! - `api_keys` — only the SHA-256 of each secret ([`keys::hash`]) and a short display prefix;
//!   the secret itself is shown once at creation and never stored. `last_used_at_ms` is read
//!   from `usage`, so authenticating a request never writes to the store.
//! - `audit` — who created, rotated or revoked what, and when.
//!
//! # The usage writer's guarantees
//! [`UsageWriter`] takes requests' records off the request path and writes them in batches (one
//! transaction per batch). A request takes a [`Slot`] when it starts, so that its record can be
//! handed over synchronously when its accounting guard drops:
//! - **Bounded:** at most `capacity` records are held (queued, being written, or promised by live
//!   slots). When full, [`UsageWriter::slot`] waits — backpressure on new requests, counted in
//!   `strata_usage_queue_full_total` — rather than dropping anything.
//! - **Never dropped silently:** a failed write (the database restarting) is retried with backoff
//!   for as long as it takes, counted in [`WriterStats::failed_writes`] and logged at warn with
//!   counts only, never record text. A place is freed only once its record is committed.
//! - **Flushed at shutdown:** [`UsageWriter::close`] stops handing out slots, waits for live slots'
//!   records, writes everything and reports the total, or says how many were still unwritten when
//!   its deadline passed.
//!
//! For a SQLite file the writer has a connection of its own (rusqlite) on a thread of its own,
//! at a lower priority than the runtime's (nice 9 on Linux): its batches wait while requests
//! have the cores. PostgreSQL, and SQLite in memory, are written through the store's pool.

pub mod keys;

mod calendar;
mod error;
mod store;
mod writer;

pub use error::StoreError;
pub use store::api_keys::KeyRow;
pub use store::audit::AuditEvent;
pub use store::usage::{GroupBy, UsageQuery, UsageRecord, UsageRow, PURPOSE_KEEP_WARM};
pub use store::Store;
pub use writer::{Slot, UsageWriter, WriterStats, USAGE_QUEUE_FULL_TOTAL};
