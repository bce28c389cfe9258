//! Usage rows: written and read back field for field, and summed per group with filters.

use strata_store::{GroupBy, UsageQuery, UsageRecord, UsageRow};

use crate::fixture::TestDb;
use crate::records::{bare, billed, full, DAY1_NOON, DAY2_START};

pub async fn records_round_trip(db: &TestDb) {
    let records = [full("r-full"), bare("r-bare", DAY2_START)];
    db.store.insert_usage(&records).await.unwrap();
    for r in &records {
        assert_eq!(db.store.usage_record(&r.request_id).await.unwrap().as_ref(), Some(r));
    }
    assert_eq!(db.store.usage_record("r-missing").await.unwrap(), None);
}

pub async fn a_repeated_request_id_keeps_the_first_row(db: &TestDb) {
    let first = full("dup");
    db.store.insert_usage(std::slice::from_ref(&first)).await.unwrap();
    let mut again = bare("dup", DAY2_START);
    again.tenant = Some("other".into());
    // Alone, and twice within one batch: both skipped without failing the batch.
    db.store
        .insert_usage(&[again.clone(), bare("new", 1), again])
        .await
        .unwrap();
    assert_eq!(db.store.usage_record("dup").await.unwrap(), Some(first));
    assert_eq!(db.store.usage_record("new").await.unwrap(), Some(bare("new", 1)));
}

pub async fn an_empty_store_sums_to_nothing(db: &TestDb) {
    db.store.insert_usage::<UsageRecord>(&[]).await.unwrap();
    for group_by in [GroupBy::Tenant, GroupBy::Model, GroupBy::Day, GroupBy::TenantModel] {
        let q = UsageQuery {
            group_by,
            ..UsageQuery::default()
        };
        assert_eq!(db.store.usage(&q).await.unwrap(), vec![]);
    }
}

/// An expected group: (requests, errors, rate limited), (input, output, nano-USD as stored).
fn row(
    tenant: Option<&str>,
    model: Option<&str>,
    day: Option<&str>,
    (requests, errors, rate_limited): (u64, u64, u64),
    (input_tokens, output_tokens, cost_nanos): (u64, u64, u64),
) -> UsageRow {
    UsageRow {
        tenant: tenant.map(str::to_string),
        model: model.map(str::to_string),
        day: day.map(str::to_string),
        requests,
        errors,
        rate_limited,
        input_tokens,
        output_tokens,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_usd: cost_nanos as f64 / 1e9,
        guardrail_interventions: 0,
        cold_starts: 0,
        keep_warm_calls: 0,
    }
}

pub async fn sums_per_group_with_filters(db: &TestDb) {
    let (acme, beta) = (Some("acme"), Some("beta"));
    let (smart, haiku) = (Some("smart"), Some("haiku"));
    db.store
        .insert_usage(&[
            billed(
                "r1",
                DAY1_NOON,
                acme,
                (Some("gpt-x"), smart),
                None,
                (100, 10, 1_000_000_000),
            ),
            // Named haiku by the client, but routed as `smart`: counts as smart.
            billed("r2", DAY1_NOON + 1, acme, (haiku, smart), Some("throttled"), (0, 0, 0)),
            billed("r3", DAY1_NOON + 2, acme, (haiku, None), None, (50, 5, 250_000_000)),
            billed(
                "r4",
                DAY2_START,
                acme,
                (Some("claude"), smart),
                Some("rate_limited"),
                (0, 0, 0),
            ),
            billed(
                "r5",
                DAY2_START + 1,
                beta,
                (Some("gpt-x"), smart),
                None,
                (200, 20, 2_000_000_000),
            ),
            billed(
                "r6",
                DAY2_START + 2,
                beta,
                (haiku, None),
                Some("budget_exceeded"),
                (0, 0, 0),
            ),
            billed("r7", DAY1_NOON + 3, None, (None, None), Some("unauthorized"), (0, 0, 0)),
            // A logical model called like another's client-side name: grouped with it.
            billed("r8", DAY2_START + 3, beta, (Some("other"), haiku), None, (30, 3, 123)),
        ])
        .await
        .unwrap();
    let usage = |q: UsageQuery| {
        let store = db.store.clone();
        async move { store.usage(&q).await.unwrap() }
    };
    let by = |group_by| UsageQuery {
        group_by,
        ..UsageQuery::default()
    };

    assert_eq!(
        usage(by(GroupBy::Tenant)).await,
        vec![
            row(acme, None, None, (4, 2, 1), (150, 15, 1_250_000_000)),
            row(beta, None, None, (3, 1, 1), (230, 23, 2_000_000_123)),
            row(None, None, None, (1, 1, 0), (0, 0, 0)),
        ]
    );
    assert_eq!(
        usage(by(GroupBy::Model)).await,
        vec![
            row(None, haiku, None, (3, 1, 1), (80, 8, 250_000_123)),
            row(None, smart, None, (4, 2, 1), (300, 30, 3_000_000_000)),
            row(None, None, None, (1, 1, 0), (0, 0, 0)),
        ]
    );
    assert_eq!(
        usage(by(GroupBy::Day)).await,
        vec![
            row(None, None, Some("2025-03-10"), (4, 2, 0), (150, 15, 1_250_000_000)),
            row(None, None, Some("2025-03-11"), (4, 2, 2), (230, 23, 2_000_000_123)),
        ]
    );
    let tenant_model = vec![
        row(acme, haiku, None, (1, 0, 0), (50, 5, 250_000_000)),
        row(acme, smart, None, (3, 2, 1), (100, 10, 1_000_000_000)),
        row(beta, haiku, None, (2, 1, 1), (30, 3, 123)),
        row(beta, smart, None, (1, 0, 0), (200, 20, 2_000_000_000)),
        row(None, None, None, (1, 1, 0), (0, 0, 0)),
    ];
    assert_eq!(usage(UsageQuery::default()).await, tenant_model);
    assert_eq!(usage(by(GroupBy::TenantModel)).await, tenant_model);

    // Filters: tenant; model (logical, else as named); since; all three at once.
    let acme_only = UsageQuery {
        tenant: Some("acme".into()),
        ..UsageQuery::default()
    };
    assert_eq!(usage(acme_only).await, tenant_model[..2].to_vec());
    let haiku_by_tenant = UsageQuery {
        model: Some("haiku".into()),
        group_by: GroupBy::Tenant,
        ..UsageQuery::default()
    };
    assert_eq!(
        usage(haiku_by_tenant).await,
        vec![
            row(acme, None, None, (1, 0, 0), (50, 5, 250_000_000)),
            row(beta, None, None, (2, 1, 1), (30, 3, 123))
        ]
    );
    let since_day2 = UsageQuery {
        since_ms: Some(DAY2_START),
        group_by: GroupBy::Day,
        ..UsageQuery::default()
    };
    assert_eq!(
        usage(since_day2).await,
        vec![row(None, None, Some("2025-03-11"), (4, 2, 2), (230, 23, 2_000_000_123))]
    );
    let narrow = UsageQuery {
        tenant: Some("beta".into()),
        model: Some("smart".into()),
        since_ms: Some(DAY2_START + 1),
        group_by: GroupBy::Model,
    };
    assert_eq!(
        usage(narrow).await,
        vec![row(None, smart, None, (1, 0, 0), (200, 20, 2_000_000_000))]
    );
    let after_everything = UsageQuery {
        since_ms: Some(DAY2_START + 4),
        ..UsageQuery::default()
    };
    assert_eq!(usage(after_everything).await, vec![]);
}

pub async fn values_no_backend_holds_are_stored_as_near_as_possible(db: &TestDb) {
    let mut odd = full("nul\0id");
    odd.model = Some("evil\0model".into());
    odd.audit_body = Some("a\0b".into());
    odd.ttft_ms = Some(f64::NAN);
    odd.ttlt_ms = Some(f64::INFINITY);
    odd.duration_ms = f64::NAN;
    // Must not fail: the writer would retry it forever.
    db.store.insert_usage(&[odd.clone()]).await.unwrap();
    let stored = db.store.usage_record("nul\u{fffd}id").await.unwrap().unwrap();
    assert_eq!(stored.model.as_deref(), Some("evil\u{fffd}model"));
    assert_eq!(stored.audit_body.as_deref(), Some("a\u{fffd}b"));
    assert_eq!((stored.ttft_ms, stored.ttlt_ms, stored.duration_ms), (None, None, 0.0));
    assert_eq!(stored.tenant, odd.tenant);
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// 61 records over four hours and two days (23:00 of the first day to 03:00 of the next), one
/// exactly on an hour, tenants and models varied, some refused: written in batches of uneven
/// sizes.
fn spread() -> Vec<UsageRecord> {
    let start = DAY2_START - HOUR;
    let mut records: Vec<UsageRecord> = (0..60)
        .map(|i: i64| {
            let mut r = bare(&format!("spread-{i}"), start + i * (4 * MINUTE + 7_000));
            r.tenant = [Some("acme"), Some("beta"), None][i as usize % 3].map(str::to_string);
            r.key_id = r.tenant.as_ref().map(|t| format!("{t}-key"));
            r.model = Some(format!("named-{}", i % 4));
            r.logical_model = (i % 4 != 3).then(|| format!("m{}", i % 2));
            r.input_tokens = i as u64;
            r.output_tokens = 2 * i as u64;
            r.cost_nanos = 1_000 * i as u64;
            r.error_class = match i % 7 {
                0 => Some("rate_limited".into()),
                3 => Some("throttled".into()),
                _ => None,
            };
            r
        })
        .collect();
    records.push(bare("on-the-hour", DAY2_START));
    records
}

/// What summing `records` started at or after `since` (and matching the filters) gives, grouped
/// as `q` asks: the rows' truth, computed here without the store.
fn expected(records: &[UsageRecord], q: &UsageQuery) -> Vec<UsageRow> {
    use std::collections::BTreeMap;
    // None sorts last, as the store orders.
    let key = |v: Option<&str>| v.map_or((true, String::new()), |s| (false, s.to_string()));
    let (by_tenant, by_model, by_day) = match q.group_by {
        GroupBy::Tenant => (true, false, false),
        GroupBy::Model => (false, true, false),
        GroupBy::Day => (false, false, true),
        GroupBy::TenantModel => (true, true, false),
    };
    let mut groups: BTreeMap<_, UsageRow> = BTreeMap::new();
    for r in records {
        let model = r.logical_model.as_deref().or(r.model.as_deref());
        if q.since_ms.is_some_and(|s| r.at_ms < s)
            || q.tenant.as_deref().is_some_and(|t| r.tenant.as_deref() != Some(t))
            || q.model.as_deref().is_some_and(|m| model != Some(m))
        {
            continue;
        }
        let day = if r.at_ms >= DAY2_START {
            "2025-03-11"
        } else {
            "2025-03-10"
        };
        let tenant = by_tenant.then_some(r.tenant.as_deref()).flatten();
        let model = by_model.then_some(model).flatten();
        let day = by_day.then_some(day);
        let g = groups
            .entry((key(tenant), key(model), key(day)))
            .or_insert_with(|| row(tenant, model, day, (0, 0, 0), (0, 0, 0)));
        g.requests += 1;
        g.errors += u64::from(r.error_class.is_some());
        g.rate_limited += u64::from(r.error_class.as_deref() == Some("rate_limited"));
        g.input_tokens += r.input_tokens;
        g.output_tokens += r.output_tokens;
        g.cost_usd += r.cost_nanos as f64 / 1e9;
    }
    groups.into_values().collect()
}

pub async fn sums_across_hours_match_the_rows_from_any_start(db: &TestDb) {
    let records = spread();
    for batch in [&records[..7], &records[7..30], &records[30..]] {
        db.store.insert_usage(batch).await.unwrap();
    }
    let start = DAY2_START - HOUR;
    let starts = [
        None,
        Some(start - 1),
        Some(start),
        Some(start + 1),
        Some(start + 30 * MINUTE),
        Some(DAY2_START - 1),
        Some(DAY2_START),
        Some(DAY2_START + 1),
        Some(DAY2_START + 2 * HOUR + 17 * MINUTE),
        Some(DAY2_START + 10 * HOUR),
    ];
    for since_ms in starts {
        for group_by in [GroupBy::Tenant, GroupBy::Model, GroupBy::Day, GroupBy::TenantModel] {
            for (tenant, model) in [
                (None, None),
                (Some("beta"), None),
                (None, Some("m1")),
                (Some("acme"), Some("named-3")),
            ] {
                let q = UsageQuery {
                    tenant: tenant.map(str::to_string),
                    model: model.map(str::to_string),
                    since_ms,
                    group_by,
                };
                let got = db.store.usage(&q).await.unwrap();
                let want = expected(&records, &q);
                assert_eq!(got.len(), want.len(), "{q:?}: {got:?}");
                for (g, w) in got.iter().zip(&want) {
                    assert!((g.cost_usd - w.cost_usd).abs() < 1e-12, "{q:?}: {g:?} vs {w:?}");
                    let same_cost = UsageRow {
                        cost_usd: w.cost_usd,
                        ..g.clone()
                    };
                    assert_eq!(&same_cost, w, "{q:?}");
                }
            }
        }
    }
}

pub async fn a_retried_batch_is_summed_once(db: &TestDb) {
    let records = spread();
    let total = |q: UsageQuery| async move {
        let rows = db
            .store
            .usage(&UsageQuery {
                group_by: GroupBy::Day,
                ..q
            })
            .await
            .unwrap();
        (
            rows.iter().map(|r| r.requests).sum::<u64>(),
            rows.iter().map(|r| r.input_tokens).sum::<u64>(),
        )
    };
    db.store.insert_usage(&records[..40]).await.unwrap();
    // The same batch again, as after a commit whose answer was lost; then again with new ones.
    db.store.insert_usage(&records[..40]).await.unwrap();
    db.store.insert_usage(&records[20..]).await.unwrap();
    let want: u64 = records.iter().map(|r| r.input_tokens).sum();
    assert_eq!(total(UsageQuery::default()).await, (records.len() as u64, want));
    // From inside an hour too, where the partial hour's rows are read.
    let since = DAY2_START + 30 * MINUTE;
    let later: Vec<&UsageRecord> = records.iter().filter(|r| r.at_ms >= since).collect();
    assert_eq!(
        total(UsageQuery {
            since_ms: Some(since),
            ..UsageQuery::default()
        })
        .await,
        (later.len() as u64, later.iter().map(|r| r.input_tokens).sum())
    );
}
