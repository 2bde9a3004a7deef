//! The stylesheet, the script and the icon, compiled into the binary: no CDN, no internet.

use actix_web::{HttpResponse, web};

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");
const ICON: &str = include_str!("../assets/favicon.svg");

/// Appended to asset URLs so a new version is fetched after an upgrade despite caching.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(body)
}

/// Under `/static/`, brotli- or gzip-compressed when the client asks (they hold no secret).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/static")
            .wrap(actix_web::middleware::Compress::default())
            .route(
                "/app.css",
                web::get().to(|| async { asset("text/css; charset=utf-8", CSS) }),
            )
            .route(
                "/app.js",
                web::get().to(|| async { asset("text/javascript; charset=utf-8", JS) }),
            )
            .route(
                "/favicon.svg",
                web::get().to(|| async { asset("image/svg+xml", ICON) }),
            ),
    );
}
