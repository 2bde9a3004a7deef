//! `/api/tenants/{id}/packages`, `…/artifacts`, `…/artifacts/{artifact_id}/versions` and
//! `…/keystore`: what a tenant has designed, deployed and stored, as the collector last saw it.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use store::repo::artifacts::{self};

use crate::access;
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::service::catalog::*;
use crate::service::catalog::{packages as packages_of, versions as versions_of};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/tenants/{id}/packages", web::get().to(packages))
        .route("/tenants/{id}/artifacts", web::get().to(list_artifacts))
        .route(
            "/tenants/{id}/artifacts/{artifact_id}/versions",
            web::get().to(versions),
        )
        .route("/tenants/{id}/keystore", web::get().to(keystore));
}

/// A tenant's integration packages, with how many design-time artifacts each has.
#[utoipa::path(get, path = "/api/tenants/{id}/packages", tag = "catalog",
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 200, body = [PackageOut]), (status = 404, body = crate::error::ErrorBody)))]
pub async fn packages(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(packages_of(&state, &p, path.into_inner()).await?))
}

/// A tenant's artifacts: design-time and runtime side by side (version, deploy status,
/// deployed by and at, error text, content hash and size).
#[utoipa::path(get, path = "/api/tenants/{id}/artifacts", tag = "catalog",
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 200, body = [ArtifactOut]), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_artifacts(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(load_artifacts(&state, t.id).await?))
}

/// Every content hash the deep sync saw for an artifact, oldest first.
#[utoipa::path(get, path = "/api/tenants/{id}/artifacts/{artifact_id}/versions", tag = "catalog",
    params(("id" = i64, Path, description = "tenant id"),
        ("artifact_id" = String, Path, description = "CPI artifact id"), VersionsQuery),
    responses((status = 200, body = VersionsOut), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn versions(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(i64, String)>,
    q: web::Query<VersionsQuery>,
) -> ApiResult<HttpResponse> {
    let (id, artifact_id) = path.into_inner();
    let out = versions_of(&state, &p, id, artifact_id, q.kind.as_deref()).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// A tenant's keystore entries, soonest expiry first, with the days left.
#[utoipa::path(get, path = "/api/tenants/{id}/keystore", tag = "catalog",
    params(("id" = i64, Path, description = "tenant id"), KeystoreQuery),
    responses((status = 200, body = [KeystoreOut]), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn keystore(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
    q: web::Query<KeystoreQuery>,
) -> ApiResult<HttpResponse> {
    let expiring = parse_expiring(q.expiring.as_deref())?;
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    let entries = artifacts::list_keystore(&state.db, t.id).await?;
    Ok(HttpResponse::Ok().json(keystore_view(entries, Utc::now(), expiring)))
}
