//! The page frame (navigation, user menu) and small shared pieces: status badges, times,
//! numbers, field errors.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::tenant::FieldError;
use domain::user::Role;
use maud::{DOCTYPE, Markup, html};

use crate::auth::Principal;
use crate::html::head;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Messages,
    Errors,
    Artifacts,
    Keystore,
    Jobs,
    Archives,
    Storage,
    Tenants,
    Users,
    Audit,
    Account,
}

/// A full page for a signed-in user.
pub fn page(state: &AppState, p: &Principal, nav: Nav, title: &str, body: Markup) -> HttpResponse {
    let base = &state.cfg.base;
    if p.user.must_change_password && nav != Nav::Account {
        return HttpResponse::SeeOther()
            .insert_header(("Location", format!("{base}/account?must_change=1")))
            .finish();
    }
    let link = |n: Nav, path: &str, label: &str| {
        html! { a href={ (base) (path) } class=[(n == nav).then_some("active")] { (label) } }
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(base, title))
            body data-base=(base) {
                header.top {
                    a.brand href={ (base) "/" } {
                        img src={ (base) "/static/favicon.svg" } width="22" height="22" alt="";
                        "IntegraMon"
                    }
                    nav {
                        (link(Nav::Overview, "/", "Overview"))
                        (link(Nav::Messages, "/messages", "Messages"))
                        (link(Nav::Errors, "/errors", "Errors"))
                        (link(Nav::Artifacts, "/artifacts", "Artifacts"))
                        (link(Nav::Keystore, "/keystore", "Keystore"))
                        (link(Nav::Jobs, "/jobs", "Jobs"))
                        (link(Nav::Archives, "/archives", "Archives"))
                        @if p.user.role.allows(Role::Manager) {
                            (link(Nav::Storage, "/storage", "Storage"))
                        }
                        (link(Nav::Tenants, "/tenants", "Tenants"))
                        @if p.user.role.allows(Role::Admin) {
                            (link(Nav::Users, "/users", "Users"))
                            (link(Nav::Audit, "/audit", "Audit"))
                        }
                    }
                    form.find method="get" action={ (base) "/find" } role="search" {
                        input type="search" name="id" id="find-id" placeholder="Message, correlation or application id" aria-label="Find a message by id";
                    }
                    div.who {
                        // The zone every time on the page is shown in; the script compares it
                        // with the browser's (`data-source`: account, browser or default).
                        @let z = crate::zone::current();
                        a.tz id="time-zone" href={ (base) "/account#time-zone" } data-zone=(z.name()) data-source=(z.source.as_str()) title="Times are shown in this zone; change it in your account" { (z.name()) }
                        a.account href={ (base) "/account" } {
                            (p.user.username) " (" (p.user.role) ")"
                        }
                        form method="post" action={ (base) "/logout" } {
                            input type="hidden" name="csrf" value=(p.csrf());
                            button type="submit" id="logout" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

/// The form of a POST that carries nothing but its CSRF token.
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

/// The redirect after a form POST.
pub fn see_other(location: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

pub use crate::html::{bare, html_response};

pub fn status_badge(status: Option<&str>) -> Markup {
    let s = status.unwrap_or("—");
    let class: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    html! { span class={ "badge s-" (class) } { (s) } }
}

pub fn time(t: Option<DateTime<Utc>>) -> Markup {
    match t {
        // In the request's zone (see `zone`), named in the title; the machine-readable UTC
        // instant stays in `datetime`.
        Some(t) => {
            let z = crate::zone::current();
            html! {
                time datetime=(t.to_rfc3339()) class="nowrap" title=(format!("{} ({})", z.format(t, "%Y-%m-%d %H:%M:%S %Z"), z.name())) { (z.format(t, "%Y-%m-%d %H:%M:%S")) }
            }
        }
        None => html! { span.muted { "—" } },
    }
}

pub fn opt(s: Option<&str>) -> Markup {
    match s {
        Some(v) if !v.is_empty() => html! { (v) },
        _ => html! { span.muted { "—" } },
    }
}

pub fn count(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `1 message`, `2 messages`, `1,204 messages`.
pub fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// A message's duration; a message still processing has none yet (CPI reports its start as
/// its end until it ends, which read as "0 ms").
pub fn message_duration(status: Option<&str>, ms: Option<i64>) -> String {
    if status.is_some_and(|s| s.eq_ignore_ascii_case("PROCESSING")) {
        return "running".into();
    }
    duration_ms(ms)
}

pub fn duration_ms(ms: Option<i64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{:.1} min", ms as f64 / 60_000.0),
    }
}

pub fn field_error(errors: &[FieldError], field: &str) -> Markup {
    html! {
        @for e in errors.iter().filter(|e| e.field == field || e.field.starts_with(&format!("{field}["))) {
            div.field-error { (e.message) }
        }
    }
}

pub fn alert_errors(errors: &[FieldError]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.alert.error role="alert" {
                "Please correct: "
                @for (i, e) in errors.iter().enumerate() {
                    @if i > 0 { "; " }
                    strong { (field_label(&e.field)) } " " (e.message)
                }
            }
        }
    }
}

/// The label a form shows for a field error's internal name (`auth.username`, `new_password`,
/// `jobs[2].interval_secs`): what the user reads next to the input, never the name.
pub fn field_label(field: &str) -> String {
    const LABELS: &[(&str, &str)] = &[
        ("confirm", "Repeat new password"),
        ("current", "Current password"),
        ("new_password", "New password"),
        ("password", "Password"),
        ("secret", "Password or client secret"),
        ("auth.username", "Username"),
        ("auth.client_id", "Client id"),
        ("auth.token_url", "Token URL"),
        ("api_url", "API URL"),
        ("connection.api_url", "API URL"),
        ("header_name", "Header name"),
        ("header_value", "Header value"),
        ("message_id", "Message id"),
        ("correlation_id", "Correlation id"),
        ("application_id", "Application id"),
        ("iflow", "iFlow"),
        ("package", "Package"),
        ("from", "From"),
        ("to", "To"),
        ("days", "Expires in days"),
        ("time_zone", "Time zone"),
        ("before", "Newer page"),
        ("after", "Older page"),
    ];
    if let Some((_, label)) = LABELS.iter().find(|(f, _)| *f == field) {
        return (*label).to_string();
    }
    // Unlisted: the last part of the path, in words (`jobs[2].interval_secs` → "Interval secs").
    let last = field.rsplit('.').next().unwrap_or(field);
    let last = last.split('[').next().unwrap_or(last);
    let words = last.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => "This field".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_sizes_read_well() {
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(duration_ms(Some(1500)), "1.5 s");
        assert_eq!(plural(1, "message", "messages"), "1 message");
        assert_eq!(plural(1204, "message", "messages"), "1,204 messages");
        assert_eq!(message_duration(Some("PROCESSING"), Some(0)), "running");
        assert_eq!(message_duration(Some("COMPLETED"), Some(0)), "0 ms");
    }

    #[test]
    fn form_errors_name_the_label_not_the_field() {
        for (field, label) in [
            ("confirm", "Repeat new password"),
            ("new_password", "New password"),
            ("auth.username", "Username"),
            ("secret", "Password or client secret"),
            ("jobs[2].interval_secs", "Interval secs"),
        ] {
            assert_eq!(field_label(field), label);
            let html = alert_errors(&[FieldError {
                field: field.into(),
                message: "is wrong".into(),
            }])
            .into_string();
            assert!(
                html.contains(label) && !html.contains(&format!(">{field}<")),
                "{html}"
            );
        }
    }

    #[test]
    fn badges_escape_and_keep_class_names_safe() {
        let b = status_badge(Some("<x onclick=1>")).into_string();
        assert!(b.contains("&lt;x onclick=1&gt;"), "{b}");
        assert!(b.contains("s-xonclick1"), "{b}");
    }
}
