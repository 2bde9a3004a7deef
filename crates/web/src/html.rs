//! The HTML document shell: the `<head>`, a page without navigation, and the error page. Shared
//! by `pages` and by `error` (which answers page requests with HTML), so `error` needs nothing
//! from `pages`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

use crate::assets::VERSION;

/// The `<head>` of every page: title, icon, the stylesheet and the script (versioned URLs).
pub fn head(base: &str, title: &str) -> Markup {
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
