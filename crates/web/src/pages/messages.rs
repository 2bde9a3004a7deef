//! The message monitor (`/messages`) and the header's id search (`/find`); a message's page is
//! `message`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, DurationRound, Utc};
use domain::tenant::FieldError;
use maud::{Markup, html};
use store::repo::monitor::{Bucket, FacetCount, Facets, MessageRow};

use super::layout::{self, Nav, count, field_error, message_duration, opt, status_badge, time};
use super::overview::enc;
use crate::auth::Principal;
use crate::error::{AppError, PageResult};
use crate::query::{MonitorQuery, MultiQuery, QUICK_RANGES};
use crate::service::messages::{
    Backfill, Found, KNOWN_STATUSES, find_id, history_loading, list_volume, run_query, tenant_names,
};
use crate::state::AppState;

/// Only http(s) links from a tenant become links (a `javascript:` URL would run on click).
pub fn external(url: Option<&str>) -> Option<&str> {
    url.map(str::trim).filter(|u| {
        let l = u.to_ascii_lowercase();
        l.starts_with("https://") || l.starts_with("http://")
    })
}

/// A `datetime-local` value with its seconds (the input has `step="1"`): a range typed back
/// in must not lose them.
fn dt_local(t: DateTime<Utc>) -> String {
    crate::zone::current().format(t, "%Y-%m-%dT%H:%M:%S")
}

/// "History still loading" for the tenants whose first collection or cold backfill runs:
/// until it ends, counts and charts miss what is not collected yet.
pub fn backfill_note(base: &str, loading: &[Backfill]) -> Markup {
    html! {
        @if !loading.is_empty() {
            div.alert.info id="history-loading" {
                strong { "History still loading." } " Counts and charts are incomplete until it ends:"
                ul {
                    @for b in loading {
                        li {
                            a href={ (base) "/tenants/" (b.tenant_id) } { (b.tenant) } ": "
                            @if b.first_collection { "the first collection of recent messages is running" }
                            @if b.first_collection && b.from.is_some() { "; " }
                            @if let (Some(from), Some(until)) = (b.from, b.until) {
                                "older messages from " (time(Some(from))) " are collected "
                                @if let Some(r) = b.reached { "up to " (time(Some(r))) } @else { "from the start" }
                                " (of " (time(Some(until))) ")"
                            }
                        }
                    }
                }
            }
        }
    }
}

fn facets_panel(base: &str, q: &MonitorQuery, f: &Facets) -> Markup {
    let link = |k: &str, v: Option<&str>| {
        format!(
            "{base}/messages?{}",
            q.with(&[(k, v), ("after", None), ("before", None)])
        )
    };
    html! {
        aside.facets.panel {
            div { strong { (count(f.total)) @if !f.exact { "+" } } " " (if f.total == 1 && f.exact { "message" } else { "messages" }) }
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

/// The filter form. A relative range (`range=24h`) stays relative: the time inputs stay empty
/// and a hidden `range` goes along, so Apply with auto-refresh keeps showing new messages; typed
/// times make it absolute. Problems show next to their field with the input kept.
fn filter_form(
    base: &str,
    q: &MonitorQuery,
    tenants: &[(i64, String)],
    iflows: &[FacetCount],
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    errors: &[FieldError],
) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let split = |o: &Option<String>| -> Vec<String> {
        o.as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let picked_statuses = split(&q.status);
    let picked_tenants: Vec<i64> = split(&q.tenant)
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect();
    // The known statuses, and any other one asked for (statuses are an open set).
    let mut status_opts: Vec<String> = KNOWN_STATUSES.iter().map(|s| (*s).to_owned()).collect();
    for p in &picked_statuses {
        if !status_opts.iter().any(|s| s.eq_ignore_ascii_case(p)) {
            status_opts.push(p.clone());
        }
    }
    let absolute = q.from.as_deref().is_some_and(|f| !f.trim().is_empty());
    let relative = if absolute {
        None
    } else {
        Some(q.range.as_deref().unwrap_or("24h"))
    };
    // An absolute range is shown as entered when it did not parse, else normalised.
    let shown = |raw: &Option<String>, t: Option<DateTime<Utc>>| match (raw.as_deref(), t) {
        (Some(r), _) if errors.iter().any(|e| e.field == "from" || e.field == "to") => {
            r.to_string()
        }
        (Some(r), Some(t)) if !r.trim().is_empty() => dt_local(t),
        (Some(r), None) => r.to_string(),
        _ => String::new(),
    };
    let err = |field: &str| field_error(errors, field);
    let zone = crate::zone::current().name();
    html! {
        div.quick {
            "Range: "
            @for (name, _) in QUICK_RANGES {
                a class=[(relative == Some(name)).then_some("active")]
                  href={ (base) "/messages?" (q.with(&[("range", Some(name)), ("from", None), ("to", None), ("after", None), ("before", None)])) } { (name) }
            }
            @if let (Some(r), Some((from, _))) = (relative, window) {
                span.muted id="range-note" { " Last " (r) ", live (" (time(Some(from))) " – now); type times below for a fixed range." }
            }
        }
        form.filters.panel method="get" action={ (base) "/messages" } id="filters" {
            @if let Some(r) = relative { input type="hidden" name="range" value=(r); }
            @if tenants.len() > 1 {
                // Several tenants at once, as the statuses: each a checkbox, none = all.
                fieldset.multi id="f-tenants" { legend { "Tenants" }
                    @for (id, name) in tenants {
                        label.check { input type="checkbox" name="tenant" value=(id) checked[picked_tenants.contains(id)]; (name) }
                    }
                    (err("tenant"))
                }
            } @else if let Some(t) = &q.tenant { input type="hidden" name="tenant" value=(t); }
            label { "From (" (zone) ")" input type="datetime-local" step="1" name="from" id="f-from" value=(shown(&q.from, window.filter(|_| absolute).map(|w| w.0))); (err("from")) }
            label { "To (" (zone) ")" input type="datetime-local" step="1" name="to" id="f-to" value=(shown(&q.to, window.filter(|_| absolute || q.to.is_some()).map(|w| w.1))); (err("to")) }
            fieldset.multi id="f-status" { legend { "Status" }
                @for s in &status_opts {
                    label.check { input type="checkbox" name="status" value=(s) checked[picked_statuses.iter().any(|p| p.eq_ignore_ascii_case(s))]; (s) }
                }
                (err("status"))
            }
            // The iFlow picker: type an id or a name; the list offers the range's iFlows with
            // their counts (the value sent is the id).
            label { "iFlow" input name="iflow" id="f-iflow" list="iflow-options" value=(v(&q.iflow)) size="18" autocomplete="off"; (err("iflow")) }
            datalist id="iflow-options" {
                @for o in iflows {
                    option value=(o.value) { (o.label) " (" (count(o.count)) ")" }
                }
            }
            label { "Package id" input name="package" value=(v(&q.package)) size="14"; (err("package")) }
            label { "Header name" input name="header_name" id="f-header-name" value=(v(&q.header_name)) size="12"; (err("header_name")) }
            label { "Header value (* = prefix)" input name="header_value" id="f-header-value" value=(v(&q.header_value)) size="14"; (err("header_value")) }
            label { "Message id" input name="message_id" value=(v(&q.message_id)) size="20"; (err("message_id")) }
            label { "Correlation id" input name="correlation_id" value=(v(&q.correlation_id)) size="20"; (err("correlation_id")) }
            label { "Application id" input name="application_id" value=(v(&q.application_id)) size="14"; (err("application_id")) }
            label { "Sender" input name="sender" value=(v(&q.sender)) size="10"; (err("sender")) }
            label { "Receiver" input name="receiver" value=(v(&q.receiver)) size="10"; (err("receiver")) }
            @if let Some(g) = &q.error_group { input type="hidden" name="error_group" value=(g); }
            label { "Sort" select name="sort" {
                option value="newest" { "Newest first" }
                option value="oldest" selected[q.sort.as_deref() == Some("oldest")] { "Oldest first" }
            } (err("sort")) }
            label { "Per page" select name="limit" id="f-limit" {
                @for n in [50u32, 100, 200, 500] {
                    option value=(n) selected[q.limit.unwrap_or(crate::query::DEFAULT_LIMIT) == n] { (n) }
                }
            } (err("limit")) }
            button type="submit" id="apply-filters" { "Apply" }
            a.button.secondary href={ (base) "/messages" } { "Reset" }
        }
    }
}

/// The message rows; with `back` (the list's query string) each message page links back to
/// that list.
pub(super) fn rows_table(
    base: &str,
    rows: &[MessageRow],
    names: &std::collections::HashMap<i64, String>,
    multi: bool,
    back: Option<&str>,
) -> Markup {
    let back = back
        .map(|b| format!("?back={}", enc(b)))
        .unwrap_or_default();
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
                        td.num { (message_duration(r.status.as_deref(), r.duration_ms)) }
                        td.mono { a href={ (base) "/messages/" (r.id) (back) } { (r.message_guid) } }
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
    q: MultiQuery<MonitorQuery>,
) -> PageResult<HttpResponse> {
    let base = &state.cfg.base;
    let q = q.into_inner();
    let listing = match run_query(&state, &p, &q).await {
        Ok(l) => l,
        Err(AppError::Invalid { fields, .. }) => {
            // The form again, as typed, with each problem next to its field.
            let visible = crate::access::visible_tenants(&state, &p).await?;
            let tenant_opts: Vec<(i64, String)> = visible
                .iter()
                .map(|t| (t.id, t.settings.name.clone()))
                .collect();
            let body = html! {
                h1 { "Messages" }
                (layout::alert_errors(&fields))
                (filter_form(base, &q, &tenant_opts, &[], None, &fields))
            };
            let mut res = layout::page(&state, &p, Nav::Messages, "Messages", body);
            if res.status().is_success() {
                *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            }
            return Ok(res);
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
    // The chart counts exactly what the list lists (its filters included), in whole hours (or
    // days beyond 4 days).
    let chart = match list_volume(&state, &listing).await? {
        Some((v, bucket)) => {
            let (step, fmt) = match bucket {
                Bucket::Day => (chrono::Duration::days(1), "%m-%d"),
                // Minutes too: in a zone with a half-hour offset an hour starts at :30.
                Bucket::Hour => (chrono::Duration::hours(1), "%d %H:%M"),
            };
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
            // A bar opens its hour (or day) of this list: the same filters, that absolute range.
            let bar_link = |t: DateTime<Utc>| {
                let (from, to) = (t.to_rfc3339(), (t + step).to_rfc3339());
                Some(format!(
                    "{base}/messages?{}",
                    q.with(&[
                        ("range", None),
                        ("from", Some(&from)),
                        ("to", Some(&to)),
                        ("after", None),
                        ("before", None)
                    ])
                ))
            };
            let caption = match bucket {
                Bucket::Hour => format!(
                    "Messages per hour, times in {}",
                    crate::zone::current().name()
                ),
                // The rollup's days are UTC days; a bar is labelled by its start in the zone.
                Bucket::Day => format!(
                    "Messages per day (UTC days), labelled in {}",
                    crate::zone::current().name()
                ),
            };
            Some((
                caption,
                super::charts::volume_linked(
                    &v.points,
                    &buckets,
                    |t| crate::zone::current().format(t, fmt),
                    bar_link,
                ),
                v.exact,
            ))
        }
        None => None,
    };
    let loading = history_loading(&state, &listing.scope.tenants, Utc::now()).await?;
    let page = &listing.page;
    let oldest_first = listing.parsed.sort == store::repo::monitor::Sort::OldestFirst;
    let body = html! {
        h1 { "Messages"
            span.right {
                // The same filter as CSV (streamed, capped; see docs/web.md).
                a.button.secondary id="export-csv" href={ (base) "/api/messages.csv?" (q.with(&[("after", None), ("before", None)])) } download { "Export CSV" }
                " "
                label.muted { input type="checkbox" id="auto-refresh"; " refresh every 30 s" }
            }
        }
        (filter_form(base, &q, &tenant_opts, &listing.iflows, Some((listing.parsed.from, listing.parsed.to)), &[]))
        @if let Some(g) = listing.parsed.filter.error_group {
            div.alert.info id="error-group-filter" {
                "Messages of " a href={ (base) "/errors/" (g) } { "error group " (g) } ". "
                a href={ (base) "/messages?" (q.with(&[("error_group", None), ("after", None), ("before", None)])) } { "Show all messages" }
            }
        }
        (backfill_note(base, &loading))
        @if listing.parsed.id_search {
            div.alert.info id="id-search-note" { "Searching by id in all time: the time range does not apply." }
        }
        @if !listing.scope.masked_out.is_empty() {
            div.alert.info { "Not searched by header value (values are masked for you): " (listing.scope.masked_out.join(", ")) }
        }
        @if let Some((caption, c, exact)) = chart {
            div.panel id="volume-chart" {
                p.muted.chart-caption { (caption) }
                (c)
                @if !exact { p.muted id="chart-approximate" { "Approximate: only the newest matching messages were counted; narrow the filter for an exact chart." } }
            }
        }
        div.layout {
            @if let Some(f) = &listing.facets { (facets_panel(base, &q, f)) } @else { aside.facets.panel { p.muted { "Counts are shown on the first page." } } }
            div {
                @if page.rows.is_empty() {
                    div.panel id="no-messages" { "No messages match these filters in this time range." }
                } @else {
                    div.scroll { (rows_table(base, &page.rows, &names, multi, Some(&q.with(&[])))) }
                }
                div.pager {
                    @if !listing.parsed.first_page() {
                        a id="first-page" href={ (base) "/messages?" (q.with(&[("after", None), ("before", None)])) } { "⟲ First page" }
                    }
                    @if let Some(prev) = &page.prev {
                        a.button id="newer-page" href={ (base) "/messages?" (q.with(&[("after", None), ("before", Some(prev))])) } { (if oldest_first { "← Older" } else { "← Newer" }) }
                    }
                    @if let Some(next) = &page.next {
                        a.button id="next-page" href={ (base) "/messages?" (q.with(&[("before", None), ("after", Some(next))])) } { (if oldest_first { "Newer →" } else { "Older →" }) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&state, &p, Nav::Messages, "Messages", body))
}

#[derive(serde::Deserialize)]
pub struct FindQuery {
    #[serde(default)]
    id: String,
}

/// `/find?id=…`, the header's search box: the message of a `MessageGuid`, or the list of a
/// correlation or application id, in all time; nothing found shows the empty id search.
pub async fn find(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<FindQuery>,
) -> PageResult<HttpResponse> {
    let base = &state.cfg.base;
    let id = q.id.trim();
    let to = match find_id(&state, &p, id).await? {
        Found::Message(m) => format!("{base}/messages/{m}"),
        Found::List(field) => format!("{base}/messages?{field}={}", enc(id)),
        Found::Nothing if id.is_empty() => format!("{base}/messages"),
        Found::Nothing => format!("{base}/messages?message_id={}", enc(id)),
    };
    Ok(layout::see_other(to))
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
}
