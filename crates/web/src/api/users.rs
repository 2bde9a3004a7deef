//! `/api/me`, `/api/users` (admins) and `/api/tokens`.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::user::Role;
use store::repo::users;

use crate::audit::{self, Change};
use crate::auth::Principal;
use crate::error::{ApiResult, AppError};
use crate::service::users::*;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/me", web::get().to(me))
        .route("/me/password", web::post().to(password))
        .route("/tokens", web::get().to(list_tokens))
        .route("/tokens", web::post().to(create_token))
        .route("/tokens/{id}", web::delete().to(revoke_token))
        .route("/users", web::get().to(list_users))
        .route("/users", web::post().to(create_user))
        .route("/users/{id}", web::get().to(get_user))
        .route("/users/{id}", web::put().to(update_user))
        .route("/users/{id}", web::delete().to(delete_user));
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/me", tag = "users",
    responses((status = 200, body = UserOut), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(p: Principal) -> HttpResponse {
    HttpResponse::Ok().json(UserOut::from(p.user))
}

/// Change your own password (other sessions are signed out).
#[utoipa::path(post, path = "/api/me/password", tag = "users", request_body = PasswordIn,
    responses((status = 204), (status = 422, body = crate::error::ErrorBody)))]
pub async fn password(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    body: web::Json<PasswordIn>,
) -> ApiResult<HttpResponse> {
    p.check_csrf(&req, None)?;
    change_password(&state, &req, &p, &body.current, &body.new_password).await?;
    audit::record(
        &state,
        &req,
        &p,
        Change::user("user.password_changed", &p.user),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

/// API tokens: your own, or (admins) another user's or everyone's.
#[utoipa::path(get, path = "/api/tokens", tag = "users", params(TokenQuery),
    responses((status = 200, body = [TokenOut])))]
pub async fn list_tokens(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<TokenQuery>,
) -> ApiResult<HttpResponse> {
    let tokens = tokens_of(&state, &p, q.user_id, q.all.unwrap_or(false)).await?;
    Ok(HttpResponse::Ok().json(tokens.into_iter().map(TokenOut::from).collect::<Vec<_>>()))
}

/// Create a token for yourself; the secret is in the answer only.
#[utoipa::path(post, path = "/api/tokens", tag = "users", request_body = TokenIn,
    responses((status = 201, body = NewTokenOut), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    body: web::Json<TokenIn>,
) -> ApiResult<HttpResponse> {
    p.check_csrf(&req, None)?;
    let (secret, token) =
        crate::service::users::create_token(&state, p.user.id, &body.name, body.days).await?;
    audit::record(
        &state,
        &req,
        &p,
        Change::token("token.created", token.id, Some(&token.name)),
    )
    .await;
    Ok(HttpResponse::Created().json(NewTokenOut {
        token: secret,
        meta: token.into(),
    }))
}

/// Revoke a token: your own, or any (admins).
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "users",
    params(("id" = i64, Path, description = "token id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    p.check_csrf(&req, None)?;
    let id = path.into_inner();
    let t =
        crate::service::users::revoke_token(&state, &p, id, TokenScope::OwnOrAnyForAdmins).await?;
    audit::record(
        &state,
        &req,
        &p,
        Change::token("token.revoked", id, Some(&t.name)),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Every user (admins).
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, body = [UserOut]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_users(state: web::Data<AppState>, p: Principal) -> ApiResult<HttpResponse> {
    p.require(Role::Admin)?;
    let list = users::list(&state.db).await?;
    Ok(HttpResponse::Ok().json(list.into_iter().map(UserOut::from).collect::<Vec<_>>()))
}

/// Create a user (admins).
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = UserIn,
    responses((status = 201, body = UserOut), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    body: web::Json<UserIn>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Admin)?;
    p.check_csrf(&req, None)?;
    let u = create_user_checked(&state, &body).await?;
    audit::record(&state, &req, &p, Change::user("user.created", &u)).await;
    tracing::info!(by = %p.user.username, user = %u.username, role = %u.role, "user created");
    Ok(HttpResponse::Created().json(UserOut::from(u)))
}

/// One user (admins, or yourself).
#[utoipa::path(get, path = "/api/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_user(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    if id != p.user.id {
        p.require(Role::Admin)?;
    }
    match users::get(&state.db, id).await? {
        Some(u) => Ok(HttpResponse::Ok().json(UserOut::from(u))),
        None => Err(AppError::not_found(format!("user {id}")).into()),
    }
}

/// Change a user's role, groups, e-mail, active flag or password (admins).
#[utoipa::path(put, path = "/api/users/{id}", tag = "users", request_body = UserUpdateIn,
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserOut), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    body: web::Json<UserUpdateIn>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Admin)?;
    p.check_csrf(&req, None)?;
    let u = update_user_checked(&state, &p, path.into_inner(), &body).await?;
    audit::record_all(&state, &req, &p, audit::user_updated(&u, &body)).await;
    Ok(HttpResponse::Ok().json(UserOut::from(u)))
}

#[utoipa::path(delete, path = "/api/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "user id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn delete_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Admin)?;
    p.check_csrf(&req, None)?;
    delete_user_checked(&state, &p, path.into_inner()).await?;
    audit::record(&state, &req, &p, Change::user_deleted(&req)).await;
    Ok(HttpResponse::NoContent().finish())
}
