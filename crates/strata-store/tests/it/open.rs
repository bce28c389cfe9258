//! Opening a store: URLs, the SQLite file and its settings, idempotent migrations.

use sqlx::Connection;
use strata_store::{GroupBy, Store, StoreError, UsageQuery};

use crate::fixture::TestDb;
use crate::records::bare;

pub async fn reopening_keeps_data_and_migrations(db: &TestDb) {
    db.store.insert_usage(&[bare("r1", 1)]).await.unwrap();
    // A second open (another replica, or a restart) finds the schema migrated and the data.
    let again = Store::open(&db.url).await.unwrap();
    assert_eq!(again.backend(), db.store.backend());
    assert_eq!(again.usage_record("r1").await.unwrap(), Some(bare("r1", 1)));
    again.close().await;
}

#[tokio::test]
async fn a_sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    assert!(path.exists());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(&mut c).await.unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn an_in_memory_sqlite_store_works() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    store.insert_usage(&[bare("r1", 1), bare("r2", 2)]).await.unwrap();
    let rows = store
        .usage(&UsageQuery {
            group_by: GroupBy::Tenant,
            ..UsageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rows[0].requests, 2);
}

#[tokio::test]
async fn other_urls_are_refused() {
    for url in ["mysql://root@localhost/db", "strata.db", ""] {
        assert!(
            matches!(Store::open(url).await, Err(StoreError::UnsupportedUrl)),
            "{url}"
        );
    }
    // A reachable scheme with nothing behind it fails to open, without hanging.
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = format!("sqlite:{}", dir.path().join("no/such/dir/x.db").display());
    assert!(matches!(Store::open(&missing_dir).await, Err(StoreError::Open(_))));
}
