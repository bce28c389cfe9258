//! The store's tests, one generic suite run against both backends: a SQLite file and the local
//! PostgreSQL (127.0.0.1:5432, database `test`, trust auth).

// Test helpers outside #[test] functions unwrap and panic too: a failure is the test's failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixture;
mod keys;
mod open;
mod records;
mod usage;
mod writer;

/// For each `module::test`, a test `sqlite::test` and a test `postgres::test` running it on a
/// fresh database of that backend.
macro_rules! suite {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = crate::fixture::TestDb::sqlite().await;
                    crate::$module::$test(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = crate::fixture::TestDb::postgres().await;
                    crate::$module::$test(&db).await;
                }
            )*
        }
    };
}

suite!(
    open::reopening_keeps_data_and_migrations,
    usage::records_round_trip,
    usage::a_repeated_request_id_keeps_the_first_row,
    usage::sums_per_group_with_filters,
    usage::an_empty_store_sums_to_nothing,
    usage::sums_across_hours_match_the_rows_from_any_start,
    usage::a_retried_batch_is_summed_once,
    usage::values_no_backend_holds_are_stored_as_near_as_possible,
    writer::ten_thousand_records_under_backpressure,
    writer::close_waits_for_live_slots,
    writer::close_reports_what_it_could_not_write,
    writer::failed_writes_are_retried_until_they_succeed,
    writer::records_read_back_as_sent_and_are_counted_once,
    keys::key_lifecycle,
    keys::secrets_never_reach_the_database,
    keys::audit_events_newest_first,
);
