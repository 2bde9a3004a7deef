//! `/artifacts` (design-time and deployed artifacts side by side) and `/keystore` (certificates
//! by expiry, with a server-rendered timeline of the next 365 days).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use domain::tenant::Tenant;
use maud::{Markup, html};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use store::repo::artifacts;

use super::layout::{self, Nav, opt, status_badge, time};
use crate::access;
use crate::auth::Principal;
use crate::error::{AppError, PageResult};
use crate::service::catalog::{
    ArtifactOut, Expiry, KeystoreOut, filter_artifacts, keystore_view, load_artifacts,
    parse_expiring,
};
use crate::state::AppState;

/// A path or query component, percent-encoded.
pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// At most `n` characters of `s` (never splitting a character).
fn head(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The tenant a page shows: the asked-for one (404 when not visible), else the first visible
/// one. `None` when the user sees no tenant.
pub fn pick_tenant<'a>(
    visible: &'a [Tenant],
    raw: Option<&str>,
) -> Result<Option<&'a Tenant>, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(visible.first()),
        Some(s) => {
            let id = s
                .parse::<i64>()
                .map_err(|_| AppError::invalid("tenant", "must be a tenant id"))?;
            visible
                .iter()
                .find(|t| t.id == id)
                .map(Some)
                .ok_or_else(|| AppError::not_found(format!("tenant {id}")))
        }
    }
}

/// The tenant selector of a filter form: a select when there are several, else a hidden field.
pub fn tenant_select(visible: &[Tenant], current: &Tenant) -> Markup {
    html! {
        @if visible.len() > 1 {
            label { "Tenant"
                select name="tenant" id="tenant" {
                    @for t in visible {
                        option value=(t.id) selected[t.id == current.id] { (t.settings.name) }
                    }
                }
            }
        } @else {
            input type="hidden" name="tenant" value=(current.id);
        }
    }
}

fn no_tenants(state: &AppState, p: &Principal, nav: Nav, title: &str) -> HttpResponse {
    let body = html! {
        h1 { (title) }
        div.alert.info { "There is no tenant you may see yet. A manager adds tenants on the "
            a href={ (state.cfg.base) "/tenants" } { "Tenants" } " page." }
    };
    layout::page(state, p, nav, title, body)
}

#[derive(Deserialize, Default)]
pub struct ArtifactsQuery {
    pub tenant: Option<String>,
    pub q: Option<String>,
    pub errors: Option<String>,
    /// `only`: just the artifacts in error (the overview's card opens this).
    pub in_error: Option<String>,
}

fn artifacts_table(base: &str, tenant_id: i64, list: &[ArtifactOut]) -> Markup {
    html! {
        table id="artifacts" {
            thead { tr {
                th { "Artifact" } th { "Package" } th { "Kind" } th { "Version" }
                th { "Deployed" } th { "Status" } th { "Deployed by / at" }
                th { "Content" } th { "Error" }
            } }
            tbody {
                @for a in list {
                    @let rt = a.runtime.as_ref();
                    tr {
                        td {
                            (a.name.as_deref().unwrap_or(&a.artifact_id))
                            br; code.muted { (a.artifact_id) }
                        }
                        td.pkg { (opt(a.package_name.as_deref().or(a.package_id.as_deref()))) }
                        td { (opt(a.kind.as_deref())) }
                        td.nowrap { (opt(a.version.as_deref())) }
                        td.nowrap {
                            (opt(rt.and_then(|r| r.version.as_deref())))
                            @if a.version_differs { " " span.badge.s-warn title="the deployed version is not the design-time version" { "differs" } }
                        }
                        td { @if let Some(r) = rt { (status_badge(r.status.as_deref())) } @else { span.muted { "not deployed" } } }
                        td {
                            (opt(rt.and_then(|r| r.deployed_by.as_deref())))
                            br; (time(rt.and_then(|r| r.deployed_at)))
                        }
                        td.nowrap {
                            @if let Some(h) = &a.content_hash {
                                a href={ (base) "/api/tenants/" (tenant_id) "/artifacts/" (enc(&a.artifact_id)) "/versions?kind=" (enc(a.kind.as_deref().unwrap_or("IntegrationFlow"))) }
                                    title={ "SHA-256 " (h) " (version history)" } {
                                    code { (head(h, 12)) }
                                }
                                @if let Some(n) = a.content_size { br; span.muted { (layout::bytes(n)) } }
                            } @else { span.muted { "—" } }
                        }
                        td {
                            @if let Some(e) = rt.and_then(|r| r.error_text.as_deref()).filter(|e| !e.is_empty()) {
                                details {
                                    summary.trunc { (head(e, 80)) }
                                    pre { (e) }
                                }
                            } @else { span.muted { "—" } }
                        }
                    }
                }
            }
        }
    }
}

pub async fn artifacts_page(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ArtifactsQuery>,
) -> PageResult<HttpResponse> {
    let visible = access::visible_tenants(&state, &p).await?;
    let Some(t) = pick_tenant(&visible, q.tenant.as_deref())? else {
        return Ok(no_tenants(&state, &p, Nav::Artifacts, "Artifacts"));
    };
    let all = load_artifacts(&state, t.id).await?;
    let total = all.len();
    let deployed = all.iter().filter(|a| a.runtime.is_some()).count();
    let in_error = all.iter().filter(|a| a.in_error).count();
    let search = q.q.as_deref().unwrap_or("").trim().to_string();
    let errors_first = q.errors.as_deref() == Some("1");
    let only_errors = q.in_error.as_deref() == Some("only");
    let list = filter_artifacts(all, &search, errors_first, only_errors);
    let base = &state.cfg.base;
    let body = html! {
        h1 { "Artifacts of " (t.settings.name) }
        form.filters.panel method="get" action={ (base) "/artifacts" } {
            (tenant_select(&visible, t))
            label { "Name, id or package"
                input type="search" name="q" id="q" value=(search) maxlength="200";
            }
            label { "In error first"
                input type="checkbox" name="errors" value="1" checked[errors_first];
            }
            label { "Only in error"
                input type="checkbox" name="in_error" id="only-in-error" value="only" checked[only_errors];
            }
            button type="submit" { "Apply" }
        }
        p.muted {
            (layout::count(total as i64)) " artifacts, " (layout::count(deployed as i64)) " deployed, "
            @if in_error > 0 {
                a href={ (base) "/artifacts?tenant=" (t.id) "&errors=1" } { span.badge.s-ERROR { (in_error) " in error" } }
            } @else { "none in error" }
            @if !search.is_empty() || only_errors { " · " (layout::plural(list.len() as i64, "match", "matches")) }
        }
        @if list.is_empty() {
            div.alert.info { @if total == 0 { "No artifacts were collected for this tenant yet (the packages job collects them)." } @else { "No artifact matches." } }
        } @else {
            (artifacts_table(base, t.id, &list))
        }
    };
    Ok(layout::page(&state, &p, Nav::Artifacts, "Artifacts", body))
}

#[derive(Deserialize, Default)]
pub struct KeystoreQuery {
    pub tenant: Option<String>,
    pub expiring: Option<String>,
}

const DAYS: i64 = 365;
const W: f64 = 1000.0;
const H: f64 = 130.0;
const LEFT: f64 = 20.0;
const RIGHT: f64 = 20.0;
const AXIS_Y: f64 = 100.0;

fn x_of(days: f64) -> f64 {
    LEFT + days.clamp(0.0, DAYS as f64) / DAYS as f64 * (W - LEFT - RIGHT)
}

fn colour(e: Expiry) -> &'static str {
    match e {
        Expiry::Expired | Expiry::Critical => "#c62828",
        Expiry::Warning => "#a15c00",
        Expiry::Ok | Expiry::None => "#1e7d32",
    }
}

fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// The next 365 days as an SVG: a mark per certificate ending in them (expired ones at the
/// left edge), red within 30 days, amber within 90. Every text is escaped by maud.
pub fn expiry_timeline(entries: &[KeystoreOut], now: DateTime<Utc>) -> Markup {
    let horizon = now + Duration::days(DAYS);
    let marks: Vec<(&KeystoreOut, f64)> = entries
        .iter()
        .filter_map(|k| {
            let end = k.entry.valid_not_after?;
            (end <= horizon).then(|| (k, (end - now).num_seconds() as f64 / 86_400.0))
        })
        .collect();
    let later = entries
        .iter()
        .filter(|k| k.entry.valid_not_after.is_some_and(|e| e > horizon))
        .count();
    let expired = marks.iter().filter(|(_, d)| *d <= 0.0).count();
    // Month starts within the window.
    let mut months = Vec::new();
    let (mut y, mut m) = (now.year(), now.month());
    loop {
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let Some(start) = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single() else {
            break;
        };
        if start > horizon {
            break;
        }
        months.push(start);
    }
    html! {
        div.chart {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (W) " " (H) } role="img" id="expiry-timeline"
                aria-label={ "Certificate expiry over the next 365 days: " (marks.len()) " ending, " (expired) " expired" } {
                rect x=(f1(x_of(0.0))) y="8" width=(f1(x_of(30.0) - x_of(0.0))) height=(f1(AXIS_Y - 8.0)) fill="#fde7e7" {}
                rect x=(f1(x_of(30.0))) y="8" width=(f1(x_of(90.0) - x_of(30.0))) height=(f1(AXIS_Y - 8.0)) fill="#fff1dc" {}
                line x1=(f1(x_of(0.0))) y1=(AXIS_Y) x2=(f1(x_of(DAYS as f64))) y2=(AXIS_Y) stroke="#5c6b7a" stroke-width="1" {}
                @for start in &months {
                    @let x = f1(x_of((*start - now).num_seconds() as f64 / 86_400.0));
                    line x1=(x) y1=(AXIS_Y) x2=(x) y2=(AXIS_Y + 5.0) stroke="#5c6b7a" stroke-width="1" {}
                    text x=(x) y=(AXIS_Y + 18.0) font-size="11" fill="#5c6b7a" text-anchor="middle" {
                        @if start.month() == 1 { (start.format("%b %Y")) } @else { (start.format("%b")) }
                    }
                }
                text x=(f1(x_of(0.0))) y=(AXIS_Y + 30.0) font-size="11" fill="#5c6b7a" { "today" }
                text x=(f1(x_of(30.0) + 3.0)) y="20" font-size="11" fill="#c62828" { "30 d" }
                text x=(f1(x_of(90.0) + 3.0)) y="20" font-size="11" fill="#a15c00" { "90 d" }
                @if later > 0 {
                    text x=(f1(x_of(DAYS as f64))) y="20" font-size="11" fill="#5c6b7a" text-anchor="end" {
                        (later) " later than a year"
                    }
                }
                @for (i, (k, days)) in marks.iter().enumerate() {
                    @let x = f1(x_of(*days));
                    @let cy = 32.0 + (i % 5) as f64 * 13.0;
                    g class={ "mark " (k.expiry.as_str()) } {
                        title {
                            (k.entry.alias) " — "
                            @if *days <= 0.0 { "expired " } @else { "expires " }
                            @if let Some(end) = k.entry.valid_not_after { (end.format("%Y-%m-%d")) }
                        }
                        line x1=(x) y1=(f1(cy)) x2=(x) y2=(AXIS_Y) stroke=(colour(k.expiry)) stroke-width="1" stroke-opacity="0.5" {}
                        circle cx=(x) cy=(f1(cy)) r="5" fill=(colour(k.expiry)) {}
                    }
                }
            }
        }
    }
}

fn expiry_badge(k: &KeystoreOut) -> Markup {
    let (class, text) = match (k.expiry, k.days_left) {
        (Expiry::None, _) => ("badge", "no end date".to_string()),
        (Expiry::Expired, Some(d)) => ("badge s-failed", format!("expired {} d ago", -d)),
        (Expiry::Expired, None) => ("badge s-failed", "expired".to_string()),
        (e, Some(d)) => (
            match e {
                Expiry::Critical => "badge s-failed",
                Expiry::Warning => "badge s-warn",
                _ => "badge s-ok",
            },
            format!("{d} d"),
        ),
        (_, None) => ("badge", "—".to_string()),
    };
    html! { span class=(class) { (text) } }
}

pub async fn keystore_page(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<KeystoreQuery>,
) -> PageResult<HttpResponse> {
    let expiring = parse_expiring(q.expiring.as_deref())?;
    let visible = access::visible_tenants(&state, &p).await?;
    let Some(t) = pick_tenant(&visible, q.tenant.as_deref())? else {
        return Ok(no_tenants(&state, &p, Nav::Keystore, "Keystore"));
    };
    let now = Utc::now();
    let entries = artifacts::list_keystore(&state.db, t.id).await?;
    let total = entries.len();
    let all = keystore_view(entries, now, None);
    let shown: Vec<&KeystoreOut> = all
        .iter()
        .filter(|k| expiring.is_none_or(|d| k.entry.expires_within(d, now)))
        .collect();
    let base = &state.cfg.base;
    let body = html! {
        h1 { "Keystore of " (t.settings.name) }
        form.filters.panel method="get" action={ (base) "/keystore" } {
            (tenant_select(&visible, t))
            label { "Show"
                select name="expiring" id="expiring" {
                    option value="" selected[expiring.is_none()] { "All entries" }
                    @for d in [30u32, 90, 365] {
                        option value=(d) selected[expiring == Some(d)] { "Expiring within " (d) " days" }
                    }
                    @if let Some(d) = expiring.filter(|d| ![30, 90, 365].contains(d)) {
                        option value=(d) selected { "Expiring within " (d) " days" }
                    }
                }
            }
            button type="submit" { "Apply" }
        }
        div.panel {
            h2 { "Expiry in the next 365 days" }
            (expiry_timeline(&all, now))
            div.legend {
                span { svg width="10" height="10" { rect width="10" height="10" fill="#c62828" {} } " expired or within 30 days" }
                span { svg width="10" height="10" { rect width="10" height="10" fill="#a15c00" {} } " within 90 days" }
                span { svg width="10" height="10" { rect width="10" height="10" fill="#1e7d32" {} } " later" }
            }
        }
        p.muted {
            (total) " entries"
            @if let Some(d) = expiring { ", " (shown.len()) " expiring within " (d) " days (expired ones included) · "
                a href={ (base) "/keystore?tenant=" (t.id) } { "show all" } }
        }
        @if shown.is_empty() {
            div.alert.info { @if total == 0 { "No keystore entries were collected for this tenant yet (the keystore job collects them)." } @else { "No entry expires in that time." } }
        } @else {
            table id="keystore" {
                thead { tr {
                    th { "Alias" } th { "Type" } th { "Owner" } th { "Subject" } th { "Issuer" }
                    th { "Valid from" } th { "Valid until" } th.num { "Days left" } th { "Key" } th { "SHA-256 fingerprint" }
                } }
                tbody {
                    @for k in &shown {
                        @let e = &k.entry;
                        tr class={ "exp-" (k.expiry.as_str()) } {
                            td { (e.alias) }
                            td { (opt(e.entry_type.as_deref())) }
                            td { (opt(e.owner.as_deref())) }
                            td { div.trunc title=[e.subject_dn.as_deref()] { (opt(e.subject_dn.as_deref())) } }
                            td { div.trunc title=[e.issuer_dn.as_deref()] { (opt(e.issuer_dn.as_deref())) } }
                            td { (time(e.valid_not_before)) }
                            td { (time(e.valid_not_after)) }
                            td.num { (expiry_badge(k)) }
                            td.nowrap {
                                (opt(e.key_type.as_deref()))
                                @if let Some(s) = e.key_size { " " (s) }
                            }
                            td { @if let Some(f) = &e.fingerprint_sha256 { code title=(f) { (head(f, 16)) "…" } } @else { span.muted { "—" } } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&state, &p, Nav::Keystore, "Keystore", body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::keystore::KeystoreEntry;

    #[test]
    fn the_timeline_escapes_aliases_and_colours_by_expiry() {
        let now = Utc.with_ymd_and_hms(2026, 3, 15, 12, 0, 0).unwrap();
        let entry = |alias: &str, days: i64| {
            let mut e = KeystoreEntry::new(alias, "00");
            e.valid_not_after = Some(now + Duration::days(days));
            e
        };
        let list = keystore_view(
            vec![
                entry("<script>alert(1)</script>", 10),
                entry("amber", 60),
                entry("green", 200),
                entry("far", 800),
                entry("gone", -3),
            ],
            now,
            None,
        );
        let svg = expiry_timeline(&list, now).into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(
            svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{svg}"
        );
        assert_eq!(
            svg.matches("<circle").count(),
            4,
            "the one beyond a year is counted, not drawn"
        );
        assert!(svg.contains("1 later than a year"));
        assert!(svg.contains("mark critical"));
        assert!(svg.contains("mark warning"));
        assert!(svg.contains("mark ok"));
        assert!(svg.contains("mark expired"));
        assert_eq!(
            svg.matches("r=\"5\" fill=\"#c62828\"").count(),
            2,
            "critical and expired are red"
        );
        assert_eq!(svg.matches("r=\"5\" fill=\"#a15c00\"").count(), 1);
        assert!(svg.contains("Jan 2027"), "{svg}");
        assert!(!svg.contains("style="));
    }

    #[test]
    fn pages_pick_a_visible_tenant() {
        let t = |id: i64| {
            let mut s = domain::tenant::TenantSettings::new(
                "t",
                "https://x.example/api/v1",
                domain::tenant::Auth::Basic {
                    username: "u".into(),
                },
            );
            s.name = format!("t{id}");
            Tenant {
                id,
                settings: s,
                has_secret: true,
                status: domain::tenant::TenantStatus::Unknown,
                status_message: None,
                status_at: None,
                created_at: Utc::now(),
                updated_at: Utc::now(),
            }
        };
        let visible = vec![t(3), t(5)];
        assert_eq!(pick_tenant(&visible, None).unwrap().unwrap().id, 3);
        assert_eq!(pick_tenant(&visible, Some("")).unwrap().unwrap().id, 3);
        assert_eq!(pick_tenant(&visible, Some("5")).unwrap().unwrap().id, 5);
        assert!(matches!(
            pick_tenant(&visible, Some("4")),
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(
            pick_tenant(&visible, Some("x")),
            Err(AppError::Invalid { .. })
        ));
        assert!(pick_tenant(&[], None).unwrap().is_none());
        let sel = tenant_select(&visible, &visible[1]).into_string();
        assert!(sel.contains("<option value=\"5\" selected>"), "{sel}");
    }
}
