//! Metric and storage snapshots: what the metrics daemon reads to compute them, writes, and the
//! storage page and API read back.
//!
//! - Metric snapshots are per tenant, iFlow and fixed interval (`bucket_secs`), keyed by the
//!   interval's start. Writing an interval replaces what was there, so recomputing it (late
//!   messages, status changes) is idempotent.
//! - Storage snapshots are rows of one instant: the database (`kind = 'database'`), each table
//!   (`'table'`), each tenant's archive directory (`'archive'`).
//! - Both are purged by age ([`purge`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait,
};

use super::{Bulk, Sql, get, text};
use crate::connect::Db;
use crate::entity::{metric_snapshots, storage_snapshots};
use crate::error::StoreError;
use crate::settings::Backend;

/// One message as the metric snapshot reads it.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct MessageSample {
    /// '' when the message has none.
    pub iflow_id: String,
    pub iflow_name: Option<String>,
    /// '' when the message has none.
    pub status: String,
    /// `log_end - log_start`.
    pub duration_ms: Option<i64>,
}

/// Payloads of one iFlow's messages in an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadVolume {
    pub iflow_id: String,
    /// Payload entries with a known size.
    pub count: i64,
    pub bytes: i64,
}

/// One row of `metric_snapshots`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSnapshot {
    pub tenant_id: i64,
    pub bucket_start: DateTime<Utc>,
    pub bucket_secs: i32,
    pub iflow_id: String,
    pub iflow_name: Option<String>,
    pub messages: i64,
    pub status_counts: BTreeMap<String, i64>,
    pub duration_p50_ms: Option<i64>,
    pub duration_p95_ms: Option<i64>,
    pub duration_p99_ms: Option<i64>,
    pub duration_max_ms: Option<i64>,
    pub payload_count: i64,
    pub payload_bytes: i64,
    pub computed_at: DateTime<Utc>,
}

/// What a storage snapshot row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    Database,
    Table,
    Archive,
}

impl StorageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Table => "table",
            Self::Archive => "archive",
        }
    }

    fn parse(s: &str) -> Result<Self, DbErr> {
        match s {
            "database" => Ok(Self::Database),
            "table" => Ok(Self::Table),
            "archive" => Ok(Self::Archive),
            other => Err(DbErr::Type(format!(
                "storage_snapshots.kind {other:?} is not database, table or archive"
            ))),
        }
    }
}

/// One row of `storage_snapshots`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRow {
    pub taken_at: DateTime<Utc>,
    pub kind: StorageKind,
    /// The table, the tenant's name (archive), '' (database).
    pub name: String,
    pub tenant_id: Option<i64>,
    pub bytes: Option<i64>,
    pub row_count: Option<i64>,
}

/// The messages of a tenant whose `log_end` is in `[from, to)`.
pub async fn message_samples(
    db: &Db,
    tenant_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MessageSample>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push(
        "SELECT COALESCE(iflow_id, '') AS iflow_id, iflow_name, COALESCE(status, '') AS status, \
         duration_ms FROM message_logs WHERE tenant_id = ",
    )
    .bind(tenant_id)
    .push(" AND log_end >= ")
    .bind(from)
    .push(" AND log_end < ")
    .bind(to);
    Ok(MessageSample::find_by_statement(sql.statement())
        .all(db.conn())
        .await?)
}

/// Payload entries (with a known size) of the tenant's messages whose `log_end` is in
/// `[from, to)`, per iFlow.
pub async fn payload_volume(
    db: &Db,
    tenant_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PayloadVolume>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push(
        "SELECT COALESCE(m.iflow_id, '') AS iflow_id, CAST(COUNT(*) AS BIGINT) AS n, \
         CAST(SUM(p.size) AS BIGINT) AS bytes FROM payloads p \
         JOIN message_logs m ON m.id = p.message_id WHERE m.tenant_id = ",
    )
    .bind(tenant_id)
    .push(" AND m.log_end >= ")
    .bind(from)
    .push(" AND m.log_end < ")
    .bind(to)
    .push(" AND p.size IS NOT NULL GROUP BY COALESCE(m.iflow_id, '')");
    let rows = db.conn().query_all_raw(sql.statement()).await?;
    rows.iter()
        .map(|r| {
            Ok(PayloadVolume {
                iflow_id: get(r, "iflow_id")?,
                count: get(r, "n")?,
                bytes: get::<Option<i64>>(r, "bytes")?.unwrap_or(0),
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(StoreError::from)
}

/// Replace the tenant's snapshots of intervals starting in `[from, to)` with `rows` (all of
/// that tenant, starting in that range), in one transaction. Rows are upserted on their key, so
/// two workers writing the same interval at once both succeed with the same result.
pub async fn replace_metric_snapshots(
    db: &Db,
    tenant_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rows: &[MetricSnapshot],
) -> Result<(), StoreError> {
    if let Some(stray) = rows
        .iter()
        .find(|r| r.tenant_id != tenant_id || r.bucket_start < from || r.bucket_start >= to)
    {
        return Err(StoreError::Command(format!(
            "metric snapshot of tenant {} at {} is outside the replaced range",
            stray.tenant_id, stray.bucket_start
        )));
    }
    let txn = db.begin_write().await?;
    let backend = txn.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM metric_snapshots WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND bucket_start >= ")
        .bind(from)
        .push(" AND bucket_start < ")
        .bind(to);
    txn.execute_raw(sql.statement()).await?;
    for stmt in insert_statements(backend, rows) {
        txn.execute_raw(stmt).await?;
    }
    txn.commit().await?;
    Ok(())
}

fn insert_statements(backend: DbBackend, rows: &[MetricSnapshot]) -> Vec<Statement> {
    let bulk = Bulk {
        head: "INSERT INTO metric_snapshots (tenant_id, bucket_start, bucket_secs, iflow_id, \
               iflow_name, messages, status_counts, duration_p50_ms, duration_p95_ms, \
               duration_p99_ms, duration_max_ms, payload_count, payload_bytes, computed_at)",
        tail: "ON CONFLICT (tenant_id, bucket_start, iflow_id) DO UPDATE SET \
               bucket_secs = excluded.bucket_secs, iflow_name = excluded.iflow_name, \
               messages = excluded.messages, status_counts = excluded.status_counts, \
               duration_p50_ms = excluded.duration_p50_ms, \
               duration_p95_ms = excluded.duration_p95_ms, \
               duration_p99_ms = excluded.duration_p99_ms, \
               duration_max_ms = excluded.duration_max_ms, \
               payload_count = excluded.payload_count, payload_bytes = excluded.payload_bytes, \
               computed_at = excluded.computed_at",
        shared: vec![],
    };
    bulk.statements(backend, rows, |t, r| {
        let counts = serde_json::to_string(&r.status_counts).unwrap_or_else(|_| "{}".into());
        t.bind(r.tenant_id)
            .bind(r.bucket_start)
            .bind(r.bucket_secs)
            .bind(text(Some(&r.iflow_id)))
            .bind(text(r.iflow_name.as_deref()))
            .bind(r.messages)
            .bind(counts)
            .bind(r.duration_p50_ms)
            .bind(r.duration_p95_ms)
            .bind(r.duration_p99_ms)
            .bind(r.duration_max_ms)
            .bind(r.payload_count)
            .bind(r.payload_bytes)
            .bind(r.computed_at);
    })
}

fn to_metric(m: metric_snapshots::Model) -> Result<MetricSnapshot, DbErr> {
    let status_counts = serde_json::from_str(&m.status_counts)
        .map_err(|e| DbErr::Json(format!("metric_snapshots {} status_counts: {e}", m.id)))?;
    Ok(MetricSnapshot {
        tenant_id: m.tenant_id,
        bucket_start: m.bucket_start,
        bucket_secs: m.bucket_secs,
        iflow_id: m.iflow_id,
        iflow_name: m.iflow_name,
        messages: m.messages,
        status_counts,
        duration_p50_ms: m.duration_p50_ms,
        duration_p95_ms: m.duration_p95_ms,
        duration_p99_ms: m.duration_p99_ms,
        duration_max_ms: m.duration_max_ms,
        payload_count: m.payload_count,
        payload_bytes: m.payload_bytes,
        computed_at: m.computed_at,
    })
}

/// The tenants' snapshots of intervals starting in `[from, to)`, by time, tenant and iFlow.
/// `limit` bounds what one call returns.
pub async fn metric_snapshots(
    db: &Db,
    tenant_ids: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<MetricSnapshot>, StoreError> {
    read_metric_snapshots(db, tenant_ids, None, from, to, limit).await
}

/// [`metric_snapshots`] of one tenant's iFlow (`''`: messages without one).
pub async fn metric_snapshots_of_iflow(
    db: &Db,
    tenant_id: i64,
    iflow_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<MetricSnapshot>, StoreError> {
    read_metric_snapshots(db, &[tenant_id], Some(iflow_id), from, to, limit).await
}

async fn read_metric_snapshots(
    db: &Db,
    tenant_ids: &[i64],
    iflow_id: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<MetricSnapshot>, StoreError> {
    if tenant_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = metric_snapshots::Entity::find()
        .filter(metric_snapshots::Column::TenantId.is_in(tenant_ids.iter().copied()))
        .filter(metric_snapshots::Column::BucketStart.gte(from))
        .filter(metric_snapshots::Column::BucketStart.lt(to));
    if let Some(iflow) = iflow_id {
        query = query.filter(metric_snapshots::Column::IflowId.eq(iflow));
    }
    let rows = query
        .order_by_asc(metric_snapshots::Column::BucketStart)
        .order_by_asc(metric_snapshots::Column::TenantId)
        .order_by_asc(metric_snapshots::Column::IflowId)
        .limit(limit)
        .all(db.conn())
        .await?;
    Ok(rows.into_iter().map(to_metric).collect::<Result<_, _>>()?)
}

/// Write the rows of one storage snapshot.
pub async fn insert_storage(db: &Db, rows: &[StorageRow]) -> Result<(), StoreError> {
    let backend = db.db_backend();
    let bulk = Bulk {
        head: "INSERT INTO storage_snapshots (taken_at, kind, name, tenant_id, bytes, row_count)",
        tail: "",
        shared: vec![],
    };
    let stmts = bulk.statements(backend, rows, |t, r| {
        t.bind(r.taken_at)
            .bind(r.kind.as_str())
            .bind(text(Some(&r.name)))
            .bind(r.tenant_id)
            .bind(r.bytes)
            .bind(r.row_count);
    });
    let txn = db.conn().begin().await?;
    for stmt in stmts {
        txn.execute_raw(stmt).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// When the newest storage snapshot was taken.
pub async fn last_storage_at(db: &Db) -> Result<Option<DateTime<Utc>>, StoreError> {
    let row = storage_snapshots::Entity::find()
        .filter(storage_snapshots::Column::Kind.eq(StorageKind::Database.as_str()))
        .order_by_desc(storage_snapshots::Column::TakenAt)
        .one(db.conn())
        .await?;
    Ok(row.map(|r| r.taken_at))
}

/// Storage rows taken at or after `since`, oldest first.
pub async fn storage_since(db: &Db, since: DateTime<Utc>) -> Result<Vec<StorageRow>, StoreError> {
    let rows = storage_snapshots::Entity::find()
        .filter(storage_snapshots::Column::TakenAt.gte(since))
        .order_by_asc(storage_snapshots::Column::TakenAt)
        .order_by_asc(storage_snapshots::Column::Kind)
        .order_by_asc(storage_snapshots::Column::Name)
        .all(db.conn())
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(StorageRow {
                taken_at: r.taken_at,
                kind: StorageKind::parse(&r.kind)?,
                name: r.name,
                tenant_id: r.tenant_id,
                bytes: r.bytes,
                row_count: r.row_count,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(StoreError::from)
}

/// Rows removed by [`purge`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub metric: u64,
    pub storage: u64,
}

/// Remove metric snapshots of intervals that started before `before`, and storage snapshots
/// taken before it.
pub async fn purge(db: &Db, before: DateTime<Utc>) -> Result<Purged, StoreError> {
    let metric = metric_snapshots::Entity::delete_many()
        .filter(metric_snapshots::Column::BucketStart.lt(before))
        .exec(db.conn())
        .await?
        .rows_affected;
    let storage = storage_snapshots::Entity::delete_many()
        .filter(storage_snapshots::Column::TakenAt.lt(before))
        .exec(db.conn())
        .await?
        .rows_affected;
    Ok(Purged { metric, storage })
}

/// One table's size and rows as the backend reports them cheaply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStat {
    pub table: String,
    /// Table, indexes and (PostgreSQL) TOAST; `None` where the backend cannot tell.
    pub bytes: Option<i64>,
    pub rows: Option<i64>,
}

/// Every IntegraMon table's size and row count.
///
/// PostgreSQL: `pg_total_relation_size` and the statistics' `n_live_tup`, an estimate kept by
/// the server as rows are written (no table scan). SQLite: exact `COUNT(*)` (SQLite counts
/// from its smallest b-tree) and, where the library has the `dbstat` table, the bytes of each
/// table's and its indexes' pages; without it, `bytes` is `None` and only the file size (the
/// database row) is known.
pub async fn table_stats(db: &Db) -> Result<Vec<TableStat>, StoreError> {
    match db.backend() {
        Backend::Postgres { .. } => {
            let sql = "SELECT c.relname::text AS name, \
                       CAST(pg_total_relation_size(c.oid) AS BIGINT) AS bytes, \
                       CAST(COALESCE(s.n_live_tup, 0) AS BIGINT) AS n \
                       FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace \
                       LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid \
                       WHERE ns.nspname = current_schema() AND c.relkind IN ('r', 'p') \
                       ORDER BY c.relname";
            let rows = db
                .conn()
                .query_all_raw(Statement::from_string(db.db_backend(), sql.to_string()))
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(TableStat {
                        table: get(r, "name")?,
                        bytes: Some(get(r, "bytes")?),
                        rows: Some(get(r, "n")?),
                    })
                })
                .collect::<Result<_, DbErr>>()
                .map_err(StoreError::from)
        }
        Backend::Sqlite => {
            let sizes = sqlite_table_bytes(db).await;
            let mut out = Vec::new();
            for table in crate::maintenance::table_names(db).await? {
                let sql = format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM \"{}\"",
                    table.replace('"', "\"\"")
                );
                let row = db
                    .conn()
                    .query_one_raw(Statement::from_string(db.db_backend(), sql))
                    .await?;
                let rows = row.map(|r| get::<i64>(&r, "n")).transpose()?;
                out.push(TableStat {
                    bytes: sizes.as_ref().map(|s| s.get(&table).copied().unwrap_or(0)),
                    table,
                    rows,
                });
            }
            Ok(out)
        }
    }
}

/// Bytes per table (its own b-tree plus its indexes') from SQLite's `dbstat` table, or `None`
/// when the library was built without it.
async fn sqlite_table_bytes(db: &Db) -> Option<BTreeMap<String, i64>> {
    // `aggregate = 1` gives one row per b-tree instead of one per page.
    let sql = "SELECT COALESCE(m.tbl_name, d.name) AS name, CAST(SUM(d.pgsize) AS BIGINT) AS bytes \
               FROM dbstat('main', 1) d LEFT JOIN sqlite_master m ON m.name = d.name \
               GROUP BY COALESCE(m.tbl_name, d.name)";
    let rows = match db
        .conn()
        .query_all_raw(Statement::from_string(db.db_backend(), sql.to_string()))
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::debug!("SQLite dbstat is not available, table sizes unknown: {e}");
            return None;
        }
    };
    let mut out = BTreeMap::new();
    for r in &rows {
        if let (Ok(name), Ok(bytes)) = (get::<String>(r, "name"), get::<i64>(r, "bytes")) {
            out.insert(name, bytes);
        }
    }
    Some(out)
}
