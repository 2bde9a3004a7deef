//! A group's state: what an occurrence changes, what a manager does (resolve, ignore, reopen),
//! and what time changes ([`tick`]). The decisions are `domain::errors::lifecycle`'s; this module
//! reads the facts they need (hourly history, the iFlow's deployment, occurrences in an ignore
//! window), stores the result and records every change with who, when and why.

use chrono::{DateTime, Duration, Utc};
use domain::errors::lifecycle::{self as dl, Facts, Lifecycle, Occurrence, Transition};
use domain::errors::{GroupState, IgnoreUntil, ResolveMode, hourly_limit};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use super::counts::{hour_of, hours_since};
use super::{GroupDetail, SYSTEM_ACTOR, get as get_detail, state_of};
use crate::connect::Db;
use crate::error::StoreError;
use crate::repo::{Sql, clean, get};

/// Hours of history the escalation limit looks at (a week).
const WEEK_HOURS: i64 = 168;

/// The lifecycle columns of a group.
#[derive(Debug, Clone, FromQueryResult)]
pub(crate) struct StateRow {
    pub id: i64,
    pub tenant_id: i64,
    pub iflow_id: String,
    pub state: String,
    pub state_changed_at: DateTime<Utc>,
    pub first_seen: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolve_mode: Option<String>,
    pub ignore_until: Option<String>,
    pub ignored_at: Option<DateTime<Utc>>,
    pub ignored_occurrences: i64,
    pub merged_into: Option<i64>,
}

const STATE_COLUMNS: &str = "id, tenant_id, iflow_id, state, state_changed_at, first_seen, \
    resolved_at, resolve_mode, ignore_until, ignored_at, ignored_occurrences, merged_into";

pub(crate) fn ignore_of(json: Option<&str>) -> Option<IgnoreUntil> {
    json.and_then(|s| serde_json::from_str(s).ok())
}

impl StateRow {
    fn lifecycle(&self) -> Lifecycle {
        Lifecycle {
            state: state_of(&self.state),
            first_seen: self.first_seen,
            state_since: self.state_changed_at,
            resolved_at: self.resolved_at,
            resolve_mode: self.resolve_mode.as_deref().and_then(|m| m.parse().ok()),
            ignore: ignore_of(self.ignore_until.as_deref()),
            ignored_at: self.ignored_at,
        }
    }
}

pub(crate) async fn state_row<C: ConnectionTrait>(conn: &C, id: i64) -> Result<StateRow, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(&format!(
        "SELECT {STATE_COLUMNS} FROM error_groups WHERE id = "
    ))
    .bind(id);
    StateRow::find_by_statement(sql.statement())
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("error group {id}")))
}

/// The last 60 minutes' occurrences and the escalation limit, from the hourly history: the
/// current hour plus the part of the previous hour that is still within 60 minutes (in
/// proportion), against `domain::errors::hourly_limit` over the week before the current hour.
pub(crate) async fn escalation<C: ConnectionTrait>(
    conn: &C,
    group_id: i64,
    first_seen: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(u64, f64), DbErr> {
    let current = hour_of(now);
    let hours = hours_since(conn, &[group_id], current - Duration::hours(WEEK_HOURS)).await?;
    let at = |h: DateTime<Utc>| hours.get(&h).copied().unwrap_or(0).max(0) as u64;
    let past_week: Vec<u64> = (1..=WEEK_HOURS)
        .rev()
        .map(|back| at(current - Duration::hours(back)))
        .collect();
    let previous = current - Duration::hours(1);
    let into = (now - current).num_seconds() as f64 / 3600.0;
    let last_hour = at(current) + (at(previous) as f64 * (1.0 - into)).round() as u64;
    // Complete hours before the last 60 minutes, so a burst does not raise its own limit.
    let max_so_far = past_week[..past_week.len() - 1]
        .iter()
        .copied()
        .max()
        .unwrap_or(0);
    let limit = hourly_limit(&past_week, max_so_far, now - first_seen);
    Ok((last_hour, limit))
}

/// The iFlow's deployment time as the runtime artifacts collection last saw it.
async fn deployed_at<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    iflow: &str,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT MAX(deployed_at) AS deployed_at FROM runtime_artifacts WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND artifact_id = ")
        .bind(iflow.to_owned());
    Ok(match conn.query_one_raw(sql.statement()).await? {
        Some(row) => get(&row, "deployed_at")?,
        None => None,
    })
}

/// Messages counted in `group_id` (or a group merged into it) whose `LogEnd` is at or after
/// `since`: the exact count an "N occurrences within W minutes" ignore needs.
async fn messages_since<C: ConnectionTrait>(
    conn: &C,
    group_id: i64,
    since: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT COUNT(*) AS n FROM message_logs WHERE error_group_id IN (SELECT id FROM error_groups WHERE id = ")
        .bind(group_id)
        .push(" OR merged_into = ")
        .bind(group_id)
        .push(") AND log_end >= ")
        .bind(since);
    Ok(match conn.query_one_raw(sql.statement()).await? {
        Some(row) => get::<i64>(&row, "n")?.max(0) as u64,
        None => 0,
    })
}

async fn facts<C: ConnectionTrait>(
    conn: &C,
    row: &StateRow,
    l: &Lifecycle,
    now: DateTime<Utc>,
) -> Result<Facts, DbErr> {
    let next_deployment = match (l.state, l.resolve_mode, l.resolved_at) {
        (GroupState::Resolved, Some(ResolveMode::NextDeployment), Some(resolved_at)) => {
            let d = deployed_at(conn, row.tenant_id, &row.iflow_id).await?;
            dl::next_deployment(resolved_at, d)
        }
        _ => None,
    };
    let in_ignore_window = match (l.state, l.ignore.as_ref().and_then(|i| i.window())) {
        (GroupState::Ignored, Some(window)) => messages_since(conn, row.id, now - window).await?,
        _ => 0,
    };
    let (last_hour, limit) = escalation(conn, row.id, row.first_seen, now).await?;
    Ok(Facts {
        now,
        next_deployment,
        since_ignored: row.ignored_occurrences.max(0) as u64,
        in_ignore_window,
        last_hour,
        limit,
    })
}

/// Store a transition and record it in the history.
async fn save<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    t: &Transition,
    actor: &str,
    comment: Option<&str>,
    resolved_deployed_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let l = &t.lifecycle;
    let ignore = l
        .ignore
        .map(|i| serde_json::to_string(&i))
        .transpose()
        .map_err(|e| DbErr::Json(e.to_string()))?;
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("UPDATE error_groups SET state = ")
        .bind(l.state.as_str())
        .push(", state_changed_at = ")
        .bind(l.state_since)
        .push(", resolved_at = ")
        .bind(l.resolved_at)
        .push(", resolve_mode = ")
        .bind(l.resolve_mode.map(|m| m.as_str()))
        .push(", resolved_deployed_at = ")
        .bind(resolved_deployed_at)
        .push(", ignore_until = ")
        .bind(ignore)
        .push(", ignored_at = ")
        .bind(l.ignored_at)
        .push(", ignored_occurrences = 0 WHERE id = ")
        .bind(id);
    conn.execute_raw(sql.statement()).await?;
    event(
        conn,
        id,
        t.lifecycle.state_since,
        actor,
        t.reason.as_str(),
        Some(t.from),
        Some(t.to),
        comment,
    )
    .await
}

/// Append one entry to a group's history.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn event<C: ConnectionTrait>(
    conn: &C,
    group_id: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    from: Option<GroupState>,
    to: Option<GroupState>,
    comment: Option<&str>,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(
        "INSERT INTO error_group_events (group_id, at, actor, action, from_state, to_state, comment) VALUES ",
    )
    .tuple(|t| {
        t.bind(group_id)
            .bind(at)
            .bind(clean(actor))
            .bind(action.to_owned())
            .bind(from.map(|s| s.as_str()))
            .bind(to.map(|s| s.as_str()))
            .bind(comment.map(|c| super::counts::cut(c, 4000)));
    });
    conn.execute_raw(sql.statement()).await?;
    Ok(())
}

/// `occurrences` new occurrences of `group_id` (the group they count in, merged or not): the
/// group they are decided for is the merge target when there is one. The counts are already
/// applied.
pub(crate) async fn on_occurrence<C: ConnectionTrait>(
    conn: &C,
    group_id: i64,
    occ: Occurrence,
    occurrences: u64,
) -> Result<(), DbErr> {
    let mut row = state_row(conn, group_id).await?;
    if let Some(target) = row.merged_into {
        row = state_row(conn, target).await?;
    }
    if state_of(&row.state) == GroupState::Ignored {
        let mut sql = Sql::new(conn.get_database_backend());
        sql.push("UPDATE error_groups SET ignored_occurrences = ignored_occurrences + ")
            .bind(occurrences as i64)
            .push(" WHERE id = ")
            .bind(row.id);
        conn.execute_raw(sql.statement()).await?;
        row.ignored_occurrences += occurrences as i64;
    }
    let l = row.lifecycle();
    let now = Utc::now();
    let f = facts(conn, &row, &l, now).await?;
    if let Some(t) = dl::after_occurrence(&l, &occ, &f) {
        save(conn, row.id, &t, SYSTEM_ACTOR, None, None).await?;
    }
    Ok(())
}

fn not_merged(row: &StateRow) -> Result<(), StoreError> {
    match row.merged_into {
        Some(t) => Err(StoreError::InvalidArgument {
            field: "id",
            reason: format!("group {} is merged into group {t}: act on that one", row.id),
        }),
        None => Ok(()),
    }
}

/// A manager resolves the group: now (any later occurrence regresses it) or with the iFlow's
/// next deployment (only messages started after that deployment regress it).
pub async fn resolve(
    db: &Db,
    id: i64,
    actor: &str,
    mode: ResolveMode,
    comment: Option<&str>,
) -> Result<GroupDetail, StoreError> {
    let txn = db.begin_write().await?;
    let row = state_row(&txn, id).await?;
    not_merged(&row)?;
    let now = Utc::now();
    let t = dl::resolve(&row.lifecycle(), mode, now);
    let deployed = match mode {
        ResolveMode::NextDeployment => deployed_at(&txn, row.tenant_id, &row.iflow_id).await?,
        ResolveMode::Now => None,
    };
    save(&txn, id, &t, actor, comment, deployed).await?;
    txn.commit().await?;
    detail(db, id).await
}

/// A manager ignores the group until a condition is reached.
pub async fn ignore(
    db: &Db,
    id: i64,
    actor: &str,
    until: IgnoreUntil,
    comment: Option<&str>,
) -> Result<GroupDetail, StoreError> {
    let now = Utc::now();
    until
        .validate(now)
        .map_err(|e| StoreError::InvalidArgument {
            field: "until",
            reason: e.to_string(),
        })?;
    let txn = db.begin_write().await?;
    let row = state_row(&txn, id).await?;
    not_merged(&row)?;
    let t = dl::ignore(&row.lifecycle(), until, now);
    save(&txn, id, &t, actor, comment, None).await?;
    txn.commit().await?;
    detail(db, id).await
}

/// A manager reopens a resolved or ignored group.
pub async fn reopen(
    db: &Db,
    id: i64,
    actor: &str,
    comment: Option<&str>,
) -> Result<GroupDetail, StoreError> {
    let txn = db.begin_write().await?;
    let row = state_row(&txn, id).await?;
    not_merged(&row)?;
    let l = row.lifecycle();
    if l.state.is_open() {
        return Err(StoreError::InvalidArgument {
            field: "id",
            reason: format!("group {id} is {}, not resolved or ignored", l.state),
        });
    }
    let now = Utc::now();
    let f = facts(&txn, &row, &l, now).await?;
    let t = dl::reopen(&l, &f);
    save(&txn, id, &t, actor, comment, None).await?;
    txn.commit().await?;
    detail(db, id).await
}

async fn detail(db: &Db, id: i64) -> Result<GroupDetail, StoreError> {
    get_detail(db, id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("error group {id}")).into())
}

/// The changes time makes without an occurrence (`domain::errors::lifecycle::on_tick`): an
/// ignore date reached, an escalation over, a group no longer new, a regression settled. Only
/// groups in those states are read. Returns how many groups changed. Also moves the Errors
/// list's windowed sums to the current hour. The metrics daemon runs it with its
/// reconciliation.
pub async fn tick(db: &Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    // The list's windowed sums follow the clock here too, so a reader rarely moves them.
    super::sums::refresh(db, now).await?;
    let week = now - Duration::days(dl::NEW_DAYS);
    let mut sql = Sql::new(db.db_backend());
    sql.push(&format!(
        "SELECT {STATE_COLUMNS} FROM error_groups WHERE merged_into IS NULL AND ((state = 'new' AND first_seen <= "
    ))
    .bind(week)
    .push(") OR (state = 'regressed' AND state_changed_at <= ")
    .bind(week)
    .push(") OR state = 'escalating' OR (state = 'ignored' AND ignore_until LIKE ")
    .bind("{\"date\"%")
    .push("))");
    let rows = StateRow::find_by_statement(sql.statement())
        .all(db.conn())
        .await?;
    let mut changed = 0;
    for row in rows {
        let txn = db.begin_write().await?;
        // Read again inside the write transaction: an occurrence may have moved it meanwhile.
        let row = state_row(&txn, row.id).await?;
        let l = row.lifecycle();
        let f = facts(&txn, &row, &l, now).await?;
        if let Some(t) = dl::on_tick(&l, &f) {
            save(&txn, row.id, &t, SYSTEM_ACTOR, None, None).await?;
            changed += 1;
        }
        txn.commit().await?;
    }
    Ok(changed)
}
