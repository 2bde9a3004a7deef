//! Scheduled slots fired by a controller. [`try_fire`] is the arbiter between controllers: the
//! unique index on `(tenant_id, job_type, slot_key)` admits one row per slot, so exactly one
//! caller wins it, across processes and hosts, on both backends.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{Sql, clean};
use crate::connect::Db;
use crate::error::StoreError;

/// Claim a slot. True only for the first caller for `(tenant_id, job_type, slot_key)`; every
/// later or concurrent caller gets false and must not publish. A single autocommitted
/// `INSERT … ON CONFLICT DO NOTHING`: the loser waits for the winner's row on the unique
/// index and then sees it, so no transaction or lock is needed around it.
pub async fn try_fire(
    db: &Db,
    tenant_id: i64,
    job_type: &str,
    slot_key: &str,
    job_id: &str,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("INSERT INTO job_firings (tenant_id, job_type, slot_key, fired_at, job_id) VALUES ")
        .tuple(|t| {
            t.bind(tenant_id)
                .bind(clean(job_type))
                .bind(clean(slot_key))
                .bind(Utc::now())
                .bind(clean(job_id));
        })
        .push(" ON CONFLICT (tenant_id, job_type, slot_key) DO NOTHING");
    let n = db
        .conn()
        .execute_raw(sql.statement())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// The job id that won a slot, if it was fired.
pub async fn fired_job(
    db: &Db,
    tenant_id: i64,
    job_type: &str,
    slot_key: &str,
) -> Result<Option<String>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT job_id FROM job_firings WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND job_type = ")
        .bind(job_type)
        .push(" AND slot_key = ")
        .bind(slot_key);
    match db.conn().query_one_raw(sql.statement()).await? {
        Some(row) => Ok(Some(super::get(&row, "job_id")?)),
        None => Ok(None),
    }
}

/// Forget firings older than `before` (slots that can no longer come up again). Returns how
/// many were removed.
pub async fn prune(db: &Db, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("DELETE FROM job_firings WHERE fired_at < ")
        .bind(before);
    Ok(db
        .conn()
        .execute_raw(sql.statement())
        .await?
        .rows_affected())
}
