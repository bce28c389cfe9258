//! The `audit` table: administrative actions (key created, rotated, revoked, …), append-only.

use serde::{Deserialize, Serialize};

use super::row::StoreRow;
use super::Store;
use crate::error::StoreError;

/// One administrative action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at_ms: i64,
    /// Who did it (an admin key id, `config`, `cli`, …).
    pub actor: String,
    /// What was done: `key.create`, `key.rotate`, `key.revoke`, …
    pub action: String,
    pub tenant: Option<String>,
    /// What it was done to (a key id, a route, …).
    pub subject: Option<String>,
    /// Further detail as JSON text; never a secret.
    pub detail: Option<String>,
}

impl Store {
    /// Appends an event.
    pub async fn audit(&self, e: &AuditEvent) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO audit (at_ms, actor, action, tenant, subject, detail) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(e.at_ms)
                .bind(e.actor.as_str())
                .bind(e.action.as_str())
                .bind(e.tenant.as_deref())
                .bind(e.subject.as_deref())
                .bind(e.detail.as_deref())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The latest `limit` events at or after `since_ms`, newest first (events with the same
    /// time in reverse order of writing).
    pub async fn audit_events(&self, since_ms: Option<i64>, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let events = on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT at_ms, actor, action, tenant, subject, detail FROM audit \
                 WHERE at_ms >= $1 ORDER BY at_ms DESC, id DESC LIMIT $2",
            )
            .bind(since_ms.unwrap_or(i64::MIN))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter().map(decode_event).collect::<Result<Vec<_>, _>>()?
        });
        Ok(events)
    }
}

fn decode_event(row: &impl StoreRow) -> Result<AuditEvent, sqlx::Error> {
    Ok(AuditEvent {
        at_ms: row.int("at_ms")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        tenant: row.opt_text("tenant")?,
        subject: row.opt_text("subject")?,
        detail: row.opt_text("detail")?,
    })
}
