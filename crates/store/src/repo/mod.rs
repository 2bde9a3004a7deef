//! Repositories: what collection (controller and ingest workers), the web and the archiver read
//! and write, in domain types. Bulk writes are multi-row statements chunked under the
//! backends' bind-parameter limits, never one round trip per row.
//!
//! Conventions:
//! - every function takes `&Db`; where a caller may want several writes in one transaction,
//!   an `*_in` variant takes any connection (`&DatabaseTransaction` from [`crate::Db::begin_write`]);
//! - timestamps are bound as `DateTime<Utc>` values, never `CURRENT_TIMESTAMP`: SQLite stores
//!   them as RFC 3339 text, and one format everywhere keeps text comparison chronological;
//! - a missing row that the caller named is `DbErr::RecordNotFound` (see
//!   [`StoreError::is_not_found`]); a stored value the code cannot read is `DbErr::Type`/`Json`.

pub mod alerts;
pub mod archive_data;
pub mod archive_restore;
pub mod archives;
pub mod artifacts;
pub mod audit;
pub mod detail_failures;
pub mod error_groups;
pub mod error_rules;
pub mod firings;
pub mod job_runs;
pub mod labels;
pub mod login_attempts;
pub mod messages;
pub mod monitor;
pub mod payloads;
pub mod resources;
pub mod rollup;
pub mod seed;
pub mod snapshots;
pub mod sync_state;
pub mod tenants;
pub mod users;

use std::fmt::Write as _;

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, TryGetable, Value,
    sea_query::Nullable,
};

use crate::error::StoreError;

impl StoreError {
    /// A row the caller named does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::Db(DbErr::RecordNotFound(_)))
    }

    /// A unique index refused the write (for example a tenant name that is taken).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Db(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))))
    }
}

/// Bind parameters one statement may carry: SQLite's `SQLITE_MAX_VARIABLE_NUMBER` (32766 since
/// 3.32) and PostgreSQL's protocol limit (an unsigned 16-bit count).
pub(crate) fn max_params(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 65_535,
        _ => 32_766,
    }
}

/// The NULL-safe "differs" operator. SQLite has `IS NOT` in every version; `IS DISTINCT FROM`
/// only from 3.39.
pub(crate) fn distinct(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "IS DISTINCT FROM",
        _ => "IS NOT",
    }
}

/// SQL text with placeholders and their values. PostgreSQL gets numbered placeholders (`$n`),
/// so a value shared by every row (a tenant id, a timestamp) is bound once per statement.
/// SQLite gets anonymous `?` only: `sqlite3_bind_parameter_name` walks a list of all named
/// parameters, which makes binding a statement with thousands of `?NNN` quadratic.
pub(crate) struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
    /// Values rows refer to with [`Tuple::shared`], with their PostgreSQL placeholder.
    shared: Vec<(Value, String)>,
}

impl Sql {
    pub(crate) fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            text: String::with_capacity(256),
            values: Vec::new(),
            shared: Vec::new(),
        }
    }

    pub(crate) fn backend(&self) -> DbBackend {
        self.backend
    }

    pub(crate) fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Bind a value here.
    pub(crate) fn bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.values.push(v.into());
        match self.backend {
            DbBackend::Postgres => {
                let n = self.values.len();
                let _ = write!(self.text, "${n}");
            }
            _ => self.text.push('?'),
        }
        self
    }

    /// Declare values that rows refer to by index ([`Tuple::shared`]). Call before any text
    /// is written: on PostgreSQL they are bound first, as `$1…$k`.
    fn set_shared(&mut self, values: &[Value]) {
        debug_assert!(self.values.is_empty() && self.text.is_empty());
        for v in values {
            let placeholder = match self.backend {
                DbBackend::Postgres => {
                    self.values.push(v.clone());
                    format!("${}", self.values.len())
                }
                _ => String::new(),
            };
            self.shared.push((v.clone(), placeholder));
        }
    }

    /// `(v1, v2, …)`, for `IN` lists.
    pub(crate) fn bind_list<V: Into<Value>>(
        &mut self,
        items: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        self.text.push('(');
        for (i, v) in items.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(v);
        }
        self.text.push(')');
        self
    }

    /// A parenthesised, comma-separated tuple written by `f`.
    pub(crate) fn tuple(&mut self, f: impl FnOnce(&mut Tuple<'_>)) -> &mut Self {
        self.text.push('(');
        let mut t = Tuple {
            sql: self,
            first: true,
        };
        f(&mut t);
        self.text.push(')');
        self
    }

    pub(crate) fn params(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

pub(crate) struct Tuple<'a> {
    sql: &'a mut Sql,
    first: bool,
}

impl Tuple<'_> {
    fn sep(&mut self) {
        if !self.first {
            self.sql.text.push_str(", ");
        }
        self.first = false;
    }

    pub(crate) fn bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.sep();
        self.sql.bind(v);
        self
    }

    /// Shared value `i` of the statement (see [`Bulk::shared`]).
    pub(crate) fn shared(&mut self, i: usize) -> &mut Self {
        self.sep();
        let (value, placeholder) = &self.sql.shared[i];
        match self.sql.backend {
            DbBackend::Postgres => {
                let placeholder = placeholder.clone();
                self.sql.text.push_str(&placeholder);
            }
            _ => {
                let value = value.clone();
                self.sql.bind(value);
            }
        }
        self
    }
}

/// A multi-row `INSERT … VALUES (…), (…) <tail>` split into statements that stay under the
/// bind-parameter limit. Rows refer to the `shared` values with [`Tuple::shared`].
pub(crate) struct Bulk<'a> {
    pub head: &'a str,
    pub tail: &'a str,
    pub shared: Vec<Value>,
}

impl Bulk<'_> {
    pub(crate) fn statements<T>(
        &self,
        backend: DbBackend,
        rows: &[T],
        mut write: impl FnMut(&mut Tuple<'_>, &T),
    ) -> Vec<Statement> {
        let Some(first) = rows.first() else {
            return Vec::new();
        };
        // Parameters per row, measured on the first row (every row binds the same number).
        let mut probe = Sql::new(backend);
        probe.set_shared(&self.shared);
        let fixed = probe.params();
        probe.tuple(|t| write(t, first));
        let per_row = (probe.params() - fixed).max(1);
        let per_statement = ((max_params(backend) - fixed) / per_row).max(1);
        rows.chunks(per_statement)
            .map(|chunk| {
                let mut sql = Sql::new(backend);
                sql.set_shared(&self.shared);
                sql.push(self.head);
                sql.push(" VALUES ");
                for (i, row) in chunk.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.tuple(|t| write(t, row));
                }
                sql.push(" ");
                sql.push(self.tail);
                debug_assert!(sql.params() <= max_params(backend));
                sql.statement()
            })
            .collect()
    }
}

/// Run `DELETE FROM <table> WHERE <column> IN (…)` for `ids`, chunked; returns rows deleted.
pub(crate) async fn delete_in<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    column: &str,
    ids: &[i64],
) -> Result<u64, DbErr> {
    let backend = conn.get_database_backend();
    let mut deleted = 0;
    for chunk in ids.chunks(max_params(backend) - 1) {
        let mut sql = Sql::new(backend);
        sql.push(&format!("DELETE FROM {table} WHERE {column} IN "));
        sql.bind_list(chunk.iter().copied());
        deleted += conn.execute_raw(sql.statement()).await?.rows_affected();
    }
    Ok(deleted)
}

/// A column of a query row by name.
pub(crate) fn get<T: TryGetable>(row: &QueryResult, col: &str) -> Result<T, DbErr> {
    row.try_get("", col)
}

/// Text for the database: PostgreSQL rejects NUL in text values, so a stray NUL from the
/// tenant would fail a whole page. It becomes U+FFFD on both backends, so they store the same.
pub(crate) fn text(s: Option<&str>) -> Value {
    Value::from(s.map(clean))
}

pub(crate) fn clean(s: &str) -> String {
    clean_cow(s).into_owned()
}

/// [`clean`] without a copy when there is nothing to replace.
pub(crate) fn clean_cow(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// `Value` of an optional typed value (a NULL of the right type when absent).
pub(crate) fn opt<T: Into<Value> + Nullable>(v: Option<T>) -> Value {
    Value::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_statements_stay_under_the_parameter_limit() {
        let rows: Vec<i64> = (0..40_000).collect();
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let bulk = Bulk {
                head: "INSERT INTO t (a, b, c)",
                tail: "",
                shared: vec![Value::from(7i64)],
            };
            let stmts = bulk.statements(backend, &rows, |t, r| {
                t.shared(0).bind(*r).bind(*r * 2);
            });
            let total: usize = stmts
                .iter()
                .map(|s| s.values.as_ref().unwrap().0.len())
                .sum();
            for s in &stmts {
                assert!(s.values.as_ref().unwrap().0.len() <= max_params(backend));
            }
            let first = &stmts[0].sql;
            match backend {
                DbBackend::Postgres => {
                    assert_eq!(total, rows.len() * 2 + stmts.len());
                    assert!(
                        first.starts_with(
                            "INSERT INTO t (a, b, c) VALUES ($1, $2, $3), ($1, $4, $5)"
                        ),
                        "{first}"
                    );
                    assert_eq!(stmts.len(), 2);
                }
                _ => {
                    assert_eq!(total, rows.len() * 3);
                    assert!(
                        first.starts_with("INSERT INTO t (a, b, c) VALUES (?, ?, ?), (?, ?, ?)"),
                        "{first}"
                    );
                    let v = &stmts[0].values.as_ref().unwrap().0;
                    assert_eq!(v[..4], [7i64.into(), 0i64.into(), 0i64.into(), 7i64.into()]);
                    assert_eq!(stmts.len(), 4);
                }
            }
        }
        assert!(
            Bulk {
                head: "x",
                tail: "",
                shared: vec![]
            }
            .statements(DbBackend::Sqlite, &[] as &[i64], |_, _| {})
            .is_empty()
        );
    }

    #[test]
    fn nul_bytes_are_replaced() {
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
        assert_eq!(clean("plain"), "plain");
    }
}
