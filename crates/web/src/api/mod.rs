//! The JSON API under `/api/`. Every route needs a session (with `X-CSRF-Token` on writes) or
//! an API token. The OpenAPI document at `/api/openapi.json` is generated from these handlers.

pub mod archives;
pub mod audit;
pub mod catalog;
pub mod error_groups;
pub mod jobs;
pub mod messages;
pub mod openapi;
pub mod resources;
pub mod storage;
pub mod tenants;
pub mod users;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // JSON answers are compressed when the client asks: they carry no CSRF token, so an
    // attacker who reflects input cannot learn one by size (BREACH). HTML pages, which do, are
    // sent uncompressed.
    cfg.service(
        web::scope("/api")
            .wrap(actix_web::middleware::Compress::default())
            .route("/openapi.json", web::get().to(openapi::document))
            .configure(users::routes)
            .configure(tenants::routes)
            .configure(resources::routes)
            .configure(messages::routes)
            .configure(error_groups::routes)
            .configure(catalog::routes)
            .configure(jobs::routes)
            .configure(archives::routes)
            .configure(storage::routes)
            .configure(audit::routes)
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> crate::error::ApiResult<actix_web::HttpResponse> {
    Err(crate::error::AppError::not_found("no such API route").into())
}
