//! The usage writer: backpressure without loss, close draining live slots, retries.

use std::time::Duration;

use strata_store::{GroupBy, Slot, StoreError, UsageQuery, UsageRecord, UsageWriter, WriterStats};
use tokio::task::JoinSet;

use crate::fixture::TestDb;
use crate::records::{bare, billed, full, DAY1_NOON};

/// Long enough for any machine; the tests never wait for it unless something is broken.
const PATIENCE: Duration = Duration::from_secs(300);

/// Awaits a condition on the writer's counters (polling: they have no change notification).
async fn wait_for(writer: &UsageWriter, what: &str, done: impl Fn(&WriterStats) -> bool) {
    let give_up = tokio::time::Instant::now() + PATIENCE;
    while !done(&writer.stats()) {
        assert!(
            tokio::time::Instant::now() < give_up,
            "gave up waiting for {what}: {:?}",
            writer.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn rows(db: &TestDb) -> u64 {
    let q = UsageQuery {
        group_by: GroupBy::Day,
        ..UsageQuery::default()
    };
    db.store.usage(&q).await.unwrap().iter().map(|r| r.requests).sum()
}

pub async fn ten_thousand_records_under_backpressure(db: &TestDb) {
    const CAPACITY: usize = 10;
    const TASKS: u64 = 45;
    const PER_TASK: u64 = 222; // 45 × 222 + the 10 held = 10 000
    let writer = db.store.usage_writer(CAPACITY);
    // Hold every place first, so the tasks are sure to find the queue full.
    let held: Vec<Slot> = (0..CAPACITY).map(|_| writer.try_slot().unwrap()).collect();
    assert!(writer.try_slot().is_none());

    let mut tasks = JoinSet::new();
    for t in 0..TASKS {
        let writer = writer.clone();
        tasks.spawn(async move {
            for i in 0..PER_TASK {
                if i % 50 == 0 {
                    // A request that ends without a record frees its place.
                    drop(writer.slot().await);
                }
                let tenant = format!("tenant{}", t % 3);
                let r = billed(
                    &format!("t{t}-{i}"),
                    DAY1_NOON,
                    Some(&tenant),
                    (Some("m"), None),
                    None,
                    (i, 1, 7),
                );
                writer.slot().await.send(r);
            }
        });
    }
    wait_for(&writer, "a task to wait for a place", |s| s.full_waits > 0).await;
    for (i, slot) in held.into_iter().enumerate() {
        slot.send(billed(
            &format!("held-{i}"),
            DAY1_NOON,
            Some("tenant0"),
            (Some("m"), None),
            None,
            (0, 1, 7),
        ));
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    assert_eq!(writer.close(PATIENCE).await.unwrap(), 10_000);
    let stats = writer.stats();
    assert_eq!(
        (stats.written, stats.queued, stats.lost, stats.failed_writes),
        (10_000, 0, 0, 0),
        "{stats:?}"
    );
    assert!(stats.full_waits > 0);
    // No batch can hold more records than there are places.
    assert!(stats.batches >= 10_000 / CAPACITY as u64, "{stats:?}");

    let per_task_tokens: u64 = (0..PER_TASK).sum();
    let totals = db
        .store
        .usage(&UsageQuery {
            group_by: GroupBy::Model,
            ..UsageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0].requests, 10_000);
    assert_eq!(totals[0].input_tokens, TASKS * per_task_tokens);
    assert_eq!(totals[0].output_tokens, 10_000);
    assert_eq!(totals[0].cost_usd, 70_000.0 / 1e9);
}

pub async fn close_waits_for_live_slots(db: &TestDb) {
    let writer = db.store.usage_writer(4);
    let owed = writer.slot().await;
    writer.slot().await.send(bare("sent", 1));
    let closing = tokio::spawn({
        let writer = writer.clone();
        async move { writer.close(PATIENCE).await }
    });
    // Once closing, no more places: a late request's record is counted as lost, not written.
    let give_up = tokio::time::Instant::now() + PATIENCE;
    while writer.try_slot().is_some() {
        assert!(tokio::time::Instant::now() < give_up);
        tokio::task::yield_now().await;
    }
    writer.slot().await.send(bare("late", 2));
    assert_eq!(writer.stats().lost, 1);
    // The live slot's record is still owed, so close cannot have finished.
    assert!(!closing.is_finished());
    owed.send(bare("owed", 3));
    assert_eq!(closing.await.unwrap().unwrap(), 2);
    // Every handle sees the same total.
    assert_eq!(writer.close(PATIENCE).await.unwrap(), 2);
    assert!(db.store.usage_record("sent").await.unwrap().is_some());
    assert!(db.store.usage_record("owed").await.unwrap().is_some());
    assert!(db.store.usage_record("late").await.unwrap().is_none());
}

pub async fn close_reports_what_it_could_not_write(db: &TestDb) {
    let writer = db.store.usage_writer(4);
    let owed = writer.slot().await;
    match writer.close(Duration::from_millis(20)).await {
        Err(StoreError::Unflushed { written: 0, pending: 1 }) => {}
        other => panic!("expected Unflushed with one pending, got {other:?}"),
    }
    // The writer keeps going: the owed record still lands.
    owed.send(bare("owed", 1));
    assert_eq!(writer.close(PATIENCE).await.unwrap(), 1);
    assert_eq!(rows(db).await, 1);
}

pub async fn failed_writes_are_retried_until_they_succeed(db: &TestDb) {
    let writer = db.store.usage_writer(100);
    db.block_usage_inserts().await;
    for i in 0..50 {
        writer.slot().await.send(bare(&format!("r{i}"), i));
    }
    wait_for(&writer, "two failed writes", |s| s.failed_writes >= 2).await;
    let stats = writer.stats();
    assert_eq!((stats.written, stats.queued), (0, 50), "{stats:?}");
    assert_eq!(rows(db).await, 0);

    db.unblock_usage_inserts().await;
    assert_eq!(writer.close(PATIENCE).await.unwrap(), 50);
    assert_eq!(rows(db).await, 50);
    let stats = writer.stats();
    assert_eq!((stats.written, stats.queued, stats.lost), (50, 0, 0));
}

/// What the writer stores reads back as it was sent, every field, whichever connection wrote
/// it (a SQLite file's writer has one of its own); and a batch holding a record already stored
/// (a retry after a commit whose answer was lost) adds it to the sums only once.
pub async fn records_read_back_as_sent_and_are_counted_once(db: &TestDb) {
    let mut stored = bare("already", DAY1_NOON);
    stored.tenant = Some("acme".into());
    db.store.insert_usage(&[stored.clone()]).await.unwrap();

    // Enough for statements of several rows and single ones in one batch.
    let writer = db.store.usage_writer(20);
    let mut sent: Vec<UsageRecord> = (0..9).map(|i| full(&format!("w-full-{i}"))).collect();
    sent.extend([bare("w-bare", DAY1_NOON + 1), stored]);
    for record in &sent {
        writer.slot().await.send(record.clone());
    }
    assert_eq!(writer.close(PATIENCE).await.unwrap(), 11);
    for record in &sent {
        let read = db.store.usage_record(&record.request_id).await.unwrap();
        assert_eq!(read.as_ref(), Some(record));
    }
    assert_eq!(rows(db).await, 11, "the stored record is counted once");
}
