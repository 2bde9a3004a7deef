//! Per-tenant evaluation state: when evaluation last started and finished, how long it took,
//! its error, the evaluator's memory (JSON cursor) and whether the default rules were applied.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::connect::Db;
use crate::entity::alert_evaluations;
use crate::error::StoreError;
use crate::repo::Sql;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub tenant_id: i64,
    pub last_started_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub cursor: serde_json::Value,
    pub defaults_applied: bool,
}

fn to_evaluation(m: alert_evaluations::Model) -> Evaluation {
    Evaluation {
        tenant_id: m.tenant_id,
        last_started_at: m.last_started_at,
        last_finished_at: m.last_finished_at,
        duration_ms: m.duration_ms,
        error: m.error,
        cursor: serde_json::from_str(&m.cursor).unwrap_or_else(|_| serde_json::json!({})),
        defaults_applied: m.defaults_applied,
    }
}

/// Record that an evaluation of the tenant starts; its state as it was (the row is created on
/// the first evaluation).
pub async fn start(db: &Db, tenant_id: i64, now: DateTime<Utc>) -> Result<Evaluation, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("INSERT INTO alert_evaluations (tenant_id, last_started_at, cursor, defaults_applied) VALUES ")
        .tuple(|t| {
            t.bind(tenant_id).bind(now).bind("{}").bind(false);
        })
        .push(" ON CONFLICT (tenant_id) DO UPDATE SET last_started_at = excluded.last_started_at");
    db.conn().execute_raw(sql.statement()).await?;
    get(db, tenant_id)
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound("alert_evaluations".into()).into())
}

pub async fn get(db: &Db, tenant_id: i64) -> Result<Option<Evaluation>, StoreError> {
    Ok(alert_evaluations::Entity::find()
        .filter(alert_evaluations::Column::TenantId.eq(tenant_id))
        .one(db.conn())
        .await?
        .map(to_evaluation))
}

/// Every tenant's evaluation state (for `/metrics` and the "evaluation stopped" banner).
pub async fn list(db: &Db) -> Result<Vec<Evaluation>, StoreError> {
    Ok(alert_evaluations::Entity::find()
        .all(db.conn())
        .await?
        .into_iter()
        .map(to_evaluation)
        .collect())
}

/// Record the end of an evaluation: its duration, error (None: success) and new cursor.
pub async fn finish(
    db: &Db,
    tenant_id: i64,
    finished: DateTime<Utc>,
    duration_ms: i64,
    error: Option<&str>,
    cursor: Option<&serde_json::Value>,
) -> Result<(), StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("UPDATE alert_evaluations SET last_finished_at = ")
        .bind(finished)
        .push(", duration_ms = ")
        .bind(duration_ms)
        .push(", error = ")
        .bind(error.map(crate::repo::clean));
    if let Some(c) = cursor {
        sql.push(", cursor = ").bind(c.to_string());
    }
    sql.push(" WHERE tenant_id = ").bind(tenant_id);
    db.conn().execute_raw(sql.statement()).await?;
    Ok(())
}

/// Mark the default rules as applied for the tenant: true when this call did it (so exactly
/// one of two concurrent evaluators creates them).
pub async fn claim_defaults<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("UPDATE alert_evaluations SET defaults_applied = ")
        .bind(true)
        .push(" WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND defaults_applied = ")
        .bind(false);
    Ok(conn.execute_raw(sql.statement()).await?.rows_affected() == 1)
}
