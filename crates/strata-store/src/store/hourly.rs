//! `usage_hourly`: the usage table's sums per hour, tenant, key and model, kept in the same
//! transaction as the rows they sum. Queries that group or filter read these sums, plus the rows
//! of the one partial hour a query may start in, instead of every row: the usage table then
//! needs no index per grouping, and each such index cost every row's insert a B-tree insert
//! (callgrind, 2026-12-02: the four secondary indexes were ~20k of SQLite's ~28k instructions per
//! row; an hour's sums cost one upsert per group per batch).

use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::row::bigint;
use super::usage::{text, UsageRecord, PURPOSE_KEEP_WARM};
use super::value::Value;
use crate::calendar::utc_day;

/// An hour in Unix milliseconds.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The start of the hour `at_ms` falls in (floor, also before 1970).
pub(crate) fn hour_of(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(HOUR_MS)
}

/// The first hour that starts at or after `at_ms`.
pub(crate) fn first_whole_hour(at_ms: i64) -> i64 {
    let start = hour_of(at_ms);
    if start == at_ms {
        start
    } else {
        start.saturating_add(HOUR_MS)
    }
}

/// Which sums a record adds to: (hour, tenant, key, model), '' for none. Ordered, so every
/// writer upserts a batch's groups in the same order and two replicas sharing PostgreSQL never
/// wait on each other's rows in opposite orders (a deadlock).
pub(crate) type Group<'a> = (i64, Cow<'a, str>, Cow<'a, str>, Cow<'a, str>);

/// One group's sums, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub requests: i64,
    pub errors: i64,
    pub rate_limited: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub cost_nanos: i64,
    pub guardrail_interventions: i64,
    pub cold_starts: i64,
    pub keep_warm_calls: i64,
    pub last_at_ms: i64,
}

impl Sums {
    /// Adds one record, counted as the usage table's rows are (see [`ROW_SUMS`]).
    fn add(&mut self, r: &UsageRecord) {
        let count = |yes: bool| i64::from(yes);
        let error_class = r.error_class.as_deref();
        self.requests = self.requests.saturating_add(1);
        self.errors = self.errors.saturating_add(count(error_class.is_some()));
        self.rate_limited = self
            .rate_limited
            .saturating_add(count(matches!(error_class, Some("rate_limited" | "budget_exceeded"))));
        self.input_tokens = self.input_tokens.saturating_add(bigint(r.input_tokens));
        self.output_tokens = self.output_tokens.saturating_add(bigint(r.output_tokens));
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(bigint(r.cache_read_tokens));
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(bigint(r.cache_write_tokens));
        self.cost_nanos = self.cost_nanos.saturating_add(bigint(r.cost_nanos));
        self.guardrail_interventions = self
            .guardrail_interventions
            .saturating_add(count(r.guardrail.is_some()));
        // A non-finite wait is stored as NULL, so it is no cold start in the rows either.
        self.cold_starts = self
            .cold_starts
            .saturating_add(count(r.cold_start_ms.is_some_and(f64::is_finite)));
        self.keep_warm_calls = self
            .keep_warm_calls
            .saturating_add(count(r.purpose.as_deref() == Some(PURPOSE_KEEP_WARM)));
        self.last_at_ms = if self.requests == 1 {
            r.at_ms
        } else {
            self.last_at_ms.max(r.at_ms)
        };
    }
}

/// `records`' sums per group, in the groups' order.
pub(crate) fn sums<R: Borrow<UsageRecord>>(records: &[R]) -> BTreeMap<Group<'_>, Sums> {
    fn key(v: Option<&str>) -> Cow<'_, str> {
        v.map_or(Cow::Borrowed(""), text)
    }
    let mut out: BTreeMap<Group<'_>, Sums> = BTreeMap::new();
    for r in records {
        let r: &UsageRecord = r.borrow();
        let model = r.logical_model.as_deref().or(r.model.as_deref());
        let group = (
            hour_of(r.at_ms),
            key(r.tenant.as_deref()),
            key(r.key_id.as_deref()),
            key(model),
        );
        out.entry(group).or_default().add(r);
    }
    out
}

/// A group's values for [`upsert_text`], in [`COLUMNS`]' order.
pub(crate) fn upsert_values<'a>(group: Group<'a>, s: &Sums) -> impl Iterator<Item = Value<'a>> {
    let (hour, tenant, key_id, model) = group;
    let key = [
        Value::Int(hour),
        Value::Text(Some(Cow::Owned(utc_day(hour)))),
        Value::Text(Some(tenant)),
        Value::Text(Some(key_id)),
        Value::Text(Some(model)),
    ];
    let sums = [
        s.requests,
        s.errors,
        s.rate_limited,
        s.input_tokens,
        s.output_tokens,
        s.cache_read_tokens,
        s.cache_write_tokens,
        s.cost_nanos,
        s.guardrail_interventions,
        s.cold_starts,
        s.keep_warm_calls,
        s.last_at_ms,
    ];
    key.into_iter().chain(sums.map(Value::Int))
}

/// Columns of `usage_hourly`, in the order of [`upsert_text`]'s values.
const COLUMNS: &str = "hour_ms, day, tenant, key_id, model, requests, errors, rate_limited, input_tokens, \
     output_tokens, cache_read_tokens, cache_write_tokens, cost_nanos, guardrail_interventions, cold_starts, \
     keep_warm_calls, last_at_ms";

/// Adds one group's sums (17 values: [`COLUMNS`]) to its row, creating it if need be. The
/// backends differ in the name of the larger-of-two function and in placeholders: `?` for SQLite
/// (sqlx looks a `$n` up by name for every value bound), `$n` for PostgreSQL.
pub(crate) fn upsert_text(postgres: bool) -> &'static str {
    static TEXTS: LazyLock<[String; 2]> =
        LazyLock::new(|| [build_upsert("MAX", false), build_upsert("GREATEST", true)]);
    &TEXTS[usize::from(postgres)]
}

fn build_upsert(greatest: &str, numbered: bool) -> String {
    let values: Vec<String> = (1..=COLUMNS.split(", ").count())
        .map(|n| if numbered { format!("${n}") } else { "?".to_owned() })
        .collect();
    let set: Vec<String> = COLUMNS
        .split(", ")
        .filter(|c| !is_key(c) && *c != "day")
        .map(|c| match c {
            "last_at_ms" => format!("{c} = {greatest}(usage_hourly.{c}, excluded.{c})"),
            _ => format!("{c} = usage_hourly.{c} + excluded.{c}"),
        })
        .collect();
    format!(
        "INSERT INTO usage_hourly ({COLUMNS}) VALUES ({}) ON CONFLICT ({KEY}) DO UPDATE SET {}",
        values.join(", "),
        set.join(", ")
    )
}

/// The primary key of `usage_hourly`.
const KEY: &str = "hour_ms, tenant, key_id, model";

fn is_key(column: &str) -> bool {
    KEY.split(", ").any(|k| k == column)
}

/// The sums of `usage_hourly`, in [`COLUMNS`]' order.
pub(crate) const SUM_COLUMNS: &str = "requests, errors, rate_limited, input_tokens, output_tokens, \
     cache_read_tokens, cache_write_tokens, cost_nanos, guardrail_interventions, cold_starts, keep_warm_calls";

/// Each usage row as the sums it adds to ([`SUM_COLUMNS`], one request each; '' for none in the
/// key columns; its `day` and `at_ms`): the counting rules of [`Sums::add`] in SQL, written once
/// for the partial hour a query reads from rows and for [`recompute_texts`] (migration 4 counts
/// the same way). The caller appends `WHERE` and the time range.
pub(crate) const ROW_SUMS: &str = "SELECT COALESCE(tenant, '') AS tenant, COALESCE(key_id, '') AS key_id, \
     COALESCE(logical_model, model, '') AS model, day, at_ms, 1 AS requests, \
     CASE WHEN error_class IS NOT NULL THEN 1 ELSE 0 END AS errors, \
     CASE WHEN error_class IN ('rate_limited', 'budget_exceeded') THEN 1 ELSE 0 END AS rate_limited, \
     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_nanos, \
     CASE WHEN guardrail IS NOT NULL THEN 1 ELSE 0 END AS guardrail_interventions, \
     CASE WHEN cold_start_ms IS NOT NULL THEN 1 ELSE 0 END AS cold_starts, \
     CASE WHEN purpose = 'keep_warm' THEN 1 ELSE 0 END AS keep_warm_calls \
     FROM usage";

/// Statements that set one hour's sums ($1: its start, $2: the next hour's) from its rows: for a
/// batch some of whose rows were already stored (a retry after a commit whose answer was lost),
/// where adding the batch's sums would count those rows twice. The overwrite on conflict keeps
/// it right when another replica adds to the hour meanwhile (its rows and its sums commit
/// together: either both are seen here, or its upsert waits for this one and adds to it).
pub(crate) fn recompute_texts() -> [String; 2] {
    let set: Vec<String> = COLUMNS
        .split(", ")
        .filter(|c| !is_key(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sums: Vec<String> = SUM_COLUMNS.split(", ").map(|c| format!("SUM({c})")).collect();
    [
        "DELETE FROM usage_hourly WHERE hour_ms = $1".to_owned(),
        format!(
            "INSERT INTO usage_hourly ({COLUMNS}) \
             SELECT $1, MIN(day), tenant, key_id, model, {}, MAX(at_ms) \
             FROM ({ROW_SUMS} WHERE at_ms >= $1 AND at_ms < $2) r GROUP BY tenant, key_id, model \
             ON CONFLICT ({KEY}) DO UPDATE SET {}",
            sums.join(", "),
            set.join(", ")
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at_ms: i64, tenant: Option<&str>, model: Option<&str>, logical: Option<&str>) -> UsageRecord {
        UsageRecord {
            request_id: format!("r{at_ms}"),
            at_ms,
            tenant: tenant.map(str::to_owned),
            key_id: tenant.map(|t| format!("{t}/k")),
            model: model.map(str::to_owned),
            logical_model: logical.map(str::to_owned),
            input_tokens: 3,
            output_tokens: 5,
            cost_nanos: 7,
            ..UsageRecord::default()
        }
    }

    #[test]
    fn hours_floor_and_the_first_whole_hour_rounds_up() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(HOUR_MS - 1), 0);
        assert_eq!(hour_of(HOUR_MS), HOUR_MS);
        assert_eq!(hour_of(-1), -HOUR_MS);
        assert_eq!(first_whole_hour(HOUR_MS), HOUR_MS);
        assert_eq!(first_whole_hour(HOUR_MS + 1), 2 * HOUR_MS);
        assert_eq!(first_whole_hour(i64::MAX), i64::MAX);
    }

    #[test]
    fn records_are_summed_per_hour_tenant_key_and_model() {
        let mut limited = record(HOUR_MS + 9, Some("a"), Some("m"), None);
        limited.error_class = Some("budget_exceeded".into());
        let mut warm = record(10, Some("a"), Some("m"), None);
        warm.purpose = Some(PURPOSE_KEEP_WARM.into());
        warm.cold_start_ms = Some(f64::NAN);
        let records = vec![
            record(5, Some("a"), Some("m"), None),
            warm,
            limited,
            record(7, Some("a"), Some("as-named"), Some("logical")),
            record(8, None, None, None),
        ];
        let s = sums(&records);
        let keys: Vec<(i64, &str, &str, &str)> = s.keys().map(|(h, t, k, m)| (*h, &**t, &**k, &**m)).collect();
        assert_eq!(
            keys,
            [
                (0, "", "", ""),
                (0, "a", "a/k", "logical"),
                (0, "a", "a/k", "m"),
                (HOUR_MS, "a", "a/k", "m"),
            ]
        );
        let first = &s[&(0, "a".into(), "a/k".into(), "m".into())];
        assert_eq!(
            (
                first.requests,
                first.input_tokens,
                first.cost_nanos,
                first.keep_warm_calls,
                first.cold_starts
            ),
            (2, 6, 14, 1, 0)
        );
        assert_eq!(first.last_at_ms, 10);
        let next = &s[&(HOUR_MS, "a".into(), "a/k".into(), "m".into())];
        assert_eq!((next.errors, next.rate_limited, next.last_at_ms), (1, 1, HOUR_MS + 9));
    }

    #[test]
    fn the_recompute_overwrites_every_sum_but_the_key() {
        let [delete, insert] = recompute_texts();
        assert!(delete.starts_with("DELETE FROM usage_hourly"));
        assert!(insert.contains("last_at_ms = excluded.last_at_ms"));
        assert!(!insert.contains("tenant = excluded"));
        assert_eq!(insert.matches(" = excluded.").count(), 13);
    }

    #[test]
    fn the_upsert_adds_every_sum_and_keeps_the_latest_use() {
        for postgres in [false, true] {
            let text = upsert_text(postgres);
            assert_eq!(text.matches(" + excluded.").count(), 11, "{text}");
            let last = if postgres { "$17)" } else { "?)" };
            assert!(text.contains(last), "{text}");
            assert_eq!(text.matches('?').count(), if postgres { 0 } else { 17 }, "{text}");
            let greatest = if postgres { "GREATEST(" } else { "MAX(" };
            assert!(
                text.contains(&format!("last_at_ms = {greatest}usage_hourly.last_at_ms")),
                "{text}"
            );
        }
    }
}
