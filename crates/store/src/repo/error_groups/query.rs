//! Reading groups: the Errors list (keyset pages, one statement per page plus one for the
//! page's counts), one group with its history, and the overview's counts.
//!
//! The list reads only unmerged groups; their counts already include what was merged into
//! them. "Seen in the range" is `last_seen >= from AND first_seen < to`, served by the
//! `(last_seen, id)` index newest first; sorting by occurrences in the range sums, per group,
//! the whole UTC days of the range from `error_group_days` and only the partial days at its two
//! ends from `error_group_hours` (`(day, group_id)` and `(hour, group_id)` indexes), which is
//! exactly the sum of the range's hours, and lists the groups that had any. The quick ranges
//! 24 h, 7 d and 30 d ending now read per-group sums kept for them instead ([`sums`]), which
//! are the same numbers without the aggregation.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, DurationRound as _, TimeDelta, TimeZone as _, Utc};
use domain::errors::NO_TEXT_FINGERPRINT;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
};

use super::counts::{day_of, hour_of};
use super::cursor;
use super::lifecycle::ignore_of;
use super::search::text_candidates;
use super::sums;
use super::{
    GroupDetail, GroupEvent, GroupPage, GroupQuery, GroupSort, GroupSummary, MAX_PAGE,
    OverviewCounts, SPARKLINE_DAYS, state_of,
};
use crate::connect::Db;
use crate::entity::{error_group_events, error_groups};
use crate::error::StoreError;
use crate::repo::{Sql, get as col};

#[derive(Debug, Clone, FromQueryResult)]
struct Row {
    id: i64,
    tenant_id: i64,
    iflow_id: String,
    title: String,
    state: String,
    total_occurrences: i64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    grouping_version: i16,
    occurrences: Option<i64>,
}

const COLUMNS: &str = "g.id, g.tenant_id, g.iflow_id, g.title, g.state, g.total_occurrences, \
    g.first_seen, g.last_seen, g.grouping_version";

/// `s` as a LIKE pattern matching it literally (escape character `\`).
pub(super) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// `SELECT group_id, count …` rows whose per-group sum is the occurrences in the hours of
/// `[from, to)` (an hour counts when it starts before `to`), of `ids` only when given: the
/// range's whole days from the daily table, its edge hours from the hourly one.
fn push_range_rows(sql: &mut Sql, from: DateTime<Utc>, to: DateTime<Utc>, ids: Option<&[i64]>) {
    let lo = hour_of(from);
    let first_day = if day_of(lo) == lo {
        lo
    } else {
        day_of(lo) + TimeDelta::days(1)
    };
    let end_day = day_of(to);
    let only = |sql: &mut Sql| {
        if let Some(ids) = ids {
            sql.push(" AND group_id IN ").bind_list(ids.iter().copied());
        }
    };
    if first_day < end_day {
        sql.push("SELECT group_id, count FROM error_group_days WHERE day >= ")
            .bind(first_day)
            .push(" AND day < ")
            .bind(end_day);
        only(sql);
        sql.push(" UNION ALL SELECT group_id, count FROM error_group_hours WHERE hour >= ")
            .bind(lo)
            .push(" AND hour < ")
            .bind(first_day);
        only(sql);
        sql.push(" UNION ALL SELECT group_id, count FROM error_group_hours WHERE hour >= ")
            .bind(end_day)
            .push(" AND hour < ")
            .bind(to);
        only(sql);
    } else {
        sql.push("SELECT group_id, count FROM error_group_hours WHERE hour >= ")
            .bind(lo)
            .push(" AND hour < ")
            .bind(to);
        only(sql);
    }
}

/// The list's filters on `error_groups g`; `ids`, when given, are the only candidates (the
/// groups the text search found through its index).
fn conditions(sql: &mut Sql, q: &GroupQuery, tenants: &[i64], ids: Option<&[i64]>) {
    // A group whose messages all moved elsewhere (a "no error text yet" group after the texts
    // arrived) is empty and not listed.
    sql.push(" g.merged_into IS NULL AND g.total_occurrences > 0 AND g.tenant_id IN ")
        .bind_list(tenants.iter().copied());
    if let Some(ids) = ids {
        sql.push(" AND g.id IN ").bind_list(ids.iter().copied());
    }
    sql.push(" AND g.last_seen >= ")
        .bind(q.from)
        .push(" AND g.first_seen < ")
        .bind(q.to);
    if let Some(iflow) = q.iflow.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" AND g.iflow_id = ").bind(iflow.to_owned());
    }
    if let Some(p) = q.package.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" AND g.package_id = ").bind(p.to_owned());
    }
    if let Some(state) = q.state {
        sql.push(" AND g.state = ").bind(state.as_str());
    }
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", like_escape(&text.to_lowercase()));
        sql.push(" AND (LOWER(g.title) LIKE ")
            .bind(pattern.clone())
            .push(" ESCAPE '\\' OR LOWER(g.iflow_id) LIKE ")
            .bind(pattern)
            .push(" ESCAPE '\\')");
    }
}

/// One page of the Errors list. An altered cursor, or one from another sort, is
/// [`StoreError::InvalidArgument`] (`after`); `from >= to` is one too (`from`).
pub async fn list(db: &Db, q: &GroupQuery) -> Result<GroupPage, StoreError> {
    let empty = GroupPage {
        items: Vec::new(),
        next: None,
    };
    if q.from >= q.to {
        return Err(StoreError::InvalidArgument {
            field: "from",
            reason: "the range is empty (from must be before to)".to_owned(),
        });
    }
    let after = q
        .after
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(|a| cursor::decode(a, q.sort))
        .transpose()?;
    let mut tenants: Vec<i64> = q.tenants.clone();
    tenants.sort_unstable();
    tenants.dedup();
    if let Some(t) = q.tenant {
        tenants.retain(|v| *v == t);
    }
    if tenants.is_empty() {
        return Ok(empty);
    }
    let limit = q.limit.clamp(1, MAX_PAGE);
    let ids = text_candidates(db, q, &tenants).await?;
    if ids.as_ref().is_some_and(Vec::is_empty) {
        return Ok(empty);
    }
    let backend = db.db_backend();
    let mut sql = Sql::new(backend);
    match q.sort {
        GroupSort::LastSeen | GroupSort::FirstSeen => {
            let col = if q.sort == GroupSort::LastSeen {
                "g.last_seen"
            } else {
                "g.first_seen"
            };
            sql.push(&format!(
                "SELECT {COLUMNS}, NULL AS occurrences FROM error_groups g WHERE"
            ));
            conditions(&mut sql, q, &tenants, ids.as_deref());
            if let Some((key, id)) = after {
                sql.push(&format!(" AND ({col}, g.id) < ("))
                    .bind(Utc.timestamp_nanos(key))
                    .push(", ")
                    .bind(id)
                    .push(")");
            }
            sql.push(&format!(" ORDER BY {col} DESC, g.id DESC LIMIT "))
                .bind(limit as i64 + 1);
        }
        GroupSort::Occurrences => {
            if let Some(w) = sums::window_for(db, q.from, q.to, Utc::now()).await? {
                if q.iflow.is_some() || ids.is_some() {
                    narrowed(&mut sql, q, &tenants, ids.as_deref(), w, after, limit);
                } else {
                    windowed(&mut sql, q, &tenants, w, after, limit);
                }
            } else {
                exact(&mut sql, q, &tenants, ids.as_deref(), after, limit);
            }
        }
    }
    let mut rows = Row::find_by_statement(sql.statement())
        .all(db.conn())
        .await?;
    let next = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| {
            let key = match q.sort {
                GroupSort::LastSeen => nanos(r.last_seen),
                GroupSort::FirstSeen => nanos(r.first_seen),
                GroupSort::Occurrences => r.occurrences.unwrap_or(0),
            };
            cursor::encode(q.sort, key, r.id)
        })
    } else {
        None
    };
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let in_range = if q.sort == GroupSort::Occurrences {
        HashMap::new()
    } else {
        range_counts(db.conn(), &ids, q.from, q.to).await?
    };
    let now = Utc::now();
    let sparks = sparklines(db.conn(), &ids, now).await?;
    let items = rows
        .into_iter()
        .map(|r| {
            let occurrences = r
                .occurrences
                .unwrap_or_else(|| in_range.get(&r.id).copied().unwrap_or(0));
            let sparkline = sparks
                .get(&r.id)
                .cloned()
                .unwrap_or_else(|| vec![0; SPARKLINE_DAYS]);
            summary(r, occurrences, sparkline)
        })
        .collect();
    Ok(GroupPage { items, next })
}

/// Sort by occurrences, summing every group's hours (and whole days) of the range: exact for
/// any range, but it aggregates all groups seen in the range on every request.
fn exact(
    sql: &mut Sql,
    q: &GroupQuery,
    tenants: &[i64],
    ids: Option<&[i64]>,
    after: Option<(i64, i64)>,
    limit: u64,
) {
    sql.push(&format!(
        "SELECT {COLUMNS}, h.n AS occurrences FROM (SELECT group_id, CAST(SUM(count) AS BIGINT) AS n \
         FROM ("
    ));
    push_range_rows(sql, q.from, q.to, ids);
    sql.push(") r GROUP BY group_id HAVING SUM(count) > 0) h JOIN error_groups g ON g.id = h.group_id WHERE");
    conditions(sql, q, tenants, None);
    if let Some((key, id)) = after {
        sql.push(" AND (h.n, g.id) < (")
            .bind(key)
            .push(", ")
            .bind(id)
            .push(")");
    }
    sql.push(" ORDER BY h.n DESC, g.id DESC LIMIT ")
        .bind(limit as i64 + 1);
}

/// Sort by occurrences from a window's sums (`error_group_sums`): per tenant a walk of
/// `(tenant_id, window_hours, count, group_id)` backwards that stops after a page, the tenants'
/// pages then merged.
fn windowed(
    sql: &mut Sql,
    q: &GroupQuery,
    tenants: &[i64],
    w: i32,
    after: Option<(i64, i64)>,
    limit: u64,
) {
    sql.push("SELECT * FROM (");
    for (i, t) in tenants.iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push(&format!(
            "SELECT * FROM (SELECT {COLUMNS}, s.count AS occurrences FROM error_group_sums s \
             JOIN error_groups g ON g.id = s.group_id WHERE s.tenant_id = "
        ))
        .bind(*t)
        .push(" AND s.window_hours = ")
        .bind(w)
        .push(" AND s.count > 0 AND");
        conditions(sql, q, std::slice::from_ref(t), None);
        if let Some((key, id)) = after {
            sql.push(" AND (s.count, s.group_id) < (")
                .bind(key)
                .push(", ")
                .bind(id)
                .push(")");
        }
        sql.push(" ORDER BY s.count DESC, s.group_id DESC LIMIT ")
            .bind(limit as i64 + 1)
            .push(&format!(") t{i}"));
    }
    sql.push(") p ORDER BY occurrences DESC, id DESC LIMIT ")
        .bind(limit as i64 + 1);
}

/// Sort by occurrences from a window's sums when the filters leave few groups (one iFlow, or
/// the text search's candidates): the matching groups first, then their sums by key, sorted.
/// The subquery is a fence (`OFFSET 0`): walking the sums in order and looking up every group
/// to test the filter costs a look-up per group of the tenant when few match.
#[allow(clippy::too_many_arguments)]
fn narrowed(
    sql: &mut Sql,
    q: &GroupQuery,
    tenants: &[i64],
    ids: Option<&[i64]>,
    w: i32,
    after: Option<(i64, i64)>,
    limit: u64,
) {
    sql.push(&format!(
        "SELECT {COLUMNS}, s.count AS occurrences FROM (SELECT * FROM error_groups g WHERE"
    ));
    conditions(sql, q, tenants, ids);
    // SQLite takes an OFFSET only after a LIMIT (-1: none).
    let fence = match sql.backend() {
        DbBackend::Postgres => " OFFSET 0",
        _ => " LIMIT -1 OFFSET 0",
    };
    sql.push(fence)
        .push(") g JOIN error_group_sums s ON s.group_id = g.id AND s.window_hours = ")
        .bind(w)
        .push(" WHERE s.count > 0");
    if let Some((key, id)) = after {
        sql.push(" AND (s.count, g.id) < (")
            .bind(key)
            .push(", ")
            .bind(id)
            .push(")");
    }
    sql.push(" ORDER BY s.count DESC, g.id DESC LIMIT ")
        .bind(limit as i64 + 1);
}

fn summary(r: Row, occurrences: i64, sparkline: Vec<i64>) -> GroupSummary {
    GroupSummary {
        id: r.id,
        tenant_id: r.tenant_id,
        iflow: r.iflow_id,
        title: r.title,
        state: state_of(&r.state),
        occurrences,
        total_occurrences: r.total_occurrences,
        first_seen: r.first_seen,
        last_seen: r.last_seen,
        sparkline,
        grouping_version: r.grouping_version,
    }
}

/// Occurrences of each group in the hours of `[from, to)`.
async fn range_counts<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<i64, i64>, StoreError> {
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT group_id, CAST(SUM(count) AS BIGINT) AS n FROM (");
    push_range_rows(&mut sql, from, to, Some(ids));
    sql.push(") r GROUP BY group_id");
    for row in conn.query_all_raw(sql.statement()).await? {
        out.insert(col(&row, "group_id")?, col::<i64>(&row, "n")?);
    }
    Ok(out)
}

fn day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(TimeDelta::days(1)).unwrap_or(now)
}

/// 14 daily counts per group (UTC days, today last), from the daily table.
async fn sparklines<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<HashMap<i64, Vec<i64>>, StoreError> {
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let start = day_start(now) - Duration::days(SPARKLINE_DAYS as i64 - 1);
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT group_id, day, count FROM error_group_days WHERE group_id IN ")
        .bind_list(ids.iter().copied())
        .push(" AND day >= ")
        .bind(start);
    for row in conn.query_all_raw(sql.statement()).await? {
        let g: i64 = col(&row, "group_id")?;
        let at: DateTime<Utc> = col(&row, "day")?;
        let day = (at - start).num_days();
        if (0..SPARKLINE_DAYS as i64).contains(&day) {
            out.entry(g).or_insert_with(|| vec![0; SPARKLINE_DAYS])[day as usize] +=
                col::<i64>(&row, "count")?;
        }
    }
    Ok(out)
}

/// One group with its template, sample, hourly history of the last 14 days, state history and
/// merges; `None` when there is no such group. The caller checks the tenant is visible.
pub async fn get(db: &Db, id: i64) -> Result<Option<GroupDetail>, StoreError> {
    let Some(g) = error_groups::Entity::find_by_id(id).one(db.conn()).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let start = day_start(now) - Duration::days(SPARKLINE_DAYS as i64 - 1);
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT hour, count FROM error_group_hours WHERE group_id = ")
        .bind(id)
        .push(" AND hour >= ")
        .bind(start)
        .push(" AND count <> 0 ORDER BY hour");
    let mut hourly = Vec::new();
    let mut sparkline = vec![0; SPARKLINE_DAYS];
    for row in db.conn().query_all_raw(sql.statement()).await? {
        let hour: DateTime<Utc> = col(&row, "hour")?;
        let n: i64 = col(&row, "count")?;
        let day = (hour - start).num_days();
        if (0..SPARKLINE_DAYS as i64).contains(&day) {
            sparkline[day as usize] += n;
        }
        hourly.push((hour, n));
    }
    let history = error_group_events::Entity::find()
        .filter(error_group_events::Column::GroupId.eq(id))
        .order_by_desc(error_group_events::Column::At)
        .order_by_desc(error_group_events::Column::Id)
        .all(db.conn())
        .await?
        .into_iter()
        .map(|e| GroupEvent {
            at: e.at,
            actor: e.actor,
            action: e.action,
            from_state: e.from_state.as_deref().map(state_of),
            to_state: e.to_state.as_deref().map(state_of),
            comment: e.comment,
        })
        .collect();
    let merged: Vec<i64> = error_groups::Entity::find()
        .filter(error_groups::Column::MergedInto.eq(id))
        .order_by_asc(error_groups::Column::Id)
        .all(db.conn())
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    let occurrences = sparkline.iter().sum();
    Ok(Some(GroupDetail {
        summary: GroupSummary {
            id: g.id,
            tenant_id: g.tenant_id,
            iflow: g.iflow_id,
            title: g.title,
            state: state_of(&g.state),
            occurrences,
            total_occurrences: g.total_occurrences,
            first_seen: g.first_seen,
            last_seen: g.last_seen,
            sparkline,
            grouping_version: g.grouping_version,
        },
        package: g.package_id,
        no_text: g.fingerprint == NO_TEXT_FINGERPRINT,
        fingerprint: g.fingerprint,
        rule_id: g.rule_id,
        template: g.template,
        sample_text: g.sample_text,
        sample_message_id: g.sample_message_id,
        hourly,
        history,
        resolve_mode: g.resolve_mode.as_deref().and_then(|m| m.parse().ok()),
        ignore: ignore_of(g.ignore_until.as_deref()),
        merged_into: g.merged_into,
        merged,
    }))
}

/// New, regressed and escalating groups of the visible tenants.
pub async fn overview_counts(db: &Db, tenants: &[i64]) -> Result<OverviewCounts, StoreError> {
    let mut out = OverviewCounts::default();
    if tenants.is_empty() {
        return Ok(out);
    }
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT state, COUNT(*) AS n FROM error_groups WHERE merged_into IS NULL AND total_occurrences > 0 AND state IN ('new', 'regressed', 'escalating') AND tenant_id IN ")
        .bind_list(tenants.iter().copied())
        .push(" GROUP BY state");
    let mut by: BTreeMap<String, i64> = BTreeMap::new();
    for row in db.conn().query_all_raw(sql.statement()).await? {
        by.insert(col(&row, "state")?, col(&row, "n")?);
    }
    let n = |s: &str| by.get(s).copied().unwrap_or(0).max(0) as u64;
    out.new = n("new");
    out.regressed = n("regressed");
    out.escalating = n("escalating");
    Ok(out)
}
