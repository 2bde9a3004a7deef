//! The landing page: per tenant, KPI cards that open the matching filtered lists, and the
//! message volume of the last 24 hours.

use actix_web::{HttpResponse, web};
use chrono::{DurationRound, Utc};
use domain::user::Role;
use maud::{Markup, html};
use store::repo::monitor::{self, Bucket, FacetCount, TenantKpis};
use store::repo::snapshots::{self, MetricSnapshot};

use super::layout::{self, Nav, count, time};
use crate::access;
use crate::auth::Principal;
use crate::error::PageResult;
use crate::state::AppState;

fn status_count(list: &[FacetCount], statuses: &[&str]) -> i64 {
    list.iter()
        .filter(|f| statuses.contains(&f.value.as_str()))
        .map(|f| f.count)
        .sum()
}

fn card(href: String, label: &str, value: String, tone: &str) -> Markup {
    html! {
        a class={ "card " (tone) } href=(href) {
            div.label { (label) }
            div.value { (value) }
        }
    }
}

fn lag_text(secs: Option<i64>) -> String {
    match secs {
        None => "—".into(),
        Some(s) if s < 120 => format!("{s} s"),
        Some(s) if s < 7200 => format!("{} min", s / 60),
        Some(s) => format!("{:.1} h", s as f64 / 3600.0),
    }
}

/// iFlows shown in the "slowest" table of a tenant.
const SLOWEST: usize = 5;

/// One iFlow over the last hour's metric snapshots.
struct Slow<'a> {
    iflow_id: &'a str,
    name: &'a str,
    messages: i64,
    /// The worst interval's p95 (percentiles of intervals cannot be merged exactly).
    p95: i64,
    max: i64,
}

/// The tenant's iFlows with the slowest worst-interval p95 of LogEnd − LogStart.
fn slowest<'a>(rows: impl Iterator<Item = &'a MetricSnapshot>) -> Vec<Slow<'a>> {
    let mut by: std::collections::BTreeMap<&str, Slow<'a>> = std::collections::BTreeMap::new();
    for r in rows {
        let Some(p95) = r.duration_p95_ms else {
            continue;
        };
        let e = by.entry(r.iflow_id.as_str()).or_insert(Slow {
            iflow_id: &r.iflow_id,
            name: r.iflow_name.as_deref().unwrap_or(&r.iflow_id),
            messages: 0,
            p95: 0,
            max: 0,
        });
        e.messages += r.messages;
        e.p95 = e.p95.max(p95);
        e.max = e.max.max(r.duration_max_ms.unwrap_or(p95));
    }
    let mut list: Vec<Slow<'a>> = by.into_values().collect();
    list.sort_by(|a, b| b.p95.cmp(&a.p95).then_with(|| a.iflow_id.cmp(b.iflow_id)));
    list.truncate(SLOWEST);
    list
}

fn tenant_section(base: &str, k: &TenantKpis, slow: &[Slow<'_>]) -> Markup {
    let id = k.tenant_id;
    let msgs = |q: &str| format!("{base}/messages?tenant={id}&{q}");
    let failed_24h = status_count(&k.last_24h, &["FAILED", "ESCALATED"]);
    let failed_1h = status_count(&k.last_hour, &["FAILED", "ESCALATED"]);
    let retry_24h = status_count(&k.last_24h, &["RETRY"]);
    let lag_tone = match k.collection_lag_secs {
        Some(s) if s > 3600 => "bad",
        Some(s) if s > 600 => "warn",
        Some(_) => "ok",
        None => "",
    };
    html! {
        section.panel data-tenant=(id) {
            h2 {
                a href={ (base) "/messages?tenant=" (id) } { (k.name) }
                " "
                @if k.unreachable {
                    a href={ (base) "/tenants/" (id) } { span.badge.s-unreachable { "unreachable" } }
                } @else {
                    (layout::status_badge(Some(&k.status)))
                }
            }
            @if k.unreachable {
                div.alert.error {
                    "The tenant could not be reached"
                    @if let Some(m) = &k.status_message { ": " (m) }
                    @if let Some(at) = k.status_at { " (" (time(Some(at))) ")" }
                }
            } @else if k.status == "stuck" {
                div.alert.error {
                    "Message collection is stuck"
                    @if let Some(m) = &k.status_message { ": " (m) }
                    @if let Some(at) = k.status_at { " (" (time(Some(at))) ")" }
                }
            }
            div.grid {
                (card(msgs("range=1h"), "Messages, last hour", count(k.last_hour_total), ""))
                (card(msgs("range=1h&status=FAILED,ESCALATED"), "Failed, last hour", count(failed_1h), if failed_1h > 0 { "bad" } else { "ok" }))
                (card(msgs("range=24h"), "Messages, last 24 h", count(k.last_24h_total), ""))
                (card(msgs("range=24h&status=FAILED,ESCALATED"), "Failed, last 24 h", count(failed_24h), if failed_24h > 0 { "bad" } else { "ok" }))
                (card(msgs("range=24h&status=RETRY"), "Retrying, last 24 h", count(retry_24h), if retry_24h > 0 { "warn" } else { "ok" }))
                (card(format!("{base}/artifacts?tenant={id}&in_error=only"), "Artifacts in error", count(k.artifacts_in_error_count), if k.artifacts_in_error_count > 0 { "bad" } else { "ok" }))
                (card(format!("{base}/keystore?tenant={id}&expiring=30"), "Certificates expiring ≤ 30 days", count(k.expiring_certificates.len() as i64), if k.expiring_certificates.is_empty() { "ok" } else { "warn" }))
                (card(format!("{base}/jobs?tenant={id}"), "Collection lag", lag_text(k.collection_lag_secs), lag_tone))
            }
            @if !k.failing_iflows.is_empty() {
                h2 { "Failing iFlows, last 24 h" }
                table {
                    thead { tr { th { "iFlow" } th.num { "Failed" } } }
                    tbody {
                        @for f in &k.failing_iflows {
                            tr {
                                td { a href=(format!("{base}/messages?tenant={id}&range=24h&status=FAILED,ESCALATED&iflow={}", enc(&f.iflow_id))) {
                                    (f.iflow_name.as_deref().unwrap_or(&f.iflow_id)) } }
                                td.num { (count(f.failed)) }
                            }
                        }
                    }
                }
            }
            @if !slow.is_empty() {
                h2 { "Slowest iFlows, last hour" }
                table.slowest {
                    thead { tr { th { "iFlow" } th.num { "Messages" } th.num { "p95 (worst interval)" } th.num { "Longest" } } }
                    tbody {
                        @for s in slow {
                            tr {
                                td { a href=(format!("{base}/messages?tenant={id}&range=1h&iflow={}", enc(s.iflow_id))) { (s.name) } }
                                td.num { (count(s.messages)) }
                                td.num { (layout::duration_ms(Some(s.p95))) }
                                td.num { (layout::duration_ms(Some(s.max))) }
                            }
                        }
                    }
                }
                p.muted { "LogEnd − LogStart, from the metric snapshots." }
            }
            h2 { "Collection" }
            table {
                thead { tr { th { "Job" } th { "Last success" } th { "Last attempt" } th.num { "Failures in a row" } th { "Last error" } } }
                tbody {
                    @for j in &k.jobs {
                        tr {
                            td { (j.job_type) }
                            td { (time(j.last_success_at)) }
                            td { (time(j.last_attempt_at)) }
                            td.num { (j.consecutive_failures) }
                            td.trunc { (layout::opt(j.last_error.as_deref())) }
                        }
                    }
                }
            }
        }
    }
}

/// The error groups needing attention: new ones, and regressed or escalating ones.
fn error_cards(base: &str, c: &crate::service::error_groups::OverviewCountsOut) -> Markup {
    let tone = |n: i64| if n > 0 { "bad" } else { "ok" };
    let attention = c.regressed + c.escalating;
    // One state per link: regressed first, the rarer and more urgent news.
    let attention_state = if c.regressed > 0 || c.escalating == 0 {
        "regressed"
    } else {
        "escalating"
    };
    html! {
        section.panel id="error-cards" {
            h2 { a href={ (base) "/errors" } { "Error groups" } }
            div.grid {
                (card(format!("{base}/errors?state=new&range=7d"), "New error groups", count(c.new), if c.new > 0 { "warn" } else { "ok" }))
                (card(format!("{base}/errors?state={attention_state}&range=7d"), "Regressed / escalating",
                    format!("{} / {}", count(c.regressed), count(c.escalating)), tone(attention)))
            }
        }
    }
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn page(state: web::Data<AppState>, p: Principal) -> PageResult<HttpResponse> {
    let base = &state.cfg.base;
    let tenants = access::visible_tenants(&state, &p).await?;
    let now = Utc::now();
    let mut kpis = Vec::new();
    for t in &tenants {
        if let Some(k) = monitor::overview(&state.db, t.id, now).await? {
            kpis.push(k);
        }
    }
    let ids: Vec<i64> = tenants.iter().map(|t| t.id).collect();
    let hour = now
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap_or(now);
    let from = hour - chrono::Duration::hours(23);
    let points = monitor::volume_cached(
        &state.db,
        &ids,
        from,
        now,
        Bucket::Hour,
        None,
        &state.facet_cache,
    )
    .await?;
    // One read of every visible tenant's last hour of snapshots (small: rows per iFlow and
    // interval), for the slowest-iFlow tables.
    let recent = snapshots::metric_snapshots(
        &state.db,
        &ids,
        now - chrono::Duration::hours(1),
        now,
        20_000,
    )
    .await?;
    let buckets: Vec<_> = (0..24).map(|i| from + chrono::Duration::hours(i)).collect();
    let errors = crate::service::error_groups::overview_counts(&state, &tenants).await?;
    let loading = crate::service::messages::history_loading(&state, &tenants, now).await?;
    let resources = crate::service::resources::for_tenants(&state, &tenants).await?;
    let body = html! {
        h1 { "Overview"
            span.right { label.muted { input type="checkbox" id="auto-refresh"; " refresh every 30 s" } }
        }
        @if tenants.is_empty() {
            div.panel {
                p { "No tenant is set up yet." }
                @if p.user.role.allows(Role::Manager) {
                    a.button href={ (base) "/tenants/new" } { "Add a tenant" }
                } @else {
                    p.muted { "Ask a manager to add one, or to give you access to one." }
                }
            }
        } @else {
            (super::messages::backfill_note(base, &loading))
            (error_cards(base, &errors))
            div.panel {
                h2 { "Messages per hour, last 24 h (" (crate::zone::current().name()) ")" }
                (super::charts::volume_linked(&points, &buckets, |t| crate::zone::current().format(t, "%H:%M"), |t| {
                    Some(format!(
                        "{base}/messages?from={}&to={}",
                        enc(&t.to_rfc3339()),
                        enc(&(t + chrono::Duration::hours(1)).to_rfc3339())
                    ))
                }))
            }
            @for k in &kpis {
                (tenant_section(base, k, &slowest(recent.iter().filter(|r| r.tenant_id == k.tenant_id))))
                @if let Some(r) = resources.get(&k.tenant_id) { (super::resources::section(r)) }
            }
        }
    };
    Ok(layout::page(&state, &p, Nav::Overview, "Overview", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(iflow: &str, messages: i64, p95: Option<i64>, max: Option<i64>) -> MetricSnapshot {
        MetricSnapshot {
            tenant_id: 1,
            bucket_start: Utc::now(),
            bucket_secs: 300,
            iflow_id: iflow.into(),
            iflow_name: None,
            messages,
            status_counts: Default::default(),
            duration_p50_ms: p95,
            duration_p95_ms: p95,
            duration_p99_ms: p95,
            duration_max_ms: max,
            payload_count: 0,
            payload_bytes: 0,
            computed_at: Utc::now(),
        }
    }

    #[test]
    fn slowest_takes_the_worst_interval_per_iflow() {
        let rows = [
            row("a", 3, Some(100), Some(150)),
            row("a", 2, Some(900), Some(1000)),
            row("b", 1, Some(500), None),
            row("c", 4, None, None),
        ];
        let s = slowest(rows.iter());
        let got: Vec<(&str, i64, i64, i64)> = s
            .iter()
            .map(|s| (s.iflow_id, s.messages, s.p95, s.max))
            .collect();
        assert_eq!(got, vec![("a", 5, 900, 1000), ("b", 1, 500, 500)]);
    }
}
