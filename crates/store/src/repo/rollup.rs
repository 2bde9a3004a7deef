//! The monitor's hourly rollup `message_counts` (tenant, hour, iFlow, package, status): the exact
//! deltas a page of upserts applies in its own write transaction ([`CountChanges`],
//! [`apply_count_changes_in`]), the recount of given hours from `message_logs`
//! ([`refresh_counts`] and the periodic [`refresh_recent_counts`]), and the one-statement
//! [`rebuild_counts`]. The monitor reads it (`repo::monitor`); the page write and the archiver
//! move it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, DurationRound as _, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Value};

use crate::connect::Db;
use crate::entity::message_counts;
use crate::error::StoreError;
use crate::repo::{Bulk, Sql, delete_in};

pub(crate) fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

/// Recompute the rollup of `tenant_id` for the hours containing `hours` from `message_logs`,
/// in one transaction: changed counts are upserted, keys that no longer occur are deleted.
///
/// Race-free: on PostgreSQL each (tenant, hour) is held by a transaction-scoped advisory lock
/// before anything is read, so of two concurrent refreshes the one that writes last also read
/// last (READ COMMITTED reads afresh per statement) and a stale count never wins. On SQLite
/// the write transaction (`BEGIN IMMEDIATE`) serialises refreshes the same way.
pub async fn refresh_counts(
    db: &Db,
    tenant_id: i64,
    hours: &[DateTime<Utc>],
) -> Result<(), StoreError> {
    let mut hours: Vec<DateTime<Utc>> = hours.iter().copied().map(hour_floor).collect();
    hours.sort_unstable();
    hours.dedup();
    if hours.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write().await?;
    refresh_counts_in(&txn, tenant_id, &hours).await?;
    txn.commit().await?;
    Ok(())
}

/// Hours refreshed per transaction by [`refresh_recent_counts`], so its locks are short.
const RECONCILE_HOURS_PER_TXN: usize = 24;

/// Recompute every hour from the one containing `since` up to the current one: the
/// reconciliation that heals hours a crashed worker committed messages for but never
/// refreshed. Returns the number of hours recomputed.
pub async fn refresh_recent_counts(
    db: &Db,
    tenant_id: i64,
    since: DateTime<Utc>,
) -> Result<usize, StoreError> {
    refresh_counts_between(db, tenant_id, since, Utc::now()).await
}

/// Recompute every hour from the one containing `from` to the one containing `to`, a day of
/// hours per transaction so the locks are short. Returns the number of hours recomputed.
pub async fn refresh_counts_between(
    db: &Db,
    tenant_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let last = hour_floor(to);
    let mut hours = Vec::new();
    let mut h = hour_floor(from);
    while h <= last {
        hours.push(h);
        h += Duration::hours(1);
    }
    for chunk in hours.chunks(RECONCILE_HOURS_PER_TXN) {
        let txn = db.begin_write().await?;
        refresh_counts_in(&txn, tenant_id, chunk).await?;
        txn.commit().await?;
    }
    Ok(hours.len())
}

/// A rollup key: hour, iFlow, package, status.
type CountKey = (DateTime<Utc>, String, String, String);

/// Takes the advisory lock of each (tenant, hour) for the rest of the transaction, in the given
/// order (sorted, so two lockers cannot deadlock). Every writer of the rollup on PostgreSQL takes
/// them before it reads or changes an hour; SQLite's write transaction already serialises them.
async fn lock_hours<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    hours: &[DateTime<Utc>],
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    if backend != DbBackend::Postgres || hours.is_empty() {
        return Ok(());
    }
    for h in hours {
        let (a, b) = lock_keys(tenant_id, *h);
        let mut sql = Sql::new(backend);
        sql.push("SELECT pg_advisory_xact_lock(")
            .bind(a)
            .push(", ")
            .bind(b)
            .push(")");
        conn.execute_raw(sql.statement()).await?;
    }
    Ok(())
}

/// [`refresh_counts`] inside the caller's write transaction; `hours` are whole hours, sorted
/// and distinct (locks are taken in that order, so concurrent refreshes cannot deadlock).
async fn refresh_counts_in<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    hours: &[DateTime<Utc>],
) -> Result<(), DbErr> {
    lock_hours(conn, tenant_id, hours).await?;
    recount_in(conn, tenant_id, hours).await
}

/// A key's count as recomputed from `message_logs` (one hour).
#[derive(FromQueryResult)]
struct FreshCount {
    iflow_id: String,
    package_id: String,
    status: String,
    iflow_name: Option<String>,
    n: i64,
}

/// Recompute `hours` of the rollup from `message_logs`; the caller holds their locks.
async fn recount_in<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    hours: &[DateTime<Utc>],
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let mut fresh: HashMap<CountKey, (Option<String>, i64)> = HashMap::new();
    for h in hours {
        let mut sql = Sql::new(backend);
        sql.push(
            "SELECT COALESCE(iflow_id, '') AS iflow_id, COALESCE(package_id, '') AS package_id, \
             COALESCE(status, '') AS status, MAX(iflow_name) AS iflow_name, COUNT(*) AS n \
             FROM message_logs WHERE tenant_id = ",
        )
        .bind(tenant_id)
        .push(" AND log_end >= ")
        .bind(*h)
        .push(" AND log_end < ")
        .bind(*h + Duration::hours(1))
        .push(" GROUP BY COALESCE(iflow_id, ''), COALESCE(package_id, ''), COALESCE(status, '')");
        for r in FreshCount::find_by_statement(sql.statement())
            .all(conn)
            .await?
        {
            fresh.insert(
                (*h, r.iflow_id, r.package_id, r.status),
                (r.iflow_name, r.n),
            );
        }
    }
    let mut sql = Sql::new(backend);
    sql.push(
        "SELECT id, tenant_id, hour_start, iflow_id, package_id, status, iflow_name, count \
         FROM message_counts WHERE tenant_id = ",
    )
    .bind(tenant_id)
    .push(" AND hour_start IN ")
    .bind_list(hours.iter().copied());
    let mut unchanged: HashSet<CountKey> = HashSet::new();
    let mut vanished: Vec<i64> = Vec::new();
    for r in message_counts::Model::find_by_statement(sql.statement())
        .all(conn)
        .await?
    {
        let key: CountKey = (r.hour_start, r.iflow_id, r.package_id, r.status);
        let stored = (r.iflow_name, r.count);
        match fresh.get(&key) {
            None => vanished.push(r.id),
            Some(now) if *now == stored => {
                unchanged.insert(key);
            }
            Some(_) => {}
        }
    }
    delete_in(conn, "message_counts", "id", &vanished).await?;
    let mut changed: Vec<(&CountKey, &(Option<String>, i64))> = fresh
        .iter()
        .filter(|(k, _)| !unchanged.contains(*k))
        .collect();
    // Key order, so concurrent upserts of overlapping keys lock rows in one order.
    changed.sort_by(|a, b| a.0.cmp(b.0));
    write_counts(
        conn,
        tenant_id,
        &changed,
        "iflow_name = excluded.iflow_name, count = excluded.count",
    )
    .await?;
    Ok(())
}

/// What a page of upserts changes in the rollup: messages added to (or, negative, taken from)
/// each key, with the greatest iFlow name seen.
#[derive(Debug, Default)]
pub(crate) struct CountChanges {
    deltas: BTreeMap<CountKey, (Option<String>, i64)>,
}

impl CountChanges {
    /// `n` messages with these values (as stored: already cleaned) enter (`n > 0`) or leave
    /// (`n < 0`) the rollup. Messages without a `log_end` are not counted.
    pub(crate) fn add(
        &mut self,
        log_end: Option<DateTime<Utc>>,
        iflow_id: Option<&str>,
        package_id: Option<&str>,
        status: Option<&str>,
        iflow_name: Option<&str>,
        n: i64,
    ) {
        let Some(log_end) = log_end else {
            return;
        };
        let key = (
            hour_floor(log_end),
            iflow_id.unwrap_or_default().to_string(),
            package_id.unwrap_or_default().to_string(),
            status.unwrap_or_default().to_string(),
        );
        let entry = self.deltas.entry(key).or_default();
        entry.1 += n;
        // The rollup keeps the greatest name of an iFlow within an hour, as a recount would.
        if n > 0 && iflow_name.is_some() && iflow_name.map(str::to_string) > entry.0 {
            entry.0 = iflow_name.map(str::to_string);
        }
    }
}

/// Apply a page's [`CountChanges`] inside its write transaction, as its last step: the hour locks
/// are then held only until the commit, so pages of the same hour written by other workers wait
/// milliseconds, not for a whole page. Taking the same locks as [`refresh_counts`] keeps a
/// concurrent recount from overwriting these additions with a count read before them.
pub(crate) async fn apply_count_changes_in<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    changes: &CountChanges,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let rows: Vec<(&CountKey, &(Option<String>, i64))> = changes
        .deltas
        .iter()
        .filter(|(_, (_, n))| *n != 0)
        .collect();
    // The map is in key order, hence in hour order.
    let mut hours: Vec<DateTime<Utc>> = rows.iter().map(|(k, _)| k.0).collect();
    hours.dedup();
    if hours.is_empty() {
        return Ok(());
    }
    lock_hours(conn, tenant_id, &hours).await?;
    // Key order (the map's), so concurrent writers lock rollup rows in one order.
    write_counts(
        conn,
        tenant_id,
        &rows,
        "count = message_counts.count + excluded.count, \
         iflow_name = CASE WHEN message_counts.iflow_name IS NULL \
           OR excluded.iflow_name > message_counts.iflow_name \
           THEN excluded.iflow_name ELSE message_counts.iflow_name END",
    )
    .await?;
    // Keys whose last message moved elsewhere: a recount would not list them either.
    if rows.iter().any(|(_, (_, n))| *n < 0) {
        let mut sql = Sql::new(backend);
        sql.push("DELETE FROM message_counts WHERE tenant_id = ")
            .bind(tenant_id)
            .push(" AND count <= 0 AND hour_start IN ")
            .bind_list(hours.iter().copied());
        conn.execute_raw(sql.statement()).await?;
    }
    Ok(())
}

/// Upsert rollup rows `(key, (iflow name, count))`; `on_conflict` is the `DO UPDATE SET` list
/// (replace the count, or add to it).
async fn write_counts<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    rows: &[(&CountKey, &(Option<String>, i64))],
    on_conflict: &str,
) -> Result<(), DbErr> {
    let tail = format!(
        "ON CONFLICT (tenant_id, hour_start, iflow_id, package_id, status) DO UPDATE SET {on_conflict}"
    );
    let bulk = Bulk {
        head: "INSERT INTO message_counts \
               (tenant_id, hour_start, iflow_id, package_id, status, iflow_name, count)",
        tail: &tail,
        shared: vec![Value::from(tenant_id)],
    };
    for stmt in bulk.statements(conn.get_database_backend(), rows, |t, (key, v)| {
        let (hour, iflow, package, status) = key;
        t.shared(0)
            .bind(*hour)
            .bind(iflow.as_str())
            .bind(package.as_str())
            .bind(status.as_str())
            .bind(v.0.clone())
            .bind(v.1);
    }) {
        conn.execute_raw(stmt).await?;
    }
    Ok(())
}

/// The advisory lock of one (tenant, hour): PostgreSQL's two-key form, whose key space is
/// apart from the one-key locks used elsewhere ([`crate::lock`]). Wrapping the tenant id
/// into 32 bits can only make two refreshes wait for each other, never skip a lock.
fn lock_keys(tenant_id: i64, hour: DateTime<Utc>) -> (i32, i32) {
    #[allow(clippy::cast_possible_truncation)]
    let a = tenant_id as i32;
    #[allow(clippy::cast_possible_truncation)]
    let b = (hour.timestamp() / 3600) as i32;
    (a, b)
}

/// Whether the tenant has messages with a `log_end` but no rollup rows at all: a database
/// collected before the rollup existed, which [`rebuild_counts`] fills once.
pub async fn counts_missing(db: &Db, tenant_id: i64) -> Result<bool, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT 1 AS one FROM message_logs m WHERE m.tenant_id = ")
        .bind(tenant_id)
        .push(
            " AND m.log_end IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM message_counts c WHERE c.tenant_id = ",
        )
        .bind(tenant_id)
        .push(") LIMIT 1");
    Ok(db.conn().query_one_raw(sql.statement()).await?.is_some())
}

/// Rebuild the whole rollup of a tenant from `message_logs` in one statement (after a bulk
/// load such as `integramon db seed`, or to repair it). Hours refreshed concurrently may be
/// overwritten with this statement's snapshot; [`refresh_recent_counts`] heals recent ones.
/// Returns the number of rollup rows written.
pub async fn rebuild_counts(db: &Db, tenant_id: i64) -> Result<u64, StoreError> {
    let backend = db.db_backend();
    // The hour as each backend stores timestamps: timestamptz on PostgreSQL; on SQLite the
    // RFC 3339 text sqlx writes for a whole hour (`…T08:00:00+00:00`), so the rollup's keys
    // compare equal to the hours `refresh_counts` binds.
    let hour = match backend {
        DbBackend::Postgres => "date_trunc('hour', log_end AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        _ => "substr(log_end, 1, 13) || ':00:00+00:00'",
    };
    let txn = db.begin_write().await?;
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM message_counts WHERE tenant_id = ")
        .bind(tenant_id);
    txn.execute_raw(sql.statement()).await?;
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "INSERT INTO message_counts \
         (tenant_id, hour_start, iflow_id, package_id, status, iflow_name, count) \
         SELECT tenant_id, {hour}, COALESCE(iflow_id, ''), COALESCE(package_id, ''), \
         COALESCE(status, ''), MAX(iflow_name), COUNT(*) FROM message_logs WHERE tenant_id = "
    ))
    .bind(tenant_id)
    .push(&format!(
        " AND log_end IS NOT NULL GROUP BY tenant_id, {hour}, COALESCE(iflow_id, ''), \
         COALESCE(package_id, ''), COALESCE(status, '') \
         ON CONFLICT (tenant_id, hour_start, iflow_id, package_id, status) DO UPDATE SET \
         iflow_name = excluded.iflow_name, count = excluded.count"
    ));
    let written = txn.execute_raw(sql.statement()).await?.rows_affected();
    txn.commit().await?;
    Ok(written)
}
