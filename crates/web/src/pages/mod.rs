//! Server-rendered pages.

pub mod catalog;
pub mod jobs;
pub mod layout;
pub mod login;
pub mod users;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login::login_page))
        .route("/login", web::post().to(login::login))
        .route("/logout", web::post().to(login::logout))
        .route("/account", web::get().to(login::account))
        .route("/account/password", web::post().to(login::password))
        .route("/account/tokens", web::post().to(login::token_create))
        .route(
            "/account/tokens/{id}/revoke",
            web::post().to(login::token_revoke),
        )
        .route("/artifacts", web::get().to(catalog::artifacts_page))
        .route("/keystore", web::get().to(catalog::keystore_page))
        .route("/jobs", web::get().to(jobs::jobs_page))
        .route("/jobs/dead/requeue", web::post().to(jobs::requeue_form))
        .route(
            "/jobs/{job_id}/retry",
            web::post().to(jobs::retry_form_post),
        )
        .route(
            "/tenants/{id}/sync-now",
            web::post().to(jobs::sync_now_form),
        )
        .route("/users", web::get().to(users::users_page))
        .route("/users", web::post().to(users::create))
        .route("/users/{id}", web::post().to(users::update))
        .route(
            "/users/{id}/password",
            web::post().to(users::reset_password),
        )
        .route("/users/{id}/delete", web::post().to(users::delete));
}
