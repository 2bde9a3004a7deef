//! The message monitor's queries: what the web UI and API read, kept fast at tens of millions of
//! messages.
//!
//! - [`search`] pages with a keyset on `(log_end, id)`, never OFFSET, one statement per page;
//!   the cursor is an opaque URL-safe string. Messages without a `log_end` are not listed (CPI
//!   always sends `LogEnd`; the monitor is a view on it).
//! - [`facets`], [`volume`] and [`overview`] count from `message_counts`, an hourly rollup per
//!   tenant, iFlow, package and status. Whole hours come from the rollup and the partial hours
//!   at both edges of a range from `message_logs`, so the result is exact. A filter the rollup
//!   cannot answer (headers, ids, sender, receiver) counts `message_logs` up to a cap.
//! - Every message upsert moves the rollup by exact deltas in its own transaction (the key a
//!   message leaves, the key it enters). [`refresh_counts`] recomputes given hours from
//!   `message_logs`: after an archive deletes a day, a restore, or as the periodic
//!   reconciliation [`refresh_recent_counts`] the metrics daemon runs.
//!
//! Every function takes the tenants the caller may see; rows of any other tenant are never
//! returned, and an empty list sees nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, DurationRound as _, TimeZone as _, Utc};
use domain::message::{AdapterAttribute, CustomHeader, ErrorInfo, Run};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QueryResult, QuerySelect, Value,
};
use serde::{Deserialize, Serialize};

use super::{Bulk, Sql, clean, delete_in, get};
use crate::connect::Db;
use crate::entity::{
    custom_header_properties, keystore_entries, message_logs, runtime_artifacts, sync_state,
    tenants,
};
use crate::error::StoreError;

/// Rows of `message_logs` a facet count reads at most when the rollup cannot answer the filter.
pub const FACET_SCAN_CAP: u64 = 100_000;
/// Largest page [`search`] returns.
pub const MAX_PAGE: u32 = 1_000;
/// iFlows listed in [`Facets::iflow`].
pub const TOP_IFLOWS: usize = 50;
/// Correlated messages listed in [`MessageDetail::correlated`].
pub const CORRELATED_LIMIT: u64 = 50;
/// Entries listed in the overview's artifact and certificate lists.
pub const OVERVIEW_LIST_LIMIT: u64 = 100;
/// Above this many visible tenants, [`search`] gives up the per-tenant merge (see there).
const MERGE_TENANTS: usize = 64;

/// What the message monitor filters on. Empty strings count as absent; every value matches
/// literally (`%`, `_`, `\` and quotes are not special).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageFilter {
    /// The tenants the caller may see; empty sees nothing.
    pub tenant_ids: Vec<i64>,
    /// `log_end >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `log_end < to`.
    pub to: Option<DateTime<Utc>>,
    /// Any of these statuses (case-insensitive for the known ones); empty: all.
    pub statuses: Vec<String>,
    pub iflow_id: Option<String>,
    pub package_id: Option<String>,
    /// A custom header with this name (and [`header_value`](Self::header_value) if given).
    pub header_name: Option<String>,
    /// Exact value, or a prefix with a trailing `*` (`ORD-*`).
    pub header_value: Option<String>,
    pub message_guid: Option<String>,
    pub correlation_id: Option<String>,
    pub application_id: Option<String>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
}

impl MessageFilter {
    /// A filter on these tenants and nothing else.
    pub fn tenants(tenant_ids: impl IntoIterator<Item = i64>) -> Self {
        Self {
            tenant_ids: tenant_ids.into_iter().collect(),
            ..Default::default()
        }
    }

    /// Whether the rollup can count this filter: it keeps tenant, hour, iFlow, package and
    /// status, nothing else.
    fn rollup_can_count(&self) -> bool {
        [
            &self.header_name,
            &self.header_value,
            &self.message_guid,
            &self.correlation_id,
            &self.application_id,
            &self.sender,
            &self.receiver,
        ]
        .iter()
        .all(|v| given(v).is_none())
    }

    fn visible_tenants(&self) -> Vec<i64> {
        visible(&self.tenant_ids)
    }

    fn statuses(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .statuses
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| clean(domain::MessageStatus::parse(s).as_str()))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn visible(ids: &[i64]) -> Vec<i64> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Order of [`search`] results, on `(log_end, id)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sort {
    #[default]
    NewestFirst,
    OldestFirst,
}

impl Sort {
    fn tag(self) -> char {
        match self {
            Sort::NewestFirst => 'n',
            Sort::OldestFirst => 'o',
        }
    }

    fn order_by(self, prefix: &str) -> String {
        let dir = match self {
            Sort::NewestFirst => "DESC",
            Sort::OldestFirst => "ASC",
        };
        format!("ORDER BY {prefix}log_end {dir}, {prefix}id {dir}")
    }
}

/// One message as the monitor lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRow {
    pub id: i64,
    pub tenant_id: i64,
    pub message_guid: String,
    pub correlation_id: Option<String>,
    pub application_message_id: Option<String>,
    pub iflow_id: Option<String>,
    pub iflow_name: Option<String>,
    pub package_id: Option<String>,
    pub package_name: Option<String>,
    pub status: Option<String>,
    pub custom_status: Option<String>,
    pub log_start: Option<DateTime<Utc>>,
    pub log_end: DateTime<Utc>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    pub duration_ms: Option<i64>,
    pub alternate_web_link: Option<String>,
}

const ROW_COLUMNS: [&str; 17] = [
    "id",
    "tenant_id",
    "message_guid",
    "correlation_id",
    "application_message_id",
    "iflow_id",
    "iflow_name",
    "package_id",
    "package_name",
    "status",
    "custom_status",
    "log_start",
    "log_end",
    "sender",
    "receiver",
    "duration_ms",
    "alternate_web_link",
];

fn row_columns(prefix: &str) -> String {
    ROW_COLUMNS
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_row(r: &QueryResult) -> Result<MessageRow, DbErr> {
    Ok(MessageRow {
        id: get(r, "id")?,
        tenant_id: get(r, "tenant_id")?,
        message_guid: get(r, "message_guid")?,
        correlation_id: get(r, "correlation_id")?,
        application_message_id: get(r, "application_message_id")?,
        iflow_id: get(r, "iflow_id")?,
        iflow_name: get(r, "iflow_name")?,
        package_id: get(r, "package_id")?,
        package_name: get(r, "package_name")?,
        status: get(r, "status")?,
        custom_status: get(r, "custom_status")?,
        log_start: get(r, "log_start")?,
        log_end: get(r, "log_end")?,
        sender: get(r, "sender")?,
        receiver: get(r, "receiver")?,
        duration_ms: get(r, "duration_ms")?,
        alternate_web_link: get(r, "alternate_web_link")?,
    })
}

/// One page of [`search`]; `next` is the cursor of the following page, `None` on the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePage {
    pub rows: Vec<MessageRow>,
    pub next: Option<String>,
}

/// Where a page ends: the last row's `(log_end, id)` and the order it was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    sort: Sort,
    log_end: DateTime<Utc>,
    id: i64,
}

impl Cursor {
    // Nanoseconds, not less: on SQLite the keyset compares the stored text, which keeps every
    // digit the timestamp had.
    fn encode(&self) -> String {
        let nanos = self.log_end.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let body = format!("1.{}.{nanos}.{}", self.sort.tag(), self.id);
        URL_SAFE_NO_PAD.encode(format!("{body}.{:08x}", checksum(&body)))
    }

    fn decode(s: &str, sort: Sort) -> Result<Self, StoreError> {
        let bad = |reason: &str| StoreError::InvalidArgument {
            field: "after",
            reason: reason.to_owned(),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad("not a cursor returned by a previous page"))?;
        let text = String::from_utf8(bytes).map_err(|_| bad("not a cursor"))?;
        let (body, sum) = text.rsplit_once('.').ok_or_else(|| bad("not a cursor"))?;
        if format!("{:08x}", checksum(body)) != sum {
            return Err(bad("the cursor was altered"));
        }
        let parts: Vec<&str> = body.split('.').collect();
        let [version, tag, nanos, id] = parts[..] else {
            return Err(bad("not a cursor"));
        };
        if version != "1" {
            return Err(bad("cursor from another version"));
        }
        if !tag.starts_with(sort.tag()) || tag.len() != 1 {
            return Err(bad("the cursor belongs to the other sort order"));
        }
        let nanos: i64 = nanos.parse().map_err(|_| bad("not a cursor"))?;
        let id: i64 = id.parse().map_err(|_| bad("not a cursor"))?;
        Ok(Self {
            sort,
            log_end: Utc.timestamp_nanos(nanos),
            id,
        })
    }
}

/// FNV-1a: detects an edited or truncated cursor. Not a signature; a forged cursor can only
/// move within rows the caller may see anyway.
fn checksum(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Whose rows a statement reads.
#[derive(Clone, Copy)]
enum Scope<'a> {
    One(i64),
    Many(&'a [i64]),
}

/// `<p>tenant_id … AND <p>log_end IS NOT NULL AND …` for `filter` on `message_logs` aliased
/// `m` (`p` = `m.`). The time range is left to the caller when `with_time` is false.
fn push_conditions(sql: &mut Sql, scope: Scope<'_>, f: &MessageFilter, with_time: bool) {
    match scope {
        Scope::One(id) => {
            sql.push("m.tenant_id = ").bind(id);
        }
        Scope::Many(ids) => {
            sql.push("m.tenant_id IN ").bind_list(ids.iter().copied());
        }
    }
    sql.push(" AND m.log_end IS NOT NULL");
    if with_time {
        if let Some(from) = f.from {
            sql.push(" AND m.log_end >= ").bind(from);
        }
        if let Some(to) = f.to {
            sql.push(" AND m.log_end < ").bind(to);
        }
    }
    let statuses = f.statuses();
    if !statuses.is_empty() {
        sql.push(" AND m.status IN ").bind_list(statuses);
    }
    let exact = [
        ("iflow_id", &f.iflow_id),
        ("package_id", &f.package_id),
        ("message_guid", &f.message_guid),
        ("correlation_id", &f.correlation_id),
        ("application_message_id", &f.application_id),
        ("sender", &f.sender),
        ("receiver", &f.receiver),
    ];
    for (col, v) in exact {
        if let Some(v) = given(v) {
            sql.push(&format!(" AND m.{col} = ")).bind(clean(v));
        }
    }
    push_header_condition(sql, f);
}

/// The header filter as a semi-join on `custom_header_properties`, which carries the tenant
/// so its `(tenant_id, name, value_prefix)` index applies.
fn push_header_condition(sql: &mut Sql, f: &MessageFilter) {
    let name = given(&f.header_name);
    let value = given(&f.header_value);
    if name.is_none() && value.is_none() {
        return;
    }
    sql.push(
        " AND EXISTS (SELECT 1 FROM custom_header_properties h \
         WHERE h.message_id = m.id AND h.tenant_id = m.tenant_id",
    );
    if let Some(name) = name {
        sql.push(" AND h.name = ").bind(clean(name));
    }
    match value {
        Some(v) if v.ends_with('*') => {
            let prefix = clean(&v[..v.len() - 1]);
            if !prefix.is_empty() {
                // Narrow on the indexed prefix column, then compare the value's first
                // characters exactly. PostgreSQL: LIKE, which the pattern-ops index serves
                // under any collation. SQLite: its LIKE ignores ASCII case and cannot use the
                // index, but text compares bytewise, so a range is exact and indexed (only a
                // value with U+10FFFF right after the prefix would fall outside it).
                let indexed = custom_header_properties::value_prefix(&prefix);
                if sql.backend() == DbBackend::Postgres {
                    sql.push(" AND h.value_prefix LIKE ")
                        .bind(format!("{}%", like_escape(&indexed)))
                        .push(" ESCAPE '\\'");
                } else {
                    sql.push(" AND h.value_prefix >= ")
                        .bind(indexed.clone())
                        .push(" AND h.value_prefix < ")
                        .bind(format!("{indexed}\u{10FFFF}"));
                }
                sql.push(" AND substr(h.value, 1, ")
                    .bind(i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX))
                    .push(") = ")
                    .bind(prefix);
            }
        }
        Some(v) => {
            let v = clean(v);
            sql.push(" AND h.value_prefix = ")
                .bind(custom_header_properties::value_prefix(&v))
                .push(" AND h.value = ")
                .bind(v);
        }
        None => {}
    }
    sql.push(")");
}

/// `s` as a LIKE pattern matching it literally (escape character `\`).
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One page of messages matching `filter`, in `sort` order, after the cursor `after` (from
/// the previous page's [`MessagePage::next`]). `limit` is clamped to `1..=`[`MAX_PAGE`].
///
/// A malformed or altered cursor, or one from the other sort order, is
/// [`StoreError::InvalidArgument`] with `field: "after"`.
///
/// One statement per page. With several visible tenants it merges per-tenant keyset scans
/// (`UNION ALL` of `LIMIT`ed branches), each walking `(tenant_id, log_end, id)` in order,
/// rather than sorting every matching row of all tenants.
pub async fn search(
    db: &Db,
    filter: &MessageFilter,
    sort: Sort,
    after: Option<&str>,
    limit: u32,
) -> Result<MessagePage, StoreError> {
    let cursor = after
        .filter(|a| !a.is_empty())
        .map(|a| Cursor::decode(a, sort))
        .transpose()?;
    let tenants = filter.visible_tenants();
    if tenants.is_empty() {
        return Ok(MessagePage {
            rows: Vec::new(),
            next: None,
        });
    }
    let limit = limit.clamp(1, MAX_PAGE);
    let fetch = i64::from(limit) + 1;
    let backend = db.db_backend();
    let mut sql = Sql::new(backend);
    let branch = |sql: &mut Sql, scope: Scope<'_>| {
        sql.push("SELECT ")
            .push(&row_columns("m."))
            .push(" FROM message_logs m WHERE ");
        push_conditions(sql, scope, filter, true);
        if let Some(c) = cursor {
            let op = match sort {
                Sort::NewestFirst => "<",
                Sort::OldestFirst => ">",
            };
            sql.push(&format!(" AND (m.log_end, m.id) {op} ("))
                .bind(c.log_end)
                .push(", ")
                .bind(c.id)
                .push(")");
        }
        sql.push(" ")
            .push(&sort.order_by("m."))
            .push(" LIMIT ")
            .bind(fetch);
    };
    if tenants.len() == 1 || tenants.len() > MERGE_TENANTS {
        let scope = match tenants.as_slice() {
            [one] => Scope::One(*one),
            many => Scope::Many(many),
        };
        branch(&mut sql, scope);
    } else {
        for (i, t) in tenants.iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            sql.push("SELECT * FROM (");
            branch(&mut sql, Scope::One(*t));
            sql.push(&format!(") AS t{i}"));
        }
        sql.push(" ")
            .push(&sort.order_by(""))
            .push(" LIMIT ")
            .bind(fetch);
    }
    let mut rows = db
        .conn()
        .query_all_raw(sql.statement())
        .await?
        .iter()
        .map(to_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| {
            Cursor {
                sort,
                log_end: r.log_end,
                id: r.id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(MessagePage { rows, next })
}

/// A value of a facet and how many messages have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetCount {
    /// What to filter on ('' for messages without one).
    pub value: String,
    /// What to show: the iFlow's name, or the value itself.
    pub label: String,
    pub count: i64,
}

/// Counts of the messages a filter matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facets {
    pub total: i64,
    /// False when the count stopped at the scan cap: then the counts cover only the first
    /// matching rows read, and `total` is a lower bound.
    pub exact: bool,
    /// By status, largest first.
    pub status: Vec<FacetCount>,
    /// The [`TOP_IFLOWS`] iFlows with the most messages, largest first.
    pub iflow: Vec<FacetCount>,
}

/// Messages counted per (status, iFlow).
#[derive(Debug, Clone, Default)]
struct Groups {
    counts: HashMap<(String, String), i64>,
    names: HashMap<String, String>,
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
            self.add(
                get(r, "status")?,
                get(r, "iflow_id")?,
                get(r, "iflow_name")?,
                get(r, "n")?,
            );
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

    fn total(&self) -> i64 {
        self.counts.values().sum()
    }

    /// Groups that added up to nothing (whole hour minus its rest) are not facets.
    fn without_zeros(mut self) -> Self {
        self.counts.retain(|_, n| *n != 0);
        self
    }

    fn by_status(&self) -> Vec<FacetCount> {
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

    fn by_iflow(&self, status: Option<&str>) -> Vec<FacetCount> {
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

fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
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
async fn count_with_rollup<C: ConnectionTrait>(
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
        sql.push(" AND c.iflow_id = ").bind(clean(v));
    }
    if let Some(v) = given(&filter.package_id) {
        sql.push(" AND c.package_id = ").bind(clean(v));
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
enum Closed {
    Groups(std::sync::Arc<Groups>),
    Hours(std::sync::Arc<Vec<HourCount>>),
}

/// Messages of one hour and status.
type HourCount = (DateTime<Utc>, String, i64);

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

    fn enabled(&self) -> bool {
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

    fn put(&self, key: ClosedKey, value: Closed) {
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

    fn hours(&self, key: &ClosedKey) -> Option<std::sync::Arc<Vec<HourCount>>> {
        match self.get(key)? {
            Closed::Hours(h) => Some(h),
            Closed::Groups(_) => None,
        }
    }
}

/// What a closed-hours sum depends on: the tenants, the hours and the rollup's own filters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClosedKey {
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
            iflow: given(&filter.iflow_id).map(clean),
            package: given(&filter.package_id).map(clean),
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
        push_conditions(&mut sql, Scope::Many(tenants), filter, false);
        sql.push(" AND (");
        push_ranges(&mut sql, &mut plan.edges.iter());
        sql.push(") GROUP BY COALESCE(m.status, ''), COALESCE(m.iflow_id, '')");
        groups.read(&conn.query_all_raw(sql.statement()).await?)?;
    }
    Ok(groups)
}

/// Counts per (status, iFlow) straight from `message_logs`, reading at most `cap` + 1 rows;
/// the flag says whether the count is complete.
async fn count_scanning<C: ConnectionTrait>(
    conn: &C,
    tenants: &[i64],
    filter: &MessageFilter,
    cap: u64,
) -> Result<(Groups, bool), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(
        "SELECT s.status, s.iflow_id, MAX(s.iflow_name) AS iflow_name, COUNT(*) AS n FROM \
         (SELECT COALESCE(m.status, '') AS status, COALESCE(m.iflow_id, '') AS iflow_id, \
         m.iflow_name FROM message_logs m WHERE ",
    );
    push_conditions(&mut sql, Scope::Many(tenants), filter, true);
    sql.push(" LIMIT ")
        .bind(i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX))
        .push(") s GROUP BY s.status, s.iflow_id");
    let mut groups = Groups::default();
    groups.read(&conn.query_all_raw(sql.statement()).await?)?;
    let exact = u64::try_from(groups.total()).unwrap_or(u64::MAX) <= cap;
    Ok((groups, exact))
}

/// Facet counts of `filter` (see the module doc for how they are counted).
pub async fn facets(db: &Db, filter: &MessageFilter) -> Result<Facets, StoreError> {
    facets_with(db, filter, FACET_SCAN_CAP, None).await
}

/// [`facets`] with the rollup sums of closed hours taken from `cache` when it has them.
pub async fn facets_cached(
    db: &Db,
    filter: &MessageFilter,
    cache: &ClosedHours,
) -> Result<Facets, StoreError> {
    facets_with(db, filter, FACET_SCAN_CAP, Some(cache)).await
}

/// [`facets`] with another scan cap for filters the rollup cannot answer.
pub async fn facets_capped(
    db: &Db,
    filter: &MessageFilter,
    cap: u64,
) -> Result<Facets, StoreError> {
    facets_with(db, filter, cap, None).await
}

async fn facets_with(
    db: &Db,
    filter: &MessageFilter,
    cap: u64,
    cache: Option<&ClosedHours>,
) -> Result<Facets, StoreError> {
    let tenants = filter.visible_tenants();
    if tenants.is_empty() {
        return Ok(Facets {
            total: 0,
            exact: true,
            status: Vec::new(),
            iflow: Vec::new(),
        });
    }
    let (groups, exact) = if filter.rollup_can_count() {
        (
            count_with_rollup(db.conn(), &tenants, filter, cache).await?,
            true,
        )
    } else {
        count_scanning(db.conn(), &tenants, filter, cap).await?
    };
    let mut iflow = groups.by_iflow(None);
    iflow.truncate(TOP_IFLOWS);
    Ok(Facets {
        total: groups.total(),
        exact,
        status: groups.by_status(),
        iflow,
    })
}

/// Width of a [`volume`] bucket (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bucket {
    Hour,
    Day,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumePoint {
    pub bucket_start: DateTime<Utc>,
    /// '' for messages without a status.
    pub status: String,
    pub count: i64,
}

/// Messages per bucket and status for charts, from the rollup: every bucket that overlaps
/// `[from, to)` counts whole (buckets are whole hours or days). Ordered by bucket, then status.
pub async fn volume(
    db: &Db,
    tenant_ids: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
    iflow_id: Option<&str>,
) -> Result<Vec<VolumePoint>, StoreError> {
    volume_with(db, tenant_ids, from, to, bucket, iflow_id, None).await
}

/// [`volume`] with the closed hours taken from `cache` when it has them (see [`ClosedHours`]).
pub async fn volume_cached(
    db: &Db,
    tenant_ids: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
    iflow_id: Option<&str>,
    cache: &ClosedHours,
) -> Result<Vec<VolumePoint>, StoreError> {
    volume_with(db, tenant_ids, from, to, bucket, iflow_id, Some(cache)).await
}

async fn volume_with(
    db: &Db,
    tenant_ids: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
    iflow_id: Option<&str>,
    cache: Option<&ClosedHours>,
) -> Result<Vec<VolumePoint>, StoreError> {
    let tenants = visible(tenant_ids);
    if tenants.is_empty() || from >= to {
        return Ok(Vec::new());
    }
    let start = match bucket {
        Bucket::Hour => hour_floor(from),
        Bucket::Day => from.duration_trunc(Duration::days(1)).unwrap_or(from),
    };
    let iflow = iflow_id.filter(|s| !s.is_empty());
    let mut hours: Vec<HourCount> = Vec::new();
    match cache.filter(|c| c.enabled()) {
        None => hours = hour_counts(db, &tenants, start, to, iflow).await?,
        Some(cache) => {
            // Closed hours from the cache, the current hour from the table.
            let live = hour_floor(Utc::now());
            let closed_hi = to.min(live);
            if start < closed_hi {
                let key = ClosedKey {
                    what: "volume",
                    tenants: tenants.clone(),
                    lo: Some(start),
                    hi: closed_hi,
                    statuses: Vec::new(),
                    iflow: iflow.map(clean),
                    package: None,
                };
                let closed = match cache.hours(&key) {
                    Some(hit) => hit,
                    None => {
                        let fresh = std::sync::Arc::new(
                            hour_counts(db, &tenants, start, closed_hi, iflow).await?,
                        );
                        cache.put(key, Closed::Hours(fresh.clone()));
                        fresh
                    }
                };
                hours.extend(closed.iter().cloned());
            }
            let live_lo = start.max(live);
            if live_lo < to {
                hours.extend(hour_counts(db, &tenants, live_lo, to, iflow).await?);
            }
        }
    }
    // Days are summed here rather than in SQL: the hour-to-day expression differs per backend,
    // and a chart's rows are few.
    let mut points: BTreeMap<(DateTime<Utc>, String), i64> = BTreeMap::new();
    for (hour, status, n) in hours {
        let key = match bucket {
            Bucket::Hour => hour,
            Bucket::Day => hour.duration_trunc(Duration::days(1)).unwrap_or(hour),
        };
        *points.entry((key, status)).or_default() += n;
    }
    Ok(points
        .into_iter()
        .map(|((bucket_start, status), count)| VolumePoint {
            bucket_start,
            status,
            count,
        })
        .collect())
}

/// Messages per hour and status of the rollup's hours in `[lo, hi)`.
async fn hour_counts(
    db: &Db,
    tenants: &[i64],
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    iflow: Option<&str>,
) -> Result<Vec<HourCount>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push(
        "SELECT c.hour_start, c.status, CAST(SUM(c.count) AS BIGINT) AS n FROM message_counts c \
         WHERE c.tenant_id IN ",
    )
    .bind_list(tenants.iter().copied())
    .push(" AND c.hour_start >= ")
    .bind(lo)
    .push(" AND c.hour_start < ")
    .bind(hi);
    if let Some(iflow) = iflow {
        sql.push(" AND c.iflow_id = ").bind(clean(iflow));
    }
    sql.push(" GROUP BY c.hour_start, c.status");
    let rows = db.conn().query_all_raw(sql.statement()).await?;
    rows.iter()
        .map(|r| Ok((get(r, "hour_start")?, get(r, "status")?, get(r, "n")?)))
        .collect::<Result<_, DbErr>>()
        .map_err(StoreError::from)
}

/// All columns of a stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: i64,
    pub tenant_id: i64,
    pub message_guid: String,
    pub correlation_id: Option<String>,
    pub application_message_id: Option<String>,
    pub application_message_type: Option<String>,
    pub predecessor_message_guid: Option<String>,
    pub log_start: Option<DateTime<Utc>>,
    pub log_end: Option<DateTime<Utc>>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    pub iflow_id: Option<String>,
    pub iflow_name: Option<String>,
    pub artifact_type: Option<String>,
    pub package_id: Option<String>,
    pub package_name: Option<String>,
    pub status: Option<String>,
    pub custom_status: Option<String>,
    pub log_level: Option<String>,
    pub alternate_web_link: Option<String>,
    pub transaction_id: Option<String>,
    pub archiving_status: Option<String>,
    pub origin_component_name: Option<String>,
    pub local_component_name: Option<String>,
    pub previous_component_name: Option<String>,
    pub duration_ms: Option<i64>,
    pub details_status: Option<String>,
    pub details_fetched_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<message_logs::Model> for MessageRecord {
    fn from(m: message_logs::Model) -> Self {
        Self {
            id: m.id,
            tenant_id: m.tenant_id,
            message_guid: m.message_guid,
            correlation_id: m.correlation_id,
            application_message_id: m.application_message_id,
            application_message_type: m.application_message_type,
            predecessor_message_guid: m.predecessor_message_guid,
            log_start: m.log_start,
            log_end: m.log_end,
            sender: m.sender,
            receiver: m.receiver,
            iflow_id: m.iflow_id,
            iflow_name: m.iflow_name,
            artifact_type: m.artifact_type,
            package_id: m.package_id,
            package_name: m.package_name,
            status: m.status,
            custom_status: m.custom_status,
            log_level: m.log_level,
            alternate_web_link: m.alternate_web_link,
            transaction_id: m.transaction_id,
            archiving_status: m.archiving_status,
            origin_component_name: m.origin_component_name,
            local_component_name: m.local_component_name,
            previous_component_name: m.previous_component_name,
            duration_ms: m.duration_ms,
            details_status: m.details_status,
            details_fetched_at: m.details_fetched_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A stored payload (message store entry) without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadMeta {
    pub id: i64,
    pub message_id: i64,
    pub entry_id: String,
    pub message_store_id: Option<String>,
    pub entry_timestamp: Option<DateTime<Utc>>,
    pub has_attachments: Option<bool>,
    pub content_type: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub retain_until: Option<DateTime<Utc>>,
    /// 'pending' | 'downloaded' | 'too_large' | 'error' | 'skipped'
    pub status: String,
    pub error: Option<String>,
    pub downloaded_at: Option<DateTime<Utc>>,
    /// Whether the bytes are stored ([`payload_body`] returns them).
    pub has_content: bool,
}

const PAYLOAD_META: &str = "p.id, p.message_id, p.entry_id, p.message_store_id, \
    p.entry_timestamp, p.has_attachments, p.content_type, p.size, p.sha256, p.retain_until, \
    p.status, p.error, p.downloaded_at, (p.content IS NOT NULL) AS has_content";

fn to_payload(r: &QueryResult) -> Result<PayloadMeta, DbErr> {
    Ok(PayloadMeta {
        id: get(r, "id")?,
        message_id: get(r, "message_id")?,
        entry_id: get(r, "entry_id")?,
        message_store_id: get(r, "message_store_id")?,
        entry_timestamp: get(r, "entry_timestamp")?,
        has_attachments: get(r, "has_attachments")?,
        content_type: get(r, "content_type")?,
        size: get(r, "size")?,
        sha256: get(r, "sha256")?,
        retain_until: get(r, "retain_until")?,
        status: get(r, "status")?,
        error: get(r, "error")?,
        downloaded_at: get(r, "downloaded_at")?,
        has_content: get(r, "has_content")?,
    })
}

/// A stored attachment without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    pub id: i64,
    pub message_id: i64,
    pub attachment_id: String,
    pub name: Option<String>,
    pub content_type: Option<String>,
    pub size: Option<i64>,
    pub timestamp: Option<DateTime<Utc>>,
    pub sha256: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub downloaded_at: Option<DateTime<Utc>>,
    /// Whether the bytes are stored ([`attachment_body`] returns them).
    pub has_content: bool,
}

const ATTACHMENT_META: &str = "p.id, p.message_id, p.attachment_id, p.name, p.content_type, \
    p.size, p.timestamp, p.sha256, p.status, p.error, p.downloaded_at, \
    (p.content IS NOT NULL) AS has_content";

fn to_attachment(r: &QueryResult) -> Result<AttachmentInfo, DbErr> {
    Ok(AttachmentInfo {
        id: get(r, "id")?,
        message_id: get(r, "message_id")?,
        attachment_id: get(r, "attachment_id")?,
        name: get(r, "name")?,
        content_type: get(r, "content_type")?,
        size: get(r, "size")?,
        timestamp: get(r, "timestamp")?,
        sha256: get(r, "sha256")?,
        status: get(r, "status")?,
        error: get(r, "error")?,
        downloaded_at: get(r, "downloaded_at")?,
        has_content: get(r, "has_content")?,
    })
}

/// A run of a message with its steps; `id` is the stored run's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetail {
    pub id: i64,
    #[serde(flatten)]
    pub run: Run,
}

/// Everything the monitor shows about one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDetail {
    pub message: MessageRecord,
    pub error: Option<ErrorInfo>,
    /// By start, each with its steps by `child_count`.
    pub runs: Vec<RunDetail>,
    pub headers: Vec<CustomHeader>,
    pub adapter_attributes: Vec<AdapterAttribute>,
    pub payloads: Vec<PayloadMeta>,
    pub attachments: Vec<AttachmentInfo>,
    /// Other messages of the tenant with the same correlation id, newest first, at most
    /// [`CORRELATED_LIMIT`].
    pub correlated: Vec<MessageRow>,
}

/// One message with everything stored about it, if it exists and belongs to a visible tenant.
/// Nine statements whatever the number of runs, steps or headers.
pub async fn detail(
    db: &Db,
    tenant_ids: &[i64],
    message_id: i64,
) -> Result<Option<MessageDetail>, StoreError> {
    detail_in(db.conn(), tenant_ids, message_id).await
}

/// [`detail`] on any connection.
pub async fn detail_in<C: ConnectionTrait>(
    conn: &C,
    tenant_ids: &[i64],
    message_id: i64,
) -> Result<Option<MessageDetail>, StoreError> {
    let tenants = visible(tenant_ids);
    if tenants.is_empty() {
        return Ok(None);
    }
    let Some(msg) = message_logs::Entity::find_by_id(message_id)
        .filter(message_logs::Column::TenantId.is_in(tenants))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let error = super::messages::read_error(conn, message_id).await?;
    let runs = super::messages::read_runs(conn, message_id)
        .await?
        .into_iter()
        .map(|(id, run)| RunDetail { id, run })
        .collect();
    let headers = custom_header_properties::Entity::find()
        .filter(custom_header_properties::Column::MessageId.eq(message_id))
        .order_by_asc(custom_header_properties::Column::Name)
        .order_by_asc(custom_header_properties::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|h| CustomHeader {
            name: h.name,
            value: h.value,
        })
        .collect();
    let adapter_attributes = super::messages::read_adapter_attributes(conn, message_id).await?;
    let backend = conn.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT {PAYLOAD_META} FROM payloads p WHERE p.message_id = "
    ))
    .bind(message_id)
    .push(" ORDER BY p.entry_timestamp, p.id");
    let payloads = conn
        .query_all_raw(sql.statement())
        .await?
        .iter()
        .map(to_payload)
        .collect::<Result<_, _>>()?;
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT {ATTACHMENT_META} FROM attachments p WHERE p.message_id = "
    ))
    .bind(message_id)
    .push(" ORDER BY p.timestamp, p.id");
    let attachments = conn
        .query_all_raw(sql.statement())
        .await?
        .iter()
        .map(to_attachment)
        .collect::<Result<_, _>>()?;
    let correlated = match msg.correlation_id.as_deref().filter(|c| !c.is_empty()) {
        Some(corr) => {
            let mut sql = Sql::new(backend);
            sql.push("SELECT ")
                .push(&row_columns("m."))
                .push(" FROM message_logs m WHERE m.tenant_id = ")
                .bind(msg.tenant_id)
                .push(" AND m.correlation_id = ")
                .bind(corr.to_owned())
                .push(" AND m.id <> ")
                .bind(message_id)
                .push(" AND m.log_end IS NOT NULL ")
                .push(&Sort::NewestFirst.order_by("m."))
                .push(" LIMIT ")
                .bind(i64::try_from(CORRELATED_LIMIT).unwrap_or(i64::MAX));
            conn.query_all_raw(sql.statement())
                .await?
                .iter()
                .map(to_row)
                .collect::<Result<_, _>>()?
        }
        None => Vec::new(),
    };
    Ok(Some(MessageDetail {
        message: msg.into(),
        error,
        runs,
        headers,
        adapter_attributes,
        payloads,
        attachments,
        correlated,
    }))
}

/// A payload's metadata and bytes, if it exists, belongs to a message of a visible tenant, and
/// its content is stored.
pub async fn payload_body(
    db: &Db,
    tenant_ids: &[i64],
    payload_id: i64,
) -> Result<Option<(PayloadMeta, Vec<u8>)>, StoreError> {
    let Some(row) = body_row(db, "payloads", PAYLOAD_META, tenant_ids, payload_id).await? else {
        return Ok(None);
    };
    Ok(Some((to_payload(&row)?, get(&row, "content")?)))
}

/// An attachment's metadata and bytes, like [`payload_body`].
pub async fn attachment_body(
    db: &Db,
    tenant_ids: &[i64],
    attachment_id: i64,
) -> Result<Option<(AttachmentInfo, Vec<u8>)>, StoreError> {
    let Some(row) = body_row(
        db,
        "attachments",
        ATTACHMENT_META,
        tenant_ids,
        attachment_id,
    )
    .await?
    else {
        return Ok(None);
    };
    Ok(Some((to_attachment(&row)?, get(&row, "content")?)))
}

async fn body_row(
    db: &Db,
    table: &str,
    columns: &str,
    tenant_ids: &[i64],
    id: i64,
) -> Result<Option<QueryResult>, StoreError> {
    let tenants = visible(tenant_ids);
    if tenants.is_empty() {
        return Ok(None);
    }
    let mut sql = Sql::new(db.db_backend());
    sql.push(&format!(
        "SELECT {columns}, p.content FROM {table} p JOIN message_logs m ON m.id = p.message_id \
         WHERE p.id = "
    ))
    .bind(id)
    .push(" AND p.content IS NOT NULL AND m.tenant_id IN ")
    .bind_list(tenants);
    Ok(db.conn().query_one_raw(sql.statement()).await?)
}

/// An iFlow with failed messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingIflow {
    pub iflow_id: String,
    pub iflow_name: Option<String>,
    pub failed: i64,
}

/// A deployed artifact in status ERROR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInError {
    pub artifact_id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub artifact_type: Option<String>,
    pub deployed_at: Option<DateTime<Utc>>,
    pub error_text: Option<String>,
}

/// A keystore entry whose validity ends within 30 days (or has ended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiringCertificate {
    pub alias: String,
    pub entry_type: Option<String>,
    pub subject_dn: Option<String>,
    pub valid_not_after: DateTime<Utc>,
}

/// Collection health of one job type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobHealth {
    pub job_type: String,
    /// From the collector's own record (`sync_state`), else from the job history.
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: i32,
    pub watermark: Option<DateTime<Utc>>,
}

/// The tenant overview's key figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantKpis {
    pub tenant_id: i64,
    pub name: String,
    /// 'unknown' | 'ok' | 'unreachable'
    pub status: String,
    pub status_message: Option<String>,
    pub status_at: Option<DateTime<Utc>>,
    pub unreachable: bool,
    /// Messages by status with `log_end` in `[now - 1h, now)`.
    pub last_hour: Vec<FacetCount>,
    pub last_hour_total: i64,
    /// Messages by status with `log_end` in `[now - 24h, now)`.
    pub last_24h: Vec<FacetCount>,
    pub last_24h_total: i64,
    /// iFlows with FAILED messages in the last 24 hours, most failures first.
    pub failing_iflows: Vec<FailingIflow>,
    pub artifacts_in_error_count: i64,
    /// At most [`OVERVIEW_LIST_LIMIT`], by artifact id.
    pub artifacts_in_error: Vec<ArtifactInError>,
    /// Ending before `now + 30 days`, soonest first, at most [`OVERVIEW_LIST_LIMIT`].
    pub expiring_certificates: Vec<ExpiringCertificate>,
    /// Per job type that has run or has state, by job type.
    pub jobs: Vec<JobHealth>,
    /// `now` minus the hot message sync's watermark: how far behind collection is.
    pub collection_lag_secs: Option<i64>,
}

/// The watermark the collection lag is measured on (the ingest worker's hot sync).
const LAG_JOB: &str = "messages_hot";

/// Key figures of one tenant at `now`; `None` when the tenant does not exist. The caller
/// checks that the tenant is visible.
pub async fn overview(
    db: &Db,
    tenant_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<TenantKpis>, StoreError> {
    let conn = db.conn();
    let Some(tenant) = tenants::Entity::find_by_id(tenant_id).one(conn).await? else {
        return Ok(None);
    };
    let window = |hours: i64| MessageFilter {
        tenant_ids: vec![tenant_id],
        from: Some(now - Duration::hours(hours)),
        to: Some(now),
        ..Default::default()
    };
    let hour = count_with_rollup(conn, &[tenant_id], &window(1), None).await?;
    let day = count_with_rollup(conn, &[tenant_id], &window(24), None).await?;
    let failed = domain::MessageStatus::Failed.as_str();
    let failing_iflows = day
        .by_iflow(Some(failed))
        .into_iter()
        .map(|f| FailingIflow {
            iflow_name: day.names.get(&f.value).cloned(),
            iflow_id: f.value,
            failed: f.count,
        })
        .collect();

    let in_error = || {
        runtime_artifacts::Entity::find()
            .filter(runtime_artifacts::Column::TenantId.eq(tenant_id))
            .filter(runtime_artifacts::Column::Status.eq("ERROR"))
    };
    let artifacts_in_error_count = in_error().count(conn).await?;
    let artifacts_in_error = in_error()
        .order_by_asc(runtime_artifacts::Column::ArtifactId)
        .limit(OVERVIEW_LIST_LIMIT)
        .all(conn)
        .await?
        .into_iter()
        .map(|a| ArtifactInError {
            artifact_id: a.artifact_id,
            name: a.name,
            version: a.version,
            artifact_type: a.artifact_type,
            deployed_at: a.deployed_at,
            error_text: a.error_text,
        })
        .collect();

    let expiring_certificates = keystore_entries::Entity::find()
        .filter(keystore_entries::Column::TenantId.eq(tenant_id))
        .filter(keystore_entries::Column::ValidNotAfter.lt(now + Duration::days(30)))
        .order_by_asc(keystore_entries::Column::ValidNotAfter)
        .order_by_asc(keystore_entries::Column::Alias)
        .limit(OVERVIEW_LIST_LIMIT)
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|k| {
            Some(ExpiringCertificate {
                valid_not_after: k.valid_not_after?,
                alias: k.alias,
                entry_type: k.entry_type,
                subject_dn: k.subject_dn,
            })
        })
        .collect();

    let mut jobs: BTreeMap<String, JobHealth> = BTreeMap::new();
    let mut collection_lag_secs = None;
    for s in sync_state::Entity::find()
        .filter(sync_state::Column::TenantId.eq(tenant_id))
        .all(conn)
        .await?
    {
        if s.job_type == LAG_JOB {
            collection_lag_secs = s.watermark.map(|w| (now - w).num_seconds().max(0));
        }
        jobs.insert(
            s.job_type.clone(),
            JobHealth {
                job_type: s.job_type,
                last_success_at: s.last_success_at,
                last_attempt_at: s.last_attempt_at,
                last_error: s.last_error,
                consecutive_failures: s.consecutive_failures,
                watermark: s.watermark,
            },
        );
    }
    // Jobs that keep no sync state (artifacts, keystore) are known from their runs.
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT job_type, MAX(finished_at) AS finished_at FROM job_runs WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND state = 'succeeded' GROUP BY job_type");
    for r in conn.query_all_raw(sql.statement()).await? {
        let job_type: String = get(&r, "job_type")?;
        let finished: Option<DateTime<Utc>> = get(&r, "finished_at")?;
        let entry = jobs.entry(job_type.clone()).or_insert_with(|| JobHealth {
            job_type,
            last_success_at: None,
            last_attempt_at: None,
            last_error: None,
            consecutive_failures: 0,
            watermark: None,
        });
        if entry.last_success_at.is_none() || finished > entry.last_success_at {
            entry.last_success_at = finished;
        }
    }

    Ok(Some(TenantKpis {
        tenant_id,
        unreachable: tenant.status == domain::tenant::TenantStatus::Unreachable.as_str(),
        name: tenant.name,
        status: tenant.status,
        status_message: tenant.status_message,
        status_at: tenant.status_at,
        last_hour: hour.by_status(),
        last_hour_total: hour.total(),
        last_24h: day.by_status(),
        last_24h_total: day.total(),
        failing_iflows,
        artifacts_in_error_count: i64::try_from(artifacts_in_error_count).unwrap_or(i64::MAX),
        artifacts_in_error,
        expiring_certificates,
        jobs: jobs.into_values().collect(),
        collection_lag_secs,
    }))
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
        for r in conn.query_all_raw(sql.statement()).await? {
            fresh.insert(
                (
                    *h,
                    get(&r, "iflow_id")?,
                    get(&r, "package_id")?,
                    get(&r, "status")?,
                ),
                (get(&r, "iflow_name")?, get(&r, "n")?),
            );
        }
    }
    let mut sql = Sql::new(backend);
    sql.push(
        "SELECT id, hour_start, iflow_id, package_id, status, iflow_name, count \
         FROM message_counts WHERE tenant_id = ",
    )
    .bind(tenant_id)
    .push(" AND hour_start IN ")
    .bind_list(hours.iter().copied());
    let mut unchanged: HashSet<CountKey> = HashSet::new();
    let mut vanished: Vec<i64> = Vec::new();
    for r in conn.query_all_raw(sql.statement()).await? {
        let key: CountKey = (
            get(&r, "hour_start")?,
            get(&r, "iflow_id")?,
            get(&r, "package_id")?,
            get(&r, "status")?,
        );
        let stored = (get::<Option<String>>(&r, "iflow_name")?, get(&r, "count")?);
        match fresh.get(&key) {
            None => vanished.push(get(&r, "id")?),
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

#[cfg(test)]
mod tests {
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

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let c = Cursor {
            sort: Sort::NewestFirst,
            log_end: at(8, 15) + Duration::nanoseconds(123_456_789),
            id: 42,
        };
        let s = c.encode();
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Cursor::decode(&s, Sort::NewestFirst).unwrap(), c);
        let wrong_sort = Cursor::decode(&s, Sort::OldestFirst).unwrap_err();
        assert!(matches!(
            wrong_sort,
            StoreError::InvalidArgument { field: "after", .. }
        ));
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(&s).unwrap()).unwrap();
        let edited = URL_SAFE_NO_PAD.encode(text.replace(".42.", ".41."));
        for bad in [edited.as_str(), "", "!!", "bm9wZQ", &s[..s.len() - 2]] {
            assert!(
                matches!(
                    Cursor::decode(bad, Sort::NewestFirst),
                    Err(StoreError::InvalidArgument { field: "after", .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(like_escape(r"a%b_c\d'e"), r"a\%b\_c\\d'e");
    }
}
