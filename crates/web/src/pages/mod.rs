//! Server-rendered pages.

pub mod charts;
pub mod layout;
pub mod login;
pub mod messages;
pub mod overview;
pub mod tenants;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(overview::page))
        .route("/login", web::get().to(login::login_page))
        .route("/login", web::post().to(login::login))
        .route("/logout", web::post().to(login::logout))
        .route("/account", web::get().to(login::account))
        .route("/account/password", web::post().to(login::password))
        .route("/account/tokens", web::post().to(login::token_create))
        .route("/account/tokens/{id}/revoke", web::post().to(login::token_revoke))
        .route("/messages", web::get().to(messages::list))
        .route("/messages/{id}", web::get().to(messages::detail))
        .route("/messages/{id}/payloads/{payload}", web::get().to(messages::payload))
        .route("/tenants", web::get().to(tenants::list))
        .route("/tenants", web::post().to(tenants::create))
        .route("/tenants/new", web::get().to(tenants::new))
        .route("/tenants/test", web::post().to(tenants::test))
        .route("/tenants/{id}", web::get().to(tenants::edit))
        .route("/tenants/{id}", web::post().to(tenants::update))
        .route("/tenants/{id}/delete", web::post().to(tenants::delete));
}
