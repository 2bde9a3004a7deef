//! `/audit`: the audit log for admins, newest first, with filters and older pages.

use actix_web::{HttpResponse, web};
use maud::html;

use super::catalog::enc;
use super::layout::{self, Nav, opt};
use crate::auth::Principal;
use crate::error::PageResult;
use crate::service::audit::{AuditQuery, load};
use crate::state::AppState;

pub async fn audit_page(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<AuditQuery>,
) -> PageResult<HttpResponse> {
    let page = load(&state, &p, &q).await?;
    let base = &state.cfg.base;
    let value = |s: &Option<String>| s.clone().unwrap_or_default();
    // The same filters for the next page, with its `before`.
    let older = page.next_before.map(|b| {
        let mut link = format!("{base}/audit?before={b}");
        for (k, v) in [
            ("actor", &q.actor),
            ("action", &q.action),
            ("object_type", &q.object_type),
            ("object_id", &q.object_id),
            ("limit", &q.limit),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
                link.push_str(&format!("&{k}={}", enc(v)));
            }
        }
        link
    });
    let body = html! {
        h1 { "Audit log" }
        p.muted { "Who created, changed or deleted users, tokens, tenants (secrets only as \"changed\"), job settings and archives; the source is the client address the server saw." }
        form.filters.panel method="get" action={ (base) "/audit" } {
            label { "User" input name="actor" id="actor" value=(value(&q.actor)); }
            label { "Action" input name="action" id="action" placeholder="tenant.updated" value=(value(&q.action)); }
            label { "Object"
                select name="object_type" id="object_type" {
                    option value="" { "Any" }
                    @for t in ["user", "token", "tenant", "archive"] {
                        option value=(t) selected[q.object_type.as_deref() == Some(t)] { (t) }
                    }
                }
            }
            label { "Id" input name="object_id" id="object_id" value=(value(&q.object_id)); }
            button type="submit" { "Filter" }
        }
        @if page.items.is_empty() {
            p.muted { "No entries." }
        } @else {
            table id="audit" {
                thead { tr {
                    th { "Time" } th { "User" } th { "Source" } th { "Action" } th { "Object" } th { "Details" }
                } }
                tbody {
                    @for e in &page.items {
                        tr {
                            td { (layout::time(Some(e.at))) }
                            td { (e.actor) }
                            td { (opt(e.source.as_deref())) }
                            td { code { (e.action) } }
                            td { (e.object_type) " " (opt(e.object_id.as_deref())) @if let Some(n) = &e.object_name { " · " (n) } }
                            td { @if e.details.as_object().is_some_and(|o| !o.is_empty()) { code { (e.details.to_string()) } } }
                        }
                    }
                }
            }
        }
        @if let Some(link) = older {
            p { a href=(link) id="older" { "Older entries →" } }
        }
    };
    Ok(layout::page(&state, &p, Nav::Audit, "Audit log", body))
}
