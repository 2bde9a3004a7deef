//! Users, passwords and API tokens: the checks and writes behind `api::users`, `pages::users`
//! and the account page.

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use domain::Secret;
use domain::user::{self, Role, User};
use serde::{Deserialize, Serialize};
use store::repo::users;
use utoipa::ToSchema;

use crate::auth::{self, Principal};
use crate::error::AppError;
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

#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct TokenIn {
    /// 1–100 characters.
    pub name: String,
    /// Lifetime in days (1–3650); absent: never expires.
    #[serde(default)]
    pub days: Option<u32>,
}

#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct PasswordIn {
    #[schema(value_type = String)]
    pub current: Secret,
    /// At least 10 characters, not the user name.
    #[schema(value_type = String)]
    pub new_password: Secret,
}

#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Initial password (the user is asked to change it unless `must_change_password` is false).
    #[schema(value_type = String)]
    pub password: Secret,
    /// `user` (default), `manager` or `admin`.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub must_change_password: Option<bool>,
}

#[derive(Deserialize, ToSchema, Debug)]
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
    #[schema(value_type = Option<String>)]
    pub password: Option<Secret>,
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
pub struct TokenQuery {
    /// Admins: the tokens of this user (default: your own); `all=true` for everyone's.
    pub user_id: Option<i64>,
    pub all: Option<bool>,
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
    if let Err(e) =
        user::validate_password("password", body.password.expose(), body.username.trim())
    {
        errors.push(e);
    }
    user::collect(errors)?;
    let role = parse_role(body.role.as_deref())?;
    check_groups(&body.groups)?;
    check_email(body.email.as_deref())?;
    let hash = crate::auth::hash_password_bounded(state, body.password.expose()).await?;
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
        user::validate_password("password", pw.expose(), &current.username)
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
        let hash = crate::auth::hash_password_bounded(state, pw.expose()).await?;
        // An admin's reset ends every session and revokes every API token of the user.
        users::set_password(&state.db, id, &hash, true, None, true).await?;
    }
    tracing::info!(by = %p.user.username, user = %updated.username, role = %updated.role, active = updated.active, "user changed");
    Ok(users::get(&state.db, id).await?.unwrap_or(updated))
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

/// Store the user's time zone: an IANA name (`Europe/Berlin`), or empty for the browser's.
pub async fn set_time_zone(state: &AppState, p: &Principal, raw: &str) -> Result<(), AppError> {
    let raw = raw.trim();
    let zone = if raw.is_empty() {
        None
    } else {
        Some(
            crate::zone::parse(raw)
                .ok_or_else(|| {
                    AppError::invalid(
                        "time_zone",
                        "must be a time zone name such as Europe/Berlin or UTC",
                    )
                })?
                .name(),
        )
    };
    users::set_time_zone(&state.db, p.user.id, zone).await?;
    Ok(())
}

/// Check and store a new password; shared by the page and the API.
pub async fn change_password(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    current: &Secret,
    new_password: &Secret,
) -> Result<(), AppError> {
    user::validate_password("new_password", new_password.expose(), &p.user.username)
        .map_err(|e| AppError::invalid(&e.field, e.message))?;
    // Guessing the current password here is throttled like signing in, with the same keys.
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let attempt = state
        .throttle
        .begin(&state.db, &ip, &p.user.username)
        .await?;
    let hash = users::password_hash(&state.db, p.user.id).await?;
    if !auth::verify_password(hash, current.expose()).await {
        return Err(AppError::invalid("current", "is not your current password"));
    }
    let hash = auth::hash_password(new_password.expose()).await?;
    attempt.succeeded(&state.db).await;
    // API tokens stay: the user chose this change and can revoke tokens on the account page.
    users::set_password(&state.db, p.user.id, &hash, false, p.session_id(), false).await?;
    Ok(())
}

/// Validate and create a token for `user_id`; returns the secret (shown once) and the token.
pub async fn create_token(
    state: &AppState,
    user_id: i64,
    name: &str,
    days: Option<u32>,
) -> Result<(String, users::ApiToken), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid("name", "must be 1–100 characters"));
    }
    if let Some(d) = days
        && !(1..=3650).contains(&d)
    {
        return Err(AppError::invalid("days", "must be between 1 and 3650"));
    }
    let (secret, hash) = auth::new_token();
    let expires = days.map(|d| Utc::now() + chrono::Duration::days(i64::from(d)));
    let token = users::create_token(&state.db, user_id, name, &hash, expires).await?;
    Ok((secret, token))
}

/// Whose tokens a caller may list: by default their own; another user's (`user_id`) or
/// everyone's (`all`) for admins only.
pub async fn tokens_of(
    state: &AppState,
    p: &Principal,
    user_id: Option<i64>,
    all: bool,
) -> Result<Vec<users::ApiToken>, AppError> {
    let owner = match (user_id, all) {
        (None, false) => Some(p.user.id),
        (Some(u), false) if u == p.user.id => Some(u),
        (other, _) => {
            p.require(Role::Admin)?;
            other
        }
    };
    Ok(users::list_tokens(&state.db, owner).await?)
}

/// Which tokens a revoke may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Only the caller's own (the account page).
    Own,
    /// The caller's own, or anyone's for an admin (the API).
    OwnOrAnyForAdmins,
}

/// Revoke a token within `scope`; one outside it is answered like a missing one (404), so ids
/// cannot be probed. Returns the token as it was.
pub async fn revoke_token(
    state: &AppState,
    p: &Principal,
    id: i64,
    scope: TokenScope,
) -> Result<users::ApiToken, AppError> {
    let allowed = |t: &users::ApiToken| {
        t.user_id == p.user.id
            || (scope == TokenScope::OwnOrAnyForAdmins && p.user.role == Role::Admin)
    };
    match users::get_token(&state.db, id).await? {
        Some(t) if allowed(&t) => {
            users::revoke_token(&state.db, id, Utc::now()).await?;
            Ok(t)
        }
        _ => Err(AppError::not_found(format!("token {id}"))),
    }
}
