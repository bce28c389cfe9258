//! The store handle: one connection pool to SQLite or PostgreSQL, and the queries on it, one
//! module per table.
//!
//! Why an enum over the two native pools rather than `sqlx::Any`: each backend keeps its own
//! connect options (SQLite's WAL, `synchronous` and busy timeout are set per connection, which
//! `Any` cannot express), its own migrations (identity columns differ), and its own native column
//! types, while [`on_pool!`] still lets every query be written once — the same SQL text (`$1`
//! placeholders are understood by both) is compiled for each pool type.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::error::StoreError;

/// Runs `$body` with `$p` bound to the store's concrete pool, whichever backend it is; the body
/// is type-checked once per backend.
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        on_pool!(@ $store, reads, $p => $body)
    };
    (@ $store:expr, $sqlite:ident, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite(sqlite) => {
                let $p = &sqlite.$sqlite;
                $body
            }
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}

/// [`on_pool!`] for the usage writer's batches: SQLite's writer connection (see [`Sqlite`]).
macro_rules! on_write_pool {
    ($store:expr, $p:ident => $body:expr) => {
        on_pool!(@ $store, writes, $p => $body)
    };
}

pub(crate) mod api_keys;
pub(crate) mod audit;
mod hourly;
mod migrations;
mod row;
pub(crate) mod usage;
mod value;

/// A SQLite writer waits this long for another connection's write lock before failing.
pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite serialises writes anyway; a few connections let reads run beside the usage writer.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
const POSTGRES_MAX_CONNECTIONS: u32 = 8;
/// How long `open` and each query wait for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(Sqlite),
    Postgres(PgPool),
}

/// SQLite's connections: a few for reads and other writes, and one of its own for usage batches
/// written through the pool ([`Store::insert_usage`]). SQLite serialises writes anyway, and a
/// connection prepares each statement once for itself: the pool hands its idle connections out
/// in turn, so the batches' few statement texts were prepared again on each of them (~60k
/// instructions each, 5k per request in `bench/instructions.sh`, issue 16). For a file the usage
/// writer has a connection of its own besides ([`crate::writer`]), so this one opens only when
/// used. An in-memory database is one connection for both.
#[derive(Clone, Debug)]
pub(crate) struct Sqlite {
    pub(crate) reads: SqlitePool,
    pub(crate) writes: SqlitePool,
    /// The database file; `None` in memory (which no second connection could reach).
    pub(crate) file: Option<PathBuf>,
}

impl Sqlite {
    /// One pool for reads and writes.
    #[cfg(test)]
    pub(crate) fn single(pool: SqlitePool) -> Self {
        Sqlite {
            writes: pool.clone(),
            reads: pool,
            file: None,
        }
    }
}

/// Usage records, API keys and audit events in one database. Cheap to clone (one shared pool).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: Pool,
}

impl Store {
    /// Opens (creating a SQLite file if missing) and migrates the store at `url`:
    /// `sqlite:/path/strata.db` (or `sqlite://…`, `sqlite::memory:` for a private in-memory
    /// database) or `postgres://user@127.0.0.1:5432/db` (`postgresql://` too; `?options=…` is
    /// passed to the server, e.g. a `search_path`).
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let pool = if url.starts_with("sqlite:") {
            Pool::Sqlite(open_sqlite(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pool::Postgres(open_postgres(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let store = Store { pool };
        migrations::run(&store).await?;
        Ok(store)
    }

    /// The SQLite database file, if the store is one (not in memory).
    pub(crate) fn sqlite_file(&self) -> Option<&Path> {
        match &self.pool {
            Pool::Sqlite(sqlite) => sqlite.file.as_deref(),
            Pool::Postgres(_) => None,
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool's connections (after the usage writer is closed); later queries fail.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(sqlite) => {
                sqlite.writes.close().await;
                sqlite.reads.close().await;
            }
            Pool::Postgres(p) => p.close().await,
        }
    }
}

async fn open_sqlite(url: &str) -> Result<Sqlite, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(StoreError::Open)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // With WAL, NORMAL loses at most the last commits on power loss, never consistency.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    // Every connection to `:memory:` would be its own empty database: keep one.
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let pool = |max: u32| sqlite_pool(max, in_memory).connect_with(options.clone());
    if in_memory {
        let pool = pool(1).await.map_err(StoreError::Open)?;
        return Ok(Sqlite {
            writes: pool.clone(),
            reads: pool,
            file: None,
        });
    }
    Ok(Sqlite {
        reads: pool(SQLITE_MAX_CONNECTIONS).await.map_err(StoreError::Open)?,
        writes: sqlite_pool(1, false).connect_lazy_with(options.clone()),
        file: Some(options.get_filename().to_owned()),
    })
}

fn sqlite_pool(max: u32, in_memory: bool) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // An in-memory database lives only as long as its connection.
        .idle_timeout(if in_memory {
            None
        } else {
            Some(Duration::from_secs(600))
        })
        .max_lifetime(if in_memory {
            None
        } else {
            Some(Duration::from_secs(1800))
        })
}

async fn open_postgres(url: &str) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(StoreError::Open)?;
    PgPoolOptions::new()
        .max_connections(POSTGRES_MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(StoreError::Open)
}
