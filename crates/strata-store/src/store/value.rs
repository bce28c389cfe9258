//! A value for a statement the store runs through either driver: sqlx (both backends) and
//! rusqlite (the usage writer's own SQLite connection, [`crate::writer`]). A table's values are
//! listed once, as these, and each driver binds them its way.

use std::borrow::Cow;

use rusqlite::types::{ToSqlOutput, Value as SqliteValue, ValueRef};
use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

/// One bound value. NULLs keep their column's kind: PostgreSQL types every parameter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value<'a> {
    Text(Option<Cow<'a, str>>),
    Int(i64),
    Real(Option<f64>),
    Flag(bool),
}

impl<'a> Value<'a> {
    /// Binds the value as `q`'s next parameter.
    pub(crate) fn bind<DB>(self, q: Query<'a, DB, DB::Arguments<'a>>) -> Query<'a, DB, DB::Arguments<'a>>
    where
        DB: Database,
        Option<Cow<'a, str>>: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
        Option<f64>: Encode<'a, DB> + Type<DB>,
        bool: Encode<'a, DB> + Type<DB>,
    {
        match self {
            Value::Text(v) => q.bind(v),
            Value::Int(v) => q.bind(v),
            Value::Real(v) => q.bind(v),
            Value::Flag(v) => q.bind(v),
        }
    }
}

/// As sqlx stores them in SQLite: text borrowed (SQLite copies it when bound), flags as 0 and 1.
impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Text(None) | Value::Real(None) => ToSqlOutput::Owned(SqliteValue::Null),
            Value::Int(n) => ToSqlOutput::Owned(SqliteValue::Integer(*n)),
            Value::Real(Some(x)) => ToSqlOutput::Owned(SqliteValue::Real(*x)),
            Value::Flag(b) => ToSqlOutput::Owned(SqliteValue::Integer(i64::from(*b))),
        })
    }
}
