//! A message's page (`/messages/{id}`, also by `MessageGuid`) and the payload viewer.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::layout::{self, Nav, message_duration, opt, status_badge, time};
use super::messages::{external, rows_table};
use super::overview::enc;
use crate::auth::Principal;
use crate::error::{AppError, PageResult};
use crate::service::messages::{find_by_guid, load_detail, payload_for};
use crate::state::AppState;

#[derive(serde::Deserialize, Default)]
pub struct DetailQuery {
    /// The query string of the list the message was opened from.
    back: Option<String>,
}

/// `/messages/{id}`: IntegraMon's numeric id, or a CPI `MessageGuid` (a permalink an operator
/// can paste); anything that names no visible message is a 404 page.
pub async fn detail(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
    q: web::Query<DetailQuery>,
) -> PageResult<HttpResponse> {
    let raw = path.into_inner();
    let id = match raw.parse::<i64>() {
        Ok(id) => id,
        Err(_) => match find_by_guid(&state, &p, raw.trim()).await? {
            Ok(id) => id,
            Err(0) => return Err(AppError::not_found(format!("no message {raw:?}")).into()),
            // The same MessageGuid in several tenants: the list shows them all.
            Err(_) => {
                return Ok(layout::see_other(format!(
                    "{}/messages?message_id={}",
                    state.cfg.base,
                    enc(raw.trim())
                )));
            }
        },
    };
    // Only ever a query string of the monitor (prefixed here), never a URL of its own: no
    // open redirect.
    let back = q
        .into_inner()
        .back
        .filter(|b| b.len() <= 4000 && !b.contains(['\r', '\n']));
    detail_of(state, p, id, back).await
}

async fn detail_of(
    state: web::Data<AppState>,
    p: Principal,
    id: i64,
    back: Option<String>,
) -> PageResult<HttpResponse> {
    let base = &state.cfg.base;
    let (out, tenant) = load_detail(&state, &p, id).await?;
    let d = &out.detail;
    let m = &d.message;
    let masked = !out.masked.is_empty();
    let field = |k: &str, v: Markup| html! { dt { (k) } dd { (v) } };
    let body = html! {
        p.back {
            @if let Some(b) = &back {
                a id="back-to-list" href={ (base) "/messages?" (b) } { "← Back to the list" }
            } @else {
                a id="back-to-list" href={ (base) "/messages?tenant=" (tenant.id) } { "← Messages of " (out.tenant) }
            }
        }
        h1 {
            "Message " span.mono { (m.message_guid) } " "
            button.secondary.copy type="button" data-copy=(m.message_guid) title="Copy the message id" { "Copy" }
            " " (status_badge(m.status.as_deref()))
        }
        @if masked {
            div.alert.info id="masked-note" { "Custom header values and payloads of this tenant are masked for your role." }
        }
        div.panel {
            dl.kv {
                (field("Tenant", html! { a href={ (base) "/messages?tenant=" (tenant.id) } { (out.tenant) } }))
                (field("iFlow", html! {
                    @if let Some(iflow) = m.iflow_id.as_deref() {
                        a id="iflow-link" href={ (base) "/messages?tenant=" (tenant.id) "&range=24h&iflow=" (enc(iflow)) } title="This iFlow's messages" {
                            (m.iflow_name.as_deref().unwrap_or(iflow))
                        }
                        " " span.muted.mono { (iflow) }
                    } @else { (opt(m.iflow_name.as_deref())) }
                }))
                (field("Package", html! { (opt(m.package_name.as_deref().or(m.package_id.as_deref()))) }))
                (field("Status", html! { (status_badge(m.status.as_deref()))
                    @if let Some(c) = m.custom_status.as_deref().filter(|c| Some(*c) != m.status.as_deref()) { " " (c) } }))
                @if let Some(g) = m.error_group_id {
                    (field("Error group", html! { a href={ (base) "/errors/" (g) } id="error-group-link" { "group " (g) } }))
                }
                (field("Started", time(m.log_start)))
                (field("Last update", time(m.log_end)))
                (field("Duration", html! { (message_duration(m.status.as_deref(), m.duration_ms)) }))
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
        @if let Some(f) = &d.details_failure {
            div.alert.error id="details-failure" {
                "The details of this message could not be collected (" (f.attempts) " tries, last "
                (time(Some(f.last_failed_at))) "; "
                @if let Some(next) = f.next_attempt_at { "next try " (time(Some(next))) } @else { "no further automatic tries" }
                "): " (f.error)
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
                        td.mono {
                            @if masked { span.masked { (h.value.as_deref().unwrap_or("")) } }
                            @else if let Some(v) = h.value.as_deref().filter(|v| !v.is_empty() && !v.ends_with('*')) {
                                // The other messages with this value (a header value search).
                                a.header-value href={ (base) "/messages?tenant=" (tenant.id) "&range=7d&header_name=" (enc(&h.name)) "&header_value=" (enc(v)) } { (v) }
                            } @else { (opt(h.value.as_deref())) }
                        }
                    } } }
                }
            }
        }
        div.panel {
            h2 { "Adapter attributes (" (d.adapter_attributes.len()) ")" }
            @if d.adapter_attributes.is_empty() { p.muted { "None reported." } } @else {
                div.scroll { table id="adapter-attributes" {
                    thead { tr { th { "Adapter" } th { "Name" } th { "Value" } th { "Adapter message id" } } }
                    tbody { @for a in &d.adapter_attributes { tr {
                        td { (opt(a.adapter_id.as_deref())) }
                        td.mono { (a.name) }
                        td.mono { (opt(a.value.as_deref())) }
                        td.mono { (opt(a.adapter_message_id.as_deref())) }
                    } } }
                } }
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
            // Newest run first and open; older runs folded.
            @for (i, r) in d.runs.iter().rev().enumerate() {
                details.run open[i == 0] {
                    summary { "Run " span.mono { (r.run.run_id) } " " (status_badge(r.run.overall_state.as_deref())) " " (time(r.run.run_start)) " – " (time(r.run.run_stop)) }
                    div.scroll { table {
                        thead { tr { th.num { "#" } th { "Step" } th { "Activity" } th { "Status" } th { "Start" } th.num { "Took" } th { "Error" } } }
                        tbody { @for (j, s) in r.run.steps.iter().enumerate() { tr {
                            td.num { (s.child_count) }
                            td.mono { (opt(s.model_step_id.as_deref().or(s.step_id.as_deref()))) }
                            td { (opt(s.activity.as_deref())) }
                            td { (status_badge(s.status.as_deref())) }
                            td { (time(s.step_start)) }
                            td.num { (step_took(s, r.run.steps.get(j + 1), r.run.run_stop)) }
                            td.trunc { (opt(s.error.as_deref())) }
                        } } }
                    } }
                }
            }
        }
        @if !d.correlated.is_empty() {
            div.panel {
                h2 { "Correlated messages (" (d.correlated.len()) ")" }
                (rows_table(base, &d.correlated, &std::collections::HashMap::new(), false, None))
            }
        }
    };
    Ok(layout::page(&state, &p, Nav::Messages, "Message", body))
}

/// How long a step took: its own stop when CPI gave one, else until the next step started (the
/// last step: until the run stopped).
fn step_took(
    s: &domain::message::RunStep,
    next: Option<&domain::message::RunStep>,
    run_stop: Option<DateTime<Utc>>,
) -> String {
    let end = s
        .step_stop
        .or_else(|| next.and_then(|n| n.step_start))
        .or(run_stop);
    match (s.step_start, end) {
        (Some(a), Some(b)) if b >= a => layout::duration_ms(Some((b - a).num_milliseconds())),
        _ => "—".into(),
    }
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
