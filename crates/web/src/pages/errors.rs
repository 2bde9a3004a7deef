//! `/errors`: the error groups (filters, sorting, 14-day sparklines), one group's page (sample,
//! normalised template, hourly chart, affected messages, state history, the managers' actions
//! as post/redirect/get forms) and the fingerprint rules page (managers). The logic is the
//! service's (`crate::service::error_groups`, `crate::service::error_rules`), shared with the API.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::tenant::FieldError;
use domain::user::Role;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Nav, count, see_other, time};
use crate::auth::Principal;
use crate::error::{AppError, PageResult};
use crate::query::QUICK_RANGES;
use crate::service::error_groups::{
    self as svc, CommentIn, GroupDetailOut, GroupOut, GroupsQuery, IgnoreIn, MergeIn, ResolveIn,
    STATES,
};
use crate::state::AppState;

/// Longest part of a sample text shown in the page (the API answers it whole).
const SAMPLE_VIEW_CHARS: usize = 64 * 1024;

pub(super) fn csrf_field(p: &Principal) -> Markup {
    html! { input type="hidden" name="csrf" value=(p.csrf()); }
}

fn state_badge(s: &str) -> Markup {
    html! { span class={ "badge e-" (s) } { (s) } }
}

/// Fourteen daily counts as a small bar chart (server-rendered SVG, no script).
pub fn sparkline(days: &[i64]) -> Markup {
    let max = days.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (w, h) = (112.0_f64, 24.0_f64);
    let slot = w / days.len().max(1) as f64;
    html! {
        svg.spark viewBox={ "0 0 " (w) " " (h) } width="112" height="24" role="img"
            aria-label={ "Messages per day, last " (days.len()) " days" } {
            line x1="0" y1=(h - 0.5) x2=(w) y2=(h - 0.5) stroke="#dde3ea" {}
            @for (i, v) in days.iter().enumerate() {
                @if *v > 0 {
                    @let bh = (*v as f64 / max * (h - 2.0)).max(1.5);
                    rect x=(format!("{:.1}", i as f64 * slot + 1.0)) y=(format!("{:.1}", h - bh))
                        width=(format!("{:.1}", (slot - 2.0).max(1.0))) height=(format!("{bh:.1}")) fill="#e53935" {
                        title { (days.len() - i - 1) " days ago: " (count(*v)) }
                    }
                }
            }
        }
    }
}

fn filter_form(base: &str, q: &GroupsQuery, tenants: &[(i64, String)]) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let current_range = q
        .range
        .as_deref()
        .unwrap_or(if q.from.is_none() { "24h" } else { "" });
    html! {
        div.quick {
            "Occurrences in: "
            @for (name, _) in QUICK_RANGES {
                a class=[(current_range == name).then_some("active")]
                  href={ (base) "/errors?" (q.with(&[("range", Some(name)), ("from", None), ("to", None), ("after", None)])) } { (name) }
            }
        }
        form.filters.panel method="get" action={ (base) "/errors" } id="error-filters" {
            @if tenants.len() > 1 {
                label { "Tenant" select name="tenant" id="f-tenant" {
                    option value="" { "All" }
                    @for (id, name) in tenants {
                        option value=(id) selected[q.tenant.as_deref() == Some(&id.to_string())] { (name) }
                    }
                } }
            } @else if let Some(t) = &q.tenant { input type="hidden" name="tenant" value=(t); }
            @if let Some(r) = &q.range { input type="hidden" name="range" value=(r); }
            @if let Some(f) = &q.from { input type="hidden" name="from" value=(f); }
            @if let Some(t) = &q.to { input type="hidden" name="to" value=(t); }
            label { "State" select name="state" id="f-state" {
                option value="" { "Any" }
                @for s in STATES { option value=(s) selected[q.state.as_deref() == Some(s)] { (s) } }
            } }
            label { "iFlow id" input name="iflow" value=(v(&q.iflow)) size="18"; }
            label { "Package id" input name="package" value=(v(&q.package)) size="14"; }
            label { "Text" input name="q" id="f-q" value=(v(&q.q)) size="24" placeholder="in the title or iFlow"; }
            label { "Sort" select name="sort" id="f-sort" {
                option value="last_seen" { "Last seen" }
                option value="occurrences" selected[q.sort.as_deref() == Some("occurrences")] { "Occurrences in range" }
                option value="first_seen" selected[q.sort.as_deref() == Some("first_seen")] { "First seen" }
            } }
            button type="submit" id="apply-error-filters" { "Apply" }
            a.button.secondary href={ (base) "/errors" } { "Reset" }
        }
    }
}

fn title_cell(g: &GroupOut) -> Markup {
    html! {
        @if g.masked { span.masked { (g.title) } } @else { (g.title) }
    }
}

fn groups_table(base: &str, items: &[GroupOut], multi_tenant: bool) -> Markup {
    html! {
        table id="error-groups" {
            thead { tr {
                th { "Error" } th { "iFlow" } @if multi_tenant { th { "Tenant" } } th { "State" }
                th.num { "In range" } th.num { "All" } th { "Last 14 days" } th { "First seen" } th { "Last seen" }
            } }
            tbody {
                @for g in items {
                    tr data-group=(g.id) {
                        td.group-title {
                            a href={ (base) "/errors/" (g.id) } { (title_cell(g)) }
                            @if g.outdated { " " span.badge.s-warn title="made by an older grouping version" { "v" (g.grouping_version) } }
                        }
                        td.mono { (g.iflow) }
                        @if multi_tenant { td { (g.tenant) } }
                        td { (state_badge(&g.state)) }
                        td.num { (count(g.occurrences)) }
                        td.num { (count(g.total_occurrences)) }
                        td { (sparkline(&g.sparkline)) }
                        td { (time(Some(g.first_seen))) }
                        td { (time(Some(g.last_seen))) }
                    }
                }
            }
        }
    }
}

fn outdated_note(base: &str, running: i16) -> Markup {
    html! {
        div.alert.info id="outdated-groups" {
            "Some groups were made by an older grouping version (now " (running) "). Their messages are regrouped only on request: "
            code { "integramon errors regroup" } ". "
            a href={ (base) "/errors/rules" } { "Fingerprint rules" }
        }
    }
}

pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<GroupsQuery>,
) -> PageResult<HttpResponse> {
    let base = &state.cfg.base;
    let q = q.into_inner();
    let listing = match svc::list(&state, &p, &q).await {
        Ok(l) => l,
        Err(AppError::Invalid { fields, .. }) => {
            let body = html! {
                h1 { "Errors" }
                (layout::alert_errors(&fields))
                p { a href={ (base) "/errors" } { "Start over" } }
            };
            return Ok(with_status(
                layout::page(&state, &p, Nav::Errors, "Errors", body),
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let tenant_opts: Vec<(i64, String)> = listing
        .visible
        .iter()
        .map(|t| (t.id, t.settings.name.clone()))
        .collect();
    let out = &listing.out;
    let multi = listing.parsed.tenant.is_none() && listing.visible.len() > 1;
    let body = html! {
        h1 { "Errors"
            span.right {
                @if p.user.role.allows(Role::Manager) { a href={ (base) "/errors/rules" } id="rules-link" { "Fingerprint rules" } " · " }
                label.muted { input type="checkbox" id="auto-refresh"; " refresh every 30 s" }
            }
        }
        (filter_form(base, &q, &tenant_opts))
        @if !out.masked_tenants.is_empty() {
            div.alert.info { "Not searched by text (error texts are masked for you): " (out.masked_tenants.join(", ")) }
        }
        @if out.items.iter().any(|g| g.outdated) { (outdated_note(base, out.grouping_version)) }
        @if out.items.is_empty() {
            div.panel id="no-groups" { "No error groups match these filters." }
        } @else {
            div.scroll { (groups_table(base, &out.items, multi)) }
        }
        div.pager {
            @if listing.parsed.after.is_some() {
                a href={ (base) "/errors?" (q.with(&[("after", None)])) } { "⟲ First page" }
            }
            @if let Some(next) = &out.next {
                a.button id="next-groups" href={ (base) "/errors?" (q.with(&[("after", Some(next))])) } { "Next →" }
            }
        }
    };
    Ok(layout::page(&state, &p, Nav::Errors, "Errors", body))
}

pub(super) fn with_status(mut res: HttpResponse, status: StatusCode) -> HttpResponse {
    if res.status() == StatusCode::OK {
        *res.status_mut() = status;
    }
    res
}

/// The part of a sample shown in the page, and whether it was cut.
fn sample_view(s: &str) -> (&str, bool) {
    match s.char_indices().nth(SAMPLE_VIEW_CHARS) {
        Some((i, _)) => (&s[..i], true),
        None => (s, false),
    }
}

fn history_table(d: &GroupDetailOut) -> Markup {
    html! {
        @if d.history.is_empty() { p.muted { "No changes yet." } } @else {
            table id="group-history" {
                thead { tr { th { "When" } th { "Who" } th { "What" } th { "State" } th { "Comment" } } }
                tbody { @for e in &d.history { tr {
                    td { (time(Some(e.at))) }
                    td { (e.actor) }
                    td { (e.action) }
                    td.nowrap {
                        @if let Some(f) = &e.from_state { (state_badge(f)) " → " }
                        @if let Some(t) = &e.to_state { (state_badge(t)) }
                    }
                    td { (layout::opt(e.comment.as_deref())) }
                } } }
            }
        }
    }
}

fn actions_panel(base: &str, p: &Principal, d: &GroupDetailOut, errors: &[FieldError]) -> Markup {
    let id = d.group.id;
    let action = |verb: &str| format!("{base}/errors/{id}/{verb}");
    let closed = matches!(d.group.state.as_str(), "resolved" | "ignored");
    html! {
        div.panel id="group-actions" {
            h2 { "Actions" }
            (layout::alert_errors(errors))
            @if closed {
                form.form-grid method="post" action=(action("reopen")) id="reopen-form" {
                    (csrf_field(p))
                    label for="reopen-comment" { "Comment" }
                    input id="reopen-comment" name="comment" maxlength="2000";
                    span {}
                    div { button type="submit" id="reopen-submit" { "Reopen" } }
                }
            } @else {
                form.form-grid method="post" action=(action("resolve")) id="resolve-form" {
                    (csrf_field(p))
                    label for="resolve-mode" { "Resolve" }
                    select name="mode" id="resolve-mode" {
                        option value="now" { "now (any later occurrence regresses it)" }
                        option value="next_deployment" { "with the iFlow's next deployment" }
                    }
                    label for="resolve-comment" { "Comment" }
                    input id="resolve-comment" name="comment" maxlength="2000";
                    span {}
                    div { button type="submit" id="resolve-submit" { "Resolve" } }
                }
                form.form-grid method="post" action=(action("ignore")) id="ignore-form" {
                    (csrf_field(p))
                    label for="ignore-mode" { "Ignore" }
                    select name="mode" id="ignore-mode" {
                        option value="forever" { "forever" }
                        option value="until" { "until a date" }
                        option value="occurrences" { "until N more occurrences" }
                        option value="rate" { "until N occurrences within W minutes" }
                    }
                    label for="ignore-until" { "Until (UTC)" }
                    input type="datetime-local" id="ignore-until" name="until";
                    (layout::field_error(errors, "until"))
                    label for="ignore-count" { "N occurrences" }
                    input type="number" min="1" id="ignore-count" name="count";
                    (layout::field_error(errors, "count"))
                    label for="ignore-window" { "W minutes" }
                    input type="number" min="1" max="10080" id="ignore-window" name="window_minutes";
                    (layout::field_error(errors, "window_minutes"))
                    label for="ignore-comment" { "Comment" }
                    input id="ignore-comment" name="comment" maxlength="2000";
                    span {}
                    div { button.secondary type="submit" id="ignore-submit" { "Ignore" } }
                }
            }
            form.form-grid method="post" action=(action("merge")) id="merge-form" {
                (csrf_field(p))
                label for="merge-from" { "Merge groups into this one" }
                input id="merge-from" name="from" placeholder="group ids, comma-separated" size="30";
                (layout::field_error(errors, "from"))
                span {}
                div { button.secondary type="submit" id="merge-submit" { "Merge" } }
            }
            @if let Some(into) = d.merged_into {
                form.inline method="post" action=(action("unmerge")) id="unmerge-form"
                    data-confirm={ "Take this group back out of group " (into) "?" } {
                    (csrf_field(p))
                    button.secondary type="submit" id="unmerge-submit" { "Unmerge from group " (into) }
                }
            }
        }
    }
}

fn done_notice(done: Option<&str>) -> Option<Markup> {
    let text = match done? {
        "resolved" => "The group was resolved.",
        "ignored" => "The group is ignored.",
        "reopened" => "The group was reopened.",
        "merged" => "The groups were merged into this one.",
        "unmerged" => "The group was taken back out.",
        _ => return None,
    };
    Some(html! { div.alert.ok role="status" id="done" { (text) } })
}

fn render_detail(
    state: &AppState,
    p: &Principal,
    d: &GroupDetailOut,
    notice: Option<Markup>,
    errors: &[FieldError],
) -> HttpResponse {
    let base = &state.cfg.base;
    let g = &d.group;
    let field = |k: &str, v: Markup| html! { dt { (k) } dd { (v) } };
    let affected = format!(
        "{base}/messages?tenant={}&range=30d&error_group={}",
        g.tenant_id, g.id
    );
    let points = hourly_points(&d.hourly, chrono::Utc::now());
    let chart = super::charts::lines(
        &[super::charts::Line {
            name: "Messages per hour".into(),
            points,
        }],
        |v| count(v.round() as i64),
        |t| t.format("%m-%d %H:00").to_string(),
    );
    let body = html! {
        h1 id="group-title" {
            (title_cell(g)) " " (state_badge(&g.state))
        }
        @if let Some(n) = notice { (n) }
        @if g.masked {
            div.alert.info id="masked-note" { "The error texts of this tenant are masked for your role." }
        }
        @if g.outdated { (outdated_note(base, state_grouping_version())) }
        div.panel {
            dl.kv {
                (field("Tenant", html! { (g.tenant) }))
                (field("iFlow", html! { span.mono { (g.iflow) } }))
                (field("State", html! {
                    (state_badge(&g.state))
                    @if let Some(m) = &d.resolve_mode { " " span.muted { "(" (m.replace('_', " ")) ")" } }
                    @if let Some(i) = &d.ignore { " " span.muted { "(" (ignore_text(i)) ")" } }
                }))
                (field("Messages", html! { (count(g.total_occurrences)) " in all" }))
                (field("First seen", time(Some(g.first_seen))))
                (field("Last seen", time(Some(g.last_seen))))
                (field("Grouping version", html! { (g.grouping_version) }))
                @if let Some(into) = d.merged_into {
                    (field("Merged into", html! { a href={ (base) "/errors/" (into) } { "group " (into) } }))
                }
                @if !d.merged.is_empty() {
                    (field("Merged groups", html! {
                        @for (i, m) in d.merged.iter().enumerate() {
                            @if i > 0 { ", " }
                            a href={ (base) "/errors/" (m) } { (m) }
                        }
                    }))
                }
                (field("Affected messages", html! { a href=(affected) id="affected-messages" { "Open in the message monitor" } }))
            }
        }
        div.panel {
            h2 { "Messages per hour" }
            (chart)
        }
        div.panel {
            h2 { "Sample"
                @if let Some(m) = d.sample_message_id { " " a.muted href={ (base) "/messages/" (m) } id="sample-message" { "(message " (m) ")" } }
            }
            @match &d.sample_text {
                Some(s) => {
                    @let (shown, cut) = sample_view(s);
                    @if cut { div.alert.info { "Showing the first " (count(SAMPLE_VIEW_CHARS as i64)) " characters." } }
                    pre id="sample-text" { (shown) }
                }
                None => p.muted { "No error text yet." }
            }
            h2 { "Normalised template" }
            pre id="group-template" { (d.template) }
        }
        @if p.user.role.allows(Role::Manager) { (actions_panel(base, p, d, errors)) }
        div.panel {
            h2 { "History" }
            (history_table(d))
        }
    };
    layout::page(state, p, Nav::Errors, "Error group", body)
}

/// Every hour from the first counted one (at least the last 24) to now, zero where nothing was
/// counted: the store keeps only the hours that had occurrences, and a line drawn straight
/// across a quiet day would suggest occurrences that never were.
fn hourly_points(
    hourly: &[svc::HourOut],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(chrono::DateTime<chrono::Utc>, f64)> {
    use chrono::DurationRound;
    let hour = chrono::Duration::hours(1);
    let last = now.duration_trunc(hour).unwrap_or(now);
    let first = hourly
        .iter()
        .map(|h| h.hour)
        .min()
        .unwrap_or(last)
        .min(last - chrono::Duration::hours(23))
        .max(last - chrono::Duration::days(14));
    let counts: std::collections::HashMap<_, _> =
        hourly.iter().map(|h| (h.hour, h.count)).collect();
    let mut out = Vec::new();
    let mut t = first.duration_trunc(hour).unwrap_or(first);
    while t <= last {
        out.push((t, counts.get(&t).copied().unwrap_or(0) as f64));
        t += hour;
    }
    out
}

fn state_grouping_version() -> i16 {
    domain::errors::GROUPING_VERSION
}

fn ignore_text(i: &IgnoreIn) -> String {
    match i.mode.as_str() {
        "until" => format!("until {}", i.until.as_deref().unwrap_or("?")),
        "occurrences" => format!("until {} more", i.count.unwrap_or(0)),
        "rate" => format!(
            "until {} within {} min",
            i.count.unwrap_or(0),
            i.window_minutes.unwrap_or(0)
        ),
        _ => "forever".into(),
    }
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    done: Option<String>,
}

pub async fn detail(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
    q: web::Query<DetailQuery>,
) -> PageResult<HttpResponse> {
    let d = svc::detail(&state, &p, path.into_inner()).await?;
    Ok(render_detail(
        &state,
        &p,
        &d,
        done_notice(q.done.as_deref()),
        &[],
    ))
}

#[derive(Deserialize, Default)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    count: String,
    #[serde(default)]
    window_minutes: String,
    #[serde(default)]
    from: String,
}

pub(super) fn opt_text(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// A number typed into a form: empty is absent, anything else must parse.
pub(super) fn form_number<T: std::str::FromStr>(
    s: &str,
    field: &str,
) -> Result<Option<T>, AppError> {
    match s.trim() {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| AppError::invalid(field, "must be a whole number")),
    }
}

fn merge_ids(s: &str) -> Result<Vec<i64>, AppError> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| x.trim_start_matches('#').parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| AppError::invalid("from", "must be group ids, comma-separated"))
}

/// The lifecycle forms: check, act, and redirect to the group's page (post/redirect/get); a
/// field problem is shown on the group's page with 422.
pub async fn action(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<(i64, String)>,
    form: web::Form<ActionForm>,
) -> PageResult<HttpResponse> {
    let (id, verb) = path.into_inner();
    p.require(Role::Manager)?;
    p.check_csrf(&req, Some(&form.csrf))?;
    let result = async {
        match verb.as_str() {
            "resolve" => {
                let input = ResolveIn {
                    mode: opt_text(&form.mode),
                    comment: opt_text(&form.comment),
                };
                svc::resolve(&state, &req, &p, id, &input).await
            }
            "ignore" => {
                let input = IgnoreIn {
                    mode: form.mode.clone(),
                    until: opt_text(&form.until),
                    count: form_number(&form.count, "count")?,
                    window_minutes: form_number(&form.window_minutes, "window_minutes")?,
                    comment: opt_text(&form.comment),
                };
                svc::ignore(&state, &req, &p, id, &input).await
            }
            "reopen" => {
                let input = CommentIn {
                    comment: opt_text(&form.comment),
                };
                svc::reopen(&state, &req, &p, id, &input).await
            }
            "merge" => {
                let input = MergeIn {
                    from: merge_ids(&form.from)?,
                };
                svc::merge(&state, &req, &p, id, &input).await
            }
            "unmerge" => svc::unmerge(&state, &req, &p, id).await,
            _ => Err(AppError::not_found("no such action")),
        }
    }
    .await;
    match result {
        Ok(_) => {
            let done = match verb.as_str() {
                "resolve" => "resolved",
                "ignore" => "ignored",
                "reopen" => "reopened",
                "merge" => "merged",
                _ => "unmerged",
            };
            Ok(see_other(format!(
                "{base}/errors/{id}?done={done}",
                base = state.cfg.base
            )))
        }
        Err(AppError::Invalid { fields, .. }) => {
            let d = svc::detail(&state, &p, id).await?;
            Ok(with_status(
                render_detail(&state, &p, &d, None, &fields),
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_draw_a_bar_per_non_empty_day() {
        let svg = sparkline(&[0, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]).into_string();
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(svg.contains("12 days ago: 1"), "{svg}");
        assert!(svg.contains("0 days ago: 2"), "{svg}");
        assert!(!svg.contains("style="), "no inline styles (CSP): {svg}");
    }

    #[test]
    fn samples_are_cut_on_a_character_boundary() {
        let long = "é".repeat(SAMPLE_VIEW_CHARS + 10);
        let (shown, cut) = sample_view(&long);
        assert!(cut);
        assert_eq!(shown.chars().count(), SAMPLE_VIEW_CHARS);
        assert_eq!(sample_view("short"), ("short", false));
    }

    #[test]
    fn hourly_points_fill_quiet_hours_with_zero() {
        let now: chrono::DateTime<chrono::Utc> = "2026-12-08T10:30:00Z".parse().unwrap();
        let h = |s: &str, count| svc::HourOut {
            hour: s.parse().unwrap(),
            count,
        };
        let pts = hourly_points(
            &[h("2026-12-06T10:00:00Z", 2), h("2026-12-08T09:00:00Z", 5)],
            now,
        );
        assert_eq!(pts.len(), 49, "two days and the current hour");
        assert_eq!(pts[0].1, 2.0);
        assert_eq!(pts[1].1, 0.0);
        assert_eq!(pts[47].1, 5.0);
        assert_eq!(
            pts[48].0,
            "2026-12-08T10:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
        );
        assert_eq!(hourly_points(&[], now).len(), 24, "at least the last day");
    }

    #[test]
    fn merge_ids_name_the_field() {
        assert_eq!(merge_ids("3, 4 #5").unwrap(), vec![3, 4, 5]);
        assert_eq!(merge_ids("3,x").unwrap_err().fields()[0].field, "from");
    }
}
