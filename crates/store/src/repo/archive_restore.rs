//! Restoring archived messages in bulk: a batch of messages is a handful of multi-row
//! statements per table (chunked under the bind-parameter limit, and by size for bodies), not
//! several round trips per message — a million messages restore in minutes' fraction of what
//! one-at-a-time inserts took (docs/benchmarks.md).
//!
//! New ids are read back by GUID (unique per tenant) for messages, and in insertion order for
//! runs: every run of the batch belongs to a message inserted by this transaction, and ids
//! (sequences, SQLite rowids) grow in the order rows are inserted.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::archive::ArchivedMessage;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, EntityTrait};

use super::messages::{CorrelationDelta, upsert_correlations};
use super::{Sql, get, max_params};
use crate::connect::Db;
use crate::entity::{
    adapter_attributes, attachments, custom_header_properties, message_errors, message_logs,
    message_run_steps, message_runs, payloads,
};
use crate::error::StoreError;

/// What [`restore_messages`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOutcome {
    pub inserted: u64,
    /// Already in the database (by GUID): left as they are.
    pub existing: u64,
    /// Range of `log_end`s of the inserted messages, for the rollup refresh.
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
}

/// Body bytes one statement carries at most (payloads and attachments).
const MAX_STATEMENT_BYTES: usize = 16 << 20;

/// Insert archived messages of a tenant that are not in the database (by GUID), with
/// everything archived about them, in one write transaction. A message that is there already
/// is left alone: it was collected again or restored before, and is at least as new as the
/// archive. Running it twice therefore changes nothing the second time. New ids are assigned.
pub async fn restore_messages(
    db: &Db,
    tenant_id: i64,
    messages: &[ArchivedMessage],
) -> Result<RestoreOutcome, StoreError> {
    let backend = db.db_backend();
    let txn = db.begin_write().await?;
    let guids: Vec<&str> = messages.iter().map(|m| m.guid.as_str()).collect();
    let existing = ids_by_guid(&txn, backend, tenant_id, &guids).await?;
    let mut out = RestoreOutcome::default();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut fresh: Vec<&ArchivedMessage> = Vec::new();
    for m in messages {
        if existing.contains_key(&m.guid) || !seen.insert(m.guid.as_str()) {
            out.existing += 1;
        } else {
            fresh.push(m);
        }
    }
    if fresh.is_empty() {
        txn.commit().await?;
        return Ok(out);
    }
    insert_all(
        &txn,
        backend,
        fresh.iter().map(|m| message_row(tenant_id, m)),
        30,
        |_| 0,
    )
    .await?;
    let fresh_guids: Vec<&str> = fresh.iter().map(|m| m.guid.as_str()).collect();
    let ids = ids_by_guid(&txn, backend, tenant_id, &fresh_guids).await?;
    let id_of = |m: &ArchivedMessage| -> Result<i64, DbErr> {
        ids.get(&m.guid)
            .copied()
            .ok_or_else(|| DbErr::RecordNotFound(format!("restored message {}", m.guid)))
    };
    let mut pairs = Vec::with_capacity(fresh.len());
    for m in &fresh {
        pairs.push((id_of(m)?, *m));
    }
    insert_children(&txn, backend, tenant_id, &pairs).await?;
    // Into their groups, uncounted: they were counted when first collected.
    let restored: Vec<i64> = pairs.iter().map(|(id, _)| *id).collect();
    crate::repo::error_groups::group_restored_in(&txn, &restored).await?;

    let mut correlations: BTreeMap<String, CorrelationDelta> = BTreeMap::new();
    for m in &fresh {
        if let Some(c) = &m.correlation_id {
            correlations
                .entry(c.clone())
                .or_default()
                .add_span(m.log_start, m.log_end, 1);
        }
        if let Some(t) = m.log_end {
            out.first = Some(out.first.map_or(t, |f| f.min(t)));
            out.last = Some(out.last.map_or(t, |l| l.max(t)));
        }
        out.inserted += 1;
    }
    upsert_correlations(&txn, tenant_id, &correlations, &[]).await?;
    txn.commit().await?;
    Ok(out)
}

/// Ids of a tenant's messages by GUID.
async fn ids_by_guid<C: ConnectionTrait>(
    conn: &C,
    backend: DbBackend,
    tenant_id: i64,
    guids: &[&str],
) -> Result<HashMap<String, i64>, StoreError> {
    let mut out = HashMap::with_capacity(guids.len());
    for chunk in guids.chunks(max_params(backend) - 2) {
        let mut sql = Sql::new(backend);
        sql.push("SELECT id, message_guid FROM message_logs WHERE tenant_id = ")
            .bind(tenant_id)
            .push(" AND message_guid IN ")
            .bind_list(chunk.iter().copied());
        for r in conn.query_all_raw(sql.statement()).await? {
            out.insert(get(&r, "message_guid")?, get(&r, "id")?);
        }
    }
    Ok(out)
}

/// Insert `rows` with multi-row statements of at most the backend's bind parameters
/// (`columns` per row) and about [`MAX_STATEMENT_BYTES`] of `bytes` per statement.
async fn insert_all<C, A>(
    conn: &C,
    backend: DbBackend,
    rows: impl IntoIterator<Item = A>,
    columns: usize,
    bytes: impl Fn(&A) -> usize,
) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    A: ActiveModelTrait,
{
    let per_statement = (max_params(backend) / columns.max(1)).max(1);
    let mut chunk: Vec<A> = Vec::new();
    let mut size = 0;
    for row in rows {
        size += bytes(&row);
        chunk.push(row);
        if chunk.len() >= per_statement || size >= MAX_STATEMENT_BYTES {
            A::Entity::insert_many(std::mem::take(&mut chunk))
                .exec_without_returning(conn)
                .await?;
            size = 0;
        }
    }
    if !chunk.is_empty() {
        A::Entity::insert_many(chunk)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

fn message_row(tenant_id: i64, m: &ArchivedMessage) -> message_logs::ActiveModel {
    message_logs::ActiveModel {
        tenant_id: Set(tenant_id),
        message_guid: Set(m.guid.clone()),
        correlation_id: Set(m.correlation_id.clone()),
        application_message_id: Set(m.application_message_id.clone()),
        application_message_type: Set(m.application_message_type.clone()),
        predecessor_message_guid: Set(m.predecessor_guid.clone()),
        log_start: Set(m.log_start),
        log_end: Set(m.log_end),
        sender: Set(m.sender.clone()),
        receiver: Set(m.receiver.clone()),
        iflow_id: Set(m.iflow_id.clone()),
        iflow_name: Set(m.iflow_name.clone()),
        artifact_type: Set(m.artifact_type.clone()),
        package_id: Set(m.package_id.clone()),
        package_name: Set(m.package_name.clone()),
        status: Set(m.status.clone()),
        custom_status: Set(m.custom_status.clone()),
        log_level: Set(m.log_level.clone()),
        alternate_web_link: Set(m.alternate_web_link.clone()),
        transaction_id: Set(m.transaction_id.clone()),
        archiving_status: Set(m.archiving_status.clone()),
        origin_component_name: Set(m.origin_component_name.clone()),
        local_component_name: Set(m.local_component_name.clone()),
        previous_component_name: Set(m.previous_component_name.clone()),
        duration_ms: Set(m.duration_ms),
        details_status: Set(m.details_status.clone()),
        details_fetched_at: Set(m.details_fetched_at),
        created_at: Set(m.created_at),
        updated_at: Set(m.updated_at),
        ..Default::default()
    }
}

/// Everything archived about the messages `(new id, message)`, table by table.
async fn insert_children<C: ConnectionTrait>(
    conn: &C,
    backend: DbBackend,
    tenant_id: i64,
    pairs: &[(i64, &ArchivedMessage)],
) -> Result<(), DbErr> {
    insert_all(
        conn,
        backend,
        pairs.iter().flat_map(|(id, m)| {
            m.headers
                .iter()
                .map(move |h| custom_header_properties::ActiveModel {
                    message_id: Set(*id),
                    tenant_id: Set(tenant_id),
                    cpi_id: Set(h.cpi_id.clone()),
                    name: Set(h.name.clone()),
                    value: Set(h.value.clone()),
                    value_prefix: Set(h
                        .value
                        .as_deref()
                        .map(custom_header_properties::value_prefix)),
                    ..Default::default()
                })
        }),
        6,
        |_| 0,
    )
    .await?;
    insert_all(
        conn,
        backend,
        pairs.iter().filter_map(|(id, m)| {
            m.error.as_ref().map(|e| message_errors::ActiveModel {
                message_id: Set(*id),
                error_type: Set(e.error_type.clone()),
                last_error_model_step_id: Set(e.last_error_model_step_id.clone()),
                text: Set(e.text.clone()),
                fetched_at: Set(e.fetched_at),
            })
        }),
        5,
        |_| 0,
    )
    .await?;
    insert_runs(conn, backend, pairs).await?;
    insert_all(
        conn,
        backend,
        pairs.iter().flat_map(|(id, m)| {
            m.adapter_attributes
                .iter()
                .map(move |a| adapter_attributes::ActiveModel {
                    message_id: Set(*id),
                    cpi_id: Set(a.cpi_id.clone()),
                    adapter_id: Set(a.adapter_id.clone()),
                    adapter_message_id: Set(a.adapter_message_id.clone()),
                    name: Set(a.name.clone()),
                    value: Set(a.value.clone()),
                    ..Default::default()
                })
        }),
        6,
        |_| 0,
    )
    .await?;
    insert_all(
        conn,
        backend,
        pairs.iter().flat_map(|(id, m)| {
            m.payloads.iter().map(move |p| payloads::ActiveModel {
                message_id: Set(*id),
                entry_id: Set(p.entry_id.clone()),
                message_store_id: Set(p.message_store_id.clone()),
                entry_timestamp: Set(p.entry_timestamp),
                has_attachments: Set(p.has_attachments),
                content_type: Set(p.content_type.clone()),
                size: Set(p.size),
                content: Set(p.content.clone()),
                sha256: Set(p.sha256.clone()),
                retain_until: Set(p.retain_until),
                status: Set(p.status.clone()),
                error: Set(p.error.clone()),
                downloaded_at: Set(p.downloaded_at),
                ..Default::default()
            })
        }),
        13,
        |p| body_len(&p.content),
    )
    .await?;
    insert_all(
        conn,
        backend,
        pairs.iter().flat_map(|(id, m)| {
            m.attachments.iter().map(move |a| attachments::ActiveModel {
                message_id: Set(*id),
                attachment_id: Set(a.attachment_id.clone()),
                name: Set(a.name.clone()),
                content_type: Set(a.content_type.clone()),
                size: Set(a.size),
                timestamp: Set(a.timestamp),
                content: Set(a.content.clone()),
                sha256: Set(a.sha256.clone()),
                status: Set(a.status.clone()),
                error: Set(a.error.clone()),
                downloaded_at: Set(a.downloaded_at),
                ..Default::default()
            })
        }),
        11,
        |a| body_len(&a.content),
    )
    .await?;
    Ok(())
}

fn body_len(v: &sea_orm::ActiveValue<Option<Vec<u8>>>) -> usize {
    match v {
        sea_orm::ActiveValue::Set(Some(b)) | sea_orm::ActiveValue::Unchanged(Some(b)) => b.len(),
        _ => 0,
    }
}

/// Runs, then their steps under the runs' new ids (read back in insertion order).
async fn insert_runs<C: ConnectionTrait>(
    conn: &C,
    backend: DbBackend,
    pairs: &[(i64, &ArchivedMessage)],
) -> Result<(), DbErr> {
    let with_runs: Vec<(i64, &ArchivedMessage)> = pairs
        .iter()
        .filter(|(_, m)| !m.runs.is_empty())
        .copied()
        .collect();
    if with_runs.is_empty() {
        return Ok(());
    }
    // Runs in message-id order, each message's runs in archive order: the order their new ids
    // come back in below.
    let mut ordered = with_runs.clone();
    ordered.sort_by_key(|(id, _)| *id);
    let runs: Vec<(i64, &domain::archive::ArchivedRun)> = ordered
        .iter()
        .flat_map(|(id, m)| m.runs.iter().map(move |r| (*id, r)))
        .collect();
    for chunk in runs.chunks((max_params(backend) / 7).max(1)) {
        message_runs::Entity::insert_many(chunk.iter().map(|(id, r)| message_runs::ActiveModel {
            message_id: Set(*id),
            run_id: Set(r.run_id.clone()),
            run_start: Set(r.run_start),
            run_stop: Set(r.run_stop),
            log_level: Set(r.log_level.clone()),
            overall_state: Set(r.overall_state.clone()),
            process_id: Set(r.process_id.clone()),
            ..Default::default()
        }))
        .exec_without_returning(conn)
        .await?;
    }
    let message_ids: Vec<i64> = ordered.iter().map(|(id, _)| *id).collect();
    let mut run_pks: Vec<(i64, i64)> = Vec::with_capacity(runs.len());
    for chunk in message_ids.chunks(max_params(backend) - 1) {
        let mut sql = Sql::new(backend);
        sql.push("SELECT id, message_id FROM message_runs WHERE message_id IN ")
            .bind_list(chunk.iter().copied())
            .push(" ORDER BY message_id, id");
        for r in conn.query_all_raw(sql.statement()).await? {
            run_pks.push((get(&r, "message_id")?, get(&r, "id")?));
        }
    }
    if run_pks.len() != runs.len() || run_pks.iter().zip(&runs).any(|(a, b)| a.0 != b.0) {
        return Err(DbErr::Custom(format!(
            "restored {} runs but found {} for their messages",
            runs.len(),
            run_pks.len()
        )));
    }
    let mut steps = Vec::new();
    for ((_, run_pk), (_, run)) in run_pks.iter().zip(&runs) {
        for s in &run.steps {
            let properties = match &s.properties {
                Some(p) => Some(serde_json::to_string(p).map_err(|e| DbErr::Json(e.to_string()))?),
                None => None,
            };
            steps.push(message_run_steps::ActiveModel {
                run_pk: Set(*run_pk),
                child_count: Set(s.child_count),
                step_start: Set(s.step_start),
                step_stop: Set(s.step_stop),
                step_id: Set(s.step_id.clone()),
                model_step_id: Set(s.model_step_id.clone()),
                branch_id: Set(s.branch_id.clone()),
                status: Set(s.status.clone()),
                error: Set(s.error.clone()),
                activity: Set(s.activity.clone()),
                properties: Set(properties),
                ..Default::default()
            });
        }
    }
    insert_all(conn, backend, steps, 11, |_| 0).await
}
