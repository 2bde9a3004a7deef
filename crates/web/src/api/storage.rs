//! `/api/storage` (database and table sizes over time, archive sizes per tenant) and
//! `/api/tenants/{id}/metrics` (a tenant's metric snapshots), both read from the snapshots the
//! metrics daemon writes.
//!
//! Access: storage is installation-wide (every table holds every tenant's rows), an operational
//! view for managers and admins; archive sizes are listed only for tenants the user may see.
//! A tenant's metric snapshots are for anyone who may see that tenant.

use actix_web::{HttpResponse, web};

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::service::storage::tenant_metrics as metrics_of;
use crate::service::storage::*;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/storage", web::get().to(storage))
        .route("/tenants/{id}/metrics", web::get().to(tenant_metrics));
}

/// Database, table and archive sizes: the newest snapshot and the history (managers and
/// admins).
#[utoipa::path(get, path = "/api/storage", tag = "metrics", params(StorageQuery),
    responses((status = 200, body = StorageOut), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn storage(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<StorageQuery>,
) -> ApiResult<HttpResponse> {
    let days = parse_days(q.days.as_deref())?;
    Ok(HttpResponse::Ok().json(load_storage(&state, &p, days).await?))
}

/// A tenant's metric snapshots per interval and iFlow.
#[utoipa::path(get, path = "/api/tenants/{id}/metrics", tag = "metrics",
    params(("id" = i64, Path, description = "the tenant's id"), MetricsQuery),
    responses((status = 200, body = TenantMetricsOut), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn tenant_metrics(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
    q: web::Query<MetricsQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(metrics_of(&state, &p, &path, &q).await?))
}
