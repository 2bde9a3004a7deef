//! `/storage`: how the database grows (per table over time, and in total), and the archive
//! directories per tenant, from the storage snapshots of the metrics daemon. Managers and
//! admins (see `api::storage` for why); archive sizes only of tenants the user may see.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::charts::{self, Line};
use super::layout::{self, Nav, count, time};
use crate::auth::Principal;
use crate::error::PageResult;
use crate::service::storage::{StorageOut, load_storage, parse_days};
use crate::state::AppState;

/// Tables drawn as their own line; the rest are summed into "other tables".
const CHART_TABLES: usize = 6;

#[derive(Deserialize, Default)]
pub struct StoragePageQuery {
    pub days: Option<String>,
}

fn size(b: Option<i64>) -> String {
    b.map_or_else(|| "—".into(), layout::bytes)
}

/// Lines for the chart: the largest tables now, the others together, and the whole database.
fn growth_lines(s: &StorageOut) -> Vec<Line> {
    let top: Vec<&str> = s
        .tables
        .iter()
        .filter(|t| t.bytes.is_some())
        .take(CHART_TABLES)
        .map(|t| t.table.as_str())
        .collect();
    let mut by_name: BTreeMap<&str, Vec<(DateTime<Utc>, f64)>> = BTreeMap::new();
    let mut others: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    let mut database = Vec::new();
    for p in &s.history {
        let Some(bytes) = p.bytes else { continue };
        match p.kind.as_str() {
            "database" => database.push((p.taken_at, bytes as f64)),
            "table" if top.contains(&p.name.as_str()) => by_name
                .entry(p.name.as_str())
                .or_default()
                .push((p.taken_at, bytes as f64)),
            "table" => *others.entry(p.taken_at).or_default() += bytes as f64,
            _ => {}
        }
    }
    let mut lines = vec![Line {
        name: "database".into(),
        points: database,
    }];
    for name in top {
        if let Some(points) = by_name.remove(name) {
            lines.push(Line {
                name: name.to_string(),
                points,
            });
        }
    }
    if !others.is_empty() {
        lines.push(Line {
            name: "other tables".into(),
            points: others.into_iter().collect(),
        });
    }
    lines
}

fn tables_table(tables: &[crate::service::storage::TableOut]) -> Markup {
    html! {
        div.scroll { table {
            thead { tr { th { "Table" } th.num { "Size" } th.num { "Rows" } } }
            tbody {
                @for t in tables {
                    tr {
                        td { code { (t.table) } }
                        td.num { (size(t.bytes)) }
                        td.num { @match t.rows { Some(n) => (count(n)), None => "—" } }
                    }
                }
            }
        } }
    }
}

pub async fn storage_page(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<StoragePageQuery>,
) -> PageResult<HttpResponse> {
    let days = parse_days(q.days.as_deref())?;
    let s = load_storage(&state, &p, days).await?;
    let base = &state.cfg.base;
    let label = |t: DateTime<Utc>| {
        if days <= 2 {
            t.format("%d %H:%M").to_string()
        } else {
            t.format("%Y-%m-%d").to_string()
        }
    };
    let body = html! {
        h1 { "Storage" }
        form.filters.panel method="get" action={ (base) "/storage" } {
            label { "Days"
                select name="days" id="days" {
                    @for d in [1, 7, 30, 90, 365] {
                        option value=(d) selected[d == days] { (d) }
                    }
                }
            }
            button type="submit" { "Apply" }
        }
        @if s.taken_at.is_none() {
            div.panel id="storage-live" {
                p { "Measured just now: the history starts with the first hourly snapshot, taken by the metrics service shortly after it starts." }
            }
            div.panel id="tables" {
                h2 { "Tables" }
                (tables_table(&s.tables))
            }
        } @else {
            div.panel {
                div.grid {
                    div.card { div.label { "Database size" } div.value id="database-size" { (size(s.database_bytes)) } }
                    div.card { div.label { "Archives (your tenants)" } div.value { (size(Some(s.archives.iter().filter_map(|a| a.bytes).sum()))) } }
                    div.card { div.label { "Tables" } div.value { (count(s.tables.len() as i64)) } }
                }
                p.muted { "Measured " (time(s.taken_at)) "; measured again every hour (your operator may have chosen another interval)." }
            }
            div.panel {
                h2 { "Growth, last " (days) " days (UTC)" }
                (charts::lines(&growth_lines(&s), |v| layout::bytes(v as i64), label))
            }
            div.panel id="tables" {
                h2 { "Tables" }
                (tables_table(&s.tables))
                p.muted { "Sizes include indexes. Row counts are exact on SQLite and the statistics' estimate on PostgreSQL." }
            }
            div.panel id="archives" {
                h2 { "Archives" }
                @if s.archives.is_empty() {
                    p.muted { "No tenant you may see." }
                } @else {
                    table {
                        thead { tr { th { "Tenant" } th.num { "Archive directory" } } }
                        tbody {
                            @for a in &s.archives {
                                tr { td { (a.tenant) } td.num { (size(a.bytes)) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&state, &p, Nav::Storage, "Storage", body))
}
