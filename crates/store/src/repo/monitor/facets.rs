//! Facet counts and the volume chart, counted as [`super::counting`] plans them.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound as _, Utc};
use sea_orm::FromQueryResult;
use serde::{Deserialize, Serialize};

use super::counting::{
    Closed, ClosedHours, ClosedKey, FacetCount, HourCount, PROBE_COUNT_CAP, count_scanning,
    count_with_rollup,
};
use super::filter::{
    HEADER_PROBE_CAP, HeaderPlan, MessageFilter, Scope, header_plan, key, push_conditions, visible,
};
use super::{FACET_SCAN_CAP, TOP_IFLOWS};
use crate::connect::Db;
use crate::error::StoreError;
use crate::repo::Sql;
use crate::repo::rollup::hour_floor;

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
                let key = ClosedKey::volume(&tenants, start, closed_hi, iflow);
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
    Ok(sum_buckets(hours, bucket))
}

/// The volume of the messages a [`MessageFilter`] matches, for a chart beside their list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilteredVolume {
    pub points: Vec<VolumePoint>,
    /// False when the filter needed a count of `message_logs` and it stopped at the scan cap:
    /// then only the newest matching messages are counted.
    pub exact: bool,
}

/// Messages per bucket and status matching `filter` in its range (whole buckets when the
/// rollup counts, as [`volume`]): from the rollup when it keeps every field the filter uses
/// (tenant, status, iFlow, package), otherwise counted from `message_logs`, newest first, up
/// to [`FACET_SCAN_CAP`] rows.
pub async fn volume_filtered(
    db: &Db,
    filter: &MessageFilter,
    bucket: Bucket,
    cache: Option<&ClosedHours>,
) -> Result<FilteredVolume, StoreError> {
    let tenants = filter.visible_tenants();
    let (Some(from), Some(to)) = (filter.from, filter.to) else {
        return Err(StoreError::InvalidArgument {
            field: "from",
            reason: "a volume needs a time range".into(),
        });
    };
    if tenants.is_empty() || from >= to {
        return Ok(FilteredVolume {
            points: Vec::new(),
            exact: true,
        });
    }
    let only_iflow = filter.statuses().is_empty() && filter.package_id.is_none();
    if filter.rollup_can_count() && only_iflow {
        let points = volume_with(
            db,
            &tenants,
            from,
            to,
            bucket,
            filter.iflow_id.as_deref(),
            cache,
        )
        .await?;
        return Ok(FilteredVolume {
            points,
            exact: true,
        });
    }
    let (hours, exact) = if filter.rollup_can_count() {
        let start = bucket_floor(from, bucket);
        let mut sql = Sql::new(db.db_backend());
        sql.push(
            "SELECT c.hour_start, c.status, CAST(SUM(c.count) AS BIGINT) AS n \
             FROM message_counts c WHERE c.tenant_id IN ",
        )
        .bind_list(tenants.iter().copied())
        .push(" AND c.hour_start >= ")
        .bind(start)
        .push(" AND c.hour_start < ")
        .bind(to);
        if let Some(iflow) = filter.iflow_id.as_deref().filter(|s| !s.is_empty()) {
            sql.push(" AND c.iflow_id = ").bind(key(iflow));
        }
        if let Some(package) = filter.package_id.as_deref().filter(|s| !s.is_empty()) {
            sql.push(" AND c.package_id = ").bind(key(package));
        }
        let statuses = filter.statuses();
        if !statuses.is_empty() {
            sql.push(" AND c.status IN ").bind_list(statuses);
        }
        sql.push(" GROUP BY c.hour_start, c.status");
        let rows = HourRow::find_by_statement(sql.statement())
            .all(db.conn())
            .await?;
        (
            rows.into_iter()
                .map(|r| (r.hour_start, r.status, r.n))
                .collect::<Vec<_>>(),
            true,
        )
    } else {
        scan_hours(db, &tenants, filter).await?
    };
    Ok(FilteredVolume {
        points: sum_buckets(hours, bucket),
        exact,
    })
}

/// The newest messages matching `filter` (at most the scan cap), one per row, by hour.
async fn scan_hours(
    db: &Db,
    tenants: &[i64],
    filter: &MessageFilter,
) -> Result<(Vec<HourCount>, bool), StoreError> {
    let header = header_plan(db.conn(), tenants, filter, HEADER_PROBE_CAP).await?;
    let cap = match header {
        HeaderPlan::Probe if filter.has_header_filter() => FACET_SCAN_CAP.min(PROBE_COUNT_CAP),
        _ => FACET_SCAN_CAP,
    };
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT m.log_end, COALESCE(m.status, '') AS status FROM message_logs m WHERE ");
    push_conditions(&mut sql, Scope::Many(tenants), filter, true, &header);
    sql.push(" ORDER BY m.log_end DESC LIMIT ")
        .bind(i64::try_from(cap + 1).unwrap_or(i64::MAX));
    let rows = EndRow::find_by_statement(sql.statement())
        .all(db.conn())
        .await?;
    let exact = rows.len() as u64 <= cap;
    let mut counts: BTreeMap<(DateTime<Utc>, String), i64> = BTreeMap::new();
    for r in rows
        .into_iter()
        .take(usize::try_from(cap).unwrap_or(usize::MAX))
    {
        *counts.entry((hour_floor(r.log_end), r.status)).or_default() += 1;
    }
    Ok((
        counts.into_iter().map(|((h, s), n)| (h, s, n)).collect(),
        exact,
    ))
}

#[derive(FromQueryResult)]
struct EndRow {
    log_end: DateTime<Utc>,
    status: String,
}

fn bucket_floor(t: DateTime<Utc>, bucket: Bucket) -> DateTime<Utc> {
    match bucket {
        Bucket::Hour => hour_floor(t),
        Bucket::Day => t.duration_trunc(Duration::days(1)).unwrap_or(t),
    }
}

/// Hour counts summed into `bucket`s, ordered by bucket, then status.
fn sum_buckets(hours: Vec<HourCount>, bucket: Bucket) -> Vec<VolumePoint> {
    // Days are summed here rather than in SQL: the hour-to-day expression differs per backend,
    // and a chart's rows are few.
    let mut points: BTreeMap<(DateTime<Utc>, String), i64> = BTreeMap::new();
    for (hour, status, n) in hours {
        *points
            .entry((bucket_floor(hour, bucket), status))
            .or_default() += n;
    }
    points
        .into_iter()
        .map(|((bucket_start, status), count)| VolumePoint {
            bucket_start,
            status,
            count,
        })
        .collect()
}

/// Every status stored for these tenants (the rollup keeps one row per status seen), sorted;
/// `''` stands for messages without one. Statuses are an open set: this is what a status
/// filter may name besides the known ones.
pub async fn stored_statuses(db: &Db, tenant_ids: &[i64]) -> Result<Vec<String>, StoreError> {
    let tenants = visible(tenant_ids);
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT DISTINCT c.status FROM message_counts c WHERE c.tenant_id IN ")
        .bind_list(tenants.iter().copied())
        .push(" ORDER BY c.status");
    Ok(StatusRow::find_by_statement(sql.statement())
        .all(db.conn())
        .await?
        .into_iter()
        .map(|r| r.status)
        .collect())
}

#[derive(FromQueryResult)]
struct StatusRow {
    status: String,
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
        sql.push(" AND c.iflow_id = ").bind(key(iflow));
    }
    sql.push(" GROUP BY c.hour_start, c.status");
    Ok(HourRow::find_by_statement(sql.statement())
        .all(db.conn())
        .await?
        .into_iter()
        .map(|r| (r.hour_start, r.status, r.n))
        .collect())
}

/// A row of [`hour_counts`].
#[derive(FromQueryResult)]
struct HourRow {
    hour_start: DateTime<Utc>,
    status: String,
    n: i64,
}
