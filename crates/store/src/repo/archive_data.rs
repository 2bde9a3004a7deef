//! The messages of a tenant-day as the archiver reads, deletes and restores them, in batches
//! of ids: a handful of statements per batch, whatever the number of headers, runs or payloads.
//!
//! Deleting is exact: [`delete_archived`] removes a row only if it still is the version the
//! archive file holds (`updated_at`, `details_fetched_at`), so a message changed after it was
//! archived stays in the database for the next run. Correlation counts follow the deleted and
//! restored rows; the hourly rollup is refreshed by the caller
//! ([`super::rollup::refresh_counts_between`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use domain::archive::{
    ArchivedAttachment, ArchivedError, ArchivedHeader, ArchivedMessage, ArchivedPayload,
    ArchivedRun, ArchivedStep,
};
use domain::message::AdapterAttribute;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder,
};

use super::{Sql, get, max_params};
use crate::connect::Db;
use crate::entity::{
    adapter_attributes, attachments, message_errors, message_logs, message_run_steps, message_runs,
    payloads,
};

use crate::error::StoreError;

/// The version of a stored message: `(updated_at, details_fetched_at)`.
pub type Version = (DateTime<Utc>, Option<DateTime<Utc>>);

/// A message of a day with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayMessage {
    pub id: i64,
    pub guid: String,
    pub version: Version,
}

/// The condition "the message belongs to `[from, to)`": by `log_end`, or by `log_start` when
/// it has no `log_end`. Two index ranges, `(tenant_id, log_end)` and `(tenant_id, log_start)`.
fn in_day(sql: &mut Sql, tenant_id: i64, from: DateTime<Utc>, to: DateTime<Utc>) {
    sql.push("tenant_id = ")
        .bind(tenant_id)
        .push(" AND ((log_end >= ")
        .bind(from)
        .push(" AND log_end < ")
        .bind(to)
        .push(") OR (log_end IS NULL AND log_start >= ")
        .bind(from)
        .push(" AND log_start < ")
        .bind(to)
        .push("))");
}

/// Messages of a tenant in `[from, to)` (see [`in_day`]), by id.
pub async fn day_messages(
    db: &Db,
    tenant_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DayMessage>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT id, message_guid, updated_at, details_fetched_at FROM message_logs WHERE ");
    in_day(&mut sql, tenant_id, from, to);
    sql.push(" ORDER BY id");
    let rows = db.conn().query_all_raw(sql.statement()).await?;
    rows.iter()
        .map(|r| {
            Ok(DayMessage {
                id: get(r, "id")?,
                guid: get(r, "message_guid")?,
                version: (get(r, "updated_at")?, get(r, "details_fetched_at")?),
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(StoreError::from)
}

/// The earliest time (`log_end`, or `log_start` without one) of a tenant's messages before
/// `before`: where the archiver starts looking for days to archive.
pub async fn oldest_before(
    db: &Db,
    tenant_id: i64,
    before: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let backend = db.db_backend();
    let mut a = Sql::new(backend);
    a.push("SELECT MIN(log_end) AS t FROM message_logs WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND log_end < ")
        .bind(before);
    let mut b = Sql::new(backend);
    b.push("SELECT MIN(log_start) AS t FROM message_logs WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND log_end IS NULL AND log_start < ")
        .bind(before);
    let mut oldest: Option<DateTime<Utc>> = None;
    for sql in [a, b] {
        if let Some(row) = db.conn().query_one_raw(sql.statement()).await? {
            let t: Option<DateTime<Utc>> = get(&row, "t")?;
            oldest = match (oldest, t) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
        }
    }
    Ok(oldest)
}

fn chunks(ids: &[i64], backend: DbBackend) -> std::slice::Chunks<'_, i64> {
    ids.chunks((max_params(backend) - 8).min(10_000))
}

/// The messages `ids` with everything stored about them, by id. Ids that name no message are
/// left out. Eight statements per 10 000 ids.
pub async fn read_messages(db: &Db, ids: &[i64]) -> Result<Vec<ArchivedMessage>, StoreError> {
    let conn = db.conn();
    let backend = db.db_backend();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in chunks(ids, backend) {
        let list = chunk.iter().copied();
        let rows = message_logs::Entity::find()
            .filter(message_logs::Column::Id.is_in(list.clone()))
            .order_by_asc(message_logs::Column::Id)
            .all(conn)
            .await?;
        // Headers are most of the rows: only the columns the archive keeps (not the tenant
        // id and the search prefix), without building entity models.
        let mut headers: HashMap<i64, Vec<ArchivedHeader>> = HashMap::new();
        let mut sql = Sql::new(backend);
        sql.push(
            "SELECT message_id, cpi_id, name, value FROM custom_header_properties \
             WHERE message_id IN ",
        )
        .bind_list(list.clone())
        .push(" ORDER BY id");
        for r in conn.query_all_raw(sql.statement()).await? {
            headers
                .entry(get(&r, "message_id")?)
                .or_default()
                .push(ArchivedHeader {
                    cpi_id: get(&r, "cpi_id")?,
                    name: get(&r, "name")?,
                    value: get(&r, "value")?,
                });
        }
        let mut errors: HashMap<i64, ArchivedError> = message_errors::Entity::find()
            .filter(message_errors::Column::MessageId.is_in(list.clone()))
            .all(conn)
            .await?
            .into_iter()
            .map(|e| {
                (
                    e.message_id,
                    ArchivedError {
                        error_type: e.error_type,
                        last_error_model_step_id: e.last_error_model_step_id,
                        text: e.text,
                        fetched_at: e.fetched_at,
                    },
                )
            })
            .collect();
        let run_rows = message_runs::Entity::find()
            .filter(message_runs::Column::MessageId.is_in(list.clone()))
            .order_by_asc(message_runs::Column::MessageId)
            .order_by_asc(message_runs::Column::RunStart)
            .order_by_asc(message_runs::Column::Id)
            .all(conn)
            .await?;
        let mut steps: HashMap<i64, Vec<ArchivedStep>> = HashMap::new();
        if !run_rows.is_empty() {
            // Steps by a join on the runs of these messages: no second id list.
            let mut sql = Sql::new(backend);
            sql.push(
                "SELECT s.* FROM message_run_steps s JOIN message_runs r ON r.id = s.run_pk \
                 WHERE r.message_id IN ",
            )
            .bind_list(list.clone())
            .push(" ORDER BY s.run_pk, s.child_count");
            for r in message_run_steps::Model::find_by_statement(sql.statement())
                .all(conn)
                .await?
            {
                let properties = super::messages::step_properties(&r)?;
                steps.entry(r.run_pk).or_default().push(ArchivedStep {
                    child_count: r.child_count,
                    step_start: r.step_start,
                    step_stop: r.step_stop,
                    step_id: r.step_id,
                    model_step_id: r.model_step_id,
                    branch_id: r.branch_id,
                    status: r.status,
                    error: r.error,
                    activity: r.activity,
                    properties,
                });
            }
        }
        let mut runs: HashMap<i64, Vec<ArchivedRun>> = HashMap::new();
        for r in run_rows {
            runs.entry(r.message_id).or_default().push(ArchivedRun {
                steps: steps.remove(&r.id).unwrap_or_default(),
                run_id: r.run_id,
                run_start: r.run_start,
                run_stop: r.run_stop,
                log_level: r.log_level,
                overall_state: r.overall_state,
                process_id: r.process_id,
            });
        }
        let mut attributes: HashMap<i64, Vec<AdapterAttribute>> = HashMap::new();
        for a in adapter_attributes::Entity::find()
            .filter(adapter_attributes::Column::MessageId.is_in(list.clone()))
            .order_by_asc(adapter_attributes::Column::Id)
            .all(conn)
            .await?
        {
            attributes
                .entry(a.message_id)
                .or_default()
                .push(AdapterAttribute {
                    cpi_id: a.cpi_id,
                    adapter_id: a.adapter_id,
                    adapter_message_id: a.adapter_message_id,
                    name: a.name,
                    value: a.value,
                });
        }
        let mut bodies: HashMap<i64, Vec<ArchivedPayload>> = HashMap::new();
        for p in payloads::Entity::find()
            .filter(payloads::Column::MessageId.is_in(list.clone()))
            .order_by_asc(payloads::Column::Id)
            .all(conn)
            .await?
        {
            bodies
                .entry(p.message_id)
                .or_default()
                .push(ArchivedPayload {
                    entry_id: p.entry_id,
                    message_store_id: p.message_store_id,
                    entry_timestamp: p.entry_timestamp,
                    has_attachments: p.has_attachments,
                    content_type: p.content_type,
                    size: p.size,
                    content: p.content,
                    sha256: p.sha256,
                    retain_until: p.retain_until,
                    status: p.status,
                    error: p.error,
                    downloaded_at: p.downloaded_at,
                });
        }
        let mut files: HashMap<i64, Vec<ArchivedAttachment>> = HashMap::new();
        for a in attachments::Entity::find()
            .filter(attachments::Column::MessageId.is_in(list))
            .order_by_asc(attachments::Column::Id)
            .all(conn)
            .await?
        {
            files
                .entry(a.message_id)
                .or_default()
                .push(ArchivedAttachment {
                    attachment_id: a.attachment_id,
                    name: a.name,
                    content_type: a.content_type,
                    size: a.size,
                    timestamp: a.timestamp,
                    content: a.content,
                    sha256: a.sha256,
                    status: a.status,
                    error: a.error,
                    downloaded_at: a.downloaded_at,
                });
        }
        for m in rows {
            let id = m.id;
            out.push(ArchivedMessage {
                id,
                guid: m.message_guid,
                correlation_id: m.correlation_id,
                application_message_id: m.application_message_id,
                application_message_type: m.application_message_type,
                predecessor_guid: m.predecessor_message_guid,
                log_start: m.log_start,
                log_end: m.log_end,
                sender: m.sender,
                receiver: m.receiver,
                iflow_id: m.iflow_id,
                iflow_name: m.iflow_name,
                artifact_type: m.artifact_type,
                package_id: m.package_id,
                package_name: m.package_name,
                status: m.status,
                custom_status: m.custom_status,
                log_level: m.log_level,
                alternate_web_link: m.alternate_web_link,
                transaction_id: m.transaction_id,
                archiving_status: m.archiving_status,
                origin_component_name: m.origin_component_name,
                local_component_name: m.local_component_name,
                previous_component_name: m.previous_component_name,
                duration_ms: m.duration_ms,
                details_status: m.details_status,
                details_fetched_at: m.details_fetched_at,
                created_at: m.created_at,
                updated_at: m.updated_at,
                headers: headers.remove(&id).unwrap_or_default(),
                error: errors.remove(&id),
                runs: runs.remove(&id).unwrap_or_default(),
                adapter_attributes: attributes.remove(&id).unwrap_or_default(),
                payloads: bodies.remove(&id).unwrap_or_default(),
                attachments: files.remove(&id).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// What [`delete_archived`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    pub deleted: u64,
    /// Rows not deleted: changed after they were archived (or already gone).
    pub changed: u64,
}

/// Delete the archived messages `archived` (id and the version the archive holds) of a tenant
/// in one short write transaction; the caller batches. Rows that changed since (another
/// version) or are gone are left alone. Children go by the foreign keys' cascades; the
/// correlation counts are decremented for the deleted rows.
pub async fn delete_archived(
    db: &Db,
    tenant_id: i64,
    archived: &[DayMessage],
) -> Result<DeleteOutcome, StoreError> {
    let backend = db.db_backend();
    let txn = db.begin_write().await?;
    let mut correlations: BTreeMap<String, i64> = BTreeMap::new();
    let deleted = if backend == DbBackend::Postgres {
        // One statement: the version check and the delete happen under the row lock (a row
        // updated concurrently is re-checked against its new version and kept), without a
        // separate SELECT … FOR UPDATE pass over the rows.
        #[derive(serde::Serialize)]
        struct Row<'a> {
            id: i64,
            u: &'a str,
            d: Option<&'a str>,
        }
        let stamps: Vec<(String, Option<String>)> = archived
            .iter()
            .map(|m| (pg_ts(m.version.0), m.version.1.map(pg_ts)))
            .collect();
        let rows: Vec<Row<'_>> = archived
            .iter()
            .zip(&stamps)
            .map(|(m, (u, d))| Row {
                id: m.id,
                u,
                d: d.as_deref(),
            })
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| DbErr::Json(e.to_string()))?;
        let mut sql = Sql::new(backend);
        sql.push(
            "DELETE FROM message_logs m USING json_to_recordset(",
        )
        .bind(json)
        .push(
            "::json) AS x(id int8, u timestamptz, d timestamptz)              WHERE m.id = x.id AND m.tenant_id = ",
        )
        .bind(tenant_id)
        .push(
            " AND m.updated_at = x.u AND m.details_fetched_at IS NOT DISTINCT FROM x.d \
             RETURNING m.correlation_id",
        );
        let gone = txn.query_all_raw(sql.statement()).await?;
        for r in &gone {
            if let Some(c) = get::<Option<String>>(r, "correlation_id")? {
                *correlations.entry(c).or_default() += 1;
            }
        }
        gone.len() as u64
    } else {
        // SQLite: the write transaction holds the database's write lock, so reading the
        // versions first and deleting after cannot interleave with another writer.
        let want: HashMap<i64, Version> = archived.iter().map(|m| (m.id, m.version)).collect();
        let ids: Vec<i64> = archived.iter().map(|m| m.id).collect();
        let mut doomed = Vec::with_capacity(ids.len());
        for chunk in chunks(&ids, backend) {
            let mut sql = Sql::new(backend);
            sql.push(
                "SELECT id, updated_at, details_fetched_at, correlation_id FROM message_logs \
                 WHERE tenant_id = ",
            )
            .bind(tenant_id)
            .push(" AND id IN ")
            .bind_list(chunk.iter().copied());
            for r in txn.query_all_raw(sql.statement()).await? {
                let id: i64 = get(&r, "id")?;
                let version: Version = (get(&r, "updated_at")?, get(&r, "details_fetched_at")?);
                if want.get(&id) == Some(&version) {
                    doomed.push(id);
                    if let Some(c) = get::<Option<String>>(&r, "correlation_id")? {
                        *correlations.entry(c).or_default() += 1;
                    }
                }
            }
        }
        super::delete_in(&txn, "message_logs", "id", &doomed).await?
    };
    decrement_correlations(&txn, tenant_id, &correlations).await?;
    txn.commit().await?;
    Ok(DeleteOutcome {
        deleted,
        changed: archived.len() as u64 - deleted,
    })
}

/// A timestamp as PostgreSQL reads it from JSON text: microseconds, the precision it stores.
fn pg_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `message_count -= n` per correlation id, never below 0; one statement per chunk.
async fn decrement_correlations<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    counts: &BTreeMap<String, i64>,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let rows: Vec<(&String, &i64)> = counts.iter().collect();
    for chunk in rows.chunks((max_params(backend) - 2) / 2) {
        let mut sql = Sql::new(backend);
        sql.push("WITH x(c, n) AS (VALUES ");
        for (i, (c, n)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            // Typed for PostgreSQL, whose VALUES would otherwise guess the types.
            sql.push("(CAST(")
                .bind(c.as_str())
                .push(" AS TEXT), CAST(")
                .bind(i32::try_from(**n).unwrap_or(i32::MAX))
                .push(" AS INTEGER))");
        }
        let floor = match backend {
            DbBackend::Postgres => "GREATEST",
            _ => "MAX",
        };
        sql.push(&format!(
            ") UPDATE correlations SET message_count = {floor}(message_count - \
             (SELECT x.n FROM x WHERE x.c = correlations.correlation_id), 0) \
             WHERE tenant_id = "
        ))
        .bind(tenant_id)
        .push(" AND correlation_id IN (SELECT c FROM x)");
        conn.execute_raw(sql.statement()).await?;
    }
    Ok(())
}

/// Remove a tenant's correlation rows no message refers to any more (after archiving).
pub async fn drop_unused_correlations(db: &Db, tenant_id: i64) -> Result<u64, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("DELETE FROM correlations WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND message_count <= 0");
    Ok(db
        .conn()
        .execute_raw(sql.statement())
        .await?
        .rows_affected())
}

pub use super::archive_restore::{RestoreOutcome, restore_messages};
