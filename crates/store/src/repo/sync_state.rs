//! How far each collector got per tenant and job type: the watermark, job-specific resume state,
//! and the attempt history (last error, consecutive failures) behind the per-tenant status.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use super::{Sql, clean};
use crate::connect::Db;
use crate::entity::sync_state;
use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct SyncState {
    pub tenant_id: i64,
    pub job_type: String,
    pub watermark: Option<DateTime<Utc>>,
    pub resume_state: Option<serde_json::Value>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: i32,
}

fn to_state(r: sync_state::Model) -> Result<SyncState, DbErr> {
    let resume_state = match r.resume_state.as_deref() {
        Some(json) => Some(
            serde_json::from_str(json)
                .map_err(|e| DbErr::Json(format!("sync_state {} resume_state: {e}", r.id)))?,
        ),
        None => None,
    };
    Ok(SyncState {
        tenant_id: r.tenant_id,
        job_type: r.job_type,
        watermark: r.watermark,
        resume_state,
        last_attempt_at: r.last_attempt_at,
        last_success_at: r.last_success_at,
        last_error: r.last_error,
        consecutive_failures: r.consecutive_failures,
    })
}

fn json(v: Option<&serde_json::Value>) -> Option<String> {
    v.map(serde_json::Value::to_string)
}

pub async fn get(db: &Db, tenant_id: i64, job_type: &str) -> Result<Option<SyncState>, StoreError> {
    let row = sync_state::Entity::find()
        .filter(sync_state::Column::TenantId.eq(tenant_id))
        .filter(sync_state::Column::JobType.eq(job_type))
        .one(db.conn())
        .await?;
    Ok(row.map(to_state).transpose()?)
}

/// Every job's state for a tenant, by job type.
pub async fn list(db: &Db, tenant_id: i64) -> Result<Vec<SyncState>, StoreError> {
    let rows = sync_state::Entity::find()
        .filter(sync_state::Column::TenantId.eq(tenant_id))
        .order_by_asc(sync_state::Column::JobType)
        .all(db.conn())
        .await?;
    Ok(rows.into_iter().map(to_state).collect::<Result<_, _>>()?)
}

/// `INSERT … ON CONFLICT (tenant_id, job_type) DO UPDATE SET <set>`, with the insert's own
/// values given as `(column, value)` pairs.
async fn upsert<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    job_type: &str,
    insert: Vec<(&str, sea_orm::Value)>,
    set: &str,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    let cols: Vec<&str> = insert.iter().map(|(c, _)| *c).collect();
    sql.push(&format!(
        "INSERT INTO sync_state (tenant_id, job_type, {}) VALUES ",
        cols.join(", ")
    ))
    .tuple(|t| {
        t.bind(tenant_id).bind(job_type);
        for (_, v) in insert {
            t.bind(v);
        }
    })
    .push(" ON CONFLICT (tenant_id, job_type) DO UPDATE SET ")
    .push(set);
    conn.execute_raw(sql.statement()).await?;
    Ok(())
}

/// Set the watermark exactly, forwards or backwards (a reset or a re-sync).
pub async fn set_watermark(
    db: &Db,
    tenant_id: i64,
    job_type: &str,
    watermark: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    upsert(
        db.conn(),
        tenant_id,
        job_type,
        vec![("watermark", watermark.into())],
        "watermark = excluded.watermark",
    )
    .await?;
    Ok(())
}

/// Replace the job's resume state (`None` clears it).
pub async fn set_resume_state(
    db: &Db,
    tenant_id: i64,
    job_type: &str,
    state: Option<&serde_json::Value>,
) -> Result<(), StoreError> {
    upsert(
        db.conn(),
        tenant_id,
        job_type,
        vec![("resume_state", json(state).into())],
        "resume_state = excluded.resume_state",
    )
    .await?;
    Ok(())
}

/// A successful run: clears the error and the failure count, and moves the watermark forward
/// to `watermark` when given (never backwards, so a slow run finishing after a faster one
/// cannot undo its progress). `resume_state: Some` replaces the stored state.
pub async fn record_success(
    db: &Db,
    tenant_id: i64,
    job_type: &str,
    at: DateTime<Utc>,
    watermark: Option<DateTime<Utc>>,
    resume_state: Option<&serde_json::Value>,
) -> Result<(), StoreError> {
    let mut set = String::from(
        "last_attempt_at = excluded.last_attempt_at, last_success_at = excluded.last_success_at, \
         last_error = NULL, consecutive_failures = 0, \
         watermark = CASE WHEN excluded.watermark IS NOT NULL AND (sync_state.watermark IS NULL \
           OR excluded.watermark > sync_state.watermark) THEN excluded.watermark \
           ELSE sync_state.watermark END",
    );
    if resume_state.is_some() {
        set.push_str(", resume_state = excluded.resume_state");
    }
    upsert(
        db.conn(),
        tenant_id,
        job_type,
        vec![
            ("last_attempt_at", at.into()),
            ("last_success_at", at.into()),
            ("consecutive_failures", 0i32.into()),
            ("watermark", watermark.into()),
            ("resume_state", json(resume_state).into()),
        ],
        &set,
    )
    .await?;
    Ok(())
}

/// A failed run: records the error and counts consecutive failures; the watermark stays.
/// Returns the new failure count.
pub async fn record_failure(
    db: &Db,
    tenant_id: i64,
    job_type: &str,
    at: DateTime<Utc>,
    error: &str,
) -> Result<i32, StoreError> {
    let txn = db.begin_write().await?;
    upsert(
        &txn,
        tenant_id,
        job_type,
        vec![
            ("last_attempt_at", at.into()),
            ("last_error", clean(error).into()),
            ("consecutive_failures", 1i32.into()),
        ],
        "last_attempt_at = excluded.last_attempt_at, last_error = excluded.last_error, \
         consecutive_failures = sync_state.consecutive_failures + 1",
    )
    .await?;
    let row = sync_state::Entity::find()
        .filter(sync_state::Column::TenantId.eq(tenant_id))
        .filter(sync_state::Column::JobType.eq(job_type))
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("sync_state {tenant_id}/{job_type}")))?;
    txn.commit().await?;
    Ok(row.consecutive_failures)
}
