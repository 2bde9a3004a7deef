//! `/api/archives`: the archive files the archiver wrote, per tenant-day — list, summary, one,
//! download (refused when the tenant's payloads are masked for you, as the files hold them) and
//! delete (managers; the row stays as metadata). A file that no longer has the checksum its row
//! records is neither downloaded nor deleted (409).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::access;
use crate::audit::{self, Change};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::service::archives::summary as summary_of;
use crate::service::archives::*;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/archives", web::get().to(list))
        .route("/archives/summary", web::get().to(summary))
        .route("/archives/{id}", web::get().to(get))
        .route("/archives/{id}", web::delete().to(delete))
        .route("/archives/{id}/download", web::get().to(download));
}

/// Archive files, newest day first.
#[utoipa::path(get, path = "/api/archives", tag = "archives", params(ArchivesQuery),
    responses((status = 200, body = [ArchiveOut]), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ArchivesQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.parse()?;
    let visible = access::visible_tenants(&state, &p).await?;
    let (rows, _) = load(&state, &visible, &q).await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// Archive figures per tenant (files, bytes, messages, oldest and newest day).
#[utoipa::path(get, path = "/api/archives/summary", tag = "archives",
    responses((status = 200, body = [ArchiveSummaryOut])))]
pub async fn summary(state: web::Data<AppState>, p: Principal) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(summary_of(&state, &p).await?))
}

/// One archive.
#[utoipa::path(get, path = "/api/archives/{id}", tag = "archives",
    params(("id" = i64, Path, description = "archive id")),
    responses((status = 200, body = ArchiveOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let (row, t) = visible_archive(&state, &p, path.into_inner()).await?;
    let names = HashMap::from([(t.id, t.settings.name.clone())]);
    Ok(HttpResponse::Ok().json(archive_out(row, &names)))
}

/// Download the archive file (gzip JSON Lines; see docs/operations/archive.md). 403 when the
/// tenant's payloads are masked for you.
#[utoipa::path(get, path = "/api/archives/{id}/download", tag = "archives",
    params(("id" = i64, Path, description = "archive id")),
    responses((status = 200, content_type = "application/gzip", body = Vec<u8>),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn download(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    Ok(download_archive(&state, &p, path.into_inner()).await?)
}

/// Delete the archive file (managers); the row stays, `deleted`, as metadata. 409 while an
/// archive run of the tenant is active or when the archive is not `archived`.
#[utoipa::path(delete, path = "/api/archives/{id}", tag = "archives",
    params(("id" = i64, Path, description = "archive id")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    p.check_csrf(&req, None)?;
    let row = delete_archive(&state, &p, path.into_inner()).await?;
    audit::record(&state, &req, &p, Change::archive("archive.deleted", &row)).await;
    Ok(HttpResponse::NoContent().finish())
}
