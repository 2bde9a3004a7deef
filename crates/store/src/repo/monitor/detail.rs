//! One message with everything stored about it, and its payload and attachment bytes.

use chrono::{DateTime, Utc};
use domain::message::{AdapterAttribute, CustomHeader, ErrorInfo, Run};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QueryResult,
};
use serde::{Deserialize, Serialize};

use super::filter::visible;
use super::search::{MessageRow, Sort, row_columns};
use super::{CORRELATED_LIMIT, MessageRecord};
use crate::connect::Db;
use crate::entity::{custom_header_properties, message_logs};
use crate::error::StoreError;
use crate::repo::{Sql, get};

/// A stored payload (message store entry) without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, FromQueryResult)]
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

/// A stored attachment without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, FromQueryResult)]
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
    /// Why the message's details are missing or stale, when fetching them failed.
    pub details_failure: Option<crate::repo::detail_failures::DetailFailure>,
}

/// One message with everything stored about it, if it exists and belongs to a visible tenant.
/// Ten statements whatever the number of runs, steps or headers.
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
    let error = crate::repo::messages::read_error(conn, message_id).await?;
    let runs = crate::repo::messages::read_runs(conn, message_id)
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
    let adapter_attributes =
        crate::repo::messages::read_adapter_attributes(conn, message_id).await?;
    let backend = conn.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT {PAYLOAD_META} FROM payloads p WHERE p.message_id = "
    ))
    .bind(message_id)
    .push(" ORDER BY p.entry_timestamp, p.id");
    let payloads = PayloadMeta::find_by_statement(sql.statement())
        .all(conn)
        .await?;
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT {ATTACHMENT_META} FROM attachments p WHERE p.message_id = "
    ))
    .bind(message_id)
    .push(" ORDER BY p.timestamp, p.id");
    let attachments = AttachmentInfo::find_by_statement(sql.statement())
        .all(conn)
        .await?;
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
            MessageRow::find_by_statement(sql.statement())
                .all(conn)
                .await?
        }
        None => Vec::new(),
    };
    Ok(Some(MessageDetail {
        message: msg,
        error,
        runs,
        headers,
        adapter_attributes,
        payloads,
        attachments,
        correlated,
        details_failure: crate::repo::detail_failures::get_failure_in(conn, message_id).await?,
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
    Ok(Some((
        PayloadMeta::from_query_result(&row, "")?,
        get(&row, "content")?,
    )))
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
    Ok(Some((
        AttachmentInfo::from_query_result(&row, "")?,
        get(&row, "content")?,
    )))
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
