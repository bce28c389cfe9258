//! Reading columns from either backend's rows with the store's own conversions, so each table's
//! decoding is written once.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

/// The column types the store uses. Unsigned counts are kept as BIGINT and read back clamped
/// (a negative count can only come from outside the store).
pub(crate) trait StoreRow {
    fn text(&self, col: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error>;
    fn int(&self, col: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error>;
    fn real(&self, col: &str) -> Result<f64, sqlx::Error>;
    fn opt_real(&self, col: &str) -> Result<Option<f64>, sqlx::Error>;
    fn flag(&self, col: &str) -> Result<bool, sqlx::Error>;

    fn count(&self, col: &str) -> Result<u64, sqlx::Error> {
        Ok(u64::try_from(self.int(col)?).unwrap_or(0))
    }
}

macro_rules! impl_store_row {
    ($row:ty) => {
        impl StoreRow for $row {
            fn text(&self, col: &str) -> Result<String, sqlx::Error> {
                self.try_get(col)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(col)
            }
            fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
                self.try_get(col)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(col)
            }
            fn real(&self, col: &str) -> Result<f64, sqlx::Error> {
                self.try_get(col)
            }
            fn opt_real(&self, col: &str) -> Result<Option<f64>, sqlx::Error> {
                self.try_get(col)
            }
            fn flag(&self, col: &str) -> Result<bool, sqlx::Error> {
                self.try_get(col)
            }
        }
    };
}

impl_store_row!(SqliteRow);
impl_store_row!(PgRow);

/// A count as BIGINT: saturates rather than wrapping (no real count reaches 2^63).
pub(crate) fn bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
