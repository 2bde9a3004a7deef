//! Counting messages by (status, iFlow): whole hours from the rollup `message_counts`, partial
//! hours at the edges from `message_logs`, optionally with closed hours from a short-lived cache.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, QueryResult};
use serde::{Deserialize, Serialize};

use super::filter::{
    HEADER_PROBE_CAP, HeaderPlan, MessageFilter, Scope, given, header_plan, key, push_conditions,
};
use crate::repo::Sql;
use crate::repo::rollup::hour_floor;

/// A value of a facet and how many messages have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetCount {
    /// What to filter on ('' for messages without one).
    pub value: String,
    /// What to show: the iFlow's name, or the value itself.
    pub label: String,
    pub count: i64,
}

/// Messages counted per (status, iFlow).
#[derive(Debug, Clone, Default)]
pub(super) struct Groups {
    counts: HashMap<(String, String), i64>,
    pub(super) names: HashMap<String, String>,
}

/// A row of the count statements: messages of one (status, iFlow).
#[derive(FromQueryResult)]
struct GroupRow {
    status: String,
    iflow_id: String,
    iflow_name: Option<String>,
    n: i64,
}

impl Groups {
    fn add(&mut self, status: String, iflow: String, name: Option<String>, n: i64) {
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            self.names.entry(iflow.clone()).or_insert(name);
        }
        *self.counts.entry((status, iflow)).or_default() += n;
    }

    fn read(&mut self, rows: &[QueryResult]) -> Result<(), DbErr> {
        for r in rows {
            let r = GroupRow::from_query_result(r, "")?;
            self.add(r.status, r.iflow_id, r.iflow_name, r.n);
        }
        Ok(())
    }

    fn merge(&mut self, other: &Groups) {
        for ((status, iflow), n) in &other.counts {
            *self
                .counts
                .entry((status.clone(), iflow.clone()))
                .or_default() += n;
        }
        for (iflow, name) in &other.names {
            self.names
                .entry(iflow.clone())
                .or_insert_with(|| name.clone());
        }
    }

    pub(super) fn total(&self) -> i64 {
        self.counts.values().sum()
    }

    /// Groups that added up to nothing (whole hour minus its rest) are not facets.
    fn without_zeros(mut self) -> Self {
        self.counts.retain(|_, n| *n != 0);
        self
    }

    pub(super) fn by_status(&self) -> Vec<FacetCount> {
        let mut per: BTreeMap<&str, i64> = BTreeMap::new();
        for ((status, _), n) in &self.counts {
            *per.entry(status).or_default() += n;
        }
        largest_first(per.into_iter().map(|(s, n)| FacetCount {
            value: s.to_owned(),
            label: s.to_owned(),
            count: n,
        }))
    }

    pub(super) fn by_iflow(&self, status: Option<&str>) -> Vec<FacetCount> {
        let mut per: BTreeMap<&str, i64> = BTreeMap::new();
        for ((s, iflow), n) in &self.counts {
            if status.is_none_or(|want| want == s) {
                *per.entry(iflow).or_default() += n;
            }
        }
        largest_first(per.into_iter().map(|(id, n)| FacetCount {
            value: id.to_owned(),
            label: self.names.get(id).cloned().unwrap_or_else(|| id.to_owned()),
            count: n,
        }))
    }
}

fn largest_first(items: impl Iterator<Item = FacetCount>) -> Vec<FacetCount> {
    let mut v: Vec<FacetCount> = items.filter(|f| f.count > 0).collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    v
}

fn hour_ceil(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = hour_floor(t);
    if floor == t {
        t
    } else {
        floor + Duration::hours(1)
    }
}

/// Whole hours `[lo, hi)`, either end open.
type HourSpan = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// How a range `[from, to)` is counted: whole hours `[lo, hi)` from the rollup (`None`: no
/// whole hour in it) and the partial edges from `message_logs`.
#[derive(Debug, Clone, PartialEq)]
struct RangePlan {
    rollup: Option<HourSpan>,
    edges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

fn plan_range(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> RangePlan {
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return RangePlan {
            rollup: None,
            edges: Vec::new(),
        };
    }
    let lo = from.map(hour_ceil);
    let hi = to.map(hour_floor);
    if let (Some(l), Some(h), Some(f), Some(t)) = (lo, hi, from, to)
        && l >= h
    {
        return RangePlan {
            rollup: None,
            edges: vec![(f, t)],
        };
    }
    let mut edges = Vec::new();
    if let (Some(f), Some(l)) = (from, lo)
        && f < l
    {
        edges.push((f, l));
    }
    if let (Some(h), Some(t)) = (hi, to)
        && h < t
    {
        edges.push((h, t));
    }
    RangePlan {
        rollup: Some((lo, hi)),
        edges,
    }
}

/// A partial hour longer than this is counted as its whole hour from the rollup minus the rest
/// of the hour, so no edge costs more than half an hour of rows. For "the last 24 h" the trailing
/// rest (from now to the next hour) holds no messages at all.
const EDGE_DIRECT_MAX: Duration = Duration::minutes(30);

/// A [`RangePlan`] whose long edges are replaced by whole hours and subtracted rests:
/// `edges` are `(from, to, sign)`.
#[derive(Debug, Clone, PartialEq)]
struct SignedPlan {
    rollup: Option<HourSpan>,
    edges: Vec<(DateTime<Utc>, DateTime<Utc>, i64)>,
}

fn signed_plan(plan: &RangePlan) -> SignedPlan {
    let mut rollup = plan.rollup;
    let mut edges = Vec::new();
    // Edges split at hour boundaries (an edge may cross one when no whole hour lies between).
    let mut pieces = Vec::new();
    for &(a, b) in &plan.edges {
        let mut start = a;
        while start < b {
            let end = (hour_floor(start) + Duration::hours(1)).min(b);
            pieces.push((start, end));
            start = end;
        }
    }
    for (a, b) in pieces {
        let h = hour_floor(a);
        let next = h + Duration::hours(1);
        if b - a <= EDGE_DIRECT_MAX {
            edges.push((a, b, 1));
            continue;
        }
        let extended = match rollup {
            None => Some((Some(h), Some(next))),
            Some((lo, hi)) if lo == Some(next) => Some((Some(h), hi)),
            Some((lo, hi)) if hi == Some(h) => Some((lo, Some(next))),
            Some(_) => None,
        };
        match extended {
            Some(span) => {
                rollup = Some(span);
                if h < a {
                    edges.push((h, a, -1));
                }
                if b < next {
                    edges.push((b, next, -1));
                }
            }
            None => edges.push((a, b, 1)),
        }
    }
    SignedPlan { rollup, edges }
}

/// Counts per (status, iFlow) of a filter the rollup can answer: whole hours from
/// `message_counts`, the edges from `message_logs`. Two statements at most.
pub(super) async fn count_with_rollup<C: ConnectionTrait>(
    conn: &C,
    tenants: &[i64],
    filter: &MessageFilter,
    cache: Option<&ClosedHours>,
) -> Result<Groups, DbErr> {
    let direct = plan_range(filter.from, filter.to);
    let groups = count_planned(conn, tenants, filter, &signed_plan(&direct), cache).await?;
    if groups.counts.values().all(|n| *n >= 0) {
        return Ok(groups.without_zeros());
    }
    // The rollup is behind the messages (a refresh is pending): count the edges directly.
    let plain = SignedPlan {
        rollup: direct.rollup,
        edges: direct.edges.iter().map(|&(a, b)| (a, b, 1)).collect(),
    };
    Ok(count_planned(conn, tenants, filter, &plain, cache)
        .await?
        .without_zeros())
}

/// Sums of `message_counts` per (status, iFlow) over whole hours `[lo, hi)`.
async fn rollup_rows<C: ConnectionTrait>(
    conn: &C,
    tenants: &[i64],
    filter: &MessageFilter,
    lo: Option<DateTime<Utc>>,
    hi: Option<DateTime<Utc>>,
) -> Result<Vec<QueryResult>, DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(
        "SELECT c.status, c.iflow_id, MAX(c.iflow_name) AS iflow_name, \
         CAST(SUM(c.count) AS BIGINT) AS n FROM message_counts c WHERE c.tenant_id IN ",
    )
    .bind_list(tenants.iter().copied());
    if let Some(lo) = lo {
        sql.push(" AND c.hour_start >= ").bind(lo);
    }
    if let Some(hi) = hi {
        sql.push(" AND c.hour_start < ").bind(hi);
    }
    let statuses = filter.statuses();
    if !statuses.is_empty() {
        sql.push(" AND c.status IN ").bind_list(statuses);
    }
    if let Some(v) = given(&filter.iflow_id) {
        sql.push(" AND c.iflow_id = ").bind(key(v));
    }
    if let Some(v) = given(&filter.package_id) {
        sql.push(" AND c.package_id = ").bind(key(v));
    }
    sql.push(" GROUP BY c.status, c.iflow_id");
    conn.query_all_raw(sql.statement()).await
}

/// Rollup sums of closed hours, kept for a few seconds per process so that many clients
/// watching the same window share one count. Closed hours change only when a message of theirs
/// arrives late or changes status, so a hit may lag such an update by at most the time to live;
/// the current hour and the partial hours at the edges are always counted afresh.
pub struct ClosedHours {
    ttl: std::time::Duration,
    entries: std::sync::Mutex<HashMap<ClosedKey, (std::time::Instant, Closed)>>,
}

/// A cached sum: facet groups, or messages per hour and status for charts.
#[derive(Clone)]
pub(super) enum Closed {
    Groups(std::sync::Arc<Groups>),
    Hours(std::sync::Arc<Vec<HourCount>>),
}

/// Messages of one hour and status.
pub(super) type HourCount = (DateTime<Utc>, String, i64);

/// Entries kept at most; a full cache first drops what has expired, then everything.
const CLOSED_HOURS_ENTRIES: usize = 512;

impl ClosedHours {
    /// `ttl` zero turns the cache off.
    pub fn new(ttl: std::time::Duration) -> Self {
        Self {
            ttl,
            entries: std::sync::Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ClosedKey, (std::time::Instant, Closed)>> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters: entries are replaced whole.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &ClosedKey) -> Option<Closed> {
        let entries = self.lock();
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub(super) fn put(&self, key: ClosedKey, value: Closed) {
        let mut entries = self.lock();
        if entries.len() >= CLOSED_HOURS_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= CLOSED_HOURS_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (std::time::Instant::now(), value));
    }

    fn groups(&self, key: &ClosedKey) -> Option<std::sync::Arc<Groups>> {
        match self.get(key)? {
            Closed::Groups(g) => Some(g),
            Closed::Hours(_) => None,
        }
    }

    pub(super) fn hours(&self, key: &ClosedKey) -> Option<std::sync::Arc<Vec<HourCount>>> {
        match self.get(key)? {
            Closed::Hours(h) => Some(h),
            Closed::Groups(_) => None,
        }
    }
}

/// What a closed-hours sum depends on: the tenants, the hours and the rollup's own filters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ClosedKey {
    /// `facets` or `volume`.
    what: &'static str,
    tenants: Vec<i64>,
    lo: Option<DateTime<Utc>>,
    hi: DateTime<Utc>,
    statuses: Vec<String>,
    iflow: Option<String>,
    package: Option<String>,
}

impl ClosedKey {
    fn new(
        tenants: &[i64],
        filter: &MessageFilter,
        lo: Option<DateTime<Utc>>,
        hi: DateTime<Utc>,
    ) -> Self {
        Self {
            what: "facets",
            tenants: tenants.to_vec(),
            lo,
            hi,
            statuses: filter.statuses(),
            iflow: given(&filter.iflow_id).map(key),
            package: given(&filter.package_id).map(key),
        }
    }

    /// The key of the volume chart's hours `[lo, hi)` of one iFlow or all.
    pub(super) fn volume(
        tenants: &[i64],
        lo: DateTime<Utc>,
        hi: DateTime<Utc>,
        iflow: Option<&str>,
    ) -> Self {
        Self {
            what: "volume",
            tenants: tenants.to_vec(),
            lo: Some(lo),
            hi,
            statuses: Vec::new(),
            iflow: iflow.map(key),
            package: None,
        }
    }
}

/// Whole hours from `message_counts` plus (or minus) the edges from `message_logs`.
async fn count_planned<C: ConnectionTrait>(
    conn: &C,
    tenants: &[i64],
    filter: &MessageFilter,
    plan: &SignedPlan,
    cache: Option<&ClosedHours>,
) -> Result<Groups, DbErr> {
    let backend = conn.get_database_backend();
    let mut groups = Groups::default();
    match (plan.rollup, cache.filter(|c| c.enabled())) {
        (None, _) => {}
        (Some((lo, hi)), None) => {
            groups.read(&rollup_rows(conn, tenants, filter, lo, hi).await?)?;
        }
        (Some((lo, hi)), Some(cache)) => {
            // Closed hours from the cache; the current hour, which is still filling, always
            // from the table.
            let live = hour_floor(Utc::now());
            let closed_hi = hi.map_or(live, |hi| hi.min(live));
            if lo.is_none_or(|lo| lo < closed_hi) {
                let key = ClosedKey::new(tenants, filter, lo, closed_hi);
                let closed = match cache.groups(&key) {
                    Some(hit) => hit,
                    None => {
                        let mut fresh = Groups::default();
                        fresh.read(
                            &rollup_rows(conn, tenants, filter, lo, Some(closed_hi)).await?,
                        )?;
                        let fresh = std::sync::Arc::new(fresh);
                        cache.put(key, Closed::Groups(fresh.clone()));
                        fresh
                    }
                };
                groups.merge(&closed);
            }
            let live_lo = lo.map_or(live, |lo| lo.max(live));
            if hi.is_none_or(|hi| hi > live_lo) {
                groups.read(&rollup_rows(conn, tenants, filter, Some(live_lo), hi).await?)?;
            }
        }
    }
    if !plan.edges.is_empty() {
        let mut sql = Sql::new(backend);
        let push_ranges =
            |sql: &mut Sql,
             ranges: &mut dyn Iterator<Item = &(DateTime<Utc>, DateTime<Utc>, i64)>| {
                for (i, (a, b, _)) in ranges.enumerate() {
                    if i > 0 {
                        sql.push(" OR ");
                    }
                    sql.push("(m.log_end >= ")
                        .bind(*a)
                        .push(" AND m.log_end < ")
                        .bind(*b)
                        .push(")");
                }
            };
        sql.push(
            "SELECT COALESCE(m.status, '') AS status, COALESCE(m.iflow_id, '') AS iflow_id, \
             MAX(m.iflow_name) AS iflow_name, ",
        );
        if plan.edges.iter().all(|e| e.2 > 0) {
            sql.push("COUNT(*)");
        } else if plan.edges.iter().all(|e| e.2 < 0) {
            sql.push("-COUNT(*)");
        } else {
            sql.push("SUM(CASE WHEN ");
            push_ranges(&mut sql, &mut plan.edges.iter().filter(|e| e.2 > 0));
            sql.push(" THEN 1 ELSE -1 END)");
        }
        sql.push(" AS n FROM message_logs m WHERE ");
        // Only filters the rollup can count get here: no header filter.
        push_conditions(
            &mut sql,
            Scope::Many(tenants),
            filter,
            false,
            &HeaderPlan::unmeasured(),
        );
        sql.push(" AND (");
        push_ranges(&mut sql, &mut plan.edges.iter());
        sql.push(") GROUP BY COALESCE(m.status, ''), COALESCE(m.iflow_id, '')");
        groups.read(&conn.query_all_raw(sql.statement()).await?)?;
    }
    Ok(groups)
}

/// Rows a count reads at most when it probes headers message by message.
pub(super) const PROBE_COUNT_CAP: u64 = 5_000;

/// Counts per (status, iFlow) straight from `message_logs`, reading at most `cap` + 1 rows;
/// the flag says whether the count is complete.
pub(super) async fn count_scanning<C: ConnectionTrait>(
    conn: &C,
    tenants: &[i64],
    filter: &MessageFilter,
    cap: u64,
) -> Result<(Groups, bool), DbErr> {
    let header = header_plan(conn, tenants, filter, HEADER_PROBE_CAP).await?;
    // Probing reads every matching message's headers one by one: a cap of a tenth keeps a
    // count over millions of matches to the cost of a few pages (and says it stopped).
    let cap = match header {
        HeaderPlan::Probe if filter.has_header_filter() => cap.min(PROBE_COUNT_CAP),
        _ => cap,
    };
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(
        "SELECT s.status, s.iflow_id, MAX(s.iflow_name) AS iflow_name, COUNT(*) AS n FROM \
         (SELECT COALESCE(m.status, '') AS status, COALESCE(m.iflow_id, '') AS iflow_id, \
         m.iflow_name FROM message_logs m WHERE ",
    );
    push_conditions(&mut sql, Scope::Many(tenants), filter, true, &header);
    sql.push(" LIMIT ")
        .bind(i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX))
        .push(") s GROUP BY s.status, s.iflow_id");
    let mut groups = Groups::default();
    groups.read(&conn.query_all_raw(sql.statement()).await?)?;
    let exact = u64::try_from(groups.total()).unwrap_or(u64::MAX) <= cap;
    Ok((groups, exact))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0).unwrap()
    }

    #[test]
    fn ranges_split_into_whole_hours_and_edges() {
        let p = plan_range(Some(at(8, 15)), Some(at(11, 30)));
        assert_eq!(p.rollup, Some((Some(at(9, 0)), Some(at(11, 0)))));
        assert_eq!(
            p.edges,
            vec![(at(8, 15), at(9, 0)), (at(11, 0), at(11, 30))]
        );

        let aligned = plan_range(Some(at(8, 0)), Some(at(10, 0)));
        assert_eq!(aligned.rollup, Some((Some(at(8, 0)), Some(at(10, 0)))));
        assert!(aligned.edges.is_empty());

        let inside = plan_range(Some(at(8, 10)), Some(at(8, 50)));
        assert_eq!(inside.rollup, None);
        assert_eq!(inside.edges, vec![(at(8, 10), at(8, 50))]);

        let adjacent = plan_range(Some(at(8, 10)), Some(at(9, 20)));
        assert_eq!(adjacent.rollup, None);
        assert_eq!(adjacent.edges, vec![(at(8, 10), at(9, 20))]);

        let open = plan_range(None, Some(at(8, 30)));
        assert_eq!(open.rollup, Some((None, Some(at(8, 0)))));
        assert_eq!(open.edges, vec![(at(8, 0), at(8, 30))]);

        let empty = plan_range(Some(at(9, 0)), Some(at(9, 0)));
        assert_eq!((empty.rollup, empty.edges.len()), (None, 0));
    }

    #[test]
    fn long_edges_become_whole_hours_minus_their_short_rest() {
        // 08:50–11:40: the leading 10 min are counted, the trailing 40 min are hour 11 minus
        // 11:40–12:00.
        let p = signed_plan(&plan_range(Some(at(8, 50)), Some(at(11, 40))));
        assert_eq!(p.rollup, Some((Some(at(9, 0)), Some(at(12, 0)))));
        assert_eq!(
            p.edges,
            vec![(at(8, 50), at(9, 0), 1), (at(11, 40), at(12, 0), -1)]
        );
        // Inside one hour: 08:05–08:55 is hour 8 minus both rests.
        let p = signed_plan(&plan_range(Some(at(8, 5)), Some(at(8, 55))));
        assert_eq!(p.rollup, Some((Some(at(8, 0)), Some(at(9, 0)))));
        assert_eq!(
            p.edges,
            vec![(at(8, 0), at(8, 5), -1), (at(8, 55), at(9, 0), -1)]
        );
        // Across one boundary without a whole hour: 08:10–09:20 → hour 8 minus 08:00–08:10, and
        // 09:00–09:20 counted.
        let p = signed_plan(&plan_range(Some(at(8, 10)), Some(at(9, 20))));
        assert_eq!(p.rollup, Some((Some(at(8, 0)), Some(at(9, 0)))));
        assert_eq!(
            p.edges,
            vec![(at(8, 0), at(8, 10), -1), (at(9, 0), at(9, 20), 1)]
        );
        // Short edges stay as they are.
        let p = signed_plan(&plan_range(Some(at(8, 45)), Some(at(10, 15))));
        assert_eq!(p.rollup, Some((Some(at(9, 0)), Some(at(10, 0)))));
        assert_eq!(
            p.edges,
            vec![(at(8, 45), at(9, 0), 1), (at(10, 0), at(10, 15), 1)]
        );
    }
}
