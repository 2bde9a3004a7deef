//! The group row and its counts: find or create a group by key, move its totals and hourly
//! history by exact deltas, prune old hours.
//!
//! `error_group_days` holds, per group and UTC day, exactly the sum of the group's hours of that
//! day: every write of hours here (and in merge and seed) brings the days along in the same
//! transaction, so range sums may read whole days there and only the edge hours here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use domain::errors::GroupState;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::sums;
use crate::connect::Db;
use crate::error::StoreError;
use crate::repo::{Bulk, Sql, clean, get, max_params};

/// Bytes of a real error text a group keeps as its sample (the message keeps the whole text).
pub(crate) const SAMPLE_MAX_BYTES: usize = 64 * 1024;

/// The hour an occurrence is counted under.
pub(crate) fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

/// The UTC day an hour belongs to (midnight).
pub(crate) fn day_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::days(1)).unwrap_or(t)
}

/// SQL for the day (midnight UTC) of the `hour` column, in the form each backend stores
/// timestamps (SQLite: the RFC 3339 text the driver writes, so text comparison orders it; the
/// same expression the migration filled the table with).
fn day_of_hour_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "(date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
        _ => "strftime('%Y-%m-%dT00:00:00+00:00', hour)",
    }
}

/// Set the daily counts of `groups` (only of `day` when given) to the sum of their hours.
/// Used where an hour write is not a plain addition (clamped count-downs, unmerges) or adds
/// whole histories (merges, seeding): the days then follow the hours exactly.
pub(crate) async fn sync_days<C: ConnectionTrait>(
    conn: &C,
    groups: &[i64],
    day: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let expr = day_of_hour_sql(backend);
    for chunk in groups.chunks(max_params(backend) - 4) {
        let mut sql = Sql::new(backend);
        sql.push(&format!(
            "INSERT INTO error_group_days (group_id, day, count) SELECT group_id, {expr}, \
             CAST(SUM(count) AS BIGINT) FROM error_group_hours WHERE group_id IN "
        ))
        .bind_list(chunk.iter().copied());
        if let Some(d) = day {
            sql.push(" AND hour >= ")
                .bind(d)
                .push(" AND hour < ")
                .bind(d + TimeDelta::days(1));
        }
        sql.push(&format!(
            " GROUP BY group_id, {expr} \
             ON CONFLICT (group_id, day) DO UPDATE SET count = excluded.count"
        ));
        conn.execute_raw(sql.statement()).await?;
    }
    Ok(())
}

/// What identifies a group, and what a new one starts with.
#[derive(Debug, Clone)]
pub(crate) struct NewGroup<'a> {
    pub tenant_id: i64,
    pub iflow: &'a str,
    pub package: Option<&'a str>,
    pub fingerprint: &'a str,
    pub grouping_version: i16,
    pub rule_id: Option<i64>,
    pub title: &'a str,
    pub template: &'a str,
    pub sample_text: Option<&'a str>,
    pub sample_message_id: Option<i64>,
    /// The first occurrence.
    pub at: DateTime<Utc>,
}

/// `s` cut to at most `max` bytes on a character boundary, NUL replaced.
pub(crate) fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    clean(&s[..end])
}

/// The group of this key (and whether this call made it), created (state `new`, no occurrences yet) when there is none.
/// Concurrent creators of one key meet on the unique index: one inserts, the other reads it.
pub(crate) async fn find_or_create<C: ConnectionTrait>(
    conn: &C,
    g: &NewGroup<'_>,
) -> Result<(i64, bool), DbErr> {
    let backend = conn.get_database_backend();
    let now = Utc::now();
    let mut sql = Sql::new(backend);
    sql.push(
        "INSERT INTO error_groups (tenant_id, iflow_id, package_id, fingerprint, grouping_version, \
         rule_id, title, template, sample_text, sample_message_id, state, state_changed_at, \
         ignored_occurrences, total_occurrences, first_seen, last_seen, created_at) VALUES ",
    )
    .tuple(|t| {
        t.bind(g.tenant_id)
            .bind(clean(g.iflow))
            .bind(g.package.map(clean))
            .bind(clean(g.fingerprint))
            .bind(g.grouping_version)
            .bind(g.rule_id)
            .bind(clean(g.title))
            .bind(clean(g.template))
            .bind(g.sample_text.map(|s| cut(s, SAMPLE_MAX_BYTES)))
            .bind(g.sample_message_id)
            .bind(GroupState::New.as_str())
            .bind(now)
            .bind(0i64)
            .bind(0i64)
            .bind(g.at)
            .bind(g.at)
            .bind(now);
    })
    .push(
        " ON CONFLICT (tenant_id, iflow_id, fingerprint, grouping_version) DO NOTHING RETURNING id",
    );
    if let Some(row) = conn.query_one_raw(sql.statement()).await? {
        return Ok((get(&row, "id")?, true));
    }
    let mut sql = Sql::new(backend);
    sql.push("SELECT id FROM error_groups WHERE tenant_id = ")
        .bind(g.tenant_id)
        .push(" AND iflow_id = ")
        .bind(clean(g.iflow))
        .push(" AND fingerprint = ")
        .bind(clean(g.fingerprint))
        .push(" AND grouping_version = ")
        .bind(g.grouping_version);
    let row = conn
        .query_one_raw(sql.statement())
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("error group {}", g.fingerprint)))?;
    let id: i64 = get(&row, "id")?;
    // A group that lost its sample (made without text, or an older one) takes this one.
    if let Some(text) = g.sample_text {
        let mut sql = Sql::new(backend);
        sql.push("UPDATE error_groups SET sample_text = ")
            .bind(cut(text, SAMPLE_MAX_BYTES))
            .push(", sample_message_id = ")
            .bind(g.sample_message_id)
            .push(" WHERE id = ")
            .bind(id)
            .push(" AND sample_text IS NULL");
        conn.execute_raw(sql.statement()).await?;
    }
    Ok((id, false))
}

/// The group each of `ids` is merged into, if any.
pub(crate) async fn targets<C: ConnectionTrait>(
    conn: &C,
    ids: &BTreeSet<i64>,
) -> Result<BTreeMap<i64, Option<i64>>, DbErr> {
    let mut out = BTreeMap::new();
    let ids: Vec<i64> = ids.iter().copied().collect();
    for chunk in ids.chunks(max_params(conn.get_database_backend()) - 1) {
        let mut sql = Sql::new(conn.get_database_backend());
        sql.push("SELECT id, merged_into FROM error_groups WHERE id IN ")
            .bind_list(chunk.iter().copied());
        for row in conn.query_all_raw(sql.statement()).await? {
            out.insert(get(&row, "id")?, get(&row, "merged_into")?);
        }
    }
    Ok(out)
}

/// A change of one group's count in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delta {
    pub group_id: i64,
    pub hour: DateTime<Utc>,
    pub delta: i64,
    /// For an occurrence (delta > 0): when it happened (first/last seen move to include it).
    pub at: Option<DateTime<Utc>>,
}

/// Apply count changes to the groups and to the groups they are merged into, in group-id order
/// (so concurrent writers lock groups in the same order). Totals and hours never go below zero:
/// a count-down of an hour the retention already pruned changes nothing there.
pub(crate) async fn apply<C: ConnectionTrait>(
    conn: &C,
    deltas: &[Delta],
    package: &BTreeMap<i64, String>,
) -> Result<(), DbErr> {
    if deltas.is_empty() {
        return Ok(());
    }
    let backend = conn.get_database_backend();
    let ids: BTreeSet<i64> = deltas.iter().map(|d| d.group_id).collect();
    let merged = targets(conn, &ids).await?;
    // Expanded to the merge targets and summed per (group, hour).
    let mut hours: BTreeMap<(i64, DateTime<Utc>), i64> = BTreeMap::new();
    struct Totals {
        delta: i64,
        first: Option<DateTime<Utc>>,
        last: Option<DateTime<Utc>>,
        package: Option<String>,
    }
    let mut totals: BTreeMap<i64, Totals> = BTreeMap::new();
    for d in deltas {
        let mut gs = vec![d.group_id];
        if let Some(Some(t)) = merged.get(&d.group_id) {
            gs.push(*t);
        }
        for g in gs {
            *hours.entry((g, d.hour)).or_default() += d.delta;
            let t = totals.entry(g).or_insert(Totals {
                delta: 0,
                first: None,
                last: None,
                package: None,
            });
            t.delta += d.delta;
            if let Some(at) = d.at.filter(|_| d.delta > 0) {
                t.first = Some(t.first.map_or(at, |f| f.min(at)));
                t.last = Some(t.last.map_or(at, |l| l.max(at)));
            }
            if let Some(p) = package.get(&d.group_id) {
                t.package = Some(p.clone());
            }
        }
    }
    for (id, t) in &totals {
        let mut sql = Sql::new(backend);
        sql.push("UPDATE error_groups SET total_occurrences = CASE WHEN total_occurrences + ")
            .bind(t.delta)
            .push(" < 0 THEN 0 ELSE total_occurrences + ")
            .bind(t.delta)
            .push(" END");
        if let Some(first) = t.first {
            sql.push(", first_seen = CASE WHEN first_seen > ")
                .bind(first)
                .push(" THEN ")
                .bind(first)
                .push(" ELSE first_seen END");
        }
        if let Some(last) = t.last {
            sql.push(", last_seen = CASE WHEN last_seen < ")
                .bind(last)
                .push(" THEN ")
                .bind(last)
                .push(" ELSE last_seen END");
        }
        if let Some(p) = &t.package {
            sql.push(", package_id = ").bind(clean(p));
        }
        sql.push(" WHERE id = ").bind(*id);
        conn.execute_raw(sql.statement()).await?;
    }
    let ups: Vec<(i64, DateTime<Utc>, i64)> = hours
        .iter()
        .filter(|(_, d)| **d > 0)
        .map(|((g, h), d)| (*g, *h, *d))
        .collect();
    let bulk = Bulk {
        head: "INSERT INTO error_group_hours (group_id, hour, count)",
        tail: "ON CONFLICT (group_id, hour) DO UPDATE SET count = error_group_hours.count + excluded.count",
        shared: Vec::new(),
    };
    for stmt in bulk.statements(backend, &ups, |t, (g, h, d)| {
        t.bind(*g).bind(*h).bind(*d);
    }) {
        conn.execute_raw(stmt).await?;
    }
    // Additions move the day by the same amount; count-downs are clamped at zero per hour, so
    // their days are summed again from the hours afterwards.
    let mut days: BTreeMap<(i64, DateTime<Utc>), i64> = BTreeMap::new();
    for ((g, h), d) in hours.iter().filter(|(_, d)| **d > 0) {
        *days.entry((*g, day_of(*h))).or_default() += *d;
    }
    let day_ups: Vec<(i64, DateTime<Utc>, i64)> =
        days.iter().map(|((g, day), d)| (*g, *day, *d)).collect();
    let bulk = Bulk {
        head: "INSERT INTO error_group_days (group_id, day, count)",
        tail: "ON CONFLICT (group_id, day) DO UPDATE SET count = error_group_days.count + excluded.count",
        shared: Vec::new(),
    };
    for stmt in bulk.statements(backend, &day_ups, |t, (g, day, d)| {
        t.bind(*g).bind(*day).bind(*d);
    }) {
        conn.execute_raw(stmt).await?;
    }
    let mut down_days: BTreeMap<DateTime<Utc>, BTreeSet<i64>> = BTreeMap::new();
    for ((g, h), d) in hours.iter().filter(|(_, d)| **d < 0) {
        down_days.entry(day_of(*h)).or_default().insert(*g);
        let mut sql = Sql::new(backend);
        sql.push("UPDATE error_group_hours SET count = CASE WHEN count + ")
            .bind(*d)
            .push(" < 0 THEN 0 ELSE count + ")
            .bind(*d)
            .push(" END WHERE group_id = ")
            .bind(*g)
            .push(" AND hour = ")
            .bind(*h);
        conn.execute_raw(sql.statement()).await?;
    }
    let mut down_groups: BTreeSet<i64> = BTreeSet::new();
    for (day, groups) in down_days {
        let groups: Vec<i64> = groups.into_iter().collect();
        sync_days(conn, &groups, Some(day)).await?;
        down_groups.extend(groups);
    }
    // The windowed sums likewise: additions add, count-downs are summed again.
    sums::add(conn, &ups).await?;
    let down_groups: Vec<i64> = down_groups.into_iter().collect();
    sums::sync(conn, &down_groups).await?;
    Ok(())
}

/// Delete hourly counts older than `before` (the group history's retention), and the daily
/// counts with them: days before `before`'s day go, and that day, when cut in the middle, keeps
/// the sum of its remaining hours; the windowed sums lose what they counted of them. Totals,
/// first and last seen stay. Returns the hours deleted.
pub async fn prune_hours(db: &Db, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let backend = db.db_backend();
    let cut = hour_of(before);
    let day = day_of(cut);
    let txn = db.begin_write().await?;
    sums::before_prune(&txn, cut).await?;
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM error_group_hours WHERE hour < ")
        .bind(cut);
    let n = txn.execute_raw(sql.statement()).await?.rows_affected();
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM error_group_days WHERE day < ")
        .bind(day);
    txn.execute_raw(sql.statement()).await?;
    if cut > day {
        let mut sql = Sql::new(backend);
        sql.push("UPDATE error_group_days SET count = COALESCE((SELECT SUM(h.count) FROM error_group_hours h \
             WHERE h.group_id = error_group_days.group_id AND h.hour >= ")
            .bind(day)
            .push(" AND h.hour < ")
            .bind(day + TimeDelta::days(1))
            .push("), 0) WHERE day = ")
            .bind(day);
        txn.execute_raw(sql.statement()).await?;
    }
    txn.commit().await?;
    Ok(n)
}

/// Hourly counts of `groups` from `from` (inclusive), summed per hour.
pub(crate) async fn hours_since<C: ConnectionTrait>(
    conn: &C,
    groups: &[i64],
    from: DateTime<Utc>,
) -> Result<BTreeMap<DateTime<Utc>, i64>, DbErr> {
    let mut out = BTreeMap::new();
    if groups.is_empty() {
        return Ok(out);
    }
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("SELECT hour, count FROM error_group_hours WHERE group_id IN ")
        .bind_list(groups.iter().copied())
        .push(" AND hour >= ")
        .bind(from);
    for row in conn.query_all_raw(sql.statement()).await? {
        *out.entry(get::<DateTime<Utc>>(&row, "hour")?).or_default() += get::<i64>(&row, "count")?;
    }
    Ok(out)
}

/// Replace each group id by the group it is merged into, if any: what a message's
/// `error_group` shows. One look-up for all of them.
pub async fn follow_merges<'a, C: ConnectionTrait>(
    conn: &C,
    groups: impl Iterator<Item = &'a mut Option<i64>>,
) -> Result<(), DbErr> {
    let mut slots: Vec<&'a mut Option<i64>> = groups.filter(|g| g.is_some()).collect();
    let ids: BTreeSet<i64> = slots.iter().filter_map(|g| **g).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let merged = targets(conn, &ids).await?;
    for slot in &mut slots {
        if let Some(Some(t)) = slot.and_then(|g| merged.get(&g)) {
            **slot = Some(*t);
        }
    }
    Ok(())
}
