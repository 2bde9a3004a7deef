//! CSV export of the monitor's current filter (`GET /api/messages.csv`): the same query, scope
//! and masking as the list, streamed page by page in keyset order and capped at
//! `WEB_EXPORT_MAX_ROWS` rows (a last line says so when the cap cut the export).

use std::collections::HashMap;

use actix_web::web::{self, Bytes};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::Stream;
use store::repo::monitor::{self, MessageFilter, MessageRow, Sort};

use super::messages::{check_statuses, scope, tenant_names};
use crate::auth::Principal;
use crate::error::AppError;
use crate::query::MonitorQuery;
use crate::state::AppState;

/// The header line; times are UTC (RFC 3339), durations in milliseconds.
pub const COLUMNS: [&str; 16] = [
    "last_update_utc",
    "status",
    "custom_status",
    "iflow_id",
    "iflow_name",
    "package_id",
    "package_name",
    "tenant",
    "sender",
    "receiver",
    "duration_ms",
    "message_id",
    "correlation_id",
    "application_id",
    "started_utc",
    "sap_link",
];

/// Rows read per statement while streaming.
const CHUNK: u32 = 500;

/// An export ready to stream.
pub struct Export {
    /// The largest number of rows it writes.
    pub cap: u64,
    /// Tenants not searched by header value (their values are masked for the user), as on the
    /// page.
    pub masked_out: Vec<String>,
    pub body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, actix_web::Error>>>>,
}

/// Validate `q` as the list would (every problem names its field) and prepare the stream. The
/// paging parameters (`after`, `before`, `limit`) are ignored: an export starts at the top.
pub async fn export_csv(
    state: web::Data<AppState>,
    p: &Principal,
    q: &MonitorQuery,
) -> Result<Export, AppError> {
    let q = MonitorQuery {
        after: None,
        before: None,
        limit: None,
        ..q.clone()
    };
    let parsed = q.parse(Utc::now())?;
    let scope = scope(&state, p, &parsed).await?;
    let mut filter = parsed.filter.clone();
    filter.tenant_ids = scope.tenants.iter().map(|t| t.id).collect();
    check_statuses(&state, &filter).await?;
    let cap = state.cfg.export_max_rows;
    let names = tenant_names(&scope.visible);
    let body = rows_stream(state, filter, parsed.sort, names, cap);
    Ok(Export {
        cap,
        masked_out: scope.masked_out,
        body: Box::pin(body),
    })
}

struct Cursor {
    state: web::Data<AppState>,
    filter: MessageFilter,
    sort: Sort,
    names: HashMap<i64, String>,
    after: Option<String>,
    written: u64,
    cap: u64,
    /// Header not yet written / more pages to read.
    started: bool,
    done: bool,
}

fn rows_stream(
    state: web::Data<AppState>,
    filter: MessageFilter,
    sort: Sort,
    names: HashMap<i64, String>,
    cap: u64,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    let start = Cursor {
        state,
        filter,
        sort,
        names,
        after: None,
        written: 0,
        cap,
        started: false,
        done: false,
    };
    futures::stream::unfold(start, |mut c| async move {
        if c.done {
            return None;
        }
        if !c.started {
            c.started = true;
            return Some((Ok(Bytes::from(line(COLUMNS.iter().copied()))), c));
        }
        let left = c.cap - c.written;
        let want = u32::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        let page = match monitor::search(
            &c.state.db,
            &c.filter,
            c.sort,
            c.after.as_deref(),
            want.max(1),
        )
        .await
        {
            Ok(page) => page,
            Err(e) => {
                // Headers are sent already: all that is left is to end the body short.
                tracing::warn!(error = %e, "message export stopped");
                c.done = true;
                return Some((Err(crate::error::ApiError(AppError::from(e)).into()), c));
            }
        };
        let mut out = String::new();
        for r in &page.rows {
            out.push_str(&row(r, &c.names));
        }
        c.written += page.rows.len() as u64;
        c.after = page.next;
        if c.after.is_none() {
            c.done = true;
        } else if c.written >= c.cap {
            c.done = true;
            out.push_str(&format!(
                "# cut at {} messages (WEB_EXPORT_MAX_ROWS); more match: narrow the filter\n",
                c.cap
            ));
        }
        Some((Ok(Bytes::from(out)), c))
    })
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn row(r: &MessageRow, names: &HashMap<i64, String>) -> String {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let cells = [
        time(Some(r.log_end)),
        o(&r.status),
        o(&r.custom_status),
        o(&r.iflow_id),
        o(&r.iflow_name),
        o(&r.package_id),
        o(&r.package_name),
        names.get(&r.tenant_id).cloned().unwrap_or_default(),
        o(&r.sender),
        o(&r.receiver),
        r.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
        r.message_guid.clone(),
        o(&r.correlation_id),
        o(&r.application_message_id),
        time(r.log_start),
        o(&r.alternate_web_link),
    ];
    line(cells.iter().map(String::as_str))
}

/// One CSV line (RFC 4180, `\n` ends it).
fn line<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, c) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&cell(c));
    }
    out.push('\n');
    out
}

/// A cell: quoted when it holds a separator, quote or line break; a value a spreadsheet would
/// run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`, since every value
/// comes from the tenant.
fn cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(line(["a", "", "c"].into_iter()), "a,,c\n");
    }
}
