//! The "Resources" part of a tenant's overview: JMS capacity and queues against their limits,
//! and the data stores holding overdue messages.

use maud::{Markup, html};

use super::layout::{count, time};
use crate::service::resources::ResourcesOut;

fn percent_tone(p: Option<f64>) -> &'static str {
    match p {
        Some(p) if p >= 90.0 => "bad",
        Some(p) if p >= 75.0 => "warn",
        Some(_) => "ok",
        None => "",
    }
}

fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "–".into(), |p| format!("{p:.1} %"))
}

fn card(label: &str, value: String, tone: &str) -> Markup {
    html! {
        div class={ "card " (tone) } {
            div.label { (label) }
            div.value { (value) }
        }
    }
}

/// Shown below the tenant's section once the `resources` job has run.
pub fn section(r: &ResourcesOut) -> Markup {
    let overdue: Vec<_> = r
        .data_stores
        .iter()
        .filter(|d| d.overdue.is_some_and(|n| n > 0))
        .collect();
    let overdue_tone = if overdue.is_empty() { "ok" } else { "warn" };
    html! {
        section.panel.resources data-tenant=(r.tenant_id) {
            h2 { "Resources" span.muted { " read " (time(r.collected_at)) } }
            div.grid {
                @match &r.jms {
                    Some(j) => {
                        (card("JMS capacity used", percent(j.capacity_percent), percent_tone(j.capacity_percent)))
                        (card("JMS queues used / max", format!("{} / {}",
                            j.queues.map_or("–".into(), count), j.max_queues.map_or("–".into(), count)),
                            percent_tone(j.queues_percent)))
                    }
                    None => (card("JMS", "no broker".into(), ""))
                }
                (card("Data stores with overdue messages", count(overdue.len() as i64), overdue_tone))
            }
            @if let Some(j) = &r.jms {
                @if !j.limits.is_empty() {
                    div.alert.error.jms-limits {
                        "JMS broker near or over its limits: "
                        @for (i, l) in j.limits.iter().enumerate() {
                            @if i > 0 { "; " }
                            span data-reason=(l.reason) { (l.text) }
                        }
                    }
                }
            }
            @if !overdue.is_empty() {
                table.overdue-stores {
                    thead { tr { th { "Data store" } th { "iFlow" } th.num { "Messages" } th.num { "Overdue" } } }
                    tbody {
                        @for d in &overdue {
                            tr {
                                td { (d.name) }
                                td { @if d.iflow.is_empty() { span.muted { "global" } } @else { (d.iflow) } }
                                td.num { (d.messages.map_or("–".into(), count)) }
                                td.num { (d.overdue.map_or("–".into(), count)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::resources::{DataStoreOut, JmsOut, LimitOut};

    fn out(limits: Vec<LimitOut>, overdue: Option<i64>) -> ResourcesOut {
        ResourcesOut {
            tenant_id: 7,
            collected_at: None,
            has_jms: Some(true),
            jms: Some(JmsOut {
                capacity: Some(96),
                max_capacity: Some(100),
                capacity_percent: Some(96.0),
                queues: Some(30),
                max_queues: Some(30),
                queues_percent: Some(100.0),
                queues_ok: None,
                queues_warning: None,
                queues_error: None,
                transacted_sessions_high: None,
                consumers_high: None,
                producers_high: None,
                limits,
            }),
            data_stores: vec![DataStoreOut {
                name: "<b>store</b>".into(),
                iflow: String::new(),
                store_type: String::new(),
                visibility: None,
                messages: Some(45),
                overdue,
            }],
            data_stores_with_overdue: 0,
        }
    }

    #[test]
    fn over_the_limits_shows_why_and_the_overdue_stores_escaped() {
        let html = section(&out(
            vec![LimitOut {
                reason: "queues".into(),
                text: "the number of JMS queues is near the maximum".into(),
            }],
            Some(40),
        ))
        .into_string();
        assert!(html.contains("96.0 %"), "{html}");
        assert!(html.contains("30 / 30"), "{html}");
        assert!(html.contains("data-reason=\"queues\""), "{html}");
        assert!(html.contains("&lt;b&gt;store&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>store"), "{html}");
    }

    #[test]
    fn within_the_limits_shows_no_alert_and_no_table() {
        let html = section(&out(vec![], Some(0))).into_string();
        assert!(!html.contains("jms-limits"), "{html}");
        assert!(!html.contains("overdue-stores"), "{html}");
    }
}
