//! The `usage` table: one row per request, written in batches by the usage writer and read back
//! as sums for dashboards and billing.

use std::borrow::{Borrow, Cow};
use std::collections::BTreeSet;
use std::sync::LazyLock;

use sqlx::QueryBuilder;

use serde::{Deserialize, Serialize};

use super::hourly;
use super::row::{bigint, StoreRow};
use super::value::Value;
use super::Store;
use crate::calendar::utc_day;
use crate::error::StoreError;

/// Rows per INSERT statement, largest first: a batch is cut into statements of these sizes only,
/// so the few statement texts there are get prepared once per connection and then come from the
/// statement cache. (Cutting at whatever size a batch had made nearly every batch a new text:
/// SQLite parsed a statement of hundreds of placeholders per batch, ~20k instructions per row —
/// more than the rest of a relayed Converse call's accounting.) 64 rows × 32 parameters stays
/// far under SQLite's 32 766 and PostgreSQL's 65 535 bound parameters per statement.
const STATEMENT_ROWS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

const COLUMNS: &str = "request_id, at_ms, day, tenant, key_id, dialect, model, logical_model, served_model, \
     targets, status, outcome, error_class, error_source, attempts, input_tokens, output_tokens, \
     cache_read_tokens, cache_write_tokens, cost_nanos, pricing_layer, ttft_ms, ttlt_ms, duration_ms, \
     fallback, baseline, usage_estimated, disconnected, audit_body, guardrail, cold_start_ms, purpose";

/// What one request was and how it ended, as persisted (the gateway's accounting record).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub request_id: String,
    /// Request start, Unix milliseconds.
    pub at_ms: i64,
    pub tenant: Option<String>,
    pub key_id: Option<String>,
    pub dialect: String,
    /// The model as the client named it.
    pub model: Option<String>,
    pub logical_model: Option<String>,
    pub served_model: Option<String>,
    /// Targets tried, `label=outcome,label=outcome`.
    pub targets: String,
    pub status: u16,
    pub outcome: String,
    pub error_class: Option<String>,
    pub error_source: Option<String>,
    pub attempts: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Cost in nano-USD.
    pub cost_nanos: u64,
    pub pricing_layer: Option<String>,
    pub ttft_ms: Option<f64>,
    pub ttlt_ms: Option<f64>,
    pub duration_ms: f64,
    pub fallback: bool,
    pub baseline: bool,
    pub usage_estimated: bool,
    pub disconnected: bool,
    /// Request/response text, only for tenants that opted in to audit logging.
    pub audit_body: Option<String>,
    /// The side a guardrail intervened on (`input`, `output`), if one did.
    #[serde(default)]
    pub guardrail: Option<String>,
    /// Time the request waited for a model Bedrock was loading (a cold start), if it met one.
    #[serde(default)]
    pub cold_start_ms: Option<f64>,
    /// Why the gateway itself made the call (`keep_warm`); `None` for a client's request.
    #[serde(default)]
    pub purpose: Option<String>,
}

/// [`UsageRecord::purpose`] of a keep-warm call.
pub const PURPOSE_KEEP_WARM: &str = "keep_warm";

/// How [`Store::usage`] sums rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Tenant,
    Model,
    /// UTC day of the request's start.
    Day,
    #[default]
    TenantModel,
}

/// Which rows to sum, and how. The model filter and grouping use the logical model, else the
/// model as the client named it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsageQuery {
    pub tenant: Option<String>,
    pub model: Option<String>,
    /// Requests started at or after this (Unix ms).
    pub since_ms: Option<i64>,
    pub group_by: GroupBy,
}

/// One group's sums. Only the grouped fields are set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub tenant: Option<String>,
    pub model: Option<String>,
    /// `YYYY-MM-DD`, UTC.
    pub day: Option<String>,
    pub requests: u64,
    /// Requests that ended with an error class.
    pub errors: u64,
    /// Requests refused by a rate limit or budget (`rate_limited`, `budget_exceeded`).
    pub rate_limited: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens read from and written to the prompt cache (apart from `input_tokens`).
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: f64,
    /// Requests a guardrail intervened in.
    #[serde(default)]
    pub guardrail_interventions: u64,
    /// Requests that waited for a loading model (a cold start).
    #[serde(default)]
    pub cold_starts: u64,
    /// The gateway's keep-warm calls among `requests`.
    #[serde(default)]
    pub keep_warm_calls: u64,
}

/// Values per row: one per column of [`COLUMNS`].
const ROW_VALUES: usize = 32;

/// The INSERT of `rows` rows (a size of [`STATEMENT_ROWS`]), with `?` placeholders (SQLite) or
/// `$n` (PostgreSQL): written once per size and backend, not per batch (building the text with
/// `QueryBuilder` for every batch cost ~4k instructions per row, most of it formatting).
fn insert_text(rows: usize, numbered: bool) -> &'static str {
    static TEXTS: LazyLock<[Vec<String>; 2]> = LazyLock::new(|| {
        [false, true].map(|numbered| {
            STATEMENT_ROWS
                .iter()
                .map(|&rows| build_insert(rows, numbered))
                .collect()
        })
    });
    let texts = &TEXTS[usize::from(numbered)];
    STATEMENT_ROWS
        .iter()
        .position(|&n| n == rows)
        .and_then(|i| texts.get(i))
        .map_or("", String::as_str)
}

fn build_insert(rows: usize, numbered: bool) -> String {
    let mut sql = format!("INSERT INTO usage ({COLUMNS}) VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for value in 0..ROW_VALUES {
            if value > 0 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push('$');
                sql.push_str(&(row * ROW_VALUES + value + 1).to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (request_id) DO NOTHING");
    sql
}

/// `records` cut into runs of [`STATEMENT_ROWS`] sizes, largest first.
fn statement_chunks<T>(records: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = records;
    std::iter::from_fn(move || {
        let size = STATEMENT_ROWS.into_iter().find(|&n| n <= rest.len())?;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

static RECOMPUTE: LazyLock<[String; 2]> = LazyLock::new(hourly::recompute_texts);

/// The grouped fields, from the union of hourly sums and rows ('' stands for none in both).
const TENANT_KEY: &str = "NULLIF(s.tenant, '')";
const MODEL_KEY: &str = "NULLIF(s.model, '')";
const DAY_KEY: &str = "s.day";

impl Store {
    /// Writes records in one transaction. A record whose `request_id` is already stored is
    /// skipped, so a batch retried after an unreported commit is never doubled; the records'
    /// sums go into `usage_hourly` in the same transaction. Values no backend
    /// can hold are stored as the nearest that all can: NUL characters as U+FFFD, non-finite
    /// times as NULL (or 0 for the duration; SQLite would store NaN as NULL).
    pub async fn insert_usage<R: Borrow<UsageRecord> + Sync>(&self, records: &[R]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let numbered = matches!(self.pool, super::Pool::Postgres(_));
        on_write_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut inserted = 0u64;
            for chunk in statement_chunks(records) {
                let mut q = sqlx::query(insert_text(chunk.len(), numbered));
                for r in chunk {
                    for v in row_values(r.borrow()) {
                        q = v.bind(q);
                    }
                }
                inserted += q.execute(&mut *tx).await?.rows_affected();
            }
            if inserted == records.len() as u64 {
                for (group, sums) in hourly::sums(records) {
                    let mut q = sqlx::query(hourly::upsert_text(numbered));
                    for v in hourly::upsert_values(group, &sums) {
                        q = v.bind(q);
                    }
                    q.execute(&mut *tx).await?;
                }
            } else {
                // Some rows were stored already (a retry after a commit whose answer was lost):
                // their hours are summed again from the rows rather than counted twice.
                let [delete, insert] = &*RECOMPUTE;
                for hour in hours_of(records) {
                    sqlx::query(delete).bind(hour).execute(&mut *tx).await?;
                    sqlx::query(insert)
                        .bind(hour)
                        .bind(hour.saturating_add(hourly::HOUR_MS))
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// One request's record, for looking a request up by its id.
    pub async fn usage_record(&self, request_id: &str) -> Result<Option<UsageRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM usage WHERE request_id = $1");
        let record = on_pool!(self, pool => {
            match sqlx::query(&sql).bind(request_id).fetch_optional(pool).await? {
                Some(row) => Some(decode_record(&row)?),
                None => None,
            }
        });
        Ok(record)
    }

    /// Sums of the rows `q` selects, one row per group, ordered by the grouped fields.
    pub async fn usage(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, StoreError> {
        let (tenant, model, day) = match q.group_by {
            GroupBy::Tenant => (true, false, false),
            GroupBy::Model => (false, true, false),
            GroupBy::Day => (false, false, true),
            GroupBy::TenantModel => (true, true, false),
        };
        let mut keys = Vec::new();
        if tenant {
            keys.push((TENANT_KEY, "g_tenant"));
        }
        if model {
            keys.push((MODEL_KEY, "g_model"));
        }
        if day {
            keys.push((DAY_KEY, "g_day"));
        }
        // Sums of whole hours from usage_hourly, and of the rows of the partial hour the query
        // starts in, if it starts inside one: key columns hold '' for none there.
        let mut select = String::from("SELECT ");
        for (expr, alias) in &keys {
            select.push_str(&format!("{expr} AS {alias}, "));
        }
        select.push_str(
            "CAST(SUM(requests) AS BIGINT) AS requests, \
             CAST(SUM(errors) AS BIGINT) AS errors, \
             CAST(SUM(rate_limited) AS BIGINT) AS rate_limited, \
             CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
             CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
             CAST(SUM(cache_read_tokens) AS BIGINT) AS cache_read_tokens, \
             CAST(SUM(cache_write_tokens) AS BIGINT) AS cache_write_tokens, \
             CAST(SUM(cost_nanos) AS BIGINT) AS cost_nanos, \
             CAST(SUM(guardrail_interventions) AS BIGINT) AS guardrail_interventions, \
             CAST(SUM(cold_starts) AS BIGINT) AS cold_starts, \
             CAST(SUM(keep_warm_calls) AS BIGINT) AS keep_warm_calls ",
        );
        let part = format!("SELECT tenant, model, day, {} FROM", hourly::SUM_COLUMNS);
        select.push_str(&format!("FROM ({part} usage_hourly WHERE 1 = 1"));
        // Expressions, not aliases: PostgreSQL resolves a GROUP BY name to an input column first.
        let exprs: Vec<&str> = keys.iter().map(|(expr, _)| *expr).collect();
        let group = exprs.join(", ");
        // NULLS LAST spelled out: the backends' defaults differ.
        let order = exprs
            .iter()
            .map(|e| format!("{e} NULLS LAST"))
            .collect::<Vec<_>>()
            .join(", ");
        let whole_hours_from = q.since_ms.map(hourly::first_whole_hour);
        let partial = q.since_ms.zip(whole_hours_from).filter(|(since, whole)| since < whole);

        let rows = on_pool!(self, pool => {
            let mut b = QueryBuilder::new(select.as_str());
            if let Some(from) = whole_hours_from {
                b.push(" AND hour_ms >= ").push_bind(from);
            }
            if let Some(t) = &q.tenant {
                b.push(" AND tenant = ").push_bind(t.as_str());
            }
            if let Some(m) = &q.model {
                b.push(" AND model = ").push_bind(m.as_str());
            }
            if let Some((since, until)) = partial {
                // The partial hour's rows, shaped as sums (the filters compare the same
                // '' for none as above).
                b.push(format!(" UNION ALL {part} ({} WHERE at_ms >= ", hourly::ROW_SUMS))
                    .push_bind(since)
                    .push(" AND at_ms < ")
                    .push_bind(until)
                    .push(") r WHERE 1 = 1");
                if let Some(t) = &q.tenant {
                    b.push(" AND tenant = ").push_bind(t.as_str());
                }
                if let Some(m) = &q.model {
                    b.push(" AND model = ").push_bind(m.as_str());
                }
            }
            b.push(") s");
            b.push(" GROUP BY ").push(&group).push(" ORDER BY ").push(&order);
            let mut out = Vec::new();
            for row in b.build().fetch_all(pool).await? {
                out.push(UsageRow {
                    tenant: if tenant { row.opt_text("g_tenant")? } else { None },
                    model: if model { row.opt_text("g_model")? } else { None },
                    day: if day { row.opt_text("g_day")? } else { None },
                    requests: row.count("requests")?,
                    errors: row.count("errors")?,
                    rate_limited: row.count("rate_limited")?,
                    input_tokens: row.count("input_tokens")?,
                    output_tokens: row.count("output_tokens")?,
                    cache_read_tokens: row.count("cache_read_tokens")?,
                    cache_write_tokens: row.count("cache_write_tokens")?,
                    cost_usd: row.count("cost_nanos")? as f64 / 1e9,
                    guardrail_interventions: row.count("guardrail_interventions")?,
                    cold_starts: row.count("cold_starts")?,
                    keep_warm_calls: row.count("keep_warm_calls")?,
                });
            }
            out
        });
        Ok(rows)
    }
}

/// Rows per INSERT statement on the writer's own SQLite connection (one of [`STATEMENT_ROWS`]).
const SQLITE_ROWS: usize = 8;

/// [`Store::insert_usage`] on a rusqlite connection to the same SQLite file: the usage writer's
/// own, on its own thread. The same rows and sums, in statements of eight rows and one: every
/// value goes to SQLite directly, where through sqlx each was boxed, copied again to sqlx's worker
/// thread and cleared after the statement (callgrind, 1,000 relayed Converse calls: ~15k
/// instructions per record, of the writer's ~36k).
pub(crate) fn insert_usage_sqlite<R: Borrow<UsageRecord>>(
    conn: &mut rusqlite::Connection,
    records: &[R],
) -> Result<(), rusqlite::Error> {
    if records.is_empty() {
        return Ok(());
    }
    // IMMEDIATE: take the write lock (waiting up to the busy timeout) before reading anything;
    // a deferred transaction that must upgrade fails at once when another connection writes.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut inserted = 0;
    // Eight rows a statement, then the rest one by one: each statement prepared once per batch
    // and bound again for each run, so its bindings are cleared once per batch (when it goes
    // back to rusqlite's cache), and opening and closing its cursors is paid once per eight rows.
    let (eights, rest) = records.split_at(records.len() - records.len() % SQLITE_ROWS);
    for (rows, chunks) in [(SQLITE_ROWS, eights), (1, rest)] {
        if chunks.is_empty() {
            continue;
        }
        let mut insert = tx.prepare_cached(insert_text(rows, false))?;
        for chunk in chunks.chunks(rows) {
            for (i, v) in chunk.iter().flat_map(|r| row_values(r.borrow())).enumerate() {
                insert.raw_bind_parameter(i + 1, v)?;
            }
            inserted += insert.raw_execute()?;
        }
    }
    if inserted == records.len() {
        let mut upsert = tx.prepare_cached(hourly::upsert_text(false))?;
        for (group, sums) in hourly::sums(records) {
            for (i, v) in hourly::upsert_values(group, &sums).enumerate() {
                upsert.raw_bind_parameter(i + 1, v)?;
            }
            upsert.raw_execute()?;
        }
    } else {
        // As in `Store::insert_usage`: the hours of rows stored before are summed again.
        let [delete, insert] = &*RECOMPUTE;
        for hour in hours_of(records) {
            tx.execute(delete, [hour])?;
            tx.execute(insert, [hour, hour.saturating_add(hourly::HOUR_MS)])?;
        }
    }
    tx.commit()
}

/// The hours `records` fall in.
fn hours_of<R: Borrow<UsageRecord>>(records: &[R]) -> BTreeSet<i64> {
    records.iter().map(|r| hourly::hour_of(r.borrow().at_ms)).collect()
}

/// A record's values in [`COLUMNS`]' order, as every backend stores them (see
/// [`Store::insert_usage`]).
fn row_values(r: &UsageRecord) -> [Value<'_>; ROW_VALUES] {
    fn some(s: &str) -> Value<'_> {
        Value::Text(Some(text(s)))
    }
    fn opt(s: &Option<String>) -> Value<'_> {
        Value::Text(s.as_deref().map(text))
    }
    fn time(ms: Option<f64>) -> Value<'static> {
        Value::Real(ms.filter(|v| v.is_finite()))
    }
    [
        some(&r.request_id),
        Value::Int(r.at_ms),
        Value::Text(Some(Cow::Owned(utc_day(r.at_ms)))),
        opt(&r.tenant),
        opt(&r.key_id),
        some(&r.dialect),
        opt(&r.model),
        opt(&r.logical_model),
        opt(&r.served_model),
        some(&r.targets),
        Value::Int(i64::from(r.status)),
        some(&r.outcome),
        opt(&r.error_class),
        opt(&r.error_source),
        Value::Int(i64::from(r.attempts)),
        Value::Int(bigint(r.input_tokens)),
        Value::Int(bigint(r.output_tokens)),
        Value::Int(bigint(r.cache_read_tokens)),
        Value::Int(bigint(r.cache_write_tokens)),
        Value::Int(bigint(r.cost_nanos)),
        opt(&r.pricing_layer),
        time(r.ttft_ms),
        time(r.ttlt_ms),
        Value::Real(Some(if r.duration_ms.is_finite() { r.duration_ms } else { 0.0 })),
        Value::Flag(r.fallback),
        Value::Flag(r.baseline),
        Value::Flag(r.usage_estimated),
        Value::Flag(r.disconnected),
        opt(&r.audit_body),
        opt(&r.guardrail),
        time(r.cold_start_ms),
        opt(&r.purpose),
    ]
}

/// Text as every backend can store it: PostgreSQL refuses NUL characters, and a record it
/// refuses would be retried forever, stalling the writer (and, through backpressure, every
/// request). Client-chosen text such as the model name can hold anything.
pub(super) fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn decode_record(row: &impl StoreRow) -> Result<UsageRecord, sqlx::Error> {
    Ok(UsageRecord {
        request_id: row.text("request_id")?,
        at_ms: row.int("at_ms")?,
        tenant: row.opt_text("tenant")?,
        key_id: row.opt_text("key_id")?,
        dialect: row.text("dialect")?,
        model: row.opt_text("model")?,
        logical_model: row.opt_text("logical_model")?,
        served_model: row.opt_text("served_model")?,
        targets: row.text("targets")?,
        status: u16::try_from(row.int("status")?).unwrap_or(0),
        outcome: row.text("outcome")?,
        error_class: row.opt_text("error_class")?,
        error_source: row.opt_text("error_source")?,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(0),
        input_tokens: row.count("input_tokens")?,
        output_tokens: row.count("output_tokens")?,
        cache_read_tokens: row.count("cache_read_tokens")?,
        cache_write_tokens: row.count("cache_write_tokens")?,
        cost_nanos: row.count("cost_nanos")?,
        pricing_layer: row.opt_text("pricing_layer")?,
        ttft_ms: row.opt_real("ttft_ms")?,
        ttlt_ms: row.opt_real("ttlt_ms")?,
        duration_ms: row.real("duration_ms")?,
        fallback: row.flag("fallback")?,
        baseline: row.flag("baseline")?,
        usage_estimated: row.flag("usage_estimated")?,
        disconnected: row.flag("disconnected")?,
        audit_body: row.opt_text("audit_body")?,
        guardrail: row.opt_text("guardrail")?,
        cold_start_ms: row.opt_real("cold_start_ms")?,
        purpose: row.opt_text("purpose")?,
    })
}

#[cfg(test)]
mod tests {
    use super::statement_chunks;

    #[test]
    fn batches_are_cut_into_the_few_statement_sizes_only() {
        for n in 0..300 {
            let records: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&records).collect();
            let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert!(
                sizes.iter().all(|s| super::STATEMENT_ROWS.contains(s)),
                "{n}: {sizes:?}"
            );
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{n}: largest first");
            assert_eq!(chunks.concat(), records, "{n}: every record once, in order");
        }
        let sizes = |n: usize| statement_chunks(&vec![0; n]).map(<[i32]>::len).collect::<Vec<_>>();
        assert_eq!(sizes(203), [64, 64, 64, 8, 2, 1]);
    }

    #[test]
    fn each_statement_text_has_one_placeholder_per_value() {
        let columns = super::COLUMNS.split(',').count();
        assert_eq!(columns, super::ROW_VALUES);
        for rows in super::STATEMENT_ROWS {
            assert_eq!(super::insert_text(rows, false).matches('?').count(), rows * columns);
            let numbered = super::insert_text(rows, true);
            assert_eq!(numbered.matches('$').count(), rows * columns);
            assert!(
                numbered.contains(&format!("${})", rows * columns)),
                "numbered to the last value"
            );
        }
        assert_eq!(super::insert_text(3, false), "", "not a statement size");
    }
}
