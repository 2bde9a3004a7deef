//! Server-rendered pages.

pub mod layout;
pub mod login;

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
        );
}
