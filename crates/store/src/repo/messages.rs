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

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::MessageStatus;
use domain::message::{
    AdapterAttribute, AttachmentMeta, CustomHeader, ErrorInfo, Message, MessageDetails,
    PayloadEntry, Run, RunStep,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Statement, Value,
};
use serde::Serialize;

use super::monitor;
use super::{Bulk, Sql, clean, clean_cow, delete_in, distinct, get, max_params, opt, text};
use crate::connect::Db;
use crate::entity::{
    adapter_attributes, attachments, custom_header_properties, message_errors, message_logs,
    message_runs, payloads,
};
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

/// `message_logs` columns a page writes, after `tenant_id` and before the timestamps, in
/// binding order. `message_guid` must stay first: the conflict target.
const MESSAGE_COLUMNS: [&str; 24] = [
    "message_guid",
    "correlation_id",
    "application_message_id",
    "application_message_type",
    "predecessor_message_guid",
    "log_start",
    "log_end",
    "sender",
    "receiver",
    "iflow_id",
    "iflow_name",
    "artifact_type",
    "package_id",
    "package_name",
    "status",
    "custom_status",
    "log_level",
    "alternate_web_link",
    "transaction_id",
    "archiving_status",
    "origin_component_name",
    "local_component_name",
    "previous_component_name",
    "duration_ms",
];

fn message_values(m: &Message) -> [Value; 24] {
    [
        text(Some(&m.guid)),
        text(m.correlation_id.as_deref()),
        text(m.application_message_id.as_deref()),
        text(m.application_message_type.as_deref()),
        text(m.predecessor_guid.as_deref()),
        opt(m.log_start),
        opt(m.log_end),
        text(m.sender.as_deref()),
        text(m.receiver.as_deref()),
        text(m.iflow_id.as_deref()),
        text(m.iflow_name.as_deref()),
        text(m.artifact_type.as_deref()),
        text(m.package_id.as_deref()),
        text(m.package_name.as_deref()),
        text(status_text(&m.status)),
        text(m.custom_status.as_deref()),
        text(m.log_level.as_deref()),
        text(m.alternate_web_link.as_deref()),
        text(m.transaction_id.as_deref()),
        text(m.archiving_status.as_deref()),
        text(m.origin_component_name.as_deref()),
        text(m.local_component_name.as_deref()),
        text(m.previous_component_name.as_deref()),
        opt(m.duration_ms()),
    ]
}

/// A missing status (`Other("")`) is stored as NULL.
fn status_text(s: &MessageStatus) -> Option<&str> {
    Some(s.as_str()).filter(|s| !s.is_empty())
}

fn status_from(s: Option<String>) -> MessageStatus {
    s.map_or_else(
        || MessageStatus::Other(String::new()),
        |s| MessageStatus::parse(&s),
    )
}

/// The `INSERT … ON CONFLICT … RETURNING` of a page: its head, the conflict clause (which ends
/// in the update's condition, so more can be added to it) and the `RETURNING` clause.
fn upsert_sql(backend: DbBackend) -> (String, String, String) {
    let cols = MESSAGE_COLUMNS.join(", ");
    let head = format!("INSERT INTO message_logs (tenant_id, {cols}, created_at, updated_at)");
    let set: Vec<String> = MESSAGE_COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let op = distinct(backend);
    let differs: Vec<String> = MESSAGE_COLUMNS[1..]
        .iter()
        .map(|c| format!("message_logs.{c} {op} excluded.{c}"))
        .collect();
    // xmax = 0 marks a row this statement inserted (not one it updated). It is exact under
    // concurrency, where the SELECT before the upsert may be stale. SQLite's write lock makes
    // that SELECT exact there.
    let returning = match backend {
        DbBackend::Postgres => "id, message_guid, (xmax = 0) AS inserted",
        _ => "id, message_guid, NULL AS inserted",
    };
    let conflict = format!(
        "ON CONFLICT (tenant_id, message_guid) DO UPDATE SET {set}, updated_at = excluded.updated_at \
         WHERE (message_logs.log_end IS NULL OR (excluded.log_end IS NOT NULL AND excluded.log_end >= message_logs.log_end)) \
         AND ({differs})",
        set = set.join(", "),
        differs = differs.join(" OR "),
    );
    (head, conflict, format!("RETURNING {returning}"))
}

/// The JSON key of the `i`th of [`MESSAGE_COLUMNS`] in a [`JsonMessage`].
fn json_key(i: usize) -> char {
    char::from(b'a' + u8::try_from(i).unwrap_or(u8::MAX - b'a'))
}

/// SQL type of each [`MESSAGE_COLUMNS`] entry in the PostgreSQL JSON record.
fn pg_type(col: &str) -> &'static str {
    match col {
        "log_start" | "log_end" => "timestamptz",
        "duration_ms" => "int8",
        _ => "text",
    }
}

/// A timestamp as PostgreSQL reads it from JSON text: microseconds, truncated, the same instant
/// a bound `DateTime<Utc>` stores.
fn pg_ts(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

fn cow(s: Option<&str>) -> Option<Cow<'_, str>> {
    s.map(clean_cow)
}

/// One message as a JSON record for `json_to_recordset`. Its keys are one letter each, `a` for the
/// first of [`MESSAGE_COLUMNS`] onwards (see [`json_key`]), and absent values are left out: the
/// page's JSON is about half as long as with column names and nulls.
#[derive(Serialize)]
struct JsonMessage<'a> {
    #[serde(rename = "a")]
    message_guid: Cow<'a, str>,
    #[serde(rename = "b", skip_serializing_if = "Option::is_none")]
    correlation_id: Option<Cow<'a, str>>,
    #[serde(rename = "c", skip_serializing_if = "Option::is_none")]
    application_message_id: Option<Cow<'a, str>>,
    #[serde(rename = "d", skip_serializing_if = "Option::is_none")]
    application_message_type: Option<Cow<'a, str>>,
    #[serde(rename = "e", skip_serializing_if = "Option::is_none")]
    predecessor_message_guid: Option<Cow<'a, str>>,
    #[serde(rename = "f", skip_serializing_if = "Option::is_none")]
    log_start: Option<String>,
    #[serde(rename = "g", skip_serializing_if = "Option::is_none")]
    log_end: Option<String>,
    #[serde(rename = "h", skip_serializing_if = "Option::is_none")]
    sender: Option<Cow<'a, str>>,
    #[serde(rename = "i", skip_serializing_if = "Option::is_none")]
    receiver: Option<Cow<'a, str>>,
    #[serde(rename = "j", skip_serializing_if = "Option::is_none")]
    iflow_id: Option<Cow<'a, str>>,
    #[serde(rename = "k", skip_serializing_if = "Option::is_none")]
    iflow_name: Option<Cow<'a, str>>,
    #[serde(rename = "l", skip_serializing_if = "Option::is_none")]
    artifact_type: Option<Cow<'a, str>>,
    #[serde(rename = "m", skip_serializing_if = "Option::is_none")]
    package_id: Option<Cow<'a, str>>,
    #[serde(rename = "n", skip_serializing_if = "Option::is_none")]
    package_name: Option<Cow<'a, str>>,
    #[serde(rename = "o", skip_serializing_if = "Option::is_none")]
    status: Option<Cow<'a, str>>,
    #[serde(rename = "p", skip_serializing_if = "Option::is_none")]
    custom_status: Option<Cow<'a, str>>,
    #[serde(rename = "q", skip_serializing_if = "Option::is_none")]
    log_level: Option<Cow<'a, str>>,
    #[serde(rename = "r", skip_serializing_if = "Option::is_none")]
    alternate_web_link: Option<Cow<'a, str>>,
    #[serde(rename = "s", skip_serializing_if = "Option::is_none")]
    transaction_id: Option<Cow<'a, str>>,
    #[serde(rename = "t", skip_serializing_if = "Option::is_none")]
    archiving_status: Option<Cow<'a, str>>,
    #[serde(rename = "u", skip_serializing_if = "Option::is_none")]
    origin_component_name: Option<Cow<'a, str>>,
    #[serde(rename = "v", skip_serializing_if = "Option::is_none")]
    local_component_name: Option<Cow<'a, str>>,
    #[serde(rename = "w", skip_serializing_if = "Option::is_none")]
    previous_component_name: Option<Cow<'a, str>>,
    #[serde(rename = "x", skip_serializing_if = "Option::is_none")]
    duration_ms: Option<i64>,
}

impl<'a> JsonMessage<'a> {
    fn new(m: &'a Message) -> Self {
        Self {
            message_guid: clean_cow(&m.guid),
            correlation_id: cow(m.correlation_id.as_deref()),
            application_message_id: cow(m.application_message_id.as_deref()),
            application_message_type: cow(m.application_message_type.as_deref()),
            predecessor_message_guid: cow(m.predecessor_guid.as_deref()),
            log_start: pg_ts(m.log_start),
            log_end: pg_ts(m.log_end),
            sender: cow(m.sender.as_deref()),
            receiver: cow(m.receiver.as_deref()),
            iflow_id: cow(m.iflow_id.as_deref()),
            iflow_name: cow(m.iflow_name.as_deref()),
            artifact_type: cow(m.artifact_type.as_deref()),
            package_id: cow(m.package_id.as_deref()),
            package_name: cow(m.package_name.as_deref()),
            status: cow(status_text(&m.status)),
            custom_status: cow(m.custom_status.as_deref()),
            log_level: cow(m.log_level.as_deref()),
            alternate_web_link: cow(m.alternate_web_link.as_deref()),
            transaction_id: cow(m.transaction_id.as_deref()),
            archiving_status: cow(m.archiving_status.as_deref()),
            origin_component_name: cow(m.origin_component_name.as_deref()),
            local_component_name: cow(m.local_component_name.as_deref()),
            previous_component_name: cow(m.previous_component_name.as_deref()),
            duration_ms: m.duration_ms(),
        }
    }
}

/// The page's upsert statements. PostgreSQL gets one statement whatever the page size: the
/// rows travel as one JSON parameter read by `json_to_recordset`, which spares the server
/// parsing and planning tens of thousands of placeholders (a large share of the cost of a
/// multi-row VALUES). SQLite binds plain `VALUES` rows, which it handles fast.
fn upsert_statements(
    backend: DbBackend,
    tenant_id: i64,
    now: DateTime<Utc>,
    rows: &[&Message],
    seen: &[i64],
) -> Result<Vec<Statement>, DbErr> {
    let (head, conflict, returning) = upsert_sql(backend);
    if backend == DbBackend::Postgres {
        let json: Vec<JsonMessage<'_>> = rows.iter().map(|m| JsonMessage::new(m)).collect();
        let json = serde_json::to_string(&json).map_err(|e| DbErr::Json(e.to_string()))?;
        let select: Vec<String> = (0..MESSAGE_COLUMNS.len())
            .map(|i| format!("x.{}", json_key(i)))
            .collect();
        let record: Vec<String> = MESSAGE_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} {}", json_key(i), pg_type(c)))
            .collect();
        let mut sql = Sql::new(backend);
        sql.push(&head)
            .push(" SELECT ")
            .bind(tenant_id)
            .push(", ")
            .push(&select.join(", "))
            .push(", ")
            .bind(now)
            // `now` again, as `updated_at`: it is `$2`, bound just above.
            .push(", $2 FROM json_to_recordset(")
            .bind(json)
            .push("::json) AS x(")
            .push(&record.join(", "))
            .push(") ")
            .push(&conflict)
            // Only rows the caller looked up (and locked) are updated.
            .push(" AND message_logs.id IN (SELECT json_array_elements_text(")
            .bind(serde_json::to_string(seen).map_err(|e| DbErr::Json(e.to_string()))?)
            .push("::json)::int8) ")
            .push(&returning);
        return Ok(vec![sql.statement()]);
    }
    // SQLite: the write transaction makes the caller's look-up exact; no row appears unseen.
    let _ = seen;
    let tail = format!("{conflict} {returning}");
    let bulk = Bulk {
        head: &head,
        tail: &tail,
        shared: vec![Value::from(tenant_id), Value::from(now)],
    };
    Ok(bulk.statements(backend, rows, |t, m| {
        t.shared(0);
        for v in message_values(m) {
            t.bind(v);
        }
        t.shared(1).shared(1);
    }))
}

/// Look-up and upsert rounds of a page before it gives up on rows that keep being inserted
/// concurrently (see [`upsert_rows_in`]).
const UPSERT_ROUNDS: usize = 3;

/// What is stored for a GUID before the upsert.
struct Before {
    id: i64,
    details_status: Option<String>,
    correlation_id: Option<String>,
    log_end: Option<DateTime<Utc>>,
    // The rollup key the stored row is counted under.
    iflow_id: Option<String>,
    package_id: Option<String>,
    status: Option<String>,
}

/// Write one page of messages for a tenant in one transaction (see the module doc).
pub async fn upsert_messages(
    db: &Db,
    tenant_id: i64,
    messages: &[Message],
) -> Result<UpsertOutcome, StoreError> {
    again_after_deadlock(|| async {
        let txn = db.begin_write().await?;
        let out = upsert_messages_in(&txn, tenant_id, messages).await?;
        txn.commit().await?;
        Ok(out)
    })
    .await
}

/// [`upsert_messages`] inside a transaction the caller holds (on SQLite it must be a write
/// transaction from [`Db::begin_write`]). The monitor's rollup is kept in step in the same
/// transaction.
pub async fn upsert_messages_in<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    messages: &[Message],
) -> Result<UpsertOutcome, StoreError> {
    let refs: Vec<&Message> = messages.iter().collect();
    let (out, counts) = upsert_rows_in(conn, tenant_id, &refs, &latest_per_guid(&refs)).await?;
    monitor::apply_count_changes_in(conn, tenant_id, &counts).await?;
    Ok(out)
}

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

/// Run a page's write transaction again when PostgreSQL picked it as a deadlock's victim (it
/// was rolled back whole). Writers of overlapping pages at the same moment — a redelivered job,
/// hot and cold sync meeting — can deadlock on rows one has inserted and the other must lock.
async fn again_after_deadlock<T, F, Fut>(mut write: F) -> Result<T, StoreError>
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

async fn write_page_once(
    db: &Db,
    tenant_id: i64,
    page: &[PageMessage],
) -> Result<PageOutcome, StoreError> {
    let started = std::time::Instant::now();
    let refs: Vec<&Message> = page.iter().map(|p| &p.message).collect();
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
    let headers_written = started.elapsed();
    // Last, so the rollup's hour locks are held only until the commit.
    monitor::apply_count_changes_in(&txn, tenant_id, &counts).await?;
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

/// The copy of each GUID that a page's upsert writes, by index into `messages`, in order of
/// first appearance. PostgreSQL refuses to update a row twice in one statement, so a GUID
/// repeated within a page is written once: the copy with the latest `LogEnd`, later copies
/// winning ties.
fn latest_per_guid<'a>(messages: &[&'a Message]) -> Winners<'a> {
    let mut order = Vec::with_capacity(messages.len());
    let mut index: HashMap<&'a str, usize> = HashMap::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        match index.get(m.guid.as_str()) {
            None => {
                order.push(m.guid.as_str());
                index.insert(&m.guid, i);
            }
            Some(&prev) if m.log_end >= messages[prev].log_end => {
                index.insert(&m.guid, i);
            }
            Some(_) => {}
        }
    }
    Winners { order, index }
}

/// See [`latest_per_guid`].
struct Winners<'a> {
    order: Vec<&'a str>,
    index: HashMap<&'a str, usize>,
}

/// The upsert itself; the caller applies the returned rollup changes in the same transaction.
/// `winners` is [`latest_per_guid`] of `messages`.
async fn upsert_rows_in<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    messages: &[&Message],
    winners: &Winners<'_>,
) -> Result<(UpsertOutcome, monitor::CountChanges), StoreError> {
    let backend = conn.get_database_backend();
    let now = Utc::now();
    let order = &winners.order;
    let latest: HashMap<&str, &Message> = winners
        .index
        .iter()
        .map(|(g, &i)| (*g, messages[i]))
        .collect();
    if order.is_empty() {
        return Ok(Default::default());
    }
    // Sorted by GUID so concurrent writers lock rows in one order. Deadlocks stay possible
    // between writers of overlapping new messages; `again_after_deadlock` retries those.
    let mut rows: Vec<&Message> = order.iter().map(|g| latest[g]).collect();
    rows.sort_by(|a, b| a.guid.cmp(&b.guid));

    // What is stored for the page's GUIDs, locked, then the upsert, which updates only rows
    // found here. A row a concurrent writer inserted after the look-up is left alone by the
    // upsert; it is looked up (and locked) in the next round and written then, so every update
    // knows the row it replaced and the rollup moves exactly. Rare; a round or two at most.
    let mut before: HashMap<String, Before> = HashMap::with_capacity(rows.len());
    let mut written: HashMap<String, (i64, Option<bool>)> = HashMap::with_capacity(rows.len());
    let mut pending: Vec<&Message> = rows;
    for _round in 0..UPSERT_ROUNDS {
        let guids: Vec<&str> = pending.iter().map(|m| m.guid.as_str()).collect();
        let found = stored_before(conn, tenant_id, &guids).await?;
        let seen: Vec<i64> = found.values().map(|b| b.id).collect();
        before.extend(found);
        for stmt in upsert_statements(backend, tenant_id, now, &pending, &seen)? {
            for row in conn.query_all_raw(stmt).await? {
                let id: i64 = get(&row, "id")?;
                let guid: String = get(&row, "message_guid")?;
                let inserted: Option<bool> = get(&row, "inserted")?;
                written.insert(guid, (id, inserted));
            }
        }
        pending.retain(|m| !written.contains_key(&m.guid) && !before.contains_key(&m.guid));
        if pending.is_empty() {
            break;
        }
    }
    if let Some(m) = pending.first() {
        // A database error, so the job fails retryably and the page is written again.
        return Err(DbErr::Custom(format!(
            "message {} of tenant {tenant_id} kept being inserted concurrently",
            m.guid
        ))
        .into());
    }

    let mut out = UpsertOutcome::default();
    let mut counts = monitor::CountChanges::default();
    let mut correlations: BTreeMap<String, CorrelationDelta> = BTreeMap::new();
    let mut decrements: Vec<String> = Vec::new();
    for guid in order {
        let m = latest[guid];
        let prev = before.get(*guid);
        let (id, change) = match (written.get(*guid), prev) {
            (Some(&(id, inserted)), _) => {
                let inserted = inserted.unwrap_or(prev.is_none());
                (
                    id,
                    if inserted {
                        Change::Inserted
                    } else {
                        Change::Updated
                    },
                )
            }
            (None, Some(p)) => (p.id, Change::Unchanged),
            (None, None) => {
                return Err(DbErr::RecordNotFound(format!(
                    "message {guid} of tenant {tenant_id} is neither stored nor written"
                ))
                .into());
            }
        };
        match change {
            Change::Inserted => {
                out.inserted += 1;
                count_message(&mut counts, m, 1);
                out.needs_details
                    .push((id, m.guid.clone(), m.status.clone()));
                if let Some(c) = &m.correlation_id {
                    correlations.entry(clean(c)).or_default().add(m, 1);
                }
            }
            Change::Updated => {
                out.updated += 1;
                if let Some(p) = prev {
                    counts.add(
                        p.log_end,
                        p.iflow_id.as_deref(),
                        p.package_id.as_deref(),
                        p.status.as_deref(),
                        None,
                        -1,
                    );
                }
                count_message(&mut counts, m, 1);
                let fetched_for = prev.and_then(|p| p.details_status.as_deref());
                if m.status.wants_details() && fetched_for != status_text(&m.status) {
                    out.needs_details
                        .push((id, m.guid.clone(), m.status.clone()));
                }
                let old = prev.and_then(|p| p.correlation_id.clone());
                let new = m.correlation_id.as_deref().map(clean);
                match (&old, &new) {
                    (o, Some(n)) if o.as_deref() == Some(n.as_str()) => {
                        correlations.entry(n.clone()).or_default().add(m, 0);
                    }
                    _ => {
                        // The correlation id changed (or was unknown to us): move the count.
                        if let (Some(o), Some(_)) = (&old, prev) {
                            decrements.push(o.clone());
                        }
                        if let Some(n) = new {
                            correlations.entry(n).or_default().add(m, 1);
                        }
                    }
                }
            }
            Change::Unchanged => out.unchanged += 1,
        }
        let stored = prev;
        let details_status = stored
            .and_then(|p| p.details_status.as_deref())
            .map(MessageStatus::parse);
        out.rows.push(UpsertedRow {
            id,
            guid: m.guid.clone(),
            change,
            details_status,
            previous_log_end: stored.and_then(|p| p.log_end),
        });
    }
    upsert_correlations(conn, tenant_id, &correlations, &decrements).await?;
    Ok((out, counts))
}

/// `n` copies of `m` enter the rollup, keyed as the row stores it.
fn count_message(counts: &mut monitor::CountChanges, m: &Message, n: i64) {
    counts.add(
        m.log_end,
        cow(m.iflow_id.as_deref()).as_deref(),
        cow(m.package_id.as_deref()).as_deref(),
        cow(status_text(&m.status)).as_deref(),
        cow(m.iflow_name.as_deref()).as_deref(),
        n,
    );
}

const BEFORE_SELECT: &str = "SELECT id, message_guid, details_status, correlation_id, log_end, \
     iflow_id, package_id, status FROM message_logs WHERE tenant_id = ";

async fn stored_before<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    guids: &[&str],
) -> Result<HashMap<String, Before>, DbErr> {
    let backend = conn.get_database_backend();
    let mut found = HashMap::with_capacity(guids.len());
    if backend == DbBackend::Postgres {
        // One JSON parameter instead of a thousand-item IN list, so the statement text is the
        // same for every page. Each GUID is looked up on its own behind a LIMIT (which keeps
        // the planner from turning the look-ups into a join): a plan made while the table was
        // small would otherwise scan the tenant's rows once per GUID after it has grown. Rows
        // are locked in GUID order, as the upsert writes them, so the rollup changes computed
        // from them stay exact when two writers update one message at once.
        let mut list: Vec<String> = guids.iter().map(|g| clean(g)).collect();
        list.sort_unstable();
        let json = serde_json::to_string(&list).map_err(|e| DbErr::Json(e.to_string()))?;
        let mut sql = Sql::new(backend);
        sql.push("SELECT s.* FROM json_array_elements_text(")
            .bind(json)
            .push("::json) AS g(guid) CROSS JOIN LATERAL (")
            .push(BEFORE_SELECT)
            .bind(tenant_id)
            .push(" AND message_guid = g.guid LIMIT 1 FOR UPDATE) AS s");
        collect_before(conn.query_all_raw(sql.statement()).await?, &mut found)?;
        return Ok(found);
    }
    for chunk in guids.chunks(max_params(backend) - 1) {
        let mut sql = Sql::new(backend);
        sql.push(BEFORE_SELECT)
            .bind(tenant_id)
            .push(" AND message_guid IN ")
            .bind_list(chunk.iter().map(|g| clean(g)));
        collect_before(conn.query_all_raw(sql.statement()).await?, &mut found)?;
    }
    Ok(found)
}

fn collect_before(
    rows: Vec<sea_orm::QueryResult>,
    found: &mut HashMap<String, Before>,
) -> Result<(), DbErr> {
    for row in rows {
        found.insert(
            get::<String>(&row, "message_guid")?,
            Before {
                id: get(&row, "id")?,
                details_status: get(&row, "details_status")?,
                correlation_id: get(&row, "correlation_id")?,
                log_end: get(&row, "log_end")?,
                iflow_id: get(&row, "iflow_id")?,
                package_id: get(&row, "package_id")?,
                status: get(&row, "status")?,
            },
        );
    }
    Ok(())
}

/// What a batch of messages adds to one correlation's row.
#[derive(Default)]
pub(crate) struct CorrelationDelta {
    count: i64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl CorrelationDelta {
    fn add(&mut self, m: &Message, count: i64) {
        self.add_span(m.log_start, m.log_end, count);
    }

    /// `count` messages that ran from `log_start` to `log_end`.
    pub(crate) fn add_span(
        &mut self,
        log_start: Option<DateTime<Utc>>,
        log_end: Option<DateTime<Utc>>,
        count: i64,
    ) {
        self.count += count;
        let first = log_start.or(log_end);
        let last = log_end.or(log_start);
        if first.is_some() && (self.first.is_none() || first < self.first) {
            self.first = first;
        }
        if last > self.last {
            self.last = last;
        }
    }
}

/// Add `deltas` to the correlation rows (created when missing, first and last seen widened),
/// and take one message off each of `decrements`.
pub(crate) async fn upsert_correlations<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    deltas: &BTreeMap<String, CorrelationDelta>,
    decrements: &[String],
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    const HEAD: &str = "INSERT INTO correlations (tenant_id, correlation_id, message_count, first_seen, last_seen)";
    const TAIL: &str = "ON CONFLICT (tenant_id, correlation_id) DO UPDATE SET \
         message_count = correlations.message_count + excluded.message_count, \
         first_seen = CASE WHEN correlations.first_seen IS NULL \
           OR excluded.first_seen < correlations.first_seen \
           THEN excluded.first_seen ELSE correlations.first_seen END, \
         last_seen = CASE WHEN correlations.last_seen IS NULL \
           OR excluded.last_seen > correlations.last_seen \
           THEN excluded.last_seen ELSE correlations.last_seen END";
    if !deltas.is_empty() && backend == DbBackend::Postgres {
        // One JSON parameter, so the statement text is the same for every page: prepared once
        // per connection instead of once per distinct row count (each cached with thousands
        // of parameter types).
        #[derive(Serialize)]
        struct JsonCorrelation<'a> {
            c: &'a str,
            n: i64,
            f: Option<String>,
            l: Option<String>,
        }
        let rows: Vec<JsonCorrelation<'_>> = deltas
            .iter()
            .map(|(id, d)| JsonCorrelation {
                c: id,
                n: d.count,
                f: pg_ts(d.first),
                l: pg_ts(d.last),
            })
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| DbErr::Json(e.to_string()))?;
        let mut sql = Sql::new(backend);
        sql.push(HEAD)
            .push(" SELECT ")
            .bind(tenant_id)
            .push(", x.c, x.n, x.f, x.l FROM json_to_recordset(")
            .bind(json)
            .push("::json) AS x(c text, n int4, f timestamptz, l timestamptz) ")
            .push(TAIL);
        conn.execute_raw(sql.statement()).await?;
    } else if !deltas.is_empty() {
        let rows: Vec<(&String, &CorrelationDelta)> = deltas.iter().collect();
        let bulk = Bulk {
            head: HEAD,
            tail: TAIL,
            shared: vec![Value::from(tenant_id)],
        };
        for stmt in bulk.statements(backend, &rows, |t, (id, d)| {
            // i32: the column is `integer`, and PostgreSQL binds are typed.
            let count = i32::try_from(d.count).unwrap_or(i32::MAX);
            t.shared(0)
                .bind(id.as_str())
                .bind(count)
                .bind(opt(d.first))
                .bind(opt(d.last));
        }) {
            conn.execute_raw(stmt).await?;
        }
    }
    // A message whose correlation id changed: rare enough for one statement each.
    for c in decrements {
        let mut sql = Sql::new(backend);
        sql.push("UPDATE correlations SET message_count = message_count - 1 WHERE tenant_id = ")
            .bind(tenant_id)
            .push(" AND correlation_id = ")
            .bind(c.as_str())
            .push(" AND message_count > 0");
        conn.execute_raw(sql.statement()).await?;
    }
    Ok(())
}

/// Replace the custom headers of many messages at once (a list page's expanded headers go
/// through [`write_page`] instead, which needs no look-up). Each listed message ends up with
/// exactly the given headers (an empty list clears them); messages not in the list are
/// untouched, ids that name no message are skipped. Returns the number of headers written.
/// Header row ids are not kept across a replace.
pub async fn replace_headers_bulk(
    db: &Db,
    headers: &[(i64, Vec<CustomHeader>)],
) -> Result<u64, StoreError> {
    let txn = db.begin_write().await?;
    let n = replace_headers_bulk_in(&txn, headers).await?;
    txn.commit().await?;
    Ok(n)
}

/// [`replace_headers_bulk`] inside a transaction the caller holds.
pub async fn replace_headers_bulk_in<C: ConnectionTrait>(
    conn: &C,
    headers: &[(i64, Vec<CustomHeader>)],
) -> Result<u64, StoreError> {
    let backend = conn.get_database_backend();
    // The last entry for a message wins.
    let mut per_message: BTreeMap<i64, &[CustomHeader]> = BTreeMap::new();
    for (id, list) in headers {
        per_message.insert(*id, list);
    }
    if per_message.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = per_message.keys().copied().collect();
    // The tenant of each message (headers carry it for the search index), which also drops
    // ids that name no message. On PostgreSQL the message rows are locked, in id order, so two
    // writers replacing one message's headers (a list page and a details job) take turns
    // instead of both inserting; SQLite's write lock already serialises them.
    let lock = if backend == DbBackend::Postgres {
        " ORDER BY id FOR UPDATE"
    } else {
        ""
    };
    let mut tenant_of: HashMap<i64, i64> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(max_params(backend) - 1) {
        let mut sql = Sql::new(backend);
        sql.push("SELECT id, tenant_id FROM message_logs WHERE id IN ")
            .bind_list(chunk.iter().copied())
            .push(lock);
        for row in conn.query_all_raw(sql.statement()).await? {
            tenant_of.insert(get(&row, "id")?, get(&row, "tenant_id")?);
        }
    }
    let known: Vec<i64> = ids
        .into_iter()
        .filter(|id| tenant_of.contains_key(id))
        .collect();
    delete_in(conn, "custom_header_properties", "message_id", &known).await?;
    let rows: Vec<(i64, i64, &CustomHeader)> = known
        .iter()
        .flat_map(|id| {
            let tenant = tenant_of[id];
            per_message[id].iter().map(move |h| (*id, tenant, h))
        })
        .collect();
    insert_headers(conn, &rows).await?;
    Ok(rows.len() as u64)
}

/// The headers of a page's messages inside [`write_page`]'s transaction: `inserted` messages are
/// new there (nothing to delete), `replaced` ones get theirs replaced. The upsert of the same
/// transaction holds both kinds of rows locked, so unlike [`replace_headers_bulk_in`] nothing is
/// looked up or locked here.
async fn write_page_headers_in<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    inserted: &[(i64, &[CustomHeader])],
    replaced: &[(i64, &[CustomHeader])],
) -> Result<u64, StoreError> {
    let ids: Vec<i64> = replaced.iter().map(|(id, _)| *id).collect();
    delete_in(conn, "custom_header_properties", "message_id", &ids).await?;
    let rows: Vec<(i64, i64, &CustomHeader)> = inserted
        .iter()
        .chain(replaced)
        .flat_map(|(id, list)| list.iter().map(move |h| (*id, tenant_id, h)))
        .collect();
    insert_headers(conn, &rows).await?;
    Ok(rows.len() as u64)
}

/// Insert header rows `(message_id, tenant_id, header)`, filling `value_prefix`.
async fn insert_headers<C: ConnectionTrait>(
    conn: &C,
    rows: &[(i64, i64, &CustomHeader)],
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let head =
        "INSERT INTO custom_header_properties (message_id, tenant_id, name, value, value_prefix)";
    let backend = conn.get_database_backend();
    if backend == DbBackend::Postgres {
        // One JSON parameter instead of five placeholders per header (see upsert_statements).
        // PostgreSQL cuts the prefix itself (`left` counts characters, as `value_prefix` does),
        // so each value travels once.
        #[derive(Serialize)]
        struct JsonHeader<'a> {
            m: i64,
            t: i64,
            n: Cow<'a, str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            v: Option<Cow<'a, str>>,
        }
        let json: Vec<JsonHeader<'_>> = rows
            .iter()
            .map(|(mid, tid, h)| JsonHeader {
                m: *mid,
                t: *tid,
                n: clean_cow(&h.name),
                v: cow(h.value.as_deref()),
            })
            .collect();
        let json = serde_json::to_string(&json).map_err(|e| DbErr::Json(e.to_string()))?;
        let mut sql = Sql::new(backend);
        sql.push(head)
            .push(&format!(
                " SELECT x.m, x.t, x.n, x.v, left(x.v, {}) FROM json_to_recordset(",
                migration::HEADER_VALUE_PREFIX_CHARS
            ))
            .bind(json)
            .push("::json) AS x(m int8, t int8, n text, v text)");
        conn.execute_raw(sql.statement()).await?;
        return Ok(());
    }
    let bulk = Bulk {
        head,
        tail: "",
        shared: Vec::new(),
    };
    for stmt in bulk.statements(backend, rows, |t, (mid, tid, h)| {
        let value = h.value.as_deref().map(clean);
        let prefix = value.as_deref().map(custom_header_properties::value_prefix);
        t.bind(*mid)
            .bind(*tid)
            .bind(clean(&h.name))
            .bind(value)
            .bind(prefix);
    }) {
        conn.execute_raw(stmt).await?;
    }
    Ok(())
}

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
        .map(|h| (clean(&h.name), h.value.as_deref().map(clean)))
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
                .bind(clean(&r.run_id))
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
        let pk = run_pk[&clean(&r.run_id)];
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
                .bind(clean(&a.attachment_id))
                .bind(text(a.name.as_deref()))
                .bind(text(a.content_type.as_deref()))
                .bind(opt(a.size))
                .bind(opt(a.timestamp))
                .shared(1);
        }) {
            conn.execute_raw(stmt).await?;
        }
    }
    let listed: HashSet<String> = rows.iter().map(|a| clean(&a.attachment_id)).collect();
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
            value: a.value.as_deref().map(clean),
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
                .bind(clean(&p.entry_id))
                .bind(text(p.message_store_id.as_deref()))
                .bind(opt(p.timestamp))
                .bind(opt(p.has_attachments))
                .bind(opt(p.retain_until))
                .shared(1);
        }) {
            conn.execute_raw(stmt).await?;
        }
    }
    let listed: HashSet<String> = rows.iter().map(|p| clean(&p.entry_id)).collect();
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

/// One stored message by GUID.
pub async fn find_message(
    db: &Db,
    tenant_id: i64,
    guid: &str,
) -> Result<Option<StoredMessage>, StoreError> {
    let row = message_logs::Entity::find()
        .filter(message_logs::Column::TenantId.eq(tenant_id))
        .filter(message_logs::Column::MessageGuid.eq(guid))
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

/// Everything stored about a message besides its row, in the shape [`write_details`] takes
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
    for r in conn.query_all_raw(sql.statement()).await? {
        let run_pk: i64 = get(&r, "run_pk")?;
        let id: i64 = get(&r, "id")?;
        let properties = match get::<Option<String>>(&r, "properties")? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| DbErr::Json(format!("message_run_steps {id} properties: {e}")))?,
            None => BTreeMap::new(),
        };
        steps_of.entry(run_pk).or_default().push(RunStep {
            child_count: get(&r, "child_count")?,
            step_start: get(&r, "step_start")?,
            step_stop: get(&r, "step_stop")?,
            step_id: get(&r, "step_id")?,
            model_step_id: get(&r, "model_step_id")?,
            branch_id: get(&r, "branch_id")?,
            status: get(&r, "status")?,
            error: get(&r, "error")?,
            activity: get(&r, "activity")?,
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
    let value = clean(value);
    sql.push("SELECT DISTINCT h.message_id FROM custom_header_properties h WHERE h.tenant_id = ")
        .bind(tenant_id)
        .push(" AND h.name = ")
        .bind(clean(name))
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

/// How many messages of a tenant share `correlation_id`, as maintained by [`upsert_messages`].
pub async fn correlation_count(
    db: &Db,
    tenant_id: i64,
    correlation_id: &str,
) -> Result<Option<i64>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT message_count FROM correlations WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND correlation_id = ")
        .bind(clean(correlation_id));
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    /// The one-letter keys of the PostgreSQL page upsert carry the values of the columns the
    /// statement names for them, in the order SQLite binds them.
    #[test]
    fn json_keys_match_the_column_order() {
        let mut m = Message::new("guid-1", MessageStatus::Failed);
        let text = |name: &str| Some(format!("value of {name}"));
        m.correlation_id = text("correlation_id");
        m.application_message_id = text("application_message_id");
        m.application_message_type = text("application_message_type");
        m.predecessor_guid = text("predecessor_guid");
        m.log_start = Some(Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap());
        m.log_end = Some(Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 7).unwrap());
        m.sender = text("sender");
        m.receiver = text("receiver");
        m.iflow_id = text("iflow_id");
        m.iflow_name = text("iflow_name");
        m.artifact_type = text("artifact_type");
        m.package_id = text("package_id");
        m.package_name = text("package_name");
        m.custom_status = text("custom_status");
        m.log_level = text("log_level");
        m.alternate_web_link = text("alternate_web_link");
        m.transaction_id = text("transaction_id");
        m.archiving_status = text("archiving_status");
        m.origin_component_name = text("origin_component_name");
        m.local_component_name = text("local_component_name");
        m.previous_component_name = text("previous_component_name");

        let json = serde_json::to_value(JsonMessage::new(&m)).unwrap();
        let values = message_values(&m);
        let mut distinct = HashSet::new();
        for (i, (column, value)) in MESSAGE_COLUMNS.iter().zip(values).enumerate() {
            let got = &json[json_key(i).to_string()];
            let want = match value {
                Value::String(Some(s)) => serde_json::json!(s),
                Value::ChronoDateTimeUtc(Some(t)) => serde_json::json!(pg_ts(Some(t))),
                Value::BigInt(Some(n)) => serde_json::json!(n),
                other => panic!("{column}: unexpected {other:?}"),
            };
            assert_eq!(got, &want, "{column} (key {})", json_key(i));
            assert!(
                distinct.insert(want.to_string()),
                "{column} is not distinct"
            );
        }
        assert_eq!(json.as_object().unwrap().len(), MESSAGE_COLUMNS.len());

        // Absent values are left out; PostgreSQL reads a missing key as NULL.
        let bare = serde_json::to_value(JsonMessage::new(&Message::new(
            "g",
            MessageStatus::Completed,
        )))
        .unwrap();
        assert_eq!(bare.as_object().unwrap().len(), 2, "{bare}");
    }
}
