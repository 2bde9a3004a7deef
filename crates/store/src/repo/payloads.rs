//! Payload (message store entry) and attachment downloads: which are still to fetch under a
//! tenant's strategy, and what came of each download.
//!
//! Entries are written `pending` by `messages::write_details`. Entries the strategy does not
//! want are set `skipped` by [`skip_unwanted_payloads`] so the pending set stays small; when a
//! message's details are written again (for example after it moved to FAILED) its skipped
//! entries become pending again.

use chrono::{DateTime, Utc};
use domain::MessageStatus;
use domain::tenant::PayloadStrategy;
use sea_orm::{ConnectionTrait, DbErr};

use super::{Sql, clean, get};
use crate::connect::Db;
use crate::error::StoreError;

/// The message statuses [`PayloadStrategy::FailedOnly`] downloads for: the error statuses.
pub const FAILED_STATUSES: [&str; 3] = ["FAILED", "ESCALATED", "RETRY"];

/// A payload or attachment waiting for download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDownload {
    /// `payloads.id` or `attachments.id`: what [`save_payload`] / [`save_attachment`] take.
    pub id: i64,
    pub message_id: i64,
    pub message_guid: String,
    pub message_status: MessageStatus,
    /// `MessageStoreEntry.Id` or the attachment's id: the key of the `$value` to fetch.
    pub cpi_id: String,
    /// Known up front for attachments (`PayloadSize`), not for message store entries.
    pub size: Option<i64>,
}

/// What came of one download.
#[derive(Clone, PartialEq, Eq)]
pub enum Download {
    Downloaded {
        content: Vec<u8>,
        content_type: Option<String>,
        /// Hex SHA-256 of `content`.
        sha256: String,
    },
    /// Larger than the tenant's `payload_max_bytes`: recorded with its size, not kept.
    TooLarge { size: i64 },
    /// The download failed for good (404 after CPI's retention, 403 without the payload role…).
    Error { message: String },
}

impl std::fmt::Debug for Download {
    // Payloads can be large and sensitive: never print the content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Downloaded {
                content,
                content_type,
                sha256,
            } => f
                .debug_struct("Downloaded")
                .field("bytes", &content.len())
                .field("content_type", content_type)
                .field("sha256", sha256)
                .finish(),
            Self::TooLarge { size } => f.debug_struct("TooLarge").field("size", size).finish(),
            Self::Error { message } => f.debug_struct("Error").field("message", message).finish(),
        }
    }
}

/// The `AND m.status IN (…)` narrowing of a strategy; `None` for a strategy that wants nothing.
fn strategy_filter(sql: &mut Sql, strategy: PayloadStrategy) -> Option<()> {
    match strategy {
        PayloadStrategy::None => None,
        PayloadStrategy::All => Some(()),
        PayloadStrategy::FailedOnly => {
            sql.push(" AND m.status IN ").bind_list(FAILED_STATUSES);
            Some(())
        }
    }
}

async fn pending(
    db: &Db,
    table: &str,
    cpi_col: &str,
    tenant_id: i64,
    strategy: PayloadStrategy,
    limit: u64,
) -> Result<Vec<PendingDownload>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push(&format!(
        "SELECT x.id, x.message_id, m.message_guid, m.status, x.{cpi_col} AS cpi_id, x.size \
         FROM {table} x JOIN message_logs m ON m.id = x.message_id \
         WHERE x.status = 'pending' AND m.tenant_id = "
    ))
    .bind(tenant_id);
    if strategy_filter(&mut sql, strategy).is_none() {
        return Ok(Vec::new());
    }
    // Oldest first: CPI deletes entries after its retention, so the oldest are most at risk.
    sql.push(" ORDER BY x.id LIMIT ")
        .bind(i64::try_from(limit).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    for row in db.conn().query_all_raw(sql.statement()).await? {
        let status: Option<String> = get(&row, "status")?;
        out.push(PendingDownload {
            id: get(&row, "id")?,
            message_id: get(&row, "message_id")?,
            message_guid: get(&row, "message_guid")?,
            message_status: MessageStatus::parse(status.as_deref().unwrap_or("")),
            cpi_id: get(&row, "cpi_id")?,
            size: get(&row, "size")?,
        });
    }
    Ok(out)
}

/// Pending payloads of a tenant that `strategy` wants, oldest first, at most `limit`.
pub async fn pending_payloads(
    db: &Db,
    tenant_id: i64,
    strategy: PayloadStrategy,
    limit: u64,
) -> Result<Vec<PendingDownload>, StoreError> {
    pending(db, "payloads", "entry_id", tenant_id, strategy, limit).await
}

/// Pending attachments of a tenant that `strategy` wants, oldest first, at most `limit`.
pub async fn pending_attachments(
    db: &Db,
    tenant_id: i64,
    strategy: PayloadStrategy,
    limit: u64,
) -> Result<Vec<PendingDownload>, StoreError> {
    pending(
        db,
        "attachments",
        "attachment_id",
        tenant_id,
        strategy,
        limit,
    )
    .await
}

async fn skip_unwanted(
    db: &Db,
    table: &str,
    tenant_id: i64,
    strategy: PayloadStrategy,
) -> Result<u64, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push(&format!(
        "UPDATE {table} SET status = 'skipped' WHERE status = 'pending' AND message_id IN \
         (SELECT m.id FROM message_logs m WHERE m.tenant_id = "
    ))
    .bind(tenant_id);
    match strategy {
        PayloadStrategy::All => return Ok(0),
        PayloadStrategy::None => {}
        PayloadStrategy::FailedOnly => {
            sql.push(" AND (m.status IS NULL OR m.status NOT IN ")
                .bind_list(FAILED_STATUSES)
                .push(")");
        }
    }
    sql.push(")");
    Ok(db
        .conn()
        .execute_raw(sql.statement())
        .await?
        .rows_affected())
}

/// Mark `skipped` the pending payloads `strategy` does not want, so the pending scan stays
/// short. Returns how many were skipped.
pub async fn skip_unwanted_payloads(
    db: &Db,
    tenant_id: i64,
    strategy: PayloadStrategy,
) -> Result<u64, StoreError> {
    skip_unwanted(db, "payloads", tenant_id, strategy).await
}

/// [`skip_unwanted_payloads`] for attachments.
pub async fn skip_unwanted_attachments(
    db: &Db,
    tenant_id: i64,
    strategy: PayloadStrategy,
) -> Result<u64, StoreError> {
    skip_unwanted(db, "attachments", tenant_id, strategy).await
}

async fn save<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    id: i64,
    outcome: &Download,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(&format!("UPDATE {table} SET status = "));
    match outcome {
        Download::Downloaded {
            content,
            content_type,
            sha256,
        } => {
            sql.bind("downloaded")
                .push(", content = ")
                .bind(content.clone())
                .push(", size = ")
                .bind(i64::try_from(content.len()).unwrap_or(i64::MAX))
                .push(", sha256 = ")
                .bind(clean(sha256))
                .push(", error = NULL, downloaded_at = ")
                .bind(at);
            // CPI's metadata may already name the type; a download without one keeps it.
            if let Some(ct) = content_type {
                sql.push(", content_type = ").bind(clean(ct));
            }
        }
        Download::TooLarge { size } => {
            sql.bind("too_large")
                .push(", content = NULL, sha256 = NULL, size = ")
                .bind(*size)
                .push(", error = NULL, downloaded_at = NULL");
        }
        Download::Error { message } => {
            sql.bind("error")
                .push(", content = NULL, sha256 = NULL, error = ")
                .bind(clean(message))
                .push(", downloaded_at = NULL");
        }
    }
    sql.push(" WHERE id = ").bind(id);
    let n = conn.execute_raw(sql.statement()).await?.rows_affected();
    if n == 0 {
        return Err(DbErr::RecordNotFound(format!("{table} {id}")).into());
    }
    // A message's version includes its downloads: an archive run that wrote the message to a
    // file before this download must not delete it (it merges the new version on its next run).
    let mut touch = Sql::new(conn.get_database_backend());
    touch
        .push("UPDATE message_logs SET updated_at = ")
        .bind(at)
        .push(&format!(
            " WHERE id = (SELECT message_id FROM {table} WHERE id = "
        ))
        .bind(id)
        .push(")");
    conn.execute_raw(touch.statement()).await?;
    Ok(())
}

/// [`save`] and the message's new version in one transaction.
async fn save_in_txn(
    db: &Db,
    table: &str,
    id: i64,
    outcome: &Download,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let txn = db.begin_write().await?;
    save(&txn, table, id, outcome, at).await?;
    txn.commit().await?;
    Ok(())
}

/// Record the outcome of a payload download (`id` from [`PendingDownload::id`]).
pub async fn save_payload(
    db: &Db,
    id: i64,
    outcome: &Download,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    save_in_txn(db, "payloads", id, outcome, at).await
}

/// Record the outcome of an attachment download.
pub async fn save_attachment(
    db: &Db,
    id: i64,
    outcome: &Download,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    save_in_txn(db, "attachments", id, outcome, at).await
}

/// A downloaded payload's content and type, for the UI and the archiver.
pub async fn payload_content(
    db: &Db,
    id: i64,
) -> Result<Option<(Vec<u8>, Option<String>)>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT content, content_type FROM payloads WHERE id = ")
        .bind(id)
        .push(" AND content IS NOT NULL");
    match db.conn().query_one_raw(sql.statement()).await? {
        Some(row) => Ok(Some((get(&row, "content")?, get(&row, "content_type")?))),
        None => Ok(None),
    }
}
