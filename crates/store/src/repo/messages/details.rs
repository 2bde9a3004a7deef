//! A message's details (headers, runs and steps, error, attachments, adapter attributes,
//! payload entries), each part replaced as a whole.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::limits;
use domain::message::{
    AdapterAttribute, AttachmentMeta, CustomHeader, ErrorInfo, MessageDetails, PayloadEntry, Run,
    RunStep,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Value};

use super::headers::insert_headers;
use super::read::read_adapter_attributes;
use super::{DetailsOutcome, key, status_text};
use crate::connect::Db;
use crate::entity::{attachments, custom_header_properties, message_runs, payloads};
use crate::error::StoreError;
use crate::repo::{Bulk, Sql, clean, delete_in, get, max_params, opt, text};

/// Write everything fetched about one message in one transaction, and record the status the
/// details were fetched for. Idempotent: writing the same details twice leaves the same rows
/// (runs, steps, payload entries and attachments are upserted by their CPI keys and keep their
/// ids; headers and adapter attributes are rewritten only when they differ).
///
/// Payload entries and attachments no longer listed by CPI are removed unless their content
/// was downloaded: CPI forgets them after 30 days, IntegraMon keeps what it fetched. Listed
/// ones keep their download status and content; only their metadata is refreshed.
pub async fn write_details(
    db: &Db,
    message_id: i64,
    details: &MessageDetails,
    fetched_at: DateTime<Utc>,
) -> Result<DetailsOutcome, StoreError> {
    let txn = db.begin_write().await?;
    let out = write_details_in(&txn, message_id, details, fetched_at).await?;
    txn.commit().await?;
    Ok(out)
}

/// [`write_details`] inside a transaction the caller holds.
pub async fn write_details_in<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
    details: &MessageDetails,
    fetched_at: DateTime<Utc>,
) -> Result<DetailsOutcome, StoreError> {
    let backend = conn.get_database_backend();
    // First statement: locks the message row on PostgreSQL, so concurrent detail writers for
    // one message take turns, and tells us the tenant.
    let mut sql = Sql::new(backend);
    sql.push("UPDATE message_logs SET details_status = ")
        .bind(text(status_text(&details.status)))
        .push(", details_fetched_at = ")
        .bind(fetched_at)
        .push(" WHERE id = ")
        .bind(message_id)
        .push(" RETURNING tenant_id");
    let tenant_id: i64 = match conn.query_one_raw(sql.statement()).await? {
        Some(row) => get(&row, "tenant_id")?,
        None => {
            return Err(DbErr::RecordNotFound(format!("message {message_id}")).into());
        }
    };

    crate::repo::detail_failures::clear_in(conn, message_id).await?;
    let mut out = DetailsOutcome::default();
    if let Some(headers) = &details.headers {
        out.headers = headers.len();
        replace_message_headers(conn, message_id, tenant_id, headers).await?;
    }
    if let Some(runs) = &details.runs {
        let (r, s) = write_runs(conn, message_id, runs).await?;
        out.runs = r;
        out.steps = s;
    }
    if let Some(error) = &details.error {
        write_error(conn, message_id, error, fetched_at).await?;
    }
    if let Some(list) = &details.attachments {
        out.attachments = write_attachments(conn, message_id, list).await?;
    }
    if let Some(list) = &details.adapter_attributes {
        out.adapter_attributes = list.len();
        write_adapter_attributes(conn, message_id, list).await?;
    }
    if let Some(list) = &details.payloads {
        out.payloads = write_payload_entries(conn, message_id, list).await?;
    }
    // Last: the error text is stored, and the message row is locked since the first statement.
    crate::repo::error_groups::group_message_in(conn, message_id).await?;
    Ok(out)
}

async fn replace_message_headers<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
    tenant_id: i64,
    headers: &[CustomHeader],
) -> Result<(), DbErr> {
    let stored: Vec<(String, Option<String>)> = custom_header_properties::Entity::find()
        .filter(custom_header_properties::Column::MessageId.eq(message_id))
        .order_by_asc(custom_header_properties::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|h| (h.name, h.value))
        .collect();
    let wanted: Vec<(String, Option<String>)> = headers
        .iter()
        .map(|h| {
            (
                limits::header_name(&h.name).into_owned(),
                h.value
                    .as_deref()
                    .map(|v| limits::header_value(v).into_owned()),
            )
        })
        .collect();
    if stored == wanted {
        return Ok(());
    }
    delete_in(
        conn,
        "custom_header_properties",
        "message_id",
        &[message_id],
    )
    .await?;
    let rows: Vec<(i64, i64, &CustomHeader)> =
        headers.iter().map(|h| (message_id, tenant_id, h)).collect();
    insert_headers(conn, &rows).await
}

/// Upsert runs and their steps by CPI key; remove runs and steps CPI no longer lists.
async fn write_runs<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
    runs: &[Run],
) -> Result<(usize, usize), DbErr> {
    let backend = conn.get_database_backend();
    let mut by_id: BTreeMap<&str, &Run> = BTreeMap::new();
    for r in runs {
        by_id.insert(&r.run_id, r);
    }
    let runs: Vec<&Run> = by_id.values().copied().collect();

    let mut run_pk: HashMap<String, i64> = HashMap::with_capacity(runs.len());
    if !runs.is_empty() {
        let bulk = Bulk {
            head: "INSERT INTO message_runs (message_id, run_id, run_start, run_stop, log_level, overall_state, process_id)",
            tail: "ON CONFLICT (message_id, run_id) DO UPDATE SET run_start = excluded.run_start, \
                   run_stop = excluded.run_stop, log_level = excluded.log_level, \
                   overall_state = excluded.overall_state, process_id = excluded.process_id \
                   RETURNING id, run_id",
            shared: vec![Value::from(message_id)],
        };
        for stmt in bulk.statements(backend, &runs, |t, r| {
            t.shared(0)
                .bind(key(&r.run_id))
                .bind(opt(r.run_start))
                .bind(opt(r.run_stop))
                .bind(text(r.log_level.as_deref()))
                .bind(text(r.overall_state.as_deref()))
                .bind(text(r.process_id.as_deref()));
        }) {
            for row in conn.query_all_raw(stmt).await? {
                run_pk.insert(get(&row, "run_id")?, get(&row, "id")?);
            }
        }
    }
    let stale_runs: Vec<i64> = message_runs::Entity::find()
        .filter(message_runs::Column::MessageId.eq(message_id))
        .all(conn)
        .await?
        .into_iter()
        .filter(|r| !run_pk.contains_key(&r.run_id))
        .map(|r| r.id)
        .collect();
    // Steps go with their run (foreign key cascade).
    delete_in(conn, "message_runs", "id", &stale_runs).await?;

    let mut steps: Vec<(i64, &RunStep)> = Vec::new();
    for r in &runs {
        let pk = run_pk[&key(&r.run_id)];
        let mut by_child: BTreeMap<i32, &RunStep> = BTreeMap::new();
        for s in &r.steps {
            by_child.insert(s.child_count, s);
        }
        steps.extend(by_child.into_values().map(|s| (pk, s)));
    }
    let mut kept: HashSet<(i64, i32)> = HashSet::with_capacity(steps.len());
    if !steps.is_empty() {
        let bulk = Bulk {
            head: "INSERT INTO message_run_steps (run_pk, child_count, step_start, step_stop, step_id, \
                   model_step_id, branch_id, status, error, activity, properties)",
            tail: "ON CONFLICT (run_pk, child_count) DO UPDATE SET step_start = excluded.step_start, \
                   step_stop = excluded.step_stop, step_id = excluded.step_id, \
                   model_step_id = excluded.model_step_id, branch_id = excluded.branch_id, \
                   status = excluded.status, error = excluded.error, activity = excluded.activity, \
                   properties = excluded.properties",
            shared: Vec::new(),
        };
        for stmt in bulk.statements(backend, &steps, |t, (pk, s)| {
            let props = (!s.properties.is_empty()).then(|| {
                clean(&serde_json::to_string(&s.properties).unwrap_or_else(|_| "{}".into()))
            });
            t.bind(*pk)
                .bind(s.child_count)
                .bind(opt(s.step_start))
                .bind(opt(s.step_stop))
                .bind(text(s.step_id.as_deref()))
                .bind(text(s.model_step_id.as_deref()))
                .bind(text(s.branch_id.as_deref()))
                .bind(text(s.status.as_deref()))
                .bind(text(s.error.as_deref()))
                .bind(text(s.activity.as_deref()))
                .bind(props);
        }) {
            conn.execute_raw(stmt).await?;
        }
        kept.extend(steps.iter().map(|(pk, s)| (*pk, s.child_count)));
    }
    let pks: Vec<i64> = run_pk.values().copied().collect();
    let mut stale_steps = Vec::new();
    for chunk in pks.chunks(max_params(backend) - 1) {
        let mut sql = Sql::new(backend);
        sql.push("SELECT id, run_pk, child_count FROM message_run_steps WHERE run_pk IN ")
            .bind_list(chunk.iter().copied());
        for row in conn.query_all_raw(sql.statement()).await? {
            let key: (i64, i32) = (get(&row, "run_pk")?, get(&row, "child_count")?);
            if !kept.contains(&key) {
                stale_steps.push(get::<i64>(&row, "id")?);
            }
        }
    }
    delete_in(conn, "message_run_steps", "id", &stale_steps).await?;
    Ok((runs.len(), steps.len()))
}

async fn write_error<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
    e: &ErrorInfo,
    fetched_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("INSERT INTO message_errors (message_id, error_type, last_error_model_step_id, text, fetched_at) VALUES ")
        .tuple(|t| {
            t.bind(message_id)
                .bind(text(e.error_type.as_deref()))
                .bind(text(e.last_error_model_step_id.as_deref()))
                .bind(text(e.text.as_deref()))
                .bind(fetched_at);
        })
        .push(
            " ON CONFLICT (message_id) DO UPDATE SET error_type = excluded.error_type, \
             last_error_model_step_id = excluded.last_error_model_step_id, text = excluded.text, \
             fetched_at = excluded.fetched_at",
        );
    conn.execute_raw(sql.statement()).await?;
    Ok(())
}

async fn write_attachments<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
    list: &[AttachmentMeta],
) -> Result<usize, DbErr> {
    let mut by_id: BTreeMap<&str, &AttachmentMeta> = BTreeMap::new();
    for a in list {
        by_id.insert(&a.attachment_id, a);
    }
    let rows: Vec<&AttachmentMeta> = by_id.values().copied().collect();
    if !rows.is_empty() {
        let bulk = Bulk {
            head: "INSERT INTO attachments (message_id, attachment_id, name, content_type, size, timestamp, status)",
            tail: "ON CONFLICT (message_id, attachment_id) DO UPDATE SET name = excluded.name, \
                   content_type = excluded.content_type, size = excluded.size, \
                   timestamp = excluded.timestamp, \
                   status = CASE WHEN attachments.status = 'skipped' THEN 'pending' \
                     ELSE attachments.status END",
            shared: vec![Value::from(message_id), Value::from("pending")],
        };
        for stmt in bulk.statements(conn.get_database_backend(), &rows, |t, a| {
            t.shared(0)
                .bind(key(&a.attachment_id))
                .bind(text(a.name.as_deref()))
                .bind(text(a.content_type.as_deref()))
                .bind(opt(a.size))
                .bind(opt(a.timestamp))
                .shared(1);
        }) {
            conn.execute_raw(stmt).await?;
        }
    }
    let listed: HashSet<String> = rows.iter().map(|a| key(&a.attachment_id)).collect();
    let stale: Vec<i64> = attachments::Entity::find()
        .filter(attachments::Column::MessageId.eq(message_id))
        .filter(attachments::Column::Status.ne("downloaded"))
        .all(conn)
        .await?
        .into_iter()
        .filter(|a| !listed.contains(&a.attachment_id))
        .map(|a| a.id)
        .collect();
    delete_in(conn, "attachments", "id", &stale).await?;
    Ok(rows.len())
}

async fn write_adapter_attributes<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
    list: &[AdapterAttribute],
) -> Result<(), DbErr> {
    let cleaned: Vec<AdapterAttribute> = list
        .iter()
        .map(|a| AdapterAttribute {
            cpi_id: a.cpi_id.as_deref().map(clean),
            adapter_id: a.adapter_id.as_deref().map(clean),
            adapter_message_id: a.adapter_message_id.as_deref().map(clean),
            name: clean(&a.name),
            value: a.value.as_deref().map(|v| limits::text(v).into_owned()),
        })
        .collect();
    let stored = read_adapter_attributes(conn, message_id).await?;
    if stored == cleaned {
        return Ok(());
    }
    delete_in(conn, "adapter_attributes", "message_id", &[message_id]).await?;
    if cleaned.is_empty() {
        return Ok(());
    }
    let bulk = Bulk {
        head: "INSERT INTO adapter_attributes (message_id, cpi_id, adapter_id, adapter_message_id, name, value)",
        tail: "",
        shared: vec![Value::from(message_id)],
    };
    for stmt in bulk.statements(conn.get_database_backend(), &cleaned, |t, a| {
        t.shared(0)
            .bind(a.cpi_id.clone())
            .bind(a.adapter_id.clone())
            .bind(a.adapter_message_id.clone())
            .bind(a.name.clone())
            .bind(a.value.clone());
    }) {
        conn.execute_raw(stmt).await?;
    }
    Ok(())
}

async fn write_payload_entries<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
    list: &[PayloadEntry],
) -> Result<usize, DbErr> {
    let mut by_id: BTreeMap<&str, &PayloadEntry> = BTreeMap::new();
    for p in list {
        by_id.insert(&p.entry_id, p);
    }
    let rows: Vec<&PayloadEntry> = by_id.values().copied().collect();
    if !rows.is_empty() {
        let bulk = Bulk {
            head: "INSERT INTO payloads (message_id, entry_id, message_store_id, entry_timestamp, has_attachments, retain_until, status)",
            tail: "ON CONFLICT (message_id, entry_id) DO UPDATE SET \
                   message_store_id = excluded.message_store_id, \
                   entry_timestamp = excluded.entry_timestamp, \
                   has_attachments = excluded.has_attachments, retain_until = excluded.retain_until, \
                   status = CASE WHEN payloads.status = 'skipped' THEN 'pending' \
                     ELSE payloads.status END",
            shared: vec![Value::from(message_id), Value::from("pending")],
        };
        for stmt in bulk.statements(conn.get_database_backend(), &rows, |t, p| {
            t.shared(0)
                .bind(key(&p.entry_id))
                .bind(text(p.message_store_id.as_deref()))
                .bind(opt(p.timestamp))
                .bind(opt(p.has_attachments))
                .bind(opt(p.retain_until))
                .shared(1);
        }) {
            conn.execute_raw(stmt).await?;
        }
    }
    let listed: HashSet<String> = rows.iter().map(|p| key(&p.entry_id)).collect();
    let stale: Vec<i64> = payloads::Entity::find()
        .filter(payloads::Column::MessageId.eq(message_id))
        .filter(payloads::Column::Status.ne("downloaded"))
        .all(conn)
        .await?
        .into_iter()
        .filter(|p| !listed.contains(&p.entry_id))
        .map(|p| p.id)
        .collect();
    delete_in(conn, "payloads", "id", &stale).await?;
    Ok(rows.len())
}
