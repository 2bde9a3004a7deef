//! Messages whose details could not be fetched or stored. The message itself is stored (its
//! page committed), so one message whose `ErrorInformation` keeps answering 500 no longer
//! fails its window: the failure is recorded here, shown with the message, and tried again a
//! bounded number of times with growing pauses. Writing the message's details clears it.

use chrono::{DateTime, Duration, Utc};
use domain::MessageStatus;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};
use serde::{Deserialize, Serialize};

use super::{Sql, get};
use crate::connect::Db;
use crate::entity::message_detail_failures;
use crate::error::StoreError;

/// Tries of a message's details before the collector gives up on them (the failure stays
/// recorded and visible; a `message_details` job for the message still tries again).
pub const MAX_ATTEMPTS: i32 = 5;
/// Pause after the second failed try; each further failure waits four times as long (2, 8 and
/// 32 minutes). The first failure is tried again at once: by the end of the same job, so a
/// passing fault costs no delay.
pub const FIRST_PAUSE_SECS: i64 = 120;

/// A recorded failure, as the monitor shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailFailure {
    pub attempts: i32,
    pub error: String,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
    /// When the collector tries again; `None`: it does not.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

fn to_failure(r: message_detail_failures::Model) -> DetailFailure {
    DetailFailure {
        attempts: r.attempts,
        error: r.error,
        first_failed_at: r.first_failed_at,
        last_failed_at: r.last_failed_at,
        next_attempt_at: r.next_attempt_at,
    }
}

/// When to try again after `attempts` failed tries (`None`: not any more).
pub fn next_attempt(attempts: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    if attempts <= 1 {
        return Some(now);
    }
    let factor = 4_i64.pow(u32::try_from(attempts - 2).unwrap_or(0));
    Some(now + Duration::seconds(FIRST_PAUSE_SECS * factor))
}

/// Record a failed try of a message's details. `retry: false` records a failure a retry
/// cannot fix (the message is gone from the tenant, a role is missing): no further tries.
pub async fn record(
    db: &Db,
    message_id: i64,
    error: &str,
    retry: bool,
    now: DateTime<Utc>,
) -> Result<DetailFailure, StoreError> {
    let txn = db.begin_write().await?;
    let backend = txn.get_database_backend();
    let lock = if backend == sea_orm::DbBackend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let mut sql = Sql::new(backend);
    sql.push("SELECT tenant_id FROM message_logs WHERE id = ")
        .bind(message_id)
        .push(lock);
    let tenant_id: i64 = match txn.query_one_raw(sql.statement()).await? {
        Some(row) => get(&row, "tenant_id")?,
        None => return Err(DbErr::RecordNotFound(format!("message {message_id}")).into()),
    };
    let before = message_detail_failures::Entity::find_by_id(message_id)
        .one(&txn)
        .await?;
    let attempts = before.as_ref().map_or(0, |b| b.attempts) + 1;
    let next = if retry {
        next_attempt(attempts, now)
    } else {
        None
    };
    let error = domain::limits::text(error).into_owned();
    let first = before.as_ref().map_or(now, |b| b.first_failed_at);
    let mut sql = Sql::new(backend);
    sql.push(
        "INSERT INTO message_detail_failures (message_id, tenant_id, attempts, error, \
         first_failed_at, last_failed_at, next_attempt_at) VALUES ",
    )
    .tuple(|t| {
        t.bind(message_id)
            .bind(tenant_id)
            .bind(attempts)
            .bind(error.clone())
            .bind(first)
            .bind(now)
            .bind(next);
    })
    .push(
        " ON CONFLICT (message_id) DO UPDATE SET attempts = excluded.attempts, \
         error = excluded.error, last_failed_at = excluded.last_failed_at, \
         next_attempt_at = excluded.next_attempt_at",
    );
    txn.execute_raw(sql.statement()).await?;
    txn.commit().await?;
    Ok(DetailFailure {
        attempts,
        error,
        first_failed_at: first,
        last_failed_at: now,
        next_attempt_at: next,
    })
}

/// Forget a message's failure: its details were written (inside that transaction).
pub(crate) async fn clear_in<C: ConnectionTrait>(conn: &C, message_id: i64) -> Result<(), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("DELETE FROM message_detail_failures WHERE message_id = ")
        .bind(message_id);
    conn.execute_raw(sql.statement()).await?;
    Ok(())
}

/// A message's recorded failure, if any.
pub async fn get_failure(db: &Db, message_id: i64) -> Result<Option<DetailFailure>, StoreError> {
    Ok(get_failure_in(db.conn(), message_id).await?)
}

pub(crate) async fn get_failure_in<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
) -> Result<Option<DetailFailure>, DbErr> {
    Ok(message_detail_failures::Entity::find_by_id(message_id)
        .one(conn)
        .await?
        .map(to_failure))
}

/// `(message id, guid, status)` of a tenant's messages whose details are due for another try
/// at `now`, longest waiting first, at most `limit`.
pub async fn due(
    db: &Db,
    tenant_id: i64,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(i64, String, MessageStatus)>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push(
        "SELECT m.id, m.message_guid, m.status FROM message_detail_failures f \
         JOIN message_logs m ON m.id = f.message_id WHERE f.tenant_id = ",
    )
    .bind(tenant_id)
    .push(" AND f.next_attempt_at IS NOT NULL AND f.next_attempt_at <= ")
    .bind(now)
    .push(" ORDER BY f.next_attempt_at, f.message_id LIMIT ")
    .bind(i64::try_from(limit).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    for row in db.conn().query_all_raw(sql.statement()).await? {
        let status: Option<String> = get(&row, "status")?;
        out.push((
            get(&row, "id")?,
            get(&row, "message_guid")?,
            status.map_or(MessageStatus::Other(String::new()), |s| {
                MessageStatus::parse(&s)
            }),
        ));
    }
    Ok(out)
}

/// Which of these messages have a recorded failure.
pub async fn failing_among(
    db: &Db,
    message_ids: &[i64],
) -> Result<std::collections::HashSet<i64>, StoreError> {
    let backend = db.db_backend();
    let mut out = std::collections::HashSet::new();
    for chunk in message_ids.chunks(super::max_params(backend) - 1) {
        let mut sql = Sql::new(backend);
        sql.push("SELECT message_id FROM message_detail_failures WHERE message_id IN ")
            .bind_list(chunk.iter().copied());
        for row in db.conn().query_all_raw(sql.statement()).await? {
            out.insert(get(&row, "message_id")?);
        }
    }
    Ok(out)
}

/// How many of a tenant's messages have a recorded failure: `(still retried, given up)`.
pub async fn counts(db: &Db, tenant_id: i64) -> Result<(i64, i64), StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push(
        "SELECT CAST(COALESCE(SUM(CASE WHEN next_attempt_at IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS retried, \
         CAST(COALESCE(SUM(CASE WHEN next_attempt_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS given_up \
         FROM message_detail_failures WHERE tenant_id = ",
    )
    .bind(tenant_id);
    match db.conn().query_one_raw(sql.statement()).await? {
        Some(row) => Ok((get(&row, "retried")?, get(&row, "given_up")?)),
        None => Ok((0, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_end() {
        let now = Utc::now();
        assert_eq!(next_attempt(1, now), Some(now));
        assert_eq!(next_attempt(2, now), Some(now + Duration::minutes(2)));
        assert_eq!(next_attempt(4, now), Some(now + Duration::minutes(32)));
        assert_eq!(next_attempt(MAX_ATTEMPTS, now), None);
    }
}
