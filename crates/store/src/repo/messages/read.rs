//! Reads of stored messages and their details, shared with the monitor and the archiver.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use domain::MessageStatus;
use domain::limits;
use domain::message::{
    AdapterAttribute, AttachmentMeta, CustomHeader, ErrorInfo, Message, MessageDetails,
    PayloadEntry, Run, RunStep,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
};

use super::{StoredMessage, key, status_from};
use crate::connect::Db;
use crate::entity::{
    adapter_attributes, attachments, custom_header_properties, message_errors, message_logs,
    message_run_steps, message_runs, payloads,
};
use crate::error::StoreError;
use crate::repo::{Sql, get};

/// One stored message by GUID.
pub async fn find_message(
    db: &Db,
    tenant_id: i64,
    guid: &str,
) -> Result<Option<StoredMessage>, StoreError> {
    let row = message_logs::Entity::find()
        .filter(message_logs::Column::TenantId.eq(tenant_id))
        .filter(message_logs::Column::MessageGuid.eq(key(guid)))
        .one(db.conn())
        .await?;
    Ok(row.map(stored_message))
}

/// One stored message by id.
pub async fn get_message(db: &Db, message_id: i64) -> Result<Option<StoredMessage>, StoreError> {
    let row = message_logs::Entity::find_by_id(message_id)
        .one(db.conn())
        .await?;
    Ok(row.map(stored_message))
}

fn stored_message(r: message_logs::Model) -> StoredMessage {
    StoredMessage {
        id: r.id,
        tenant_id: r.tenant_id,
        message: Message {
            guid: r.message_guid,
            correlation_id: r.correlation_id,
            application_message_id: r.application_message_id,
            application_message_type: r.application_message_type,
            predecessor_guid: r.predecessor_message_guid,
            log_start: r.log_start,
            log_end: r.log_end,
            sender: r.sender,
            receiver: r.receiver,
            iflow_id: r.iflow_id,
            iflow_name: r.iflow_name,
            artifact_type: r.artifact_type,
            package_id: r.package_id,
            package_name: r.package_name,
            status: status_from(r.status),
            custom_status: r.custom_status,
            log_level: r.log_level,
            alternate_web_link: r.alternate_web_link,
            transaction_id: r.transaction_id,
            archiving_status: r.archiving_status,
            origin_component_name: r.origin_component_name,
            local_component_name: r.local_component_name,
            previous_component_name: r.previous_component_name,
        },
        details_status: r.details_status.map(|s| MessageStatus::parse(&s)),
        details_fetched_at: r.details_fetched_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// Everything stored about a message besides its row, in the shape [`write_details`](super::write_details) takes
/// (every part `Some`, `error` `None` when there is none). `status` is the status the details
/// were last fetched for. `None` when the message does not exist.
pub async fn get_details(db: &Db, message_id: i64) -> Result<Option<MessageDetails>, StoreError> {
    let conn = db.conn();
    let Some(msg) = message_logs::Entity::find_by_id(message_id)
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let headers = custom_header_properties::Entity::find()
        .filter(custom_header_properties::Column::MessageId.eq(message_id))
        .order_by_asc(custom_header_properties::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|h| CustomHeader {
            name: h.name,
            value: h.value,
        })
        .collect();
    let runs = read_runs(conn, message_id)
        .await?
        .into_iter()
        .map(|(_, run)| run)
        .collect();
    let error = read_error(conn, message_id).await?;
    let attachments = attachments::Entity::find()
        .filter(attachments::Column::MessageId.eq(message_id))
        .order_by_asc(attachments::Column::AttachmentId)
        .all(conn)
        .await?
        .into_iter()
        .map(|a| AttachmentMeta {
            attachment_id: a.attachment_id,
            name: a.name,
            content_type: a.content_type,
            size: a.size,
            timestamp: a.timestamp,
        })
        .collect();
    let adapter_attributes = read_adapter_attributes(conn, message_id).await?;
    let payloads = payloads::Entity::find()
        .filter(payloads::Column::MessageId.eq(message_id))
        .order_by_asc(payloads::Column::EntryId)
        .all(conn)
        .await?
        .into_iter()
        .map(|p| PayloadEntry {
            entry_id: p.entry_id,
            message_store_id: p.message_store_id,
            timestamp: p.entry_timestamp,
            has_attachments: p.has_attachments,
            retain_until: p.retain_until,
        })
        .collect();
    Ok(Some(MessageDetails {
        status: status_from(msg.details_status),
        headers: Some(headers),
        runs: Some(runs),
        error,
        attachments: Some(attachments),
        adapter_attributes: Some(adapter_attributes),
        payloads: Some(payloads),
    }))
}

/// A message's error, as stored.
pub(crate) async fn read_error<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
) -> Result<Option<ErrorInfo>, DbErr> {
    Ok(message_errors::Entity::find_by_id(message_id)
        .one(conn)
        .await?
        .map(|e| ErrorInfo {
            error_type: e.error_type,
            last_error_model_step_id: e.last_error_model_step_id,
            text: e.text,
        }))
}

/// A message's runs by start, each with its stored key and its steps by `child_count`: two
/// statements however many runs (the steps by a join, not an id list that grows).
pub(crate) async fn read_runs<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
) -> Result<Vec<(i64, Run)>, DbErr> {
    let run_rows = message_runs::Entity::find()
        .filter(message_runs::Column::MessageId.eq(message_id))
        .order_by_asc(message_runs::Column::RunStart)
        .order_by_asc(message_runs::Column::Id)
        .all(conn)
        .await?;
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(
        "SELECT s.* FROM message_run_steps s JOIN message_runs r ON r.id = s.run_pk \
         WHERE r.message_id = ",
    )
    .bind(message_id)
    .push(" ORDER BY s.run_pk, s.child_count");
    let mut steps_of: HashMap<i64, Vec<RunStep>> = HashMap::new();
    for r in message_run_steps::Model::find_by_statement(sql.statement())
        .all(conn)
        .await?
    {
        let properties = step_properties(&r)?.unwrap_or_default();
        steps_of.entry(r.run_pk).or_default().push(RunStep {
            child_count: r.child_count,
            step_start: r.step_start,
            step_stop: r.step_stop,
            step_id: r.step_id,
            model_step_id: r.model_step_id,
            branch_id: r.branch_id,
            status: r.status,
            error: r.error,
            activity: r.activity,
            properties,
        });
    }
    Ok(run_rows
        .into_iter()
        .map(|r| {
            (
                r.id,
                Run {
                    steps: steps_of.remove(&r.id).unwrap_or_default(),
                    run_id: r.run_id,
                    run_start: r.run_start,
                    run_stop: r.run_stop,
                    log_level: r.log_level,
                    overall_state: r.overall_state,
                    process_id: r.process_id,
                },
            )
        })
        .collect())
}

/// A stored step's properties (a JSON object, name to value); `None` when none were stored.
pub(crate) fn step_properties(
    step: &message_run_steps::Model,
) -> Result<Option<BTreeMap<String, Option<String>>>, DbErr> {
    step.properties
        .as_deref()
        .map(|json| {
            serde_json::from_str(json)
                .map_err(|e| DbErr::Json(format!("message_run_steps {} properties: {e}", step.id)))
        })
        .transpose()
}

/// A message's adapter attributes in the order they were stored.
pub(crate) async fn read_adapter_attributes<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
) -> Result<Vec<AdapterAttribute>, DbErr> {
    Ok(adapter_attributes::Entity::find()
        .filter(adapter_attributes::Column::MessageId.eq(message_id))
        .order_by_asc(adapter_attributes::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|a| AdapterAttribute {
            cpi_id: a.cpi_id,
            adapter_id: a.adapter_id,
            adapter_message_id: a.adapter_message_id,
            name: a.name,
            value: a.value,
        })
        .collect())
}

/// Messages of a tenant per status whose `LogEnd` is in `[from, to)`, by status. A message
/// without a status counts under `Other("")`.
pub async fn message_counts_by_status(
    db: &Db,
    tenant_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(MessageStatus, i64)>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT status, COUNT(*) AS n FROM message_logs WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND log_end >= ")
        .bind(from)
        .push(" AND log_end < ")
        .bind(to)
        .push(" GROUP BY status ORDER BY status");
    let mut out = Vec::new();
    for row in db.conn().query_all_raw(sql.statement()).await? {
        out.push((status_from(get(&row, "status")?), get(&row, "n")?));
    }
    Ok(out)
}

/// Message ids of a tenant that carry a custom header `name` = `value` (exact match), newest
/// first, at most `limit`. Uses the `(tenant_id, name, value_prefix)` index, then compares the
/// full value.
pub async fn find_by_header(
    db: &Db,
    tenant_id: i64,
    name: &str,
    value: &str,
    limit: u64,
) -> Result<Vec<i64>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    let value = limits::header_value(value).into_owned();
    sql.push("SELECT DISTINCT h.message_id FROM custom_header_properties h WHERE h.tenant_id = ")
        .bind(tenant_id)
        .push(" AND h.name = ")
        .bind(limits::header_name(name).into_owned())
        .push(" AND h.value_prefix = ")
        .bind(custom_header_properties::value_prefix(&value))
        .push(" AND h.value = ")
        .bind(value)
        .push(" ORDER BY h.message_id DESC LIMIT ")
        .bind(i64::try_from(limit).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    for row in db.conn().query_all_raw(sql.statement()).await? {
        out.push(get(&row, "message_id")?);
    }
    Ok(out)
}

/// How many messages of a tenant share `correlation_id`, as maintained by [`upsert_messages`](super::upsert_messages).
pub async fn correlation_count(
    db: &Db,
    tenant_id: i64,
    correlation_id: &str,
) -> Result<Option<i64>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT message_count FROM correlations WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND correlation_id = ")
        .bind(key(correlation_id));
    match db.conn().query_one_raw(sql.statement()).await? {
        Some(row) => Ok(Some(i64::from(get::<i32>(&row, "message_count")?))),
        None => Ok(None),
    }
}

/// The tenant a stored message belongs to (for access checks on its payloads and attachments).
pub async fn tenant_of(db: &Db, message_id: i64) -> Result<Option<i64>, StoreError> {
    use sea_orm::{EntityTrait, QuerySelect};
    let row: Option<i64> = crate::entity::message_logs::Entity::find_by_id(message_id)
        .select_only()
        .column(crate::entity::message_logs::Column::TenantId)
        .into_tuple()
        .one(db.conn())
        .await?;
    Ok(row)
}
