//! Server-rendered pages.

pub mod archives;
pub mod audit;
pub mod catalog;
pub mod charts;
pub mod error_rules;
pub mod errors;
pub mod jobs;
pub mod layout;
pub mod login;
pub mod message;
pub mod messages;
pub mod overview;
pub mod resources;
pub mod storage;
pub mod tenants;
pub mod time_zone;
pub mod users;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(overview::page))
        .route("/login", web::get().to(login::login_page))
        .route("/login", web::post().to(login::login))
        .route("/logout", web::post().to(login::logout))
        .route("/account", web::get().to(login::account))
        .route("/account/password", web::post().to(login::password))
        .route("/account/tokens", web::post().to(login::token_create))
        .route("/account/time-zone", web::post().to(time_zone::save))
        .route(
            "/account/tokens/{id}/revoke",
            web::post().to(login::token_revoke),
        )
        .route("/messages", web::get().to(messages::list))
        .route("/errors", web::get().to(errors::list))
        // Before `/errors/{id}`, which would take "rules" for an id.
        .route("/errors/rules", web::get().to(error_rules::rules_page))
        .route("/errors/rules", web::post().to(error_rules::rule_create))
        .route(
            "/errors/rules/{id}/{action}",
            web::post().to(error_rules::rule_action),
        )
        .route("/errors/{id}", web::get().to(errors::detail))
        .route("/errors/{id}/{action}", web::post().to(errors::action))
        .route("/find", web::get().to(messages::find))
        .route("/messages/{id}", web::get().to(message::detail))
        .route(
            "/messages/{id}/payloads/{payload}",
            web::get().to(message::payload),
        )
        .route("/tenants", web::get().to(tenants::list))
        .route("/tenants", web::post().to(tenants::create))
        .route("/tenants/new", web::get().to(tenants::new))
        .route("/tenants/test", web::post().to(tenants::test))
        .route("/tenants/{id}", web::get().to(tenants::edit))
        .route("/tenants/{id}", web::post().to(tenants::update))
        .route("/tenants/{id}/delete", web::post().to(tenants::delete))
        .route(
            "/tenants/{id}/sync-now",
            web::post().to(jobs::sync_now_form),
        )
        .route("/artifacts", web::get().to(catalog::artifacts_page))
        .route("/keystore", web::get().to(catalog::keystore_page))
        .route("/jobs", web::get().to(jobs::jobs_page))
        .route("/storage", web::get().to(storage::storage_page))
        .route("/jobs/dead/requeue", web::post().to(jobs::requeue_form))
        .route(
            "/jobs/{job_id}/retry",
            web::post().to(jobs::retry_form_post),
        )
        .route("/archives", web::get().to(archives::archives_page))
        .route("/archives/{id}/download", web::get().to(archives::download))
        .route("/archives/{id}/delete", web::post().to(archives::delete))
        .route("/users", web::get().to(users::users_page))
        .route("/users", web::post().to(users::create))
        .route("/users/{id}", web::post().to(users::update))
        .route(
            "/users/{id}/password",
            web::post().to(users::reset_password),
        )
        .route("/users/{id}/delete", web::post().to(users::delete))
        .route("/audit", web::get().to(audit::audit_page))
        .route("/favicon.ico", web::get().to(favicon));
}

/// Any path no route answers: a 404 page (the API scope answers its own in JSON).
pub async fn not_found(
    req: actix_web::HttpRequest,
) -> crate::error::PageResult<actix_web::HttpResponse> {
    Err(crate::error::AppError::not_found(format!("there is no page at {}", req.path())).into())
}

/// Browsers ask for `/favicon.ico` whatever the page links: send them to the icon.
async fn favicon(state: web::Data<crate::state::AppState>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::MovedPermanently()
        .insert_header(("Location", state.cfg.url("/static/favicon.svg")))
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .finish()
}
