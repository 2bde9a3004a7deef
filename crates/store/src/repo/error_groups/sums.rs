//! Per-group occurrences in the fixed windows of the Errors list (the last 24 hours, 7 days,
//! 30 days), so the list sorted by occurrences in those ranges is an index walk
//! (`error_group_sums`, migration `m20261208_000017`).
//!
//! Invariant: for every built window `w` with first hour `S_w` (`error_group_sum_windows`), a
//! group's sum is exactly the sum of its `error_group_hours` from `S_w` on (no row: zero).
//! - additions to hours add to the sums of the windows whose start is not after the hour
//!   ([`add`]); everything else that rewrites hours (clamped count-downs, merges, unmerges,
//!   seeding) recomputes the touched groups' sums from their hours ([`sync`]);
//! - [`refresh`] moves each window to start `w` hours before the current hour, subtracting the
//!   hours that left it (and builds a window that has no row yet); the list calls it when the
//!   range it was asked for is a window that is behind, and the metrics daemon's periodic
//!   error-group step ([`super::tick`]) calls it;
//! - the retention prune subtracts what it deletes.
//!
//! A window is used for a request only when its start is the range's first hour and no hour at
//! or after the range's end has counts, so the result equals summing the hours; otherwise the
//! list sums the hours itself.
//!
//! Concurrency on PostgreSQL: writers take a shared advisory lock before reading the window
//! starts, [`refresh`] and the prune the exclusive one. A writer either updates the sums under
//! the old start and commits before the mover reads the hours (which then include its hours),
//! or reads the new start. On SQLite writers are serialised anyway.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::counts::hour_of;
use crate::connect::Db;
use crate::error::StoreError;
use crate::repo::{Bulk, Sql, get, max_params};

/// The windows kept, in hours before the current hour (a quick range of 24 h ending now
/// counts the hours from 24 hours before the current one up to the current one).
pub(crate) const WINDOWS: [i32; 3] = [24, 168, 720];

/// Advisory lock key: "IMERRSUM" in ASCII (the one-key form; the rollup uses the two-key one).
const PG_LOCK_KEY: i64 = 0x494D_4552_5253_554D;

async fn lock<C: ConnectionTrait>(conn: &C, exclusive: bool) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        let f = if exclusive {
            "pg_advisory_xact_lock"
        } else {
            "pg_advisory_xact_lock_shared"
        };
        conn.execute_unprepared(&format!("SELECT {f}({PG_LOCK_KEY})"))
            .await?;
    }
    Ok(())
}

/// The first hour of each built window.
pub(crate) async fn starts<C: ConnectionTrait>(
    conn: &C,
) -> Result<BTreeMap<i32, DateTime<Utc>>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT window_hours, start_hour FROM error_group_sum_windows");
    let mut out = BTreeMap::new();
    for row in conn.query_all_raw(sql.statement()).await? {
        out.insert(get(&row, "window_hours")?, get(&row, "start_hour")?);
    }
    Ok(out)
}

/// Window lengths and their first hours.
type Starts = Vec<(i32, DateTime<Utc>)>;

/// Add positive hourly deltas `(group, hour, delta)` to the sums of the windows that count
/// that hour. Inside the writer's transaction, after the hours were written. Three statements:
/// the shared lock (PostgreSQL), the groups' tenants with the window starts, the upsert.
pub(crate) async fn add<C: ConnectionTrait>(
    conn: &C,
    ups: &[(i64, DateTime<Utc>, i64)],
) -> Result<(), DbErr> {
    if ups.is_empty() {
        return Ok(());
    }
    lock(conn, false).await?;
    let backend = conn.get_database_backend();
    let ids: Vec<i64> = ups
        .iter()
        .map(|(g, _, _)| *g)
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    // Per group: its tenant and each built window's start.
    let mut windows: BTreeMap<i64, (i64, Starts)> = BTreeMap::new();
    for chunk in ids.chunks(max_params(backend) - 1) {
        let mut sql = Sql::new(backend);
        sql.push(
            "SELECT g.id, g.tenant_id, w.window_hours, w.start_hour FROM error_groups g \
             CROSS JOIN error_group_sum_windows w WHERE g.id IN ",
        )
        .bind_list(chunk.iter().copied());
        for row in conn.query_all_raw(sql.statement()).await? {
            let e = windows
                .entry(get(&row, "id")?)
                .or_insert_with(|| (0, Vec::new()));
            e.0 = get(&row, "tenant_id")?;
            e.1.push((get(&row, "window_hours")?, get(&row, "start_hour")?));
        }
    }
    let mut sums: BTreeMap<(i64, i32), (i64, i64)> = BTreeMap::new();
    for (g, h, d) in ups {
        let Some((tenant, starts)) = windows.get(g) else {
            continue;
        };
        for (w, s) in starts {
            if h >= s {
                sums.entry((*g, *w)).or_insert((*tenant, 0)).1 += *d;
            }
        }
    }
    let rows: Vec<(i64, i32, i64, i64)> = sums
        .into_iter()
        .map(|((g, w), (t, n))| (g, w, t, n))
        .collect();
    let bulk = Bulk {
        head: "INSERT INTO error_group_sums (group_id, window_hours, tenant_id, count)",
        tail: "ON CONFLICT (group_id, window_hours) DO UPDATE SET count = error_group_sums.count + excluded.count",
        shared: Vec::new(),
    };
    for stmt in bulk.statements(backend, &rows, |t, (g, w, ten, n)| {
        t.bind(*g).bind(*w).bind(*ten).bind(*n);
    }) {
        conn.execute_raw(stmt).await?;
    }
    Ok(())
}

/// Set the sums of `groups` in every built window to the sum of their hours from the
/// window's start. Inside the writer's transaction, after the hours were written; the caller
/// holds the groups' rows (it updated them), so no other writer changes their hours meanwhile.
pub(crate) async fn sync<C: ConnectionTrait>(conn: &C, groups: &[i64]) -> Result<(), DbErr> {
    if groups.is_empty() {
        return Ok(());
    }
    lock(conn, false).await?;
    let backend = conn.get_database_backend();
    for chunk in groups.chunks(max_params(backend) - 4) {
        let mut sql = Sql::new(backend);
        sql.push(
            "INSERT INTO error_group_sums (group_id, window_hours, tenant_id, count) \
             SELECT g.id, w.window_hours, g.tenant_id, COALESCE((SELECT CAST(SUM(h.count) AS BIGINT) \
             FROM error_group_hours h WHERE h.group_id = g.id AND h.hour >= w.start_hour), 0) \
             FROM error_groups g CROSS JOIN error_group_sum_windows w WHERE g.id IN ",
        )
        .bind_list(chunk.iter().copied())
        .push(
            " ON CONFLICT (group_id, window_hours) DO UPDATE SET count = excluded.count",
        );
        conn.execute_raw(sql.statement()).await?;
    }
    Ok(())
}

/// Subtract from window `w`'s sums the hours in `[from, to)`, and drop the sums that reach
/// zero. Under the exclusive lock.
async fn subtract<C: ConnectionTrait>(
    conn: &C,
    w: i32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let touched = |sql: &mut Sql| {
        sql.push(" AND group_id IN (SELECT group_id FROM error_group_hours WHERE hour >= ")
            .bind(from)
            .push(" AND hour < ")
            .bind(to)
            .push(")");
    };
    let mut sql = Sql::new(backend);
    sql.push(
        "UPDATE error_group_sums SET count = count - COALESCE((SELECT CAST(SUM(h.count) AS BIGINT) \
         FROM error_group_hours h WHERE h.group_id = error_group_sums.group_id AND h.hour >= ",
    )
    .bind(from)
    .push(" AND h.hour < ")
    .bind(to)
    .push("), 0) WHERE window_hours = ")
    .bind(w);
    touched(&mut sql);
    conn.execute_raw(sql.statement()).await?;
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM error_group_sums WHERE window_hours = ")
        .bind(w)
        .push(" AND count = 0");
    touched(&mut sql);
    conn.execute_raw(sql.statement()).await?;
    Ok(())
}

/// Build window `w` from the hours since `start`. Under the exclusive lock.
async fn build<C: ConnectionTrait>(conn: &C, w: i32, start: DateTime<Utc>) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM error_group_sums WHERE window_hours = ")
        .bind(w);
    conn.execute_raw(sql.statement()).await?;
    let mut sql = Sql::new(backend);
    sql.push("INSERT INTO error_group_sums (group_id, window_hours, tenant_id, count) SELECT h.group_id, ")
        .bind(w)
        .push(
            ", g.tenant_id, CAST(SUM(h.count) AS BIGINT) FROM error_group_hours h \
             JOIN error_groups g ON g.id = h.group_id WHERE h.hour >= ",
        )
        .bind(start)
        .push(" GROUP BY h.group_id, g.tenant_id HAVING SUM(h.count) <> 0");
    conn.execute_raw(sql.statement()).await?;
    // The planner's estimates for the list's walk need the new rows' statistics.
    if backend == DbBackend::Postgres {
        conn.execute_unprepared("ANALYZE error_group_sums").await?;
    }
    let mut sql = Sql::new(backend);
    sql.push("INSERT INTO error_group_sum_windows (window_hours, start_hour) VALUES ")
        .tuple(|t| {
            t.bind(w).bind(start);
        })
        .push(" ON CONFLICT (window_hours) DO UPDATE SET start_hour = excluded.start_hour");
    conn.execute_raw(sql.statement()).await?;
    Ok(())
}

/// The start each window should have at `now`.
fn targets(now: DateTime<Utc>) -> impl Iterator<Item = (i32, DateTime<Utc>)> {
    let h = hour_of(now);
    WINDOWS
        .into_iter()
        .map(move |w| (w, h - TimeDelta::hours(i64::from(w))))
}

/// Move every window to start `w` hours before `now`'s hour, subtracting the hours that left
/// it; build the windows that have no row yet (one pass over the last 30 days of hours). A
/// window already ahead of `now` (another host's clock) is left alone. Returns whether
/// anything changed. Cheap when nothing is due: one small read.
pub async fn refresh(db: &Db, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let due = |starts: &BTreeMap<i32, DateTime<Utc>>| {
        targets(now).any(|(w, t)| starts.get(&w).is_none_or(|s| *s < t))
    };
    if !due(&starts(db.conn()).await?) {
        return Ok(false);
    }
    let txn = db.begin_write().await?;
    lock(&txn, true).await?;
    let current = starts(&txn).await?;
    let mut changed = false;
    for (w, target) in targets(now) {
        match current.get(&w) {
            None => build(&txn, w, target).await?,
            Some(s) if *s < target => {
                subtract(&txn, w, *s, target).await?;
                let mut sql = Sql::new(txn.get_database_backend());
                sql.push("UPDATE error_group_sum_windows SET start_hour = ")
                    .bind(target)
                    .push(" WHERE window_hours = ")
                    .bind(w);
                txn.execute_raw(sql.statement()).await?;
            }
            Some(_) => continue,
        }
        changed = true;
    }
    txn.commit().await?;
    Ok(changed)
}

/// Before the retention deletes the hours before `cut`: take them out of the windows that
/// still count them (their starts stay; the hours they count from there are then exactly the
/// ones left). Inside the prune's transaction.
pub(crate) async fn before_prune<C: ConnectionTrait>(
    conn: &C,
    cut: DateTime<Utc>,
) -> Result<(), DbErr> {
    lock(conn, true).await?;
    for (w, s) in starts(conn).await? {
        if s < cut {
            subtract(conn, w, s, cut).await?;
        }
    }
    Ok(())
}

/// The window whose sums are exactly the occurrences in the hours of `[from, to)`, if there
/// is one: its start is `from`'s hour and no hour at or after `to` has counts. A window that
/// should start there by `now` but is behind (or not built) is refreshed first.
pub(crate) async fn window_for(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<i32>, StoreError> {
    let first = hour_of(from);
    let find = |starts: &BTreeMap<i32, DateTime<Utc>>| {
        starts.iter().find(|(_, s)| **s == first).map(|(w, _)| *w)
    };
    let mut w = find(&starts(db.conn()).await?);
    if w.is_none() && targets(now).any(|(_, t)| t == first) {
        refresh(db, now).await?;
        w = find(&starts(db.conn()).await?);
    }
    let Some(w) = w else {
        return Ok(None);
    };
    // The newest hour first: a MAX over the `(hour, group_id)` index, whatever plan a prepared
    // statement gets (a generic plan for `hour >= $1 … LIMIT 1` may scan the whole table).
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT MAX(hour) AS newest FROM error_group_hours");
    let newest: Option<DateTime<Utc>> = match db.conn().query_one_raw(sql.statement()).await? {
        Some(row) => get(&row, "newest")?,
        None => None,
    };
    if newest.is_some_and(|h| h >= to) {
        let mut sql = Sql::new(db.db_backend());
        sql.push("SELECT 1 AS x FROM error_group_hours WHERE hour >= ")
            .bind(to)
            .push(" AND count <> 0 LIMIT 1");
        if db.conn().query_one_raw(sql.statement()).await?.is_some() {
            return Ok(None);
        }
    }
    Ok(Some(w))
}
