//! Bulk loading of generated messages for benchmarks (`integramon db seed`). Not a collection
//! path: it writes `message_logs` and `custom_header_properties` only (no correlations, no
//! details), and the caller rebuilds the rollup afterwards
//! ([`super::rollup::rebuild_counts`]).
//!
//! PostgreSQL gets `COPY … FROM STDIN` in text format, SQLite multi-row inserts. Message ids
//! are assigned here so headers can reference them without reading them back; the table is
//! locked (PostgreSQL) or written under the write lock (SQLite) while a batch is loaded, so the
//! reserved ids cannot collide with a concurrent writer.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use domain::message::{CustomHeader, Message};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Value};

use super::{Bulk, Sql, get, text};
use crate::connect::Db;
use crate::entity::custom_header_properties::value_prefix;
use crate::error::StoreError;

const COLUMNS: &str = "id, tenant_id, message_guid, correlation_id, application_message_id, \
    log_start, log_end, sender, receiver, iflow_id, iflow_name, package_id, package_name, \
    status, log_level, alternate_web_link, duration_ms, created_at, updated_at";

const HEADER_COLUMNS: &str = "message_id, tenant_id, name, value, value_prefix";

/// Write one batch of messages with their custom headers in one transaction. Returns the
/// number of messages written. A GUID already stored for the tenant fails the batch.
pub async fn load_messages(
    db: &Db,
    tenant_id: i64,
    batch: &[(Message, Vec<CustomHeader>)],
) -> Result<u64, StoreError> {
    if batch.is_empty() {
        return Ok(0);
    }
    match db.db_backend() {
        DbBackend::Postgres => load_postgres(db, tenant_id, batch).await,
        _ => load_sqlite(db, tenant_id, batch).await,
    }
}

/// Messages stored for a tenant (a seed appends after them).
pub async fn message_count(db: &Db, tenant_id: i64) -> Result<i64, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT COUNT(*) AS n FROM message_logs WHERE tenant_id = ")
        .bind(tenant_id);
    let row = db.conn().query_one_raw(sql.statement()).await?;
    Ok(row.map(|r| get::<i64>(&r, "n")).transpose()?.unwrap_or(0))
}

/// Refresh the planner's statistics of the tables a seed filled (PostgreSQL `ANALYZE`, SQLite
/// `ANALYZE`), so benchmarks right after a seed see realistic plans.
pub async fn analyze(db: &Db) -> Result<(), StoreError> {
    let sql = match db.db_backend() {
        DbBackend::Postgres => "ANALYZE message_logs, custom_header_properties, message_counts",
        _ => "ANALYZE",
    };
    db.conn().execute_unprepared(sql).await?;
    Ok(())
}

fn copy_err(e: sqlx::Error) -> StoreError {
    StoreError::Db(DbErr::Custom(format!("seeding with COPY: {e}")))
}

async fn load_postgres(
    db: &Db,
    tenant_id: i64,
    batch: &[(Message, Vec<CustomHeader>)],
) -> Result<u64, StoreError> {
    let pool = db.conn().get_postgres_connection_pool();
    let mut tx = pool.begin().await.map_err(copy_err)?;
    // Writers wait while the ids are reserved and used; readers do not.
    sqlx::query("LOCK TABLE message_logs IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .map_err(copy_err)?;
    let n = i64::try_from(batch.len()).unwrap_or(i64::MAX);
    let last: i64 = sqlx::query_scalar(
        "SELECT setval(pg_get_serial_sequence('message_logs', 'id'), \
         GREATEST(nextval(pg_get_serial_sequence('message_logs', 'id')), \
         (SELECT COALESCE(MAX(id), 0) + 1 FROM message_logs)) + $1 - 1)",
    )
    .bind(n)
    .fetch_one(&mut *tx)
    .await
    .map_err(copy_err)?;
    let first = last - n + 1;
    let now = ts(Utc::now());

    let mut buf = String::with_capacity(batch.len() * 400);
    for (i, (m, _)) in batch.iter().enumerate() {
        let id = first + i as i64;
        let _ = write!(buf, "{id}\t{tenant_id}\t");
        for v in [
            Some(m.guid.as_str()),
            m.correlation_id.as_deref(),
            m.application_message_id.as_deref(),
        ] {
            field(&mut buf, v);
        }
        field(&mut buf, m.log_start.map(ts).as_deref());
        field(&mut buf, m.log_end.map(ts).as_deref());
        for v in [
            m.sender.as_deref(),
            m.receiver.as_deref(),
            m.iflow_id.as_deref(),
            m.iflow_name.as_deref(),
            m.package_id.as_deref(),
            m.package_name.as_deref(),
            Some(m.status.as_str()).filter(|s| !s.is_empty()),
            m.log_level.as_deref(),
            m.alternate_web_link.as_deref(),
        ] {
            field(&mut buf, v);
        }
        field(&mut buf, m.duration_ms().map(|d| d.to_string()).as_deref());
        let _ = writeln!(buf, "{now}\t{now}");
    }
    let mut copy = tx
        .copy_in_raw(&format!("COPY message_logs ({COLUMNS}) FROM STDIN"))
        .await
        .map_err(copy_err)?;
    copy.send(buf.as_bytes()).await.map_err(copy_err)?;
    copy.finish().await.map_err(copy_err)?;

    buf.clear();
    for (i, (_, headers)) in batch.iter().enumerate() {
        let id = first + i as i64;
        for h in headers {
            let _ = write!(buf, "{id}\t{tenant_id}\t");
            field(&mut buf, Some(&h.name));
            field(&mut buf, h.value.as_deref());
            let prefix = h.value.as_deref().map(value_prefix);
            field(&mut buf, prefix.as_deref());
            buf.pop();
            buf.push('\n');
        }
    }
    if !buf.is_empty() {
        let mut copy = tx
            .copy_in_raw(&format!(
                "COPY custom_header_properties ({HEADER_COLUMNS}) FROM STDIN"
            ))
            .await
            .map_err(copy_err)?;
        copy.send(buf.as_bytes()).await.map_err(copy_err)?;
        copy.finish().await.map_err(copy_err)?;
    }
    tx.commit().await.map_err(copy_err)?;
    Ok(batch.len() as u64)
}

/// A timestamp as PostgreSQL's COPY reads it.
fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

/// One COPY text field and its tab: `\N` for NULL, backslash escapes for the characters
/// the format reserves, NUL dropped (PostgreSQL text cannot hold it).
fn field(buf: &mut String, v: Option<&str>) {
    match v {
        None => buf.push_str("\\N"),
        Some(s) => {
            for c in s.chars() {
                match c {
                    '\\' => buf.push_str("\\\\"),
                    '\t' => buf.push_str("\\t"),
                    '\n' => buf.push_str("\\n"),
                    '\r' => buf.push_str("\\r"),
                    '\0' => buf.push('\u{FFFD}'),
                    c => buf.push(c),
                }
            }
        }
    }
    buf.push('\t');
}

async fn load_sqlite(
    db: &Db,
    tenant_id: i64,
    batch: &[(Message, Vec<CustomHeader>)],
) -> Result<u64, StoreError> {
    let backend = db.db_backend();
    let txn = db.begin_write().await?;
    let row = txn
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT COALESCE(MAX(id), 0) AS id FROM message_logs",
        ))
        .await?;
    let first = row.map(|r| get::<i64>(&r, "id")).transpose()?.unwrap_or(0) + 1;
    let now = Utc::now();
    let rows: Vec<(i64, &Message)> = batch
        .iter()
        .enumerate()
        .map(|(i, (m, _))| (first + i as i64, m))
        .collect();
    let head = format!("INSERT INTO message_logs ({COLUMNS})");
    let bulk = Bulk {
        head: &head,
        tail: "",
        shared: vec![Value::from(tenant_id), Value::from(now)],
    };
    for stmt in bulk.statements(backend, &rows, |t, (id, m)| {
        t.bind(*id)
            .shared(0)
            .bind(text(Some(&m.guid)))
            .bind(text(m.correlation_id.as_deref()))
            .bind(text(m.application_message_id.as_deref()))
            .bind(m.log_start)
            .bind(m.log_end)
            .bind(text(m.sender.as_deref()))
            .bind(text(m.receiver.as_deref()))
            .bind(text(m.iflow_id.as_deref()))
            .bind(text(m.iflow_name.as_deref()))
            .bind(text(m.package_id.as_deref()))
            .bind(text(m.package_name.as_deref()))
            .bind(text(Some(m.status.as_str()).filter(|s| !s.is_empty())))
            .bind(text(m.log_level.as_deref()))
            .bind(text(m.alternate_web_link.as_deref()))
            .bind(m.duration_ms())
            .shared(1)
            .shared(1);
    }) {
        txn.execute_raw(stmt).await?;
    }
    let headers: Vec<(i64, &CustomHeader)> = batch
        .iter()
        .enumerate()
        .flat_map(|(i, (_, hs))| hs.iter().map(move |h| (first + i as i64, h)))
        .collect();
    let head = format!("INSERT INTO custom_header_properties ({HEADER_COLUMNS})");
    let bulk = Bulk {
        head: &head,
        tail: "",
        shared: vec![Value::from(tenant_id)],
    };
    for stmt in bulk.statements(backend, &headers, |t, (id, h)| {
        t.bind(*id)
            .shared(0)
            .bind(text(Some(&h.name)))
            .bind(text(h.value.as_deref()))
            .bind(h.value.as_deref().map(value_prefix));
    }) {
        txn.execute_raw(stmt).await?;
    }
    txn.commit().await?;
    Ok(batch.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_fields_escape_the_text_format() {
        let mut buf = String::new();
        field(&mut buf, Some("a\tb\\c\nd"));
        field(&mut buf, None);
        assert_eq!(buf, "a\\tb\\\\c\\nd\t\\N\t");
    }
}
