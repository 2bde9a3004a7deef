//! Server-rendered pages.

pub mod archives;
pub mod catalog;
pub mod charts;
pub mod jobs;
pub mod layout;
pub mod login;
pub mod messages;
pub mod overview;
pub mod storage;
pub mod tenants;
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
        .route(
            "/account/tokens/{id}/revoke",
            web::post().to(login::token_revoke),
        )
        .route("/messages", web::get().to(messages::list))
        .route("/messages/{id}", web::get().to(messages::detail))
        .route(
            "/messages/{id}/payloads/{payload}",
            web::get().to(messages::payload),
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
        .route("/users/{id}/delete", web::post().to(users::delete));
}
