//! `/api/me`, `/api/users` (admins) and `/api/tokens`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::user::{self, Role, User};
use serde::{Deserialize, Serialize};
use store::repo::users;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::{ApiResult, AppError};
use crate::pages::login;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    /// `user`, `manager` or `admin`.
    pub role: String,
    /// Access groups (empty: every tenant).
    pub groups: Vec<String>,
    pub active: bool,
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            role: u.role.as_str().into(),
            groups: u.groups,
            active: u.active,
            must_change_password: u.must_change_password,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<users::ApiToken> for TokenOut {
    fn from(t: users::ApiToken) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id,
            name: t.name,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NewTokenOut {
    /// The secret: shown once, never again.
    pub token: String,
    #[serde(flatten)]
    pub meta: TokenOut,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenIn {
    /// 1–100 characters.
    pub name: String,
    /// Lifetime in days (1–3650); absent: never expires.
    #[serde(default)]
    pub days: Option<u32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordIn {
    pub current: String,
    /// At least 10 characters, not the user name.
    pub new_password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Initial password (the user is asked to change it unless `must_change_password` is false).
    pub password: String,
    /// `user` (default), `manager` or `admin`.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub must_change_password: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdateIn {
    #[serde(default)]
    pub email: Option<String>,
    pub role: String,
    #[serde(default)]
    pub groups: Vec<String>,
    pub active: bool,
    /// Set a new password (the user must change it at next sign-in).
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
pub struct TokenQuery {
    /// Admins: the tokens of this user (default: your own); `all=true` for everyone's.
    pub user_id: Option<i64>,
    pub all: Option<bool>,
}

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
    login::change_password(&state, &p, &body.current, &body.new_password).await?;
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
    let owner = match (q.user_id, q.all.unwrap_or(false)) {
        (None, false) => Some(p.user.id),
        (Some(u), false) if u == p.user.id => Some(u),
        (other, _) => {
            p.require(Role::Admin)?;
            other
        }
    };
    let tokens = users::list_tokens(&state.db, owner).await?;
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
    let (secret, token) = login::create_token(&state, p.user.id, &body.name, body.days).await?;
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
    match users::get_token(&state.db, id).await? {
        Some(t) if t.user_id == p.user.id || p.user.role == Role::Admin => {
            users::revoke_token(&state.db, id, Utc::now()).await?;
            Ok(HttpResponse::NoContent().finish())
        }
        _ => Err(AppError::not_found(format!("token {id}")).into()),
    }
}

/// Every user (admins).
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, body = [UserOut]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_users(state: web::Data<AppState>, p: Principal) -> ApiResult<HttpResponse> {
    p.require(Role::Admin)?;
    let list = users::list(&state.db).await?;
    Ok(HttpResponse::Ok().json(list.into_iter().map(UserOut::from).collect::<Vec<_>>()))
}

fn parse_role(raw: Option<&str>) -> Result<Role, AppError> {
    match raw {
        None => Ok(Role::User),
        Some(r) => Role::parse(r)
            .ok_or_else(|| AppError::invalid("role", "must be user, manager or admin")),
    }
}

fn check_groups(groups: &[String]) -> Result<(), AppError> {
    for (i, g) in groups.iter().enumerate() {
        let t = g.trim();
        if t.is_empty() || t.chars().count() > 64 || t.chars().any(char::is_control) {
            return Err(AppError::invalid(
                &format!("groups[{i}]"),
                "must be 1–64 characters without control characters",
            ));
        }
    }
    Ok(())
}

fn check_email(email: Option<&str>) -> Result<(), AppError> {
    match email.map(str::trim) {
        Some(e)
            if !e.is_empty()
                && (!e.contains('@') || e.len() > 254 || e.chars().any(char::is_whitespace)) =>
        {
            Err(AppError::invalid("email", "is not an e-mail address"))
        }
        _ => Ok(()),
    }
}

/// Validate and create a user; shared by the page and the API.
pub async fn create_user_checked(state: &AppState, body: &UserIn) -> Result<User, AppError> {
    let mut errors = Vec::new();
    if let Err(e) = user::validate_username("username", body.username.trim()) {
        errors.push(e);
    }
    if let Err(e) = user::validate_password("password", &body.password, body.username.trim()) {
        errors.push(e);
    }
    user::collect(errors)?;
    let role = parse_role(body.role.as_deref())?;
    check_groups(&body.groups)?;
    check_email(body.email.as_deref())?;
    let hash = crate::auth::hash_password(&body.password).await?;
    users::create(
        &state.db,
        &users::NewUser {
            username: body.username.trim().into(),
            email: body.email.clone().filter(|e| !e.trim().is_empty()),
            password_hash: hash,
            role,
            groups: body.groups.clone(),
            must_change_password: body.must_change_password.unwrap_or(true),
        },
    )
    .await
    .map_err(|e| {
        if e.is_unique_violation() {
            AppError::Invalid {
                message: "username: is taken".into(),
                fields: vec![domain::tenant::FieldError {
                    field: "username".into(),
                    message: "is taken".into(),
                }],
            }
        } else {
            e.into()
        }
    })
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

/// Apply an admin's change to a user; refuses to remove the last active admin.
pub async fn update_user_checked(
    state: &AppState,
    p: &Principal,
    id: i64,
    body: &UserUpdateIn,
) -> Result<User, AppError> {
    let role = parse_role(Some(&body.role))?;
    check_groups(&body.groups)?;
    check_email(body.email.as_deref())?;
    let Some(current) = users::get(&state.db, id).await? else {
        return Err(AppError::not_found(format!("user {id}")));
    };
    let loses_admin =
        current.role == Role::Admin && current.active && (role != Role::Admin || !body.active);
    if loses_admin && users::count_active_admins(&state.db).await? <= 1 {
        return Err(AppError::Conflict(
            "this is the last active admin; make another user admin first".into(),
        ));
    }
    if let Some(pw) = &body.password {
        user::validate_password("password", pw, &current.username)
            .map_err(|e| AppError::invalid(&e.field, e.message))?;
    }
    let updated = users::update(
        &state.db,
        id,
        &users::UserUpdate {
            email: body.email.clone().filter(|e| !e.trim().is_empty()),
            role,
            groups: body.groups.clone(),
            active: body.active,
        },
    )
    .await?;
    if let Some(pw) = &body.password {
        let hash = crate::auth::hash_password(pw).await?;
        users::set_password(&state.db, id, &hash, true, None).await?;
    }
    tracing::info!(by = %p.user.username, user = %updated.username, role = %updated.role, active = updated.active, "user changed");
    Ok(users::get(&state.db, id).await?.unwrap_or(updated))
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
    Ok(HttpResponse::Ok().json(UserOut::from(u)))
}

/// Delete a user and their sessions and tokens (admins; not the last admin, not yourself).
pub async fn delete_user_checked(state: &AppState, p: &Principal, id: i64) -> Result<(), AppError> {
    if id == p.user.id {
        return Err(AppError::Conflict("you cannot delete yourself".into()));
    }
    let Some(current) = users::get(&state.db, id).await? else {
        return Err(AppError::not_found(format!("user {id}")));
    };
    if current.role == Role::Admin
        && current.active
        && users::count_active_admins(&state.db).await? <= 1
    {
        return Err(AppError::Conflict("this is the last active admin".into()));
    }
    users::delete(&state.db, id).await?;
    tracing::info!(by = %p.user.username, user = %current.username, "user deleted");
    Ok(())
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
    Ok(HttpResponse::NoContent().finish())
}
