//! `/archives`: the archive files per tenant-day with their figures, filters, download and
//! delete (managers).

use actix_web::{HttpRequest, HttpResponse, web};
use domain::user::Role;
use maud::html;
use serde::Deserialize;
use store::repo::archives::ArchiveStatus;

use super::catalog::enc;
use super::layout::{self, CsrfOnly, Nav, opt, see_other, time};
use crate::access;
use crate::audit::{self, Change};
use crate::auth::Principal;
use crate::error::PageResult;
use crate::service::archives::{ArchivesQuery, delete_archive, download_archive, load};
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(flatten)]
    pub filter: ArchivesQuery,
    /// Set by the redirect after a delete: the archive's day.
    pub deleted: Option<String>,
}

pub async fn archives_page(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<PageQuery>,
) -> PageResult<HttpResponse> {
    let parsed = q.filter.parse()?;
    let visible = access::visible_tenants(&state, &p).await?;
    let (rows, sums) = load(&state, &visible, &parsed).await?;
    let manager = p.user.role.allows(Role::Manager);
    let base = &state.cfg.base;
    let day = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let body = html! {
        h1 { "Archives" }
        @if let Some(d) = q.deleted.as_deref().filter(|s| !s.is_empty()) {
            div.alert.ok role="status" { "The archive file of " (d) " was deleted; its row stays as a record." }
        }
        div.panel id="archive-summary" {
            h2 { "Per tenant" }
            @if sums.is_empty() {
                p.muted { "Nothing has been archived yet. The archiver writes a file per tenant and day once messages are older than the tenant's archive setting." }
            } @else {
                table {
                    thead { tr {
                        th { "Tenant" } th.num { "Files" } th.num { "Size" } th.num { "Messages" }
                        th { "Days" } th.num { "Deleted files" } th.num { "In progress" }
                    } }
                    tbody {
                        @for s in &sums {
                            tr {
                                td { a href={ (base) "/archives?tenant=" (s.tenant_id) } { (s.tenant) } }
                                td.num { (layout::count(s.archived_files)) }
                                td.num { (layout::bytes(s.archived_bytes)) }
                                td.num { (layout::count(s.archived_messages)) }
                                td { @if let (Some(a), Some(b)) = (s.first_day, s.last_day) { (a) " – " (b) } @else { span.muted { "—" } } }
                                td.num { (layout::count(s.deleted_files)) }
                                td.num { (layout::count(s.writing)) }
                            }
                        }
                    }
                }
            }
        }
        form.filters.panel method="get" action={ (base) "/archives" } {
            label { "Tenant"
                select name="tenant" id="tenant" {
                    option value="" { "All tenants" }
                    @for t in &visible {
                        option value=(t.id) selected[parsed.tenant == Some(t.id)] { (t.settings.name) }
                    }
                }
            }
            label { "Status"
                select name="status" id="status" {
                    option value="" { "Any" }
                    @for s in [ArchiveStatus::Archived, ArchiveStatus::Writing, ArchiveStatus::Deleted] {
                        option value=(s.as_str()) selected[parsed.status == Some(s)] { (s.as_str()) }
                    }
                }
            }
            label { "From" input type="date" name="from" value=(day(parsed.from)); }
            label { "To" input type="date" name="to" value=(day(parsed.to)); }
            button type="submit" { "Apply" }
        }
        div.panel {
            @if rows.is_empty() {
                p.muted { "No archives match." }
            } @else {
                table id="archives" {
                    thead { tr {
                        th { "Day" } th { "Tenant" } th { "Status" } th.num { "Messages" } th.num { "Size" }
                        th { "Checksum (SHA-256)" } th { "Written" } th {}
                    } }
                    tbody {
                        @for a in &rows {
                            tr {
                                td { (a.day) }
                                td { (a.tenant) }
                                td {
                                    span.badge class=(match a.status.as_str() { "archived" => "s-ok", "writing" => "s-warn", _ => "" }) { (a.status) }
                                    @if let Some(e) = &a.error { div.muted title=(e) { "last run: " (e) } }
                                }
                                td.num { (layout::count(a.message_count)) }
                                td.num { (layout::bytes(a.size_bytes)) }
                                td { @if let Some(c) = &a.checksum { code title=(c) { (c.chars().take(12).collect::<String>()) "…" } } @else { (opt(None)) } }
                                td { (time(Some(a.created_at))) }
                                td {
                                    @if a.status == "archived" {
                                        a href={ (base) "/archives/" (a.id) "/download" } { "Download" }
                                        @if manager {
                                            form.inline method="post" action={ (base) "/archives/" (a.id) "/delete" }
                                                data-confirm={ "Delete the archive file of " (a.tenant) ", " (a.day) "? Its messages are gone from the database already." } {
                                                input type="hidden" name="csrf" value=(p.csrf());
                                                button.secondary type="submit" { "Delete" }
                                            }
                                        }
                                    } @else if let Some(d) = a.deleted_at {
                                        span.muted { "deleted " (time(Some(d))) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if rows.len() as u64 == parsed.limit {
                    p { a href={ (base) "/archives?" (next_page(&q.filter, parsed.offset + parsed.limit)) } { "Older archives →" } }
                }
            }
        }
    };
    Ok(layout::page(&state, &p, Nav::Archives, "Archives", body))
}

/// The same filters, from `offset` on.
fn next_page(q: &ArchivesQuery, offset: u64) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("tenant", &q.tenant),
        ("status", &q.status),
        ("from", &q.from),
        ("to", &q.to),
        ("limit", &q.limit),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
            parts.push(format!("{k}={}", enc(v)));
        }
    }
    parts.push(format!("offset={offset}"));
    parts.join("&")
}

pub async fn download(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> PageResult<HttpResponse> {
    Ok(download_archive(&state, &p, path.into_inner()).await?)
}

/// Delete an archive file (managers; [`delete_archive`] checks the role).
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    form: web::Form<CsrfOnly>,
) -> PageResult<HttpResponse> {
    p.check_csrf(&req, Some(&form.csrf))?;
    let row = delete_archive(&state, &p, path.into_inner()).await?;
    audit::record(&state, &req, &p, Change::archive("archive.deleted", &row)).await;
    Ok(see_other(format!(
        "{}?tenant={}&deleted={}",
        state.cfg.url("/archives"),
        row.tenant_id,
        row.day
    )))
}
