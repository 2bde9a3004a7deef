//! The login throttle's shared state: every web replica reserves its sign-in attempts here, so
//! the limit holds across replicas. Each key's count and insert happen in one transaction that
//! holds the key's lock (an advisory lock on PostgreSQL, the write lock on SQLite): of any number
//! of concurrent attempts exactly `max` are granted, whichever process they run in. Counting
//! after inserting without a lock would be safe but not live: a burst could see itself over the
//! limit everywhere and refuse everyone.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Statement,
};

use super::clean;
use crate::connect::Db;
use crate::entity::login_attempts;
use crate::error::StoreError;

/// Keys are cut to this many characters (user names are attacker input).
const MAX_KEY_CHARS: usize = 200;

/// The outcome of [`reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Go ahead; the rows to release with [`release`] if the attempt succeeds.
    Granted(Vec<i64>),
    /// A key is locked out; retry after this many seconds (at least 1).
    Refused(u64),
}

fn key(k: &str) -> String {
    clean(&k.chars().take(MAX_KEY_CHARS).collect::<String>())
}

/// Count each key's attempts within `window`; when one already has `max`, refuse without
/// recording anything (refused attempts do not extend a lockout), otherwise record one attempt
/// per key.
pub async fn reserve(
    db: &Db,
    keys: &[String],
    max: u32,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<Reservation, StoreError> {
    let mut keys: Vec<String> = keys.iter().map(|k| key(k)).collect();
    // Sorted and distinct: two reservations take their locks in one order and cannot deadlock.
    keys.sort();
    keys.dedup();
    let txn = db.begin_write().await?;
    lock_keys(&txn, &keys).await?;
    let since = now - window;
    let mut wait = 0u64;
    for k in &keys {
        let recent = login_attempts::Entity::find()
            .filter(login_attempts::Column::AttemptKey.eq(k.as_str()))
            .filter(login_attempts::Column::AttemptedAt.gt(since));
        if recent.clone().count(&txn).await? >= u64::from(max) {
            let oldest = recent
                .order_by_asc(login_attempts::Column::AttemptedAt)
                .one(&txn)
                .await?
                .map_or(now, |r| r.attempted_at);
            let left = (oldest + window - now).num_seconds().max(1);
            wait = wait.max(u64::try_from(left).unwrap_or(1));
        }
    }
    if wait > 0 {
        txn.rollback().await?;
        return Ok(Reservation::Refused(wait));
    }
    let mut ids = Vec::with_capacity(keys.len());
    for k in keys {
        let row = login_attempts::ActiveModel {
            attempt_key: Set(k),
            attempted_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        ids.push(row.id);
    }
    txn.commit().await?;
    Ok(Reservation::Granted(ids))
}

/// Holds each key's lock for the rest of the transaction. On PostgreSQL a transaction-scoped
/// advisory lock on the key's hash (two keys sharing a hash only wait for each other); SQLite's
/// write transaction already serialises every reservation.
async fn lock_keys(txn: &DatabaseTransaction, keys: &[String]) -> Result<(), StoreError> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for k in keys {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtext('login_attempt:' || $1))",
            [k.clone().into()],
        ))
        .await?;
    }
    Ok(())
}

/// A successful attempt: its reserved rows go, and so do the earlier failures of `clear_key`
/// (the user name; the address's failures stay).
pub async fn release(db: &Db, ids: &[i64], clear_key: &str) -> Result<(), StoreError> {
    let txn = db.begin_write().await?;
    login_attempts::Entity::delete_many()
        .filter(login_attempts::Column::Id.is_in(ids.iter().copied()))
        .exec(&txn)
        .await?;
    login_attempts::Entity::delete_many()
        .filter(login_attempts::Column::AttemptKey.eq(key(clear_key)))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Remove attempts made before `before`; returns how many.
pub async fn purge(db: &Db, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let txn = db.begin_write().await?;
    let n = login_attempts::Entity::delete_many()
        .filter(login_attempts::Column::AttemptedAt.lte(before))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(n)
}
