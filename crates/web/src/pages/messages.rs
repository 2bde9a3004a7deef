//! The message monitor, a message's detail, and the payload viewer.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, DurationRound, Utc};
use maud::{Markup, html};
use store::repo::monitor::{self, Bucket, Facets, MessageRow};

use super::layout::{self, Nav, count, duration_ms, opt, status_badge, time};
use super::overview::enc;
use crate::api::messages::{load_detail, payload_for, run_query, tenant_names};
use crate::auth::Principal;
use crate::error::{AppError, PageResult};
use crate::query::{MonitorQuery, QUICK_RANGES};
use crate::state::AppState;

/// Statuses offered in the filter (others can be typed into the URL).
const STATUSES: [&str; 8] = [
    "COMPLETED",
    "FAILED",
    "RETRY",
    "ESCALATED",
    "PROCESSING",
    "CANCELLED",
    "DISCARDED",
    "ABANDONED",
];

/// Only http(s) links from a tenant become links (a `javascript:` URL would run on click).
pub fn external(url: Option<&str>) -> Option<&str> {
    url.map(str::trim).filter(|u| {
        let l = u.to_ascii_lowercase();
        l.starts_with("https://") || l.starts_with("http://")
    })
}

fn dt_local(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

fn facets_panel(base: &str, q: &MonitorQuery, f: &Facets) -> Markup {
    let link = |k: &str, v: Option<&str>| {
        format!("{base}/messages?{}", q.with(&[(k, v), ("after", None)]))
    };
    html! {
        aside.facets.panel {
            div { strong { (count(f.total)) @if !f.exact { "+" } } " messages" }
            @if !f.exact { div.muted { "Counted up to a limit; narrow the filter for exact counts." } }
            h3 { "Status" }
            ul {
                @if q.status.is_some() { li { a href=(link("status", None)) { "× any status" } } }
                @for s in &f.status {
                    li { a href=(link("status", Some(&s.value))) { (status_badge(Some(&s.label))) } span.muted { (count(s.count)) } }
                }
            }
            h3 { "iFlow" }
            ul {
                @if q.iflow.is_some() { li { a href=(link("iflow", None)) { "× any iFlow" } } }
                @for s in &f.iflow {
                    li { a href=(link("iflow", Some(&s.value))) title=(s.value) { (s.label) } span.muted { (count(s.count)) } }
                }
            }
        }
    }
}

fn filter_form(
    base: &str,
    q: &MonitorQuery,
    tenants: &[(i64, String)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    html! {
        div.quick {
            "Range: "
            @for (name, _) in QUICK_RANGES {
                a class=[(q.range.as_deref().unwrap_or(if q.from.is_none() { "24h" } else { "" }) == name).then_some("active")]
                  href={ (base) "/messages?" (q.with(&[("range", Some(name)), ("from", None), ("to", None), ("after", None)])) } { (name) }
            }
        }
        form.filters.panel method="get" action={ (base) "/messages" } id="filters" {
            @if tenants.len() > 1 {
                label { "Tenant" select name="tenant" {
                    option value="" { "All" }
                    @for (id, name) in tenants {
                        option value=(id) selected[q.tenant.as_deref() == Some(&id.to_string())] { (name) }
                    }
                } }
            } @else if let Some(t) = &q.tenant { input type="hidden" name="tenant" value=(t); }
            label { "From (UTC)" input type="datetime-local" name="from" value=(dt_local(from)); }
            label { "To (UTC)" input type="datetime-local" name="to" value=(dt_local(to)); }
            label { "Status" select name="status" id="f-status" {
                option value="" { "Any" }
                @for s in STATUSES { option value=(s) selected[q.status.as_deref() == Some(s)] { (s) } }
                @if let Some(cur) = q.status.as_deref().filter(|c| !STATUSES.contains(c)) {
                    option value=(cur) selected { (cur) }
                }
            } }
            label { "iFlow id" input name="iflow" value=(v(&q.iflow)) size="18"; }
            label { "Package id" input name="package" value=(v(&q.package)) size="14"; }
            label { "Header name" input name="header_name" id="f-header-name" value=(v(&q.header_name)) size="12"; }
            label { "Header value (* = prefix)" input name="header_value" id="f-header-value" value=(v(&q.header_value)) size="14"; }
            label { "Message id" input name="message_id" value=(v(&q.message_id)) size="20"; }
            label { "Correlation id" input name="correlation_id" value=(v(&q.correlation_id)) size="20"; }
            label { "Application id" input name="application_id" value=(v(&q.application_id)) size="14"; }
            label { "Sender" input name="sender" value=(v(&q.sender)) size="10"; }
            label { "Receiver" input name="receiver" value=(v(&q.receiver)) size="10"; }
            label { "Sort" select name="sort" {
                option value="newest" { "Newest first" }
                option value="oldest" selected[q.sort.as_deref() == Some("oldest")] { "Oldest first" }
            } }
            button type="submit" id="apply-filters" { "Apply" }
            a.button.secondary href={ (base) "/messages" } { "Reset" }
        }
    }
}

fn rows_table(
    base: &str,
    rows: &[MessageRow],
    names: &std::collections::HashMap<i64, String>,
    multi: bool,
) -> Markup {
    html! {
        table id="messages" {
            thead { tr {
                th { "Last update" } th { "Status" } th { "iFlow" }
                @if multi { th { "Tenant" } }
                th { "Sender → receiver" } th.num { "Duration" } th { "Message id" } th {}
            } }
            tbody {
                @for r in rows {
                    tr data-status=(r.status.as_deref().unwrap_or("")) {
                        td { (time(Some(r.log_end))) }
                        td { (status_badge(r.status.as_deref()))
                            @if let Some(c) = r.custom_status.as_deref().filter(|c| Some(*c) != r.status.as_deref()) { " " span.muted { (c) } } }
                        td.trunc title=(r.iflow_id.as_deref().unwrap_or("")) { (opt(r.iflow_name.as_deref().or(r.iflow_id.as_deref()))) }
                        @if multi { td { (names.get(&r.tenant_id).map(String::as_str).unwrap_or("?")) } }
                        td.trunc { (opt(r.sender.as_deref())) " → " (opt(r.receiver.as_deref())) }
                        td.num { (duration_ms(r.duration_ms)) }
                        td.mono { a href={ (base) "/messages/" (r.id) } { (r.message_guid) } }
                        td { @if let Some(u) = external(r.alternate_web_link.as_deref()) {
                            a href=(u) target="_blank" rel="noopener noreferrer" title="Open in SAP's monitor" { "SAP ↗" }
                        } }
                    }
                }
            }
        }
    }
}

pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<MonitorQuery>,
) -> PageResult<HttpResponse> {
    let base = &state.cfg.base;
    let q = q.into_inner();
    let listing = match run_query(&state, &p, &q).await {
        Ok(l) => l,
        Err(AppError::Invalid { fields, .. }) => {
            let body = html! {
                h1 { "Messages" }
                (layout::alert_errors(&fields))
                p { a href={ (base) "/messages" } { "Start over" } }
            };
            return Ok(layout::page(&state, &p, Nav::Messages, "Messages", body));
        }
        Err(e) => return Err(e.into()),
    };
    let all = &listing.scope.visible;
    let names = tenant_names(all);
    let tenant_opts: Vec<(i64, String)> = all
        .iter()
        .map(|t| (t.id, t.settings.name.clone()))
        .collect();
    let multi = listing.scope.tenants.len() > 1;
    // The chart covers the range in whole hours (or days beyond 4 days), from the rollup, for
    // the tenants the list searched (already checked for visibility).
    let span = listing.parsed.to - listing.parsed.from;
    let ids: Vec<i64> = listing.scope.tenants.iter().map(|t| t.id).collect();
    let chart = if span >= chrono::Duration::hours(2)
        && listing.parsed.after.is_none()
        && !ids.is_empty()
    {
        let (bucket, step, fmt) = if span > chrono::Duration::days(4) {
            (Bucket::Day, chrono::Duration::days(1), "%m-%d")
        } else {
            (Bucket::Hour, chrono::Duration::hours(1), "%d %H:00")
        };
        let points = monitor::volume_cached(
            &state.db,
            &ids,
            listing.parsed.from,
            listing.parsed.to,
            bucket,
            listing.parsed.filter.iflow_id.as_deref(),
            &state.facet_cache,
        )
        .await?;
        let mut buckets = Vec::new();
        let mut t = listing
            .parsed
            .from
            .duration_trunc(step)
            .unwrap_or(listing.parsed.from);
        while t < listing.parsed.to && buckets.len() < 400 {
            buckets.push(t);
            t += step;
        }
        Some(super::charts::volume(&points, &buckets, |t| {
            t.format(fmt).to_string()
        }))
    } else {
        None
    };
    let page = &listing.page;
    let body = html! {
        h1 { "Messages"
            span.right { label.muted { input type="checkbox" id="auto-refresh"; " refresh every 30 s" } }
        }
        (filter_form(base, &q, &tenant_opts, listing.parsed.from, listing.parsed.to))
        @if !listing.scope.masked_out.is_empty() {
            div.alert.info { "Not searched by header value (values are masked for you): " (listing.scope.masked_out.join(", ")) }
        }
        @if let Some(c) = chart { div.panel { (c) } }
        div.layout {
            @if let Some(f) = &listing.facets { (facets_panel(base, &q, f)) } @else { aside.facets.panel { p.muted { "Counts are shown on the first page." } } }
            div {
                @if page.rows.is_empty() {
                    div.panel id="no-messages" { "No messages match these filters in this time range." }
                } @else {
                    div.scroll { (rows_table(base, &page.rows, &names, multi)) }
                }
                div.pager {
                    @if listing.parsed.after.is_some() {
                        a href={ (base) "/messages?" (q.with(&[("after", None)])) } { "⟲ First page" }
                    }
                    @if let Some(next) = &page.next {
                        a.button id="next-page" href={ (base) "/messages?" (q.with(&[("after", Some(next))])) } { "Older →" }
                    }
                }
            }
        }
    };
    Ok(layout::page(&state, &p, Nav::Messages, "Messages", body))
}

pub async fn detail(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> PageResult<HttpResponse> {
    let base = &state.cfg.base;
    let (out, tenant) = load_detail(&state, &p, path.into_inner()).await?;
    let d = &out.detail;
    let m = &d.message;
    let masked = !out.masked.is_empty();
    let field = |k: &str, v: Markup| html! { dt { (k) } dd { (v) } };
    let body = html! {
        h1 {
            "Message " span.mono { (m.message_guid) } " " (status_badge(m.status.as_deref()))
        }
        @if masked {
            div.alert.info id="masked-note" { "Custom header values and payloads of this tenant are masked for your role." }
        }
        div.panel {
            dl.kv {
                (field("Tenant", html! { a href={ (base) "/messages?tenant=" (tenant.id) } { (out.tenant) } }))
                (field("iFlow", html! { (opt(m.iflow_name.as_deref())) " " span.muted.mono { (opt(m.iflow_id.as_deref())) } }))
                (field("Package", html! { (opt(m.package_name.as_deref().or(m.package_id.as_deref()))) }))
                (field("Status", html! { (status_badge(m.status.as_deref()))
                    @if let Some(c) = m.custom_status.as_deref().filter(|c| Some(*c) != m.status.as_deref()) { " " (c) } }))
                (field("Started", time(m.log_start)))
                (field("Last update", time(m.log_end)))
                (field("Duration", html! { (duration_ms(m.duration_ms)) }))
                (field("Sender", opt(m.sender.as_deref())))
                (field("Receiver", opt(m.receiver.as_deref())))
                (field("Correlation id", html! {
                    @if let Some(c) = &m.correlation_id {
                        a.mono href={ (base) "/messages?tenant=" (tenant.id) "&range=30d&correlation_id=" (enc(c)) } { (c) }
                    } @else { (opt(None)) }
                }))
                (field("Application id", opt(m.application_message_id.as_deref())))
                (field("Application type", opt(m.application_message_type.as_deref())))
                (field("Predecessor", opt(m.predecessor_message_guid.as_deref())))
                (field("Log level", opt(m.log_level.as_deref())))
                (field("Transaction id", opt(m.transaction_id.as_deref())))
                (field("Archiving status", opt(m.archiving_status.as_deref())))
                (field("Components", html! { (opt(m.origin_component_name.as_deref())) " / " (opt(m.local_component_name.as_deref())) }))
                (field("SAP monitor", html! {
                    @if let Some(u) = external(m.alternate_web_link.as_deref()) {
                        a href=(u) target="_blank" rel="noopener noreferrer" id="sap-link" { "Open in SAP's message monitor ↗" }
                    } @else { (opt(None)) }
                }))
                (field("Details fetched", time(m.details_fetched_at)))
            }
        }
        @if let Some(e) = &d.error {
            div.panel {
                h2 { "Error" @if let Some(t) = &e.error_type { " " span.muted { (t) } } }
                pre id="error-text" { (e.text.as_deref().unwrap_or("(no error text)")) }
            }
        }
        div.panel {
            h2 { "Custom headers (" (d.headers.len()) ")" }
            @if d.headers.is_empty() { p.muted { "None." } } @else {
                table id="headers" {
                    thead { tr { th { "Name" } th { "Value" } } }
                    tbody { @for h in &d.headers { tr {
                        td.mono { (h.name) }
                        td.mono { @if masked { span.masked { (h.value.as_deref().unwrap_or("")) } } @else { (opt(h.value.as_deref())) } }
                    } } }
                }
            }
        }
        div.panel {
            h2 { "Payloads (" (d.payloads.len()) ")" }
            @if d.payloads.is_empty() { p.muted { "None stored (see the tenant's payload strategy)." } } @else {
                table id="payloads" {
                    thead { tr { th { "Entry" } th { "Stored at" } th { "Type" } th.num { "Size" } th { "State" } th {} } }
                    tbody { @for pl in &d.payloads { tr {
                        td.mono { (pl.entry_id) }
                        td { (time(pl.entry_timestamp)) }
                        td { (opt(pl.content_type.as_deref())) }
                        td.num { @if let Some(s) = pl.size { (layout::bytes(s)) } }
                        td { (status_badge(Some(&pl.status))) @if let Some(e) = &pl.error { " " span.muted { (e) } } }
                        td.nowrap {
                            @if pl.has_content && !masked {
                                a href={ (base) "/messages/" (m.id) "/payloads/" (pl.id) } { "View" } " · "
                                a href={ (base) "/api/payloads/" (pl.id) } { "Download" }
                            } @else if masked { span.masked { "masked" } }
                        }
                    } } }
                }
            }
        }
        @if !d.attachments.is_empty() {
            div.panel {
                h2 { "Attachments (" (d.attachments.len()) ")" }
                table {
                    thead { tr { th { "Name" } th { "Type" } th.num { "Size" } th { "State" } th {} } }
                    tbody { @for a in &d.attachments { tr {
                        td { (opt(a.name.as_deref())) }
                        td { (opt(a.content_type.as_deref())) }
                        td.num { @if let Some(s) = a.size { (layout::bytes(s)) } }
                        td { (status_badge(Some(&a.status))) }
                        td { @if a.has_content && !masked { a href={ (base) "/api/attachments/" (a.id) } { "Download" } } @else if masked { span.masked { "masked" } } }
                    } } }
                }
            }
        }
        div.panel {
            h2 { "Runs (" (d.runs.len()) ")" }
            @for r in &d.runs {
                h3 { "Run " span.mono { (r.run.run_id) } " " (status_badge(r.run.overall_state.as_deref())) " " (time(r.run.run_start)) " – " (time(r.run.run_stop)) }
                table {
                    thead { tr { th.num { "#" } th { "Step" } th { "Activity" } th { "Status" } th { "Start" } th { "Error" } } }
                    tbody { @for s in &r.run.steps { tr {
                        td.num { (s.child_count) }
                        td.mono { (opt(s.model_step_id.as_deref().or(s.step_id.as_deref()))) }
                        td { (opt(s.activity.as_deref())) }
                        td { (status_badge(s.status.as_deref())) }
                        td { (time(s.step_start)) }
                        td.trunc { (opt(s.error.as_deref())) }
                    } } }
                }
            }
        }
        @if !d.correlated.is_empty() {
            div.panel {
                h2 { "Correlated messages (" (d.correlated.len()) ")" }
                (rows_table(base, &d.correlated, &std::collections::HashMap::new(), false))
            }
        }
    };
    Ok(layout::page(&state, &p, Nav::Messages, "Message", body))
}

/// How a payload is shown: text (pretty JSON when it parses), or a note for binary content.
fn render_payload(content_type: Option<&str>, body: &[u8], limit: usize) -> Markup {
    let shown = &body[..body.len().min(limit)];
    let truncated = body.len() > limit;
    let text = match std::str::from_utf8(shown) {
        Ok(t) => Some(t.to_string()),
        // A cut in the middle of a character is still text.
        Err(e) if truncated && e.valid_up_to() + 4 >= shown.len() => {
            Some(String::from_utf8_lossy(&shown[..e.valid_up_to()]).into_owned())
        }
        Err(_) => None,
    };
    let is_json = content_type.is_some_and(|c| c.contains("json"))
        || text
            .as_deref()
            .is_some_and(|t| t.trim_start().starts_with(['{', '[']));
    html! {
        @if truncated {
            div.alert.info { "Showing the first " (layout::bytes(limit as i64)) " of " (layout::bytes(body.len() as i64)) "; download for the rest." }
        }
        @match text {
            Some(t) => {
                @let pretty = if is_json && !truncated {
                    serde_json::from_str::<serde_json::Value>(&t).ok().and_then(|v| serde_json::to_string_pretty(&v).ok())
                } else { None };
                pre id="payload-text" { (pretty.unwrap_or(t)) }
            }
            None => p.muted { "Binary content (" (layout::bytes(body.len() as i64)) "); download it to open it." }
        }
    }
}

pub async fn payload(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(i64, i64)>,
) -> PageResult<HttpResponse> {
    let base = &state.cfg.base;
    let (message_id, payload_id) = path.into_inner();
    let (meta, body) = payload_for(&state, &p, payload_id).await?;
    if meta.message_id != message_id {
        return Err(AppError::not_found("payload").into());
    }
    let html = html! {
        h1 { "Payload " span.mono { (meta.entry_id) } }
        p {
            a href={ (base) "/messages/" (message_id) } { "← Back to the message" } " · "
            a href={ (base) "/api/payloads/" (meta.id) } { "Download" } " · "
            (opt(meta.content_type.as_deref())) " · " (layout::bytes(body.len() as i64))
        }
        div.panel { (render_payload(meta.content_type.as_deref(), &body, state.cfg.payload_view_bytes)) }
    };
    Ok(layout::page(&state, &p, Nav::Messages, "Payload", html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_links_from_a_tenant_become_links() {
        assert_eq!(
            external(Some("https://x.example/a")),
            Some("https://x.example/a")
        );
        assert_eq!(external(Some(" JavaScript:alert(1)")), None);
        assert_eq!(external(Some("data:text/html,<x>")), None);
        assert_eq!(external(None), None);
    }

    #[test]
    fn payloads_are_text_never_markup() {
        let html =
            render_payload(Some("text/html"), b"<script>alert(1)</script>", 1000).into_string();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        let json = render_payload(Some("application/json"), br#"{"a":1}"#, 1000).into_string();
        assert!(json.contains("&quot;a&quot;: 1"), "{json}");
        let bin = render_payload(None, &[0xff, 0xfe, 0x00], 1000).into_string();
        assert!(bin.contains("Binary content"));
        let cut = render_payload(None, b"abcdef", 3).into_string();
        assert!(
            cut.contains("Showing the first") && cut.contains(">abc<"),
            "{cut}"
        );
    }
}
