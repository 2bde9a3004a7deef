//! `/api/tenants/{id}/resources`: the tenant's JMS broker usage and data stores.

use actix_web::{HttpResponse, web};

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::service::resources::{self, ResourcesOut};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/tenants/{id}/resources", web::get().to(get));
}

/// The tenant's resources as the last `resources` job read them: JMS capacity and queues
/// against their limits (with the limits near or exceeded), and the data stores with their
/// overdue messages. Before the job's first run, `collected_at` is absent.
#[utoipa::path(get, path = "/api/tenants/{id}/resources", tag = "tenants",
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 200, body = ResourcesOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let out = resources::for_tenant(&state, &p, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(out))
}
