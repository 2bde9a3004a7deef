//! The page upsert: what is stored for the page's GUIDs, then one `INSERT … ON CONFLICT DO UPDATE
//! … RETURNING` that rewrites a row only when it changed and is not older.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use domain::MessageStatus;
use domain::message::Message;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult};

use super::correlations::{CorrelationDelta, upsert_correlations};
use super::statement::{cow, upsert_statements};
use super::{Change, UpsertOutcome, UpsertedRow, again_after_deadlock, status_text};
use crate::connect::Db;
use crate::error::StoreError;
use crate::repo::rollup;
use crate::repo::{Sql, clean, get, max_params};

/// Look-up and upsert rounds of a page before it gives up on rows that keep being inserted
/// concurrently (see [`upsert_rows_in`]).
const UPSERT_ROUNDS: usize = 3;

/// What is stored for a GUID before the upsert.
#[derive(FromQueryResult)]
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
    let sanitized = sanitized(messages.iter());
    let refs: Vec<&Message> = sanitized.iter().map(|m| m.as_ref()).collect();
    let (out, counts) = upsert_rows_in(conn, tenant_id, &refs, &latest_per_guid(&refs)).await?;
    crate::repo::error_groups::group_page_in(conn, &super::write_page::changed_ids(&out)).await?;
    rollup::apply_count_changes_in(conn, tenant_id, &counts).await?;
    Ok(out)
}

/// The messages made storable ([`Message::sanitize`]): the ingest worker does it where it maps
/// CPI records, but every comparison here (GUIDs written against GUIDs looked up) relies on it,
/// so any other caller's messages are checked too. Copies only the rare message that needs it.
pub(super) fn sanitized<'a>(messages: impl Iterator<Item = &'a Message>) -> Vec<Cow<'a, Message>> {
    messages
        .map(|m| {
            if m.needs_sanitizing() {
                Cow::Owned(m.clone().sanitized())
            } else {
                Cow::Borrowed(m)
            }
        })
        .collect()
}

/// The copy of each GUID that a page's upsert writes, by index into `messages`, in order of
/// first appearance. PostgreSQL refuses to update a row twice in one statement, so a GUID
/// repeated within a page is written once: the copy with the latest `LogEnd`, later copies
/// winning ties.
pub(super) fn latest_per_guid<'a>(messages: &[&'a Message]) -> Winners<'a> {
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
pub(super) struct Winners<'a> {
    order: Vec<&'a str>,
    pub(super) index: HashMap<&'a str, usize>,
}

/// The upsert itself; the caller applies the returned rollup changes in the same transaction.
/// `winners` is [`latest_per_guid`] of `messages`.
pub(super) async fn upsert_rows_in<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    messages: &[&Message],
    winners: &Winners<'_>,
) -> Result<(UpsertOutcome, rollup::CountChanges), StoreError> {
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
    let mut counts = rollup::CountChanges::default();
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
fn count_message(counts: &mut rollup::CountChanges, m: &Message, n: i64) {
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
            Before::from_query_result(&row, "")?,
        );
    }
    Ok(())
}
