//! One isolated database per test: a SQLite file in its own temp dir, or a PostgreSQL schema of
//! its own (dropped when the test ends, even when it fails), so tests run in parallel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor};
use strata_store::Store;

const PG_BASE: &str = "127.0.0.1:5432/test";
const PG_USERS: [&str; 2] = ["postgres", "root"];

pub struct TestDb {
    pub store: Store,
    pub url: String,
    kind: Kind,
}

enum Kind {
    Sqlite { dir: tempfile::TempDir },
    Postgres { admin_url: String, schema: String },
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        // A path that does not exist yet: open must create it.
        let url = format!("sqlite:{}", dir.path().join("strata.db").display());
        let store = Store::open(&url).await.unwrap();
        TestDb {
            store,
            url,
            kind: Kind::Sqlite { dir },
        }
    }

    pub async fn postgres() -> TestDb {
        let admin_url = pg_admin_url().await;
        let schema = unique_schema();
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        admin.execute(format!("CREATE SCHEMA {schema}").as_str()).await.unwrap();
        admin.close().await.unwrap();
        let url = format!("{admin_url}?options=-csearch_path%3D{schema}");
        let store = Store::open(&url).await.unwrap();
        TestDb {
            store,
            url,
            kind: Kind::Postgres { admin_url, schema },
        }
    }

    /// Runs statements on a connection of the test's own, beside the store's pool.
    pub async fn exec(&self, sql: &str) {
        match &self.kind {
            Kind::Sqlite { .. } => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                c.execute(sql).await.unwrap();
                c.close().await.unwrap();
            }
            Kind::Postgres { .. } => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                c.execute(sql).await.unwrap();
                c.close().await.unwrap();
            }
        }
    }

    /// Makes every insert into `usage` fail, as a database that is down would.
    pub async fn block_usage_inserts(&self) {
        let sql = match self.kind {
            Kind::Sqlite { .. } => {
                "CREATE TRIGGER block_usage BEFORE INSERT ON usage BEGIN SELECT RAISE(ABORT, 'blocked by test'); END"
            }
            Kind::Postgres { .. } => "ALTER TABLE usage ADD CONSTRAINT block_usage CHECK (status < 0) NOT VALID",
        };
        self.exec(sql).await;
    }

    pub async fn unblock_usage_inserts(&self) {
        let sql = match self.kind {
            Kind::Sqlite { .. } => "DROP TRIGGER block_usage",
            Kind::Postgres { .. } => "ALTER TABLE usage DROP CONSTRAINT block_usage",
        };
        self.exec(sql).await;
    }

    /// Everything the database holds, as text: the SQLite files' bytes, or every row of every
    /// table in the test's PostgreSQL schema.
    pub async fn everything(&self) -> String {
        match &self.kind {
            Kind::Sqlite { dir } => {
                let mut all = String::new();
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                    all.push_str(&String::from_utf8_lossy(&bytes));
                }
                all
            }
            Kind::Postgres { .. } => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let mut all = String::new();
                for table in ["usage", "api_keys", "audit", "_sqlx_migrations"] {
                    let sql = format!("SELECT CAST(t AS TEXT) FROM {table} t");
                    for (row,) in sqlx::query_as::<_, (String,)>(&sql).fetch_all(&mut c).await.unwrap() {
                        all.push_str(&row);
                        all.push('\n');
                    }
                }
                c.close().await.unwrap();
                all
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Kind::Postgres { admin_url, schema } = &self.kind {
            // Drop runs inside the test's runtime, which cannot block: use a thread of our own.
            let (admin_url, schema) = (admin_url.clone(), schema.clone());
            let dropped = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
                    admin
                        .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
                        .await
                        .unwrap();
                    admin.close().await.unwrap();
                });
            })
            .join();
            if dropped.is_err() && !std::thread::panicking() {
                panic!("could not drop test schema");
            }
        }
    }
}

/// The first of `postgres` and `root` the server accepts.
async fn pg_admin_url() -> String {
    for user in PG_USERS {
        let url = format!("postgres://{user}@{PG_BASE}");
        if let Ok(c) = sqlx::PgConnection::connect(&url).await {
            c.close().await.unwrap();
            return url;
        }
    }
    panic!("PostgreSQL at {PG_BASE} accepts neither user postgres nor root");
}

fn unique_schema() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!(
        "strata_store_t{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
