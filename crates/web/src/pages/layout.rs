//! The page frame (navigation, user menu) and small shared pieces: status badges, times,
//! numbers, field errors.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::tenant::FieldError;
use domain::user::Role;
use maud::{DOCTYPE, Markup, html};

use crate::assets::VERSION;
use crate::auth::Principal;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Messages,
    Artifacts,
    Keystore,
    Jobs,
    Archives,
    Storage,
    Tenants,
    Users,
    Account,
}

fn head(base: &str, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · IntegraMon" }
            link rel="icon" href={ (base) "/static/favicon.svg" };
            link rel="stylesheet" href={ (base) "/static/app.css?v=" (VERSION) };
            script src={ (base) "/static/app.js?v=" (VERSION) } defer {}
        }
    }
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
            body {
                header.top {
                    a.brand href={ (base) "/" } {
                        img src={ (base) "/static/favicon.svg" } width="22" height="22" alt="";
                        "IntegraMon"
                    }
                    nav {
                        (link(Nav::Overview, "/", "Overview"))
                        (link(Nav::Messages, "/messages", "Messages"))
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
                        }
                    }
                    div.who {
                        a href={ (base) "/account" } style="color:inherit" {
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

/// A page without navigation (login, errors).
pub fn bare(base: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(base, title))
            body { main { (body) } }
        }
    }
}

pub fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// `APP_BASE_PATH` for error pages, which are rendered without the request's state. One per
/// process: the settings are.
static ERROR_BASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

pub fn set_error_base(base: &str) {
    let _ = ERROR_BASE.set(base.to_string());
}

/// The body of an error page.
pub fn error_page(status: StatusCode, message: &str) -> String {
    let base = ERROR_BASE.get().map_or("", String::as_str);
    bare(
        base,
        status.canonical_reason().unwrap_or("Error"),
        html! {
            div.login {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
                div.alert.error { (message) }
                p { a href={ (base) "/" } { "Back to the overview" } }
            }
        },
    )
    .into_string()
}

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
        Some(t) => html! {
            time datetime=(t.to_rfc3339()) class="nowrap" { (t.format("%Y-%m-%d %H:%M:%S")) }
        },
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
                    code { (e.field) } " " (e.message)
                }
            }
        }
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
    }

    #[test]
    fn badges_escape_and_keep_class_names_safe() {
        let b = status_badge(Some("<x onclick=1>")).into_string();
        assert!(b.contains("&lt;x onclick=1&gt;"), "{b}");
        assert!(b.contains("s-xonclick1"), "{b}");
    }
}
