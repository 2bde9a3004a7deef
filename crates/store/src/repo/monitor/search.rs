//! The message list: keyset pages on `(log_end, id)` with an opaque cursor.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone as _, Utc};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult};
use serde::{Deserialize, Serialize};

use super::MAX_PAGE;
use super::filter::{
    HEADER_PROBE_CAP, HeaderPlan, MessageFilter, Scope, header_plan, header_probe_sql,
    push_conditions,
};
use crate::connect::Db;
use crate::error::StoreError;
use crate::repo::{Sql, get};

/// Above this many visible tenants, [`search`] gives up the per-tenant merge (see there).
const MERGE_TENANTS: usize = 64;

/// Order of [`search`] results, on `(log_end, id)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sort {
    #[default]
    NewestFirst,
    OldestFirst,
}

impl Sort {
    fn tag(self) -> char {
        match self {
            Sort::NewestFirst => 'n',
            Sort::OldestFirst => 'o',
        }
    }

    pub(super) fn order_by(self, prefix: &str) -> String {
        let dir = match self {
            Sort::NewestFirst => "DESC",
            Sort::OldestFirst => "ASC",
        };
        format!("ORDER BY {prefix}log_end {dir}, {prefix}id {dir}")
    }
}

/// One message as the monitor lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, FromQueryResult)]
pub struct MessageRow {
    pub id: i64,
    pub tenant_id: i64,
    pub message_guid: String,
    pub correlation_id: Option<String>,
    pub application_message_id: Option<String>,
    pub iflow_id: Option<String>,
    pub iflow_name: Option<String>,
    pub package_id: Option<String>,
    pub package_name: Option<String>,
    pub status: Option<String>,
    pub custom_status: Option<String>,
    pub log_start: Option<DateTime<Utc>>,
    pub log_end: DateTime<Utc>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    pub duration_ms: Option<i64>,
    pub alternate_web_link: Option<String>,
    /// The message's error group: in [`search`] pages the group it was merged into, if so;
    /// in a detail's correlated list the group of its own fingerprint.
    pub error_group: Option<i64>,
}

const ROW_COLUMNS: [&str; 17] = [
    "id",
    "tenant_id",
    "message_guid",
    "correlation_id",
    "application_message_id",
    "iflow_id",
    "iflow_name",
    "package_id",
    "package_name",
    "status",
    "custom_status",
    "log_start",
    "log_end",
    "sender",
    "receiver",
    "duration_ms",
    "alternate_web_link",
];

pub(super) fn row_columns(prefix: &str) -> String {
    let mut cols = ROW_COLUMNS
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    // The group the message is counted in; search() names a merge target instead.
    cols.push_str(&format!(", {prefix}error_group_id AS error_group"));
    cols
}

/// One page of [`search`]; `next` is the cursor of the following (older, for
/// [`Sort::NewestFirst`]) page, `None` on the last; `prev` the cursor of the preceding (newer)
/// page for [`search_before`], `None` on the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePage {
    pub rows: Vec<MessageRow>,
    pub next: Option<String>,
    #[serde(default)]
    pub prev: Option<String>,
}

/// Which side of a cursor a page is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The rows after the cursor in the page's order (`after=`).
    After,
    /// The rows before it (`before=`): read in the opposite order, then turned round.
    Before,
}

/// Where a page ends: the last row's `(log_end, id)` and the order it was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    sort: Sort,
    log_end: DateTime<Utc>,
    id: i64,
}

impl Cursor {
    // Nanoseconds, not less: on SQLite the keyset compares the stored text, which keeps every
    // digit the timestamp had.
    fn encode(&self) -> String {
        let nanos = self.log_end.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let body = format!("1.{}.{nanos}.{}", self.sort.tag(), self.id);
        URL_SAFE_NO_PAD.encode(format!("{body}.{:08x}", checksum(&body)))
    }

    fn decode(s: &str, sort: Sort) -> Result<Self, StoreError> {
        let bad = |reason: &str| StoreError::InvalidArgument {
            field: "after",
            reason: reason.to_owned(),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad("not a cursor returned by a previous page"))?;
        let text = String::from_utf8(bytes).map_err(|_| bad("not a cursor"))?;
        let (body, sum) = text.rsplit_once('.').ok_or_else(|| bad("not a cursor"))?;
        if format!("{:08x}", checksum(body)) != sum {
            return Err(bad("the cursor was altered"));
        }
        let parts: Vec<&str> = body.split('.').collect();
        let [version, tag, nanos, id] = parts[..] else {
            return Err(bad("not a cursor"));
        };
        if version != "1" {
            return Err(bad("cursor from another version"));
        }
        if !tag.starts_with(sort.tag()) || tag.len() != 1 {
            return Err(bad("the cursor belongs to the other sort order"));
        }
        let nanos: i64 = nanos.parse().map_err(|_| bad("not a cursor"))?;
        let id: i64 = id.parse().map_err(|_| bad("not a cursor"))?;
        Ok(Self {
            sort,
            log_end: Utc.timestamp_nanos(nanos),
            id,
        })
    }
}

/// FNV-1a: detects an edited or truncated cursor. Not a signature; a forged cursor can only
/// move within rows the caller may see anyway.
fn checksum(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// One page of messages matching `filter`, in `sort` order, after the cursor `after` (from
/// the previous page's [`MessagePage::next`]). `limit` is clamped to `1..=`[`MAX_PAGE`].
///
/// A malformed or altered cursor, or one from the other sort order, is
/// [`StoreError::InvalidArgument`] with `field: "after"`.
///
/// One statement per page. With several visible tenants it merges per-tenant keyset scans
/// (`UNION ALL` of `LIMIT`ed branches), each walking `(tenant_id, log_end, id)` in order,
/// rather than sorting every matching row of all tenants.
///
/// A header filter is planned first ([`HEADER_PROBE_CAP`]): few matching headers are read as
/// ids, many are probed message by message (see `filter::HeaderPlan`).
pub async fn search(
    db: &Db,
    filter: &MessageFilter,
    sort: Sort,
    after: Option<&str>,
    limit: u32,
) -> Result<MessagePage, StoreError> {
    search_with_probe_cap(db, filter, sort, after, limit, HEADER_PROBE_CAP).await
}

/// [`search`] with another threshold between the two header plans: tests run every filter
/// through both (`0` always probes).
pub async fn search_with_probe_cap(
    db: &Db,
    filter: &MessageFilter,
    sort: Sort,
    after: Option<&str>,
    limit: u32,
    header_probe_cap: u64,
) -> Result<MessagePage, StoreError> {
    page(
        db,
        filter,
        sort,
        after,
        Side::After,
        limit,
        header_probe_cap,
    )
    .await
}

/// The page just before the cursor `before` (a page's [`MessagePage::prev`]) in `sort` order:
/// with [`Sort::NewestFirst`] the newer messages, paging back toward the first page. Rows come
/// in `sort` order; `prev` is `None` once no row precedes them, `next` leads back.
pub async fn search_before(
    db: &Db,
    filter: &MessageFilter,
    sort: Sort,
    before: &str,
    limit: u32,
) -> Result<MessagePage, StoreError> {
    page(
        db,
        filter,
        sort,
        Some(before),
        Side::Before,
        limit,
        HEADER_PROBE_CAP,
    )
    .await
}

async fn page(
    db: &Db,
    filter: &MessageFilter,
    sort: Sort,
    cursor: Option<&str>,
    side: Side,
    limit: u32,
    header_probe_cap: u64,
) -> Result<MessagePage, StoreError> {
    let cursor = cursor
        .filter(|a| !a.is_empty())
        .map(|a| Cursor::decode(a, sort))
        .transpose()?;
    let tenants = filter.visible_tenants();
    if tenants.is_empty() {
        return Ok(MessagePage {
            rows: Vec::new(),
            next: None,
            prev: None,
        });
    }
    // Before the cursor is after it in the opposite order; the rows are turned round below.
    let read = match (side, sort) {
        (Side::After, s) => s,
        (Side::Before, Sort::NewestFirst) => Sort::OldestFirst,
        (Side::Before, Sort::OldestFirst) => Sort::NewestFirst,
    };
    let limit = limit.clamp(1, MAX_PAGE);
    let fetch = i64::from(limit) + 1;
    let header = header_plan(db.conn(), &tenants, filter, header_probe_cap).await?;
    let sql = search_sql(
        db.db_backend(),
        filter,
        &tenants,
        read,
        cursor,
        fetch,
        &header,
    );
    let mut rows = MessageRow::find_by_statement(sql.statement())
        .all(db.conn())
        .await?;
    crate::repo::error_groups::follow_merges(
        db.conn(),
        rows.iter_mut().map(|r| &mut r.error_group),
    )
    .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let at = |r: &MessageRow| {
        Cursor {
            sort,
            log_end: r.log_end,
            id: r.id,
        }
        .encode()
    };
    Ok(match side {
        Side::After => MessagePage {
            next: if more { rows.last().map(at) } else { None },
            // Rows preceded the cursor: the page they were on.
            prev: if cursor.is_some() {
                rows.first().map(at)
            } else {
                None
            },
            rows,
        },
        Side::Before => {
            rows.reverse();
            MessagePage {
                prev: if more { rows.first().map(at) } else { None },
                // The cursor's own row and what follows it.
                next: rows.last().map(at),
                rows,
            }
        }
    })
}

/// The statement of one [`search`] page (`fetch` rows) over the visible `tenants`.
fn search_sql(
    backend: DbBackend,
    filter: &MessageFilter,
    tenants: &[i64],
    sort: Sort,
    cursor: Option<Cursor>,
    fetch: i64,
    header: &HeaderPlan,
) -> Sql {
    let mut sql = Sql::new(backend);
    let branch = |sql: &mut Sql, scope: Scope<'_>| {
        sql.push("SELECT ")
            .push(&row_columns("m."))
            .push(" FROM message_logs m WHERE ");
        push_conditions(sql, scope, filter, true, header);
        if let Some(c) = cursor {
            let op = match sort {
                Sort::NewestFirst => "<",
                Sort::OldestFirst => ">",
            };
            sql.push(&format!(" AND (m.log_end, m.id) {op} ("))
                .bind(c.log_end)
                .push(", ")
                .bind(c.id)
                .push(")");
        }
        sql.push(" ")
            .push(&sort.order_by("m."))
            .push(" LIMIT ")
            .bind(fetch);
    };
    // An id list bounds the rows to sort already; repeating it in every branch would multiply
    // its parameters.
    let few = matches!(header, HeaderPlan::Ids(_));
    if tenants.len() == 1 || tenants.len() > MERGE_TENANTS || few {
        let scope = match tenants {
            [one] => Scope::One(*one),
            many => Scope::Many(many),
        };
        branch(&mut sql, scope);
    } else {
        for (i, t) in tenants.iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            sql.push("SELECT * FROM (");
            branch(&mut sql, Scope::One(*t));
            sql.push(&format!(") AS t{i}"));
        }
        sql.push(" ")
            .push(&sort.order_by(""))
            .push(" LIMIT ")
            .bind(fetch);
    }
    sql
}

/// How the database would run a [`search`] page of `limit` rows for `filter` (PostgreSQL
/// `EXPLAIN`, SQLite `EXPLAIN QUERY PLAN`), one plan line per line: what shows that each of the
/// monitor's filters is served by an index (`crates/store/tests/repo_monitor.rs` checks it).
/// On any connection, so a caller can set planner options in a transaction first.
pub async fn explain_search<C: ConnectionTrait>(
    conn: &C,
    filter: &MessageFilter,
    sort: Sort,
    limit: u32,
) -> Result<String, StoreError> {
    let tenants = filter.visible_tenants();
    let backend = conn.get_database_backend();
    let fetch = i64::from(limit.clamp(1, MAX_PAGE)) + 1;
    let header = header_plan(conn, &tenants, filter, HEADER_PROBE_CAP).await?;
    let (prefix, column) = match backend {
        DbBackend::Postgres => ("EXPLAIN ", "QUERY PLAN"),
        _ => ("EXPLAIN QUERY PLAN ", "detail"),
    };
    let mut statements = Vec::new();
    if filter.has_header_filter() && !tenants.is_empty() {
        // The header probe runs first; its plan shows the header index at work.
        for ids in [false, true] {
            statements.push(
                header_probe_sql(backend, &tenants, filter, HEADER_PROBE_CAP, ids).statement(),
            );
        }
    }
    statements.push(search_sql(backend, filter, &tenants, sort, None, fetch, &header).statement());
    let mut out = String::new();
    for mut stmt in statements {
        stmt.sql = format!("{prefix}{}", stmt.sql);
        for row in conn.query_all_raw(stmt).await? {
            out.push_str(&get::<String>(&row, column)?);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0).unwrap()
    }

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let c = Cursor {
            sort: Sort::NewestFirst,
            log_end: at(8, 15) + Duration::nanoseconds(123_456_789),
            id: 42,
        };
        let s = c.encode();
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Cursor::decode(&s, Sort::NewestFirst).unwrap(), c);
        let wrong_sort = Cursor::decode(&s, Sort::OldestFirst).unwrap_err();
        assert!(matches!(
            wrong_sort,
            StoreError::InvalidArgument { field: "after", .. }
        ));
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(&s).unwrap()).unwrap();
        let edited = URL_SAFE_NO_PAD.encode(text.replace(".42.", ".41."));
        for bad in [edited.as_str(), "", "!!", "bm9wZQ", &s[..s.len() - 2]] {
            assert!(
                matches!(
                    Cursor::decode(bad, Sort::NewestFirst),
                    Err(StoreError::InvalidArgument { field: "after", .. })
                ),
                "{bad:?}"
            );
        }
    }
}
