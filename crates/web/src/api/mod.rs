//! The JSON API under `/api/`. Every route needs a session (with `X-CSRF-Token` on writes) or
//! an API token. The OpenAPI document at `/api/openapi.json` is generated from these handlers.

pub mod archives;
pub mod catalog;
pub mod jobs;
pub mod jobs_submit;
pub mod messages;
pub mod openapi;
pub mod storage;
pub mod tenants;
pub mod users;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .route("/openapi.json", web::get().to(openapi::document))
            .configure(users::routes)
            .configure(tenants::routes)
            .configure(messages::routes)
            .configure(catalog::routes)
            .configure(jobs::routes)
            .configure(archives::routes)
            .configure(storage::routes)
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> crate::error::ApiResult<actix_web::HttpResponse> {
    Err(crate::error::AppError::not_found("no such API route").into())
}
