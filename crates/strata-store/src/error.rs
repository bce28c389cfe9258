//! The store's errors: what failed, and what the caller may do about it.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend the store speaks. The URL itself is not echoed: it may hold a
    /// password.
    #[error("unsupported store URL: use sqlite:/path/strata.db or postgres://user@host:5432/db")]
    UnsupportedUrl,
    /// The database could not be reached or opened.
    #[error("cannot open the store: {0}")]
    Open(#[source] sqlx::Error),
    /// The schema could not be brought up to date (a newer Strata wrote it, or a migration failed).
    #[error("cannot migrate the store's schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row with the same unique value (key id or key hash) already exists.
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// A query failed; retrying may help if the database was restarting.
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// The usage writer's own SQLite connection failed (see [`StoreError::Query`]).
    #[error("store query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The usage writer's deadline passed with records still unwritten (the database was down,
    /// or requests still held slots). They are lost if the process exits now.
    #[error("usage writer closed with {pending} record(s) unwritten ({written} written)")]
    Unflushed { written: u64, pending: u64 },
    /// The usage writer's task ended without reporting (it panicked).
    #[error("the usage writer's task ended unexpectedly")]
    WriterGone,
}
