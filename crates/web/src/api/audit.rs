//! `/api/audit`: the audit log, newest first, for admins: who created, changed or deleted users,
//! tokens, tenants (and their secrets, never the values), job settings and archives, when, and
//! from which address. Paged by id (`before`), filtered by actor, action, object and time.

use actix_web::{HttpResponse, web};

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::service::audit::*;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(list));
}

/// The audit log, newest first (admins).
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPageOut), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(load(&state, &p, &q).await?))
}
