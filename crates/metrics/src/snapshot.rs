//! Metric snapshots of one tenant: per fixed interval ("bucket") and iFlow, message counts by
//! status, LogEnd − LogStart percentiles and payload volume, from the messages whose LogEnd
//! falls in the interval.
//!
//! Messages arrive late (collection lag, the hot window's overlap) and change status
//! (PROCESSING → COMPLETED), so every run recomputes the recent intervals too
//! ([`SnapshotOptions::recompute`]); an interval's rows are replaced as a whole, which keeps
//! reruns idempotent. Only complete intervals are written.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use store::repo::snapshots::{self, MessageSample, MetricSnapshot, PayloadVolume};
use store::{Db, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// Interval length (`METRICS_SNAPSHOT_SECS`); divides a day, so intervals align to days.
    pub bucket_secs: u32,
    /// How far back every run recomputes (`METRICS_RECOMPUTE_SECS`).
    pub recompute: Duration,
    /// How far back a run catches up after the daemon was down (older intervals are left).
    pub catch_up: Duration,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        Self {
            bucket_secs: 300,
            recompute: Duration::from_secs(3600),
            catch_up: Duration::from_secs(24 * 3600),
        }
    }
}

/// What a run did (the job's summary).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub intervals: usize,
    pub rows: usize,
    pub messages: i64,
}

/// Start of the interval of `secs` containing `t` (intervals start at multiples of `secs`
/// since the Unix epoch).
pub fn bucket_floor(t: DateTime<Utc>, secs: u32) -> DateTime<Utc> {
    let secs = i64::from(secs.max(1));
    let floored = t.timestamp().div_euclid(secs) * secs;
    Utc.timestamp_opt(floored, 0).single().unwrap_or(t)
}

/// Nearest-rank percentile of ascending `sorted`: the value at rank ⌈p/100 · n⌉ (1-based).
/// Always one of the observed values; `None` when there are none.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (u64::from(p.min(100)) * n).div_ceil(100).max(1);
    sorted.get((rank - 1) as usize).copied()
}

/// The rows of one interval from its messages and payload volume.
pub fn summarise(
    tenant_id: i64,
    bucket_start: DateTime<Utc>,
    bucket_secs: u32,
    samples: &[MessageSample],
    payloads: &[PayloadVolume],
    computed_at: DateTime<Utc>,
) -> Vec<MetricSnapshot> {
    #[derive(Default)]
    struct Acc {
        name: Option<String>,
        statuses: BTreeMap<String, i64>,
        durations: Vec<i64>,
        messages: i64,
        payload_count: i64,
        payload_bytes: i64,
    }
    let mut by_iflow: BTreeMap<&str, Acc> = BTreeMap::new();
    for s in samples {
        let acc = by_iflow.entry(s.iflow_id.as_str()).or_default();
        acc.messages += 1;
        *acc.statuses.entry(s.status.clone()).or_default() += 1;
        if let Some(d) = s.duration_ms {
            acc.durations.push(d);
        }
        if acc.name.is_none() {
            acc.name.clone_from(&s.iflow_name);
        }
    }
    for p in payloads {
        let acc = by_iflow.entry(p.iflow_id.as_str()).or_default();
        acc.payload_count += p.count;
        acc.payload_bytes += p.bytes;
    }
    by_iflow
        .into_iter()
        .map(|(iflow, mut acc)| {
            acc.durations.sort_unstable();
            MetricSnapshot {
                tenant_id,
                bucket_start,
                bucket_secs: i32::try_from(bucket_secs).unwrap_or(i32::MAX),
                iflow_id: iflow.to_string(),
                iflow_name: acc.name,
                messages: acc.messages,
                status_counts: acc.statuses,
                duration_p50_ms: percentile(&acc.durations, 50),
                duration_p95_ms: percentile(&acc.durations, 95),
                duration_p99_ms: percentile(&acc.durations, 99),
                duration_max_ms: acc.durations.last().copied(),
                payload_count: acc.payload_count,
                payload_bytes: acc.payload_bytes,
                computed_at,
            }
        })
        .collect()
}

/// The intervals a run at `now` (re)computes: from the older of the last computed end
/// (`watermark`) and `now - recompute`, but not before `now - catch_up`, up to the start of the
/// current (incomplete) interval.
pub fn range(
    watermark: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    opts: &SnapshotOptions,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let secs = |d: Duration| chrono::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(0));
    let recent = now - secs(opts.recompute);
    let oldest = now - secs(opts.catch_up);
    let from = watermark.map_or(recent, |w| w.min(recent)).max(oldest);
    (
        bucket_floor(from, opts.bucket_secs),
        bucket_floor(now, opts.bucket_secs),
    )
}

/// Compute and write the tenant's snapshots of the intervals in `[from, to)`, one transaction
/// per interval. At shutdown (see `queue::stop_requested`) it stops between intervals; the
/// report's `to` then says how far it got.
pub async fn snapshot_tenant(
    db: &Db,
    tenant_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket_secs: u32,
) -> Result<SnapshotReport, StoreError> {
    let step = chrono::Duration::seconds(i64::from(bucket_secs.max(1)));
    let mut report = SnapshotReport {
        from,
        to,
        intervals: 0,
        rows: 0,
        messages: 0,
    };
    let mut start = from;
    while start < to {
        if queue::stop_requested() {
            report.to = start;
            break;
        }
        let end = start + step;
        let samples = snapshots::message_samples(db, tenant_id, start, end).await?;
        let payloads = snapshots::payload_volume(db, tenant_id, start, end).await?;
        let rows = summarise(
            tenant_id,
            start,
            bucket_secs,
            &samples,
            &payloads,
            Utc::now(),
        );
        snapshots::replace_metric_snapshots(db, tenant_id, start, end, &rows).await?;
        report.intervals += 1;
        report.rows += rows.len();
        report.messages += samples.len() as i64;
        start = end;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 95), Some(95));
        assert_eq!(percentile(&v, 99), Some(99));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn intervals_align_to_the_epoch() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 10, 7, 31).unwrap();
        assert_eq!(
            bucket_floor(t, 300),
            Utc.with_ymd_and_hms(2026, 11, 26, 10, 5, 0).unwrap()
        );
        assert_eq!(
            bucket_floor(t, 3600),
            Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
        );
    }

    #[test]
    fn the_range_recomputes_recent_intervals_and_catches_up_a_bounded_time() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 10, 7, 31).unwrap();
        let o = SnapshotOptions::default();
        let h = |h, m| Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0).unwrap();
        assert_eq!(range(None, now, &o), (h(9, 5), h(10, 5)));
        assert_eq!(range(Some(h(10, 5)), now, &o), (h(9, 5), h(10, 5)));
        assert_eq!(range(Some(h(6, 0)), now, &o), (h(6, 0), h(10, 5)));
        let long_ago = now - chrono::Duration::days(5);
        let (from, _) = range(Some(long_ago), now, &o);
        assert_eq!(
            from,
            bucket_floor(now - chrono::Duration::days(1), o.bucket_secs)
        );
    }

    #[test]
    fn rows_per_iflow_with_counts_percentiles_and_payloads() {
        let s = |iflow: &str, status: &str, d: Option<i64>| MessageSample {
            iflow_id: iflow.into(),
            iflow_name: Some(format!("{iflow} name")),
            status: status.into(),
            duration_ms: d,
        };
        let samples = vec![
            s("a", "COMPLETED", Some(30)),
            s("a", "FAILED", Some(10)),
            s("a", "COMPLETED", Some(20)),
            s("b", "COMPLETED", None),
        ];
        let payloads = vec![PayloadVolume {
            iflow_id: "c".into(),
            count: 2,
            bytes: 100,
        }];
        let at = Utc::now();
        let rows = summarise(1, at, 300, &samples, &payloads, at);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].iflow_id, "a");
        assert_eq!(rows[0].messages, 3);
        assert_eq!(rows[0].status_counts["COMPLETED"], 2);
        assert_eq!(rows[0].duration_p50_ms, Some(20));
        assert_eq!(rows[0].duration_max_ms, Some(30));
        assert_eq!(rows[1].duration_p50_ms, None);
        assert_eq!((rows[2].messages, rows[2].payload_bytes), (0, 100));
    }
}
