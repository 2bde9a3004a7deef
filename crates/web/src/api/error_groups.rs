//! `/api/error-groups`: error groups (list, one group with its history and sample) and their
//! lifecycle actions (resolve, ignore, reopen, merge, unmerge; managers). Users read; managers
//! act. Tenant visibility and masking as for messages.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::user::Role;

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::service::error_groups::*;
use crate::service::error_rules::{self, MoveIn, RuleIn, RuleOut};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/error-groups", web::get().to(list))
        .route("/error-groups/{id}", web::get().to(detail))
        .route("/error-groups/{id}/resolve", web::post().to(resolve))
        .route("/error-groups/{id}/ignore", web::post().to(ignore))
        .route("/error-groups/{id}/reopen", web::post().to(reopen))
        .route("/error-groups/{id}/merge", web::post().to(merge))
        .route("/error-groups/{id}/unmerge", web::post().to(unmerge))
        .route("/error-rules", web::get().to(list_rules))
        .route("/error-rules", web::post().to(create_rule))
        .route("/error-rules/{id}", web::put().to(update_rule))
        .route("/error-rules/{id}", web::delete().to(delete_rule))
        .route("/error-rules/{id}/move", web::post().to(move_rule));
}

/// Error groups matching the filters, with their occurrences in the range; keyset paged.
#[utoipa::path(get, path = "/api/error-groups", tag = "error groups", params(GroupsQuery),
    responses((status = 200, body = GroupListOut), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<GroupsQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        crate::service::error_groups::list(&state, &p, &q)
            .await?
            .out,
    ))
}

/// One error group: its counts, sample text, normalised template, hourly history and state
/// history.
#[utoipa::path(get, path = "/api/error-groups/{id}", tag = "error groups",
    params(("id" = i64, Path, description = "error group id")),
    responses((status = 200, body = GroupDetailOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn detail(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(crate::service::error_groups::detail(&state, &p, path.into_inner()).await?))
}

/// Resolve a group (managers): now, or with the iFlow's next deployment; an optional comment.
#[utoipa::path(post, path = "/api/error-groups/{id}/resolve", tag = "error groups",
    params(("id" = i64, Path, description = "error group id")), request_body = ResolveIn,
    responses((status = 200, body = GroupDetailOut), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn resolve(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    acting(&req, &p)?;
    let input: ResolveIn = optional_json(&body)?;
    let out =
        crate::service::error_groups::resolve(&state, &req, &p, path.into_inner(), &input).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Ignore a group (managers): forever, until a date, until N more occurrences, or until N
/// occurrences within W minutes.
#[utoipa::path(post, path = "/api/error-groups/{id}/ignore", tag = "error groups",
    params(("id" = i64, Path, description = "error group id")), request_body = IgnoreIn,
    responses((status = 200, body = GroupDetailOut), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn ignore(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    acting(&req, &p)?;
    let input: IgnoreIn = required_json(&body)?;
    let out =
        crate::service::error_groups::ignore(&state, &req, &p, path.into_inner(), &input).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Reopen a resolved or ignored group (managers).
#[utoipa::path(post, path = "/api/error-groups/{id}/reopen", tag = "error groups",
    params(("id" = i64, Path, description = "error group id")), request_body = CommentIn,
    responses((status = 200, body = GroupDetailOut), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn reopen(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    acting(&req, &p)?;
    let input: CommentIn = optional_json(&body)?;
    let out =
        crate::service::error_groups::reopen(&state, &req, &p, path.into_inner(), &input).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Merge other groups of the same tenant into this one (managers).
#[utoipa::path(post, path = "/api/error-groups/{id}/merge", tag = "error groups",
    params(("id" = i64, Path, description = "the group that stays")), request_body = MergeIn,
    responses((status = 200, body = GroupDetailOut), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn merge(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    acting(&req, &p)?;
    let input: MergeIn = required_json(&body)?;
    let out =
        crate::service::error_groups::merge(&state, &req, &p, path.into_inner(), &input).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Take a merged group back out of the group it was merged into (managers); 409 when it is
/// not merged.
#[utoipa::path(post, path = "/api/error-groups/{id}/unmerge", tag = "error groups",
    params(("id" = i64, Path, description = "the merged group")),
    responses((status = 200, body = GroupDetailOut), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn unmerge(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    acting(&req, &p)?;
    let out = crate::service::error_groups::unmerge(&state, &req, &p, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The fingerprint rules in evaluation order (first match wins).
#[utoipa::path(get, path = "/api/error-rules", tag = "error groups",
    responses((status = 200, body = [RuleOut])))]
pub async fn list_rules(state: web::Data<AppState>, _p: Principal) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(error_rules::list(&state).await?))
}

/// Add a fingerprint rule at the end of the order (managers); a bad glob or regex names its
/// field.
#[utoipa::path(post, path = "/api/error-rules", tag = "error groups", request_body = RuleIn,
    responses((status = 201, body = RuleOut), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_rule(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    acting(&req, &p)?;
    let input: RuleIn = required_json(&body)?;
    Ok(HttpResponse::Created().json(error_rules::create(&state, &req, &p, &input).await?))
}

/// Change a fingerprint rule (managers).
#[utoipa::path(put, path = "/api/error-rules/{id}", tag = "error groups", request_body = RuleIn,
    params(("id" = i64, Path, description = "rule id")),
    responses((status = 200, body = RuleOut), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_rule(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    acting(&req, &p)?;
    let input: RuleIn = required_json(&body)?;
    Ok(HttpResponse::Ok()
        .json(error_rules::update(&state, &req, &p, path.into_inner(), &input).await?))
}

/// Delete a fingerprint rule (managers).
#[utoipa::path(delete, path = "/api/error-rules/{id}", tag = "error groups",
    params(("id" = i64, Path, description = "rule id")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_rule(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    acting(&req, &p)?;
    error_rules::delete(&state, &req, &p, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Move a fingerprint rule to another position (managers); answers the new order.
#[utoipa::path(post, path = "/api/error-rules/{id}/move", tag = "error groups", request_body = MoveIn,
    params(("id" = i64, Path, description = "rule id")),
    responses((status = 200, body = [RuleOut]), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn move_rule(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    acting(&req, &p)?;
    let input: MoveIn = required_json(&body)?;
    Ok(HttpResponse::Ok()
        .json(error_rules::move_to(&state, &req, &p, path.into_inner(), &input).await?))
}

/// Writes are for managers, checked before the body is read (a user gets 403 whatever they
/// send), and a session caller must send the CSRF token.
fn acting(req: &HttpRequest, p: &Principal) -> Result<(), crate::error::AppError> {
    p.require(Role::Manager)?;
    p.check_csrf(req, None)
}

/// A JSON body.
fn required_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, crate::error::AppError> {
    serde_json::from_slice(body).map_err(|e| crate::error::AppError::invalid("body", e.to_string()))
}

/// An optional JSON body: empty means the defaults.
fn optional_json<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, crate::error::AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| crate::error::AppError::invalid("body", e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_lists_the_error_group_routes() {
        let doc = crate::api::openapi::build("");
        for path in [
            "/api/error-groups",
            "/api/error-groups/{id}",
            "/api/error-groups/{id}/resolve",
            "/api/error-groups/{id}/ignore",
            "/api/error-groups/{id}/reopen",
            "/api/error-groups/{id}/merge",
            "/api/error-groups/{id}/unmerge",
            "/api/error-rules",
            "/api/error-rules/{id}",
            "/api/error-rules/{id}/move",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path} is missing");
        }
    }
}
