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
    (
        4,
        "usage hourly",
        include_str!("../../migrations/sqlite/0004_usage_hourly.sql"),
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
    (
        4,
        "usage hourly",
        include_str!("../../migrations/postgres/0004_usage_hourly.sql"),
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
        Pool::Sqlite(sqlite) => Migrator::new(Embedded(SQLITE)).await?.run(&sqlite.reads).await?,
        Pool::Postgres(pool) => Migrator::new(Embedded(POSTGRES)).await?.run(pool).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;
    use crate::{GroupBy, UsageQuery};

    /// 2025-03-11 00:00:00 UTC.
    const DAY: i64 = 1_741_651_200_000;

    #[tokio::test]
    async fn the_hourly_sums_start_from_the_rows_written_before_them() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        Migrator::new(Embedded(&SQLITE[..3]))
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        // Rows as the store wrote them before usage_hourly: two tenants, two hours, a refusal.
        let rows = [
            ("a", DAY + 5, Some("acme"), None, 10),
            ("b", DAY + 3_599_999, Some("acme"), Some("rate_limited"), 20),
            ("c", DAY + 3_600_000, Some("acme"), None, 40),
            ("d", DAY + 7, None, None, 80),
        ];
        for (id, at_ms, tenant, error_class, tokens) in rows {
            sqlx::query(
                "INSERT INTO usage (request_id, at_ms, day, tenant, key_id, dialect, model, targets, status, \
                 outcome, error_class, attempts, input_tokens, output_tokens, cache_read_tokens, \
                 cache_write_tokens, cost_nanos, duration_ms, fallback, baseline, usage_estimated, disconnected) \
                 VALUES ($1, $2, '2025-03-11', $3, $3, 'openai', 'm', '', 200, 'ok', $4, 1, $5, 0, 0, 0, $5, \
                 1.0, 0, 0, 0, 0)",
            )
            .bind(id)
            .bind(at_ms)
            .bind(tenant)
            .bind(error_class)
            .bind(tokens)
            .execute(&pool)
            .await
            .unwrap();
        }
        Migrator::new(Embedded(SQLITE)).await.unwrap().run(&pool).await.unwrap();
        let store = Store {
            pool: Pool::Sqlite(super::super::Sqlite::single(pool)),
        };
        let sums = |since_ms| {
            let store = store.clone();
            async move {
                let q = UsageQuery {
                    since_ms,
                    group_by: GroupBy::Tenant,
                    ..UsageQuery::default()
                };
                let rows = store.usage(&q).await.unwrap();
                rows.iter()
                    .map(|r| (r.tenant.clone(), r.requests, r.rate_limited, r.input_tokens))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            sums(None).await,
            [(Some("acme".to_string()), 3, 1, 70), (None, 1, 0, 80)]
        );
        // From the second hour's start (sums only) and from inside the first (its rows).
        assert_eq!(
            sums(Some(DAY + 3_600_000)).await,
            [(Some("acme".to_string()), 1, 0, 40)]
        );
        assert_eq!(
            sums(Some(DAY + 6)).await,
            [(Some("acme".to_string()), 2, 1, 60), (None, 1, 0, 80)]
        );
        assert_eq!(sums(Some(DAY + 8)).await, [(Some("acme".to_string()), 2, 1, 60)]);
    }
}
