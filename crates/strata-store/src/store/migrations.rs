//! The schema, embedded in the binary (no migration files to ship) and applied at open with
//! sqlx's migrator, which records applied versions in `_sqlx_migrations` and refuses a database
//! whose applied migrations it does not know. Each backend has its own SQL (identity columns and
//! float types differ); both describe the same tables.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use super::{Pool, Store};
use crate::error::StoreError;

/// (version, description, SQL) per backend, in order. Never edit an applied migration: add one.
const SQLITE: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        "guardrail",
        include_str!("../../migrations/sqlite/0002_guardrail.sql"),
    ),
    (
        3,
        "custom models",
        include_str!("../../migrations/sqlite/0003_custom_models.sql"),
    ),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        "guardrail",
        include_str!("../../migrations/postgres/0002_guardrail.sql"),
    ),
    (
        3,
        "custom models",
        include_str!("../../migrations/postgres/0003_custom_models.sql"),
    ),
];

/// Migrations compiled into the binary.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

pub(super) async fn run(store: &Store) -> Result<(), StoreError> {
    match &store.pool {
        Pool::Sqlite(pool) => Migrator::new(Embedded(SQLITE)).await?.run(pool).await?,
        Pool::Postgres(pool) => Migrator::new(Embedded(POSTGRES)).await?.run(pool).await?,
    }
    Ok(())
}
