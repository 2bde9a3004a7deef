//! Merging groups by hand and undoing it.
//!
//! A merged group keeps its row, its messages and its own counts; `merged_into` points at the
//! target, which from then on counts the merged group's occurrences too (its hours and totals
//! got the merged group's added at the merge). Unmerging subtracts what the group brought.
//! Messages keep the id of the group of their own fingerprint, so nothing about them changes
//! either way; the monitor's group filter and a message's `error_group` follow `merged_into`.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use super::counts::sync_days;
use super::lifecycle::{StateRow, event, state_row};
use super::sums;
use super::{GroupDetail, get as get_detail, state_of};
use crate::connect::Db;
use crate::error::StoreError;
use crate::repo::{Sql, get};

fn bad(reason: String) -> StoreError {
    StoreError::InvalidArgument {
        field: "from",
        reason,
    }
}

/// Totals, first and last seen of a group.
async fn totals<C: ConnectionTrait>(
    conn: &C,
    id: i64,
) -> Result<(i64, DateTime<Utc>, DateTime<Utc>), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT total_occurrences, first_seen, last_seen FROM error_groups WHERE id = ")
        .bind(id);
    let row = conn
        .query_one_raw(sql.statement())
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("error group {id}")))?;
    Ok((
        get(&row, "total_occurrences")?,
        get(&row, "first_seen")?,
        get(&row, "last_seen")?,
    ))
}

/// Add (`sign` 1) or subtract (`sign` -1) the hourly history of `from` to that of `to`, and
/// bring `to`'s daily counts along (summed again from its hours: a subtraction is clamped).
async fn move_hours<C: ConnectionTrait>(
    conn: &C,
    from: i64,
    to: i64,
    sign: i64,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    if sign > 0 {
        sql.push("INSERT INTO error_group_hours (group_id, hour, count) SELECT ")
            .bind(to)
            .push(", hour, count FROM error_group_hours WHERE group_id = ")
            .bind(from)
            .push(
                " ON CONFLICT (group_id, hour) DO UPDATE SET count = error_group_hours.count + excluded.count",
            );
    } else {
        sql.push("UPDATE error_group_hours SET count = count - COALESCE((SELECT s.count FROM error_group_hours s WHERE s.group_id = ")
            .bind(from)
            .push(" AND s.hour = error_group_hours.hour), 0) WHERE group_id = ")
            .bind(to)
            .push(" AND hour IN (SELECT hour FROM error_group_hours WHERE group_id = ")
            .bind(from)
            .push(")");
    }
    conn.execute_raw(sql.statement()).await?;
    if sign < 0 {
        let mut sql = Sql::new(conn.get_database_backend());
        sql.push("UPDATE error_group_hours SET count = 0 WHERE group_id = ")
            .bind(to)
            .push(" AND count < 0");
        conn.execute_raw(sql.statement()).await?;
    }
    sync_days(conn, &[to], None).await?;
    sums::sync(conn, &[to]).await?;
    Ok(())
}

/// Add `delta` occurrences and widen first/last seen of `id` (a merge).
async fn add_totals<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    delta: i64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("UPDATE error_groups SET total_occurrences = total_occurrences + ")
        .bind(delta)
        .push(", first_seen = CASE WHEN first_seen > ")
        .bind(first)
        .push(" THEN ")
        .bind(first)
        .push(" ELSE first_seen END, last_seen = CASE WHEN last_seen < ")
        .bind(last)
        .push(" THEN ")
        .bind(last)
        .push(" ELSE last_seen END WHERE id = ")
        .bind(id);
    conn.execute_raw(sql.statement()).await?;
    Ok(())
}

async fn set_merged_into<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    into: Option<i64>,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("UPDATE error_groups SET merged_into = ")
        .bind(into)
        .push(" WHERE id = ")
        .bind(id);
    conn.execute_raw(sql.statement()).await?;
    Ok(())
}

/// Groups merged into `id`.
async fn children<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Vec<i64>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT id FROM error_groups WHERE merged_into = ")
        .bind(id)
        .push(" ORDER BY id");
    conn.query_all_raw(sql.statement())
        .await?
        .iter()
        .map(|r| get(r, "id"))
        .collect()
}

/// Merge the groups `from` into `into` (one tenant): the list then shows `into` with their
/// occurrences, and their future occurrences count there. A group that had groups merged into
/// it passes them on to `into` (merges stay one level deep, so each unmerges on its own).
pub async fn merge(
    db: &Db,
    into: i64,
    from: &[i64],
    actor: &str,
) -> Result<GroupDetail, StoreError> {
    let from: BTreeSet<i64> = from.iter().copied().filter(|f| *f != into).collect();
    if from.is_empty() {
        return Err(bad("name at least one other group to merge".to_owned()));
    }
    let txn = db.begin_write().await?;
    let target: StateRow = state_row(&txn, into).await?;
    if let Some(t) = target.merged_into {
        return Err(StoreError::InvalidArgument {
            field: "into",
            reason: format!("group {into} is itself merged into group {t}"),
        });
    }
    let now = Utc::now();
    for &id in &from {
        let source = state_row(&txn, id).await?;
        if source.tenant_id != target.tenant_id {
            return Err(bad(format!(
                "group {id} belongs to another tenant than group {into}"
            )));
        }
        if let Some(t) = source.merged_into {
            return Err(bad(format!("group {id} is already merged into group {t}")));
        }
        // Its own merged groups: counted in it until now; from now on counted in `into`.
        for child in children(&txn, id).await? {
            move_hours(&txn, child, id, -1).await?;
            let (n, _, _) = totals(&txn, child).await?;
            let mut sql = Sql::new(txn.get_database_backend());
            sql.push("UPDATE error_groups SET total_occurrences = total_occurrences - ")
                .bind(n)
                .push(" WHERE id = ")
                .bind(id);
            txn.execute_raw(sql.statement()).await?;
            set_merged_into(&txn, child, Some(into)).await?;
            let (n, first, last) = totals(&txn, child).await?;
            move_hours(&txn, child, into, 1).await?;
            add_totals(&txn, into, n, first, last).await?;
        }
        let (n, first, last) = totals(&txn, id).await?;
        move_hours(&txn, id, into, 1).await?;
        add_totals(&txn, into, n, first, last).await?;
        set_merged_into(&txn, id, Some(into)).await?;
        let st = Some(state_of(&source.state));
        event(
            &txn,
            id,
            now,
            actor,
            "merged",
            st,
            st,
            Some(&format!("into group {into}")),
        )
        .await?;
        let ts = Some(state_of(&target.state));
        event(
            &txn,
            into,
            now,
            actor,
            "merge",
            ts,
            ts,
            Some(&format!("group {id} merged in")),
        )
        .await?;
    }
    txn.commit().await?;
    detail(db, into).await
}

/// Undo the merge of group `id`: it is listed on its own again and the group it was merged into
/// loses its occurrences. The target's first and last seen are narrowed to its remaining hourly
/// history when the merged group had set them (to the hour; unchanged when that history was
/// pruned).
pub async fn unmerge(db: &Db, id: i64, actor: &str) -> Result<GroupDetail, StoreError> {
    let txn = db.begin_write().await?;
    let source = state_row(&txn, id).await?;
    let Some(into) = source.merged_into else {
        return Err(StoreError::InvalidArgument {
            field: "id",
            reason: format!("group {id} is not merged into another group"),
        });
    };
    let (n, first, last) = totals(&txn, id).await?;
    move_hours(&txn, id, into, -1).await?;
    let (target_n, target_first, target_last) = totals(&txn, into).await?;
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push("SELECT MIN(hour) AS lo, MAX(hour) AS hi FROM error_group_hours WHERE count > 0 AND group_id = ")
        .bind(into);
    let (lo, hi): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        match txn.query_one_raw(sql.statement()).await? {
            Some(r) => (get(&r, "lo")?, get(&r, "hi")?),
            None => (None, None),
        };
    let new_first = match lo {
        Some(lo) if first <= target_first && lo > target_first => lo,
        _ => target_first,
    };
    let new_last = match hi {
        Some(hi) if last >= target_last && hi < target_last => hi.max(new_first),
        _ => target_last,
    };
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push("UPDATE error_groups SET total_occurrences = ")
        .bind((target_n - n).max(0))
        .push(", first_seen = ")
        .bind(new_first)
        .push(", last_seen = ")
        .bind(new_last)
        .push(" WHERE id = ")
        .bind(into);
    txn.execute_raw(sql.statement()).await?;
    set_merged_into(&txn, id, None).await?;
    let now = Utc::now();
    let st = Some(state_of(&source.state));
    event(
        &txn,
        id,
        now,
        actor,
        "unmerge",
        st,
        st,
        Some(&format!("from group {into}")),
    )
    .await?;
    let target = state_row(&txn, into).await?;
    let ts = Some(state_of(&target.state));
    event(
        &txn,
        into,
        now,
        actor,
        "unmerged",
        ts,
        ts,
        Some(&format!("group {id} split off")),
    )
    .await?;
    txn.commit().await?;
    detail(db, id).await
}

async fn detail(db: &Db, id: i64) -> Result<GroupDetail, StoreError> {
    get_detail(db, id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("error group {id}")).into())
}
