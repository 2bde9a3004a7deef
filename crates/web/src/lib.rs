//! IntegraMon web UI and JSON API (actix-web).
//!
//! Pages are server-rendered HTML (maud escapes every value; nothing from a tenant is ever
//! rendered as markup) with a small script for progressive enhancement; every asset is served
//! by the app itself. The JSON API lives under `/api/` with its OpenAPI document at
//! `/api/openapi.json`. Everything needs a session or an API token except `/healthz`,
//! `/readyz`, `/metrics`, the login page and the static assets.

pub mod access;
pub mod api;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod error;
pub mod html;
pub mod pages;
pub mod query;
pub mod request_log;
pub mod service;
pub mod state;
pub mod throttle;
pub mod zone;

use std::sync::Arc;

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use runtime::{Context, Routes, Spec};

use crate::config::WebConfig;
use crate::state::AppState;

pub const SPEC: Spec<WebConfig> = Spec {
    component: "web",
    default_listen: "127.0.0.1:8080",
    listen_env: "WEB_LISTEN",
    settings: WebConfig::from_settings,
    http: Some(app),
};

pub const ABOUT: &str = "IntegraMon web UI and JSON API";

/// Largest JSON or form body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// The UI and API routes, mounted under `APP_BASE_PATH`.
pub fn app(ctx: &Context<WebConfig>) -> anyhow::Result<Routes> {
    // Connection tests call tenants from here (labelled by API host: a name typed in the wizard
    // is not a tenant yet).
    runtime::metrics::register("cpi", cpi::metrics::register);
    let state = web::Data::new(AppState::from_context(ctx)?);
    let base = state.cfg.base.clone();
    html::set_error_base(&base);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY)
                    .error_handler(|err, _req| {
                        error::ApiError(error::AppError::invalid("body", err.to_string())).into()
                    }),
            )
            .app_data(web::QueryConfig::default().error_handler(|err, req| {
                error::for_request(req, error::AppError::invalid("query", err.to_string()))
            }))
            // A path part of the wrong shape (`/api/messages/abc`) names nothing: 404, as JSON
            // under `/api/`, as a page elsewhere.
            .app_data(web::PathConfig::default().error_handler(|_err, req| {
                error::for_request(
                    req,
                    error::AppError::not_found(format!("nothing at {}", req.path())),
                )
            }))
            .app_data(
                web::FormConfig::default()
                    .limit(MAX_BODY)
                    .error_handler(|err, req| {
                        error::for_request(req, error::AppError::invalid("form", err.to_string()))
                    }),
            )
            .service(
                web::scope(&base)
                    // Inside the guard: the principal is resolved when the zone is chosen.
                    .wrap(actix_web::middleware::from_fn(zone::scoped))
                    .wrap(actix_web::middleware::from_fn(guard))
                    .wrap(actix_web::middleware::from_fn(request_log::log))
                    .configure(assets::routes)
                    .configure(api::routes)
                    .configure(pages::routes)
                    .default_service(web::to(pages::not_found)),
            );
    }))
}

/// A NUL (`%00`) anywhere in the address: never part of a valid route or filter, and PostgreSQL
/// refuses it in text, so it is answered here.
fn has_nul(req: &ServiceRequest) -> bool {
    let raw = req.uri().path_and_query().map_or("", |p| p.as_str());
    raw.to_ascii_lowercase().contains("%00")
}

/// Security headers on every answer; 503 until the migration gate has opened; authentication
/// ([`auth::authenticate`]) before any handler reads the body.
async fn guard(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("not configured"));
    };
    let ready = state.health.gate_open();
    let is_asset = req.path().starts_with(&state.cfg.url("/static/"))
        || req.path() == state.cfg.url("/favicon.ico");
    if !ready && !is_asset {
        let res = HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "2"))
            .json(serde_json::json!({
                "error": "unavailable",
                "message": "IntegraMon is starting (waiting for the database migration)"
            }));
        return Ok(req.into_response(res).map_into_right_body());
    }
    if has_nul(&req) {
        let res = HttpResponse::BadRequest().json(serde_json::json!({
            "error": "invalid",
            "message": "the address contains a NUL character"
        }));
        return Ok(req.into_response(res).map_into_right_body());
    }
    if !is_asset && let Some(res) = auth::authenticate(&req).await {
        return Ok(with_headers(req.into_response(res), false).map_into_right_body());
    }
    let res = next.call(req).await?;
    Ok(with_headers(res, is_asset).map_into_left_body())
}

/// The security headers. An answer that set its own `Content-Security-Policy` (downloads:
/// `sandbox`) keeps it.
fn with_headers<B>(mut res: ServiceResponse<B>, is_asset: bool) -> ServiceResponse<B> {
    let h = res.headers_mut();
    let set = |h: &mut header::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(
            header::HeaderName::from_static(k),
            HeaderValue::from_static(v),
        );
    };
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(
            h,
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        );
    }
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
    if !is_asset && !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
        // A page belongs to whoever's session or token asked for it: no shared cache may
        // answer another user (or a signed-out browser) with it.
        h.append(
            header::VARY,
            HeaderValue::from_static("Cookie, Authorization"),
        );
    }
    res
}

/// Run until shutdown: create the bootstrap admin if asked, and purge expired sessions and
/// sign-in attempts older than the throttle's window.
pub async fn run(ctx: Context<WebConfig>) -> anyhow::Result<()> {
    let cfg = &ctx.config;
    if let Some((user, password)) = &cfg.bootstrap_admin {
        bootstrap::admin_from_settings(&ctx.db, user, password).await?;
    } else if cfg.generate_admin {
        bootstrap::generated_admin(&ctx.db).await?;
    }
    tracing::info!(component = SPEC.component, base = %cfg.base, "serving the UI and the JSON API");
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {
                match store::repo::users::purge_sessions(&ctx.db, chrono::Utc::now()).await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "expired sessions removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("removing expired sessions: {e}"),
                }
                let before = chrono::Utc::now() - chrono::Duration::from_std(cfg.login_window)
                    .unwrap_or(chrono::Duration::days(1));
                if let Err(e) = store::repo::login_attempts::purge(&ctx.db, before).await {
                    tracing::warn!("removing old sign-in attempts: {e}");
                }
            }
        }
    }
}
