//! The `api_keys` table: keys by id and tenant, with the hash of the secret (never the secret).
//! Rotation is a new key plus [`Store::expire_key`] on the old one, so both work during a grace
//! period; revocation ends a key at once.

use serde::{Deserialize, Serialize};

use super::row::StoreRow;
use super::Store;
use crate::error::StoreError;

/// One API key as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    /// Public id (`key_…`), recorded in usage rows.
    pub id: String,
    pub tenant: String,
    pub name: Option<String>,
    /// Lowercase hex SHA-256 of the secret ([`crate::keys::hash`]).
    pub hash: String,
    /// The first characters of the secret, for display ([`crate::keys::display_prefix`]).
    pub prefix: String,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    /// Start of the latest request made with the key, from the usage table (ignored on insert).
    pub last_used_at_ms: Option<i64>,
}

impl KeyRow {
    /// Whether the key may authenticate a request at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|at| now_ms < at)
    }
}

const KEY_COLUMNS: &str =
    "k.id, k.tenant, k.name, k.hash, k.prefix, k.created_at_ms, k.expires_at_ms, k.revoked_at_ms, \
     (SELECT MAX(h.last_at_ms) FROM usage_hourly h WHERE h.key_id = k.id) AS last_used_at_ms";

impl Store {
    /// Stores a new key. Fails with [`StoreError::Duplicate`] if its id or hash is taken.
    pub async fn insert_key(&self, k: &KeyRow) -> Result<(), StoreError> {
        let result = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_keys (id, tenant, name, hash, prefix, created_at_ms, expires_at_ms, revoked_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(k.id.as_str())
            .bind(k.tenant.as_str())
            .bind(k.name.as_deref())
            .bind(k.hash.as_str())
            .bind(k.prefix.as_str())
            .bind(k.created_at_ms)
            .bind(k.expires_at_ms)
            .bind(k.revoked_at_ms)
            .execute(pool)
            .await
            .map(|_| ())
        });
        match result {
            Ok(()) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Duplicate("API key")),
            Err(e) => Err(e.into()),
        }
    }

    /// All keys, or one tenant's, oldest first, with when each was last used.
    pub async fn keys(&self, tenant: Option<&str>) -> Result<Vec<KeyRow>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k WHERE ($1 IS NULL OR k.tenant = $1) ORDER BY k.created_at_ms, k.id"
        );
        let keys = on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(tenant).fetch_all(pool).await?;
            rows.iter().map(decode_key).collect::<Result<Vec<_>, _>>()?
        });
        Ok(keys)
    }

    /// Revokes a key as of `at_ms`. False if there is no such key or it was already revoked (the
    /// first revocation's time stands).
    pub async fn revoke_key(&self, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        self.update_key(
            "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
            id,
            at_ms,
        )
        .await
    }

    /// Makes a key stop working at `at_ms` (the end of a rotation's grace period). Only ever
    /// brings an expiry forward: false if there is no such key, it is revoked, or it already
    /// expires by then.
    pub async fn expire_key(&self, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        self.update_key(
            "UPDATE api_keys SET expires_at_ms = $1 \
             WHERE id = $2 AND revoked_at_ms IS NULL AND (expires_at_ms IS NULL OR expires_at_ms > $1)",
            id,
            at_ms,
        )
        .await
    }

    /// Runs an `UPDATE` of one key that binds `$1` = `at_ms` and `$2` = `id`; whether it
    /// changed a row.
    async fn update_key(&self, sql: &'static str, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query(sql).bind(at_ms).bind(id).execute(pool).await?.rows_affected()
        });
        Ok(done > 0)
    }
}

fn decode_key(row: &impl StoreRow) -> Result<KeyRow, sqlx::Error> {
    Ok(KeyRow {
        id: row.text("id")?,
        tenant: row.text("tenant")?,
        name: row.opt_text("name")?,
        hash: row.text("hash")?,
        prefix: row.text("prefix")?,
        created_at_ms: row.int("created_at_ms")?,
        expires_at_ms: row.opt_int("expires_at_ms")?,
        revoked_at_ms: row.opt_int("revoked_at_ms")?,
        last_used_at_ms: row.opt_int("last_used_at_ms")?,
    })
}
