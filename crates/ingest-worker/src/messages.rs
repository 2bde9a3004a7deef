//! Message processing logs: windows on LogEnd, one transaction per OData page (messages upserted
//! by GUID, their expanded custom headers and the monitor's rollup), then the details of the
//! messages that need them.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cpi::{CpiClient, MplQuery, Window, WindowOptions, next_window};
use domain::MessageStatus;
use domain::message::Message;
use domain::tenant::Tenant;
use serde::Serialize;
use store::Db;
use store::repo::messages::{self, Change, PageMessage};
use store::repo::sync_state;

use crate::details;
use crate::error::JobError;
use crate::map;

/// Which messages get their full details (runs and steps, error text, attachments, payload
/// entries) fetched when first seen or when they move into a new status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailsPolicy {
    /// FAILED, ESCALATED and RETRY messages: what people open. Headers and correlations are
    /// kept for every message either way.
    Problems,
    /// Every message (one or more extra calls per message; mind the tenant's rate limits).
    All,
}

#[derive(Debug, Clone)]
pub struct MessageOptions {
    pub windows: WindowOptions,
    pub details: DetailsPolicy,
    /// Messages whose details are fetched at once (`INGEST_DETAILS_CONCURRENCY`). Each has a
    /// few calls in flight at once, and the tenant's own cap (`CPI_MAX_CONCURRENCY`) and rate
    /// limits bound them all; this only has to be large enough to keep that cap busy while
    /// other messages' details are being written.
    pub details_concurrency: usize,
    /// Windows of the cold backfill read by one job run, so one run stays short.
    pub cold_windows_per_run: usize,
}

impl Default for MessageOptions {
    fn default() -> Self {
        Self {
            windows: WindowOptions::default(),
            details: DetailsPolicy::Problems,
            details_concurrency: 16,
            cold_windows_per_run: 4,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub windows: u64,
    pub pages: u64,
    pub records: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub headers: u64,
    pub details: u64,
    /// Messages whose details could not be had; each is recorded with the message and tried
    /// again later (see `store::repo::detail_failures`).
    pub details_failed: u64,
    /// Earlier failures tried again by this run (counted in `details` or `details_failed`).
    pub details_retried: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<DateTime<Utc>>,
}

impl SyncReport {
    fn add(&mut self, other: &SyncReport) {
        self.windows += other.windows;
        self.pages += other.pages;
        self.records += other.records;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.headers += other.headers;
        self.details += other.details;
        self.details_failed += other.details_failed;
        self.details_retried += other.details_retried;
        if other.watermark.is_some() {
            self.watermark = other.watermark;
        }
    }
}

/// Read one window completely. After each committed page, the point up to which everything has
/// been read is stored as the `watermark` job's watermark (when given), and `progress` sees the
/// totals so far.
pub async fn sync_window(
    db: &Db,
    client: &CpiClient,
    tenant: &Tenant,
    window: Window,
    opts: &MessageOptions,
    watermark: Option<&str>,
    progress: &mut (dyn FnMut(&SyncReport) + Send),
) -> Result<SyncReport, JobError> {
    let mut query = MplQuery::new(window);
    query.expand_custom_headers = true;
    query.extra_filter = tenant.settings.collection.message_filter.clone();
    // The next page is fetched and parsed while this one is written: throughput is then the
    // slower of the two sides instead of their sum. The reader takes the channel's one slot
    // before it fetches, so memory stays bounded at two pages: the one being written and the
    // next.
    let mut pager = client.mpl_pages(query);
    let (tx, mut pages) = tokio::sync::mpsc::channel(1);
    let reader = tokio::spawn(async move {
        loop {
            let Ok(slot) = tx.reserve().await else {
                break;
            };
            let next = pager.next_page().await;
            let last = !matches!(next, Ok(Some(_)));
            slot.send(next);
            if last {
                break;
            }
        }
    });
    let _stop_reader = AbortOnDrop(reader);
    let mut report = SyncReport {
        windows: 1,
        ..Default::default()
    };
    while let Some(next) = pages.recv().await {
        let Some(page) = next? else {
            break;
        };
        crate::error::stop_point()?;
        let write_started = std::time::Instant::now();
        let records = page.records.len();
        let list: Vec<PageMessage> = page
            .records
            .into_iter()
            .map(|mut r| PageMessage {
                // Headers came expanded with the page; the store writes them for new and
                // changed messages only.
                headers: r.custom_header_properties.take().map(|l| map::headers(&l)),
                message: map::message(r),
            })
            .collect();
        let written = messages::write_page(db, tenant.id, &list).await?;
        tracing::debug!(
            tenant = %tenant.settings.name,
            records,
            write_ms = write_started.elapsed().as_millis() as u64,
            "page written"
        );
        report.headers += written.headers;
        let outcome = written.upsert;
        report.pages += 1;
        report.records += records as u64;
        report.inserted += outcome.inserted;
        report.updated += outcome.updated;
        report.unchanged += outcome.unchanged;
        let wants =
            |status: &MessageStatus| opts.details == DetailsPolicy::All || status.wants_details();
        let mut wanted: Vec<(i64, String, MessageStatus)> = outcome
            .needs_details
            .into_iter()
            .filter(|(_, _, status)| wants(status))
            .collect();
        // The upsert reports a message stored by an earlier try as unchanged, and asks for no
        // details. If that try failed or was killed after committing the page but before the
        // details were written, this is the only chance to fetch them.
        let by_guid: HashMap<&str, &Message> = list
            .iter()
            .map(|p| (p.message.guid.as_str(), &p.message))
            .collect();
        let mut catch_up = Vec::new();
        for row in outcome
            .rows
            .iter()
            .filter(|r| r.change == Change::Unchanged)
        {
            if let Some(m) = by_guid.get(row.guid.as_str()).filter(|m| wants(&m.status))
                && row.details_status.as_ref() != Some(&m.status)
            {
                catch_up.push((row.id, row.guid.clone(), m.status.clone()));
            }
        }
        if !catch_up.is_empty() {
            // A message whose details failed before is retried on its own schedule
            // (`details::retry_due`), not with every re-read of the overlap.
            let ids: Vec<i64> = catch_up.iter().map(|(id, _, _)| *id).collect();
            let failing = details::failing(db, &ids).await?;
            wanted.extend(
                catch_up
                    .into_iter()
                    .filter(|(id, _, _)| !failing.contains(id)),
            );
        }
        let fetched = details::fetch_many(db, client, &wanted, opts.details_concurrency).await?;
        report.details += fetched.ok;
        report.details_failed += fetched.failed;
        report.watermark = page.safe_watermark;
        if let (Some(kind), Some(mark)) = (watermark, page.safe_watermark) {
            sync_state::set_watermark(db, tenant.id, kind, Some(mark)).await?;
        }
        progress(&report);
    }
    Ok(report)
}

/// Stops the page reader when the window is abandoned (an error, or the job's future dropped).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The hot sync: from the stored watermark (or the tenant's hot window back from now) up to
/// "now minus lag", in windows of at most the configured width.
pub async fn sync_hot(
    db: &Db,
    client: &CpiClient,
    tenant: &Tenant,
    opts: &MessageOptions,
    now: DateTime<Utc>,
) -> Result<SyncReport, JobError> {
    const KIND: &str = "messages_hot";
    let mut windows = opts.windows.clone();
    windows.initial_lookback = tenant.settings.collection.hot_window();
    let mut watermark = sync_state::get(db, tenant.id, KIND)
        .await?
        .and_then(|s| s.watermark);
    let mut total = SyncReport::default();
    // Catch up in bounded windows; the last one ends at now - lag.
    for _ in 0..64 {
        let Some(window) = next_window(watermark, now, &windows) else {
            break;
        };
        let report = sync_window(db, client, tenant, window, opts, Some(KIND), &mut |_| {}).await?;
        total.add(&report);
        watermark = Some(window.to);
        sync_state::set_watermark(db, tenant.id, KIND, watermark).await?;
        // Windows end on whole milliseconds (the filter literal's resolution), so the last one
        // ends up to a millisecond before `now - lag`: compared exactly, a `now` with
        // microseconds never matched and every run read its last window 64 times.
        let end = now - chrono::Duration::from_std(windows.lag).unwrap_or_default();
        if window.to > end - chrono::Duration::milliseconds(1) {
            break;
        }
    }
    retry_failed_details(db, client, tenant, opts, &mut total).await?;
    sync_state::record_success(db, tenant.id, KIND, Utc::now(), watermark, None).await?;
    total.watermark = watermark;
    Ok(total)
}

/// The cold backfill: from the tenant's `collect_from` up to where the hot sync starts (now
/// minus the hot window), a few windows per run, resuming where the previous run stopped. It
/// runs as its own job family so a long backfill never delays fresh data.
pub async fn sync_cold(
    db: &Db,
    client: &CpiClient,
    tenant: &Tenant,
    opts: &MessageOptions,
    now: DateTime<Utc>,
) -> Result<SyncReport, JobError> {
    const KIND: &str = "messages_cold";
    let Some(collect_from) = tenant.settings.collection.collect_from else {
        return Ok(SyncReport::default());
    };
    let upper = now
        - chrono::Duration::from_std(tenant.settings.collection.hot_window()).unwrap_or_default();
    let mut from = sync_state::get(db, tenant.id, KIND)
        .await?
        .and_then(|s| s.watermark)
        .unwrap_or(collect_from)
        .max(collect_from);
    let width = chrono::Duration::from_std(
        opts.windows
            .max_width
            .unwrap_or(Duration::from_secs(6 * 3600)),
    )
    .unwrap_or_default();
    let mut total = SyncReport::default();
    for _ in 0..opts.cold_windows_per_run.max(1) {
        if from >= upper {
            break;
        }
        let Some(window) = Window::new(from, (from + width).min(upper)) else {
            break;
        };
        let report = sync_window(db, client, tenant, window, opts, Some(KIND), &mut |_| {}).await?;
        total.add(&report);
        from = window.to;
        sync_state::set_watermark(db, tenant.id, KIND, Some(from)).await?;
    }
    retry_failed_details(db, client, tenant, opts, &mut total).await?;
    sync_state::record_success(db, tenant.id, KIND, Utc::now(), Some(from), None).await?;
    total.watermark = Some(from);
    Ok(total)
}

/// An explicit range (a job's `from`/`to`, or the one-shot `sync` command): read it in windows
/// of at most the configured width without touching the tenant's watermarks.
pub async fn sync_range(
    db: &Db,
    client: &CpiClient,
    tenant: &Tenant,
    opts: &MessageOptions,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut progress: impl FnMut(&SyncReport) + Send,
) -> Result<SyncReport, JobError> {
    let width = chrono::Duration::from_std(
        opts.windows
            .max_width
            .unwrap_or(Duration::from_secs(6 * 3600)),
    )
    .unwrap_or_default();
    let mut total = SyncReport::default();
    let mut start = from;
    while start < to {
        let Some(window) = Window::new(start, (start + width).min(to)) else {
            break;
        };
        let done = total.clone();
        let mut shown = |so_far: &SyncReport| {
            let mut all = done.clone();
            all.add(so_far);
            progress(&all);
        };
        let report = sync_window(db, client, tenant, window, opts, None, &mut shown).await?;
        total.add(&report);
        start = window.to;
    }
    retry_failed_details(db, client, tenant, opts, &mut total).await?;
    Ok(total)
}

/// Every messages job ends with another try for the tenant's messages whose details failed
/// and are due again: a failure of this run at once (a passing fault costs no delay), earlier
/// ones after their pause (see `store::repo::detail_failures`).
async fn retry_failed_details(
    db: &Db,
    client: &CpiClient,
    tenant: &Tenant,
    opts: &MessageOptions,
    total: &mut SyncReport,
) -> Result<(), JobError> {
    let retried =
        details::retry_due(db, client, tenant.id, opts.details_concurrency, Utc::now()).await?;
    total.details_retried += retried.ok + retried.failed;
    total.details += retried.ok;
    total.details_failed += retried.failed;
    Ok(())
}
