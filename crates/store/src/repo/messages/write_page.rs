//! The ingest path for one page: upsert, headers, correlation counts and rollup deltas in one
//! write transaction, retried after a deadlock.

use domain::message::{CustomHeader, Message};

use super::headers::write_page_headers_in;
use super::upsert::{latest_per_guid, sanitized, upsert_rows_in};
use super::{Change, UpsertOutcome, again_after_deadlock};
use crate::connect::Db;
use crate::error::StoreError;
use crate::repo::rollup;

/// One message of an OData page with the custom headers that came expanded with it (`None`:
/// not expanded, stored headers stay as they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMessage {
    pub message: Message,
    pub headers: Option<Vec<CustomHeader>>,
}

/// What [`write_page`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOutcome {
    pub upsert: UpsertOutcome,
    /// Header rows written (for inserted and updated messages only).
    pub headers: u64,
}

/// Write one OData page in one write transaction: the messages upserted by GUID, the expanded
/// headers of those inserted or updated (unchanged ones are not rewritten), the correlation
/// counts and the monitor's rollup. This is the ingest path `benches/upsert.rs` and the worker's
/// benchmark measure against PostgreSQL `COPY`.
pub async fn write_page(
    db: &Db,
    tenant_id: i64,
    page: &[PageMessage],
) -> Result<PageOutcome, StoreError> {
    again_after_deadlock(|| write_page_once(db, tenant_id, page)).await
}

async fn write_page_once(
    db: &Db,
    tenant_id: i64,
    page: &[PageMessage],
) -> Result<PageOutcome, StoreError> {
    let started = std::time::Instant::now();
    let sanitized = sanitized(page.iter().map(|p| &p.message));
    let refs: Vec<&Message> = sanitized.iter().map(|m| m.as_ref()).collect();
    let winners = latest_per_guid(&refs);
    let txn = db.begin_write().await?;
    let (upsert, counts) = upsert_rows_in(&txn, tenant_id, &refs, &winners).await?;
    let upserted = started.elapsed();
    let mut inserted = Vec::new();
    let mut replaced = Vec::new();
    for row in &upsert.rows {
        let Some(list) = winners
            .index
            .get(row.guid.as_str())
            .and_then(|&i| page[i].headers.as_deref())
        else {
            continue;
        };
        match row.change {
            Change::Inserted => inserted.push((row.id, list)),
            Change::Updated => replaced.push((row.id, list)),
            Change::Unchanged => {}
        }
    }
    let headers = write_page_headers_in(&txn, tenant_id, &inserted, &replaced).await?;
    crate::repo::error_groups::group_page_in(&txn, &changed_ids(&upsert)).await?;
    let headers_written = started.elapsed();
    // Last, so the rollup's hour locks are held only until the commit.
    rollup::apply_count_changes_in(&txn, tenant_id, &counts).await?;
    txn.commit().await?;
    tracing::debug!(
        tenant_id,
        messages = page.len(),
        headers,
        upsert_ms = upserted.as_secs_f64() * 1e3,
        headers_ms = (headers_written - upserted).as_secs_f64() * 1e3,
        counts_commit_ms = (started.elapsed() - headers_written).as_secs_f64() * 1e3,
        "page stored"
    );
    Ok(PageOutcome { upsert, headers })
}

/// Messages the upsert inserted or rewrote: the only ones whose status can have changed.
pub(super) fn changed_ids(upsert: &super::UpsertOutcome) -> Vec<i64> {
    upsert
        .rows
        .iter()
        .filter(|r| r.change != Change::Unchanged)
        .map(|r| r.id)
        .collect()
}
