//! `/api/tenants`: tenants with their job settings (secrets write-only), connection tests and
//! "sync now".

use actix_web::{HttpRequest, HttpResponse, web};
use domain::user::Role;
use store::repo::tenants;

use crate::access;
use crate::audit::{self, Change};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::service::tenants::*;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/tenants", web::get().to(list))
        .route("/tenants", web::post().to(create))
        .route("/tenants/test", web::post().to(test_new))
        .route("/tenants/{id}", web::get().to(get))
        .route("/tenants/{id}", web::put().to(update))
        .route("/tenants/{id}", web::delete().to(delete))
        .route("/tenants/{id}/test", web::post().to(test_stored))
        .route("/tenants/{id}/sync", web::post().to(sync));
}

/// The tenants you may see.
#[utoipa::path(get, path = "/api/tenants", tag = "tenants",
    responses((status = 200, body = [TenantOut])))]
pub async fn list(state: web::Data<AppState>, p: Principal) -> ApiResult<HttpResponse> {
    // Two queries whatever the number of tenants.
    let jobs = tenants::all_jobs(&state.db).await?;
    let out: Vec<TenantOut> = access::visible_tenants(&state, &p)
        .await?
        .iter()
        .map(|t| tenant_out(t, jobs.get(&t.id).map_or(&[][..], Vec::as_slice)))
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(get, path = "/api/tenants/{id}", tag = "tenants",
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 200, body = TenantOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    let jobs = tenants::jobs(&state.db, t.id).await?;
    Ok(HttpResponse::Ok().json(tenant_out(&t, &jobs)))
}

/// Create a tenant (managers). Validation errors name every field.
#[utoipa::path(post, path = "/api/tenants", tag = "tenants", request_body = TenantIn,
    responses((status = 201, body = TenantOut), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    body: web::Json<TenantIn>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let checked = check(&body, None)?;
    let t = save(&state, &p, None, checked).await?;
    audit::record(&state, &req, &p, Change::tenant("tenant.created", &t)).await;
    tracing::info!(by = %p.user.username, tenant = %t.settings.name, "tenant created");
    let jobs = tenants::jobs(&state.db, t.id).await?;
    Ok(HttpResponse::Created().json(tenant_out(&t, &jobs)))
}

/// Update a tenant (managers). An absent `secret` keeps the stored one.
#[utoipa::path(put, path = "/api/tenants/{id}", tag = "tenants", request_body = TenantIn,
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 200, body = TenantOut), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    body: web::Json<TenantIn>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let existing = access::tenant(&state, &p, path.into_inner()).await?;
    let checked = check(&body, Some(&existing))?;
    let before = audit::TenantBefore::read(&state, Some(&existing), checked.secret.is_some()).await;
    let t = save(&state, &p, Some(&existing), checked).await?;
    before.saved(&state, &req, &p, &t).await;
    tracing::info!(by = %p.user.username, tenant = %t.settings.name, "tenant changed");
    let jobs = tenants::jobs(&state.db, t.id).await?;
    Ok(HttpResponse::Ok().json(tenant_out(&t, &jobs)))
}

/// Delete a tenant and everything collected for it (admins).
#[utoipa::path(delete, path = "/api/tenants/{id}", tag = "tenants",
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Admin)?;
    p.check_csrf(&req, None)?;
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    tenants::delete(&state.db, t.id).await?;
    audit::record(&state, &req, &p, Change::tenant("tenant.deleted", &t)).await;
    tracing::info!(by = %p.user.username, tenant = %t.settings.name, "tenant deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Test a connection before saving (managers): every call the collector makes, with its result.
#[utoipa::path(post, path = "/api/tenants/test", tag = "tenants", request_body = TenantIn,
    params(TestQuery),
    responses((status = 200, body = ConnectionTestOut), (status = 422, body = crate::error::ErrorBody)))]
pub async fn test_new(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    q: web::Query<TestQuery>,
    body: web::Json<TenantIn>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let existing = match q.tenant_id {
        Some(id) => Some(access::tenant(&state, &p, id).await?),
        None => None,
    };
    let report = test_settings(&state, &body, existing.as_ref()).await?;
    Ok(HttpResponse::Ok().json(report_out(&report)))
}

/// Test a stored tenant's connection (managers) and record whether it is reachable.
#[utoipa::path(post, path = "/api/tenants/{id}/test", tag = "tenants",
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 200, body = ConnectionTestOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn test_stored(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    let report = test_stored_tenant(&state, &t).await?;
    Ok(HttpResponse::Ok().json(report_out(&report)))
}

/// Start a job for this tenant now (managers): "sync now".
#[utoipa::path(post, path = "/api/tenants/{id}/sync", tag = "tenants", request_body = SyncIn,
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 202, body = JobSubmittedOut), (status = 422, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody)))]
pub async fn sync(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    body: web::Json<SyncIn>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    let out = sync_now(&state, &p, &t, &body.job, body.params.clone()).await?;
    Ok(HttpResponse::Accepted().json(out))
}
