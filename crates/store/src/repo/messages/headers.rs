//! Custom headers of many messages in bulk (the page write and its tests).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use domain::limits;
use domain::message::CustomHeader;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use serde::Serialize;

use crate::connect::Db;
use crate::entity::custom_header_properties;
use crate::error::StoreError;
use crate::repo::{Bulk, Sql, delete_in, get, max_params};

/// Replace the custom headers of many messages at once (a list page's expanded headers go
/// through [`write_page`](super::write_page) instead, which needs no look-up). Each listed message ends up with
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

/// The headers of a page's messages inside [`write_page`](super::write_page)'s transaction: `inserted` messages are
/// new there (nothing to delete), `replaced` ones get theirs replaced. The upsert of the same
/// transaction holds both kinds of rows locked, so unlike [`replace_headers_bulk_in`] nothing is
/// looked up or locked here.
pub(super) async fn write_page_headers_in<C: ConnectionTrait>(
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
pub(super) async fn insert_headers<C: ConnectionTrait>(
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
                n: limits::header_name(&h.name),
                v: h.value.as_deref().map(limits::header_value),
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
        let value = h
            .value
            .as_deref()
            .map(|v| limits::header_value(v).into_owned());
        let prefix = value.as_deref().map(custom_header_properties::value_prefix);
        t.bind(*mid)
            .bind(*tid)
            .bind(limits::header_name(&h.name).into_owned())
            .bind(value)
            .bind(prefix);
    }) {
        conn.execute_raw(stmt).await?;
    }
    Ok(())
}
