//! Message processing logs and their details.
//!
//! [`upsert_messages`] takes one OData page and writes it in one transaction with a handful of
//! statements whatever the page size: one `SELECT` of what is stored for those GUIDs, one
//! `INSERT … ON CONFLICT DO UPDATE … RETURNING` (on PostgreSQL fed by one JSON parameter through
//! `json_to_recordset`, on SQLite multi-row `VALUES` chunked under the bind limit), one
//! multi-row upsert of the correlation counts. A stored row is rewritten only when a field
//! differs and the incoming snapshot is not older than the stored one (`LogEnd` does not move
//! backwards), so re-reading an overlap window costs no writes, and a slow worker committing an
//! older snapshot after a faster one cannot regress a message from COMPLETED to PROCESSING.
//!
//! The ingest path for a page is [`write_page`]: one write transaction with the upsert, the
//! headers of the rows it inserted or updated, the correlation counts and the monitor's hourly
//! rollup (moved by exact deltas, so the page and its counts commit together). That is what
//! `benches/upsert.rs` and the worker's benchmark measure against PostgreSQL `COPY`.

mod correlations;
mod details;
mod headers;
mod read;
mod statement;
mod upsert;
mod write_page;

pub(crate) use correlations::{CorrelationDelta, upsert_correlations};
pub use details::{write_details, write_details_in};
pub use headers::{replace_headers_bulk, replace_headers_bulk_in};
pub use read::{
    correlation_count, find_by_header, find_message, get_details, get_message,
    message_counts_by_status, tenant_of,
};
pub(crate) use read::{read_adapter_attributes, read_error, read_runs, step_properties};
pub use upsert::{upsert_messages, upsert_messages_in};
pub use write_page::{PageMessage, PageOutcome, write_page};

use chrono::{DateTime, Utc};
use domain::MessageStatus;
use domain::limits;
use domain::message::Message;

use crate::error::StoreError;

/// What happened to one message of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Inserted,
    Updated,
    Unchanged,
}

/// One message of a page with its database id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertedRow {
    pub id: i64,
    pub guid: String,
    pub change: Change,
    /// The status the stored details were fetched for, as it was before this upsert (`None`:
    /// never fetched). Lets a caller catch up on details an interrupted earlier run committed
    /// the message for but never fetched, without reading the row again.
    pub details_status: Option<MessageStatus>,
    /// The stored `LogEnd` before this upsert (`None`: new, or stored without one). With the
    /// page's own `LogEnd` it names every hour of the monitor's rollup an update touched.
    pub previous_log_end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpsertOutcome {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// `(message id, guid, status)` of the messages whose details should be fetched: first
    /// sight, or an update into a status that [`MessageStatus::wants_details`] whose details
    /// were not yet fetched for that status.
    pub needs_details: Vec<(i64, String, MessageStatus)>,
    /// Every message of the page once (a GUID repeated within the page counts once, the copy
    /// with the latest `LogEnd` wins), in page order. Use it to write headers only for
    /// `Inserted`/`Updated` rows.
    pub rows: Vec<UpsertedRow>,
}

/// A stored message with what the store keeps about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub tenant_id: i64,
    pub message: Message,
    pub details_status: Option<MessageStatus>,
    pub details_fetched_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Rows written by [`write_details`], per part (parts left `None` count 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetailsOutcome {
    pub headers: usize,
    pub runs: usize,
    pub steps: usize,
    pub attachments: usize,
    pub adapter_attributes: usize,
    pub payloads: usize,
}

/// A missing status (`Other("")`) is stored as NULL.
pub(super) fn status_text(s: &MessageStatus) -> Option<&str> {
    Some(s.as_str()).filter(|s| !s.is_empty())
}

pub(super) fn status_from(s: Option<String>) -> MessageStatus {
    s.map_or_else(
        || MessageStatus::Other(String::new()),
        |s| MessageStatus::parse(&s),
    )
}

/// A key (GUID, id) as stored: see [`domain::limits::key`].
pub(super) fn key(s: &str) -> String {
    limits::key(s).into_owned()
}

/// A timestamp as PostgreSQL reads it from JSON text: microseconds, truncated, the same instant
/// a bound `DateTime<Utc>` stores.
pub(super) fn pg_ts(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// Run a page's write transaction again when PostgreSQL picked it as a deadlock's victim (it
/// was rolled back whole). Writers of overlapping pages at the same moment — a redelivered job,
/// hot and cold sync meeting — can deadlock on rows one has inserted and the other must lock.
pub(super) async fn again_after_deadlock<T, F, Fut>(mut write: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    const ATTEMPTS: u64 = 5;
    let mut attempt = 1;
    loop {
        match write().await {
            Err(e) if e.is_deadlock() && attempt < ATTEMPTS => {
                tracing::debug!(
                    attempt,
                    "page write was a deadlock's victim; writing it again"
                );
                let pause = rand::random_range(5..50) * attempt;
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}
