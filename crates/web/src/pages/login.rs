//! Sign in, sign out, and the account page (password change, personal API tokens).

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use domain::user;
use maud::{Markup, html};
use serde::Deserialize;
use store::repo::users;

use super::layout::{self, Nav, bare, html_response, time};
use crate::auth::{self, LOGIN_CSRF_COOKIE, Principal, SESSION_COOKIE};
use crate::error::{AppError, PageResult};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only paths inside this app, never another site (`//evil`, `https://…`).
fn safe_next(state: &AppState, next: Option<&str>) -> String {
    let home = state.cfg.url("/");
    match next {
        Some(n)
            if n.starts_with(&state.cfg.url("/"))
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.contains("/login") =>
        {
            n.to_string()
        }
        _ => home,
    }
}

fn login_form(
    state: &AppState,
    csrf: &str,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Markup {
    let base = &state.cfg.base;
    bare(
        base,
        "Sign in",
        html! {
            div.login.panel {
                h1 { "Sign in to IntegraMon" }
                @if let Some(e) = error { div.alert.error role="alert" { (e) } }
                form method="post" action={ (base) "/login" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    label { "User name" br; input name="username" id="username" value=(username) autocomplete="username" required autofocus; }
                    label { "Password" br; input type="password" name="password" id="password" autocomplete="current-password" required; }
                    button type="submit" id="sign-in" { "Sign in" }
                }
                p.muted { "No account yet? An admin creates one; the first admin is created with "
                    code { "integramon user create --admin" } "." }
            }
        },
    )
}

pub async fn login_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LoginQuery>,
) -> HttpResponse {
    let csrf = auth::random_secret(24);
    let next = safe_next(&state, q.next.as_deref());
    let markup = login_form(&state, &csrf, &next, "", None);
    let mut res = html_response(StatusCode::OK, markup);
    let _ = res.add_cookie(&auth::cookie(&state, &req, LOGIN_CSRF_COOKIE, csrf, None));
    res
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> PageResult<HttpResponse> {
    let next = safe_next(&state, form.next.as_deref());
    let cookie_csrf = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_string());
    let fresh = auth::random_secret(24);
    let again = |status: StatusCode, msg: &str| {
        let mut res = html_response(
            status,
            login_form(&state, &fresh, &next, &form.username, Some(msg)),
        );
        let _ = res.add_cookie(&auth::cookie(
            &state,
            &req,
            LOGIN_CSRF_COOKIE,
            fresh.clone(),
            None,
        ));
        res
    };
    if !cookie_csrf.is_some_and(|c| auth::same_secret(&c, &form.csrf)) {
        return Ok(again(
            StatusCode::FORBIDDEN,
            "The sign-in form expired or was not sent by this site. Please sign in again.",
        ));
    }
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let name = form.username.trim().to_string();
    let keys = vec![format!("ip:{ip}"), format!("user:{}", name.to_lowercase())];
    if let Err(wait) = state.throttle.check(&keys, Instant::now()) {
        tracing::warn!(ip, user = %name, "sign-in refused: too many failed attempts");
        let mut res = again(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed sign-ins. Try again in {wait} s."),
        );
        res.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(wait),
        );
        return Ok(res);
    }
    let found = users::credentials(&state.db, &name).await?;
    let (user, hash) = match found {
        Some((u, h)) if u.active => (Some(u), Some(h)),
        _ => (None, None),
    };
    if !auth::verify_password(hash, &form.password).await {
        state.throttle.fail(&keys, Instant::now());
        tracing::info!(ip, user = %name, "sign-in failed");
        return Ok(again(
            StatusCode::UNAUTHORIZED,
            "The user name or password is not right.",
        ));
    }
    let Some(user) = user else {
        return Err(AppError::Internal.into());
    };
    state.throttle.succeed(&keys[1]);
    let cookie = auth::start_session(&state, &req, &user).await?;
    let target = if user.must_change_password {
        state.cfg.url("/account?must_change=1")
    } else {
        next
    };
    tracing::info!(user = %user.username, "signed in");
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", target))
        .cookie(cookie)
        .cookie(auth::removal(&state, &req, LOGIN_CSRF_COOKIE))
        .finish())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    form: web::Form<CsrfForm>,
) -> PageResult<HttpResponse> {
    p.check_csrf(&req, Some(&form.csrf))?;
    if let Some(id) = p.session_id() {
        users::delete_session(&state.db, id).await?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", state.cfg.url("/login")))
        .cookie(auth::removal(&state, &req, SESSION_COOKIE))
        .finish())
}

#[derive(Deserialize, Default)]
pub struct AccountQuery {
    must_change: Option<String>,
}

fn account_page(
    state: &AppState,
    p: &Principal,
    tokens: &[users::ApiToken],
    notice: Option<Markup>,
    errors: &[domain::tenant::FieldError],
    must_change: bool,
) -> HttpResponse {
    let base = &state.cfg.base;
    let body = html! {
        h1 { "Your account" }
        @if let Some(n) = notice { (n) }
        @if must_change || p.user.must_change_password {
            div.alert.info { "Please choose a new password before you continue." }
        }
        div.panel {
            h2 { "Change password" }
            (layout::alert_errors(errors))
            form method="post" action={ (base) "/account/password" } class="form-grid" {
                input type="hidden" name="csrf" value=(p.csrf());
                label for="current" { "Current password" }
                input type="password" id="current" name="current" autocomplete="current-password" required;
                label for="new_password" { "New password" }
                input type="password" id="new_password" name="new_password" autocomplete="new-password" required minlength=(user::MIN_PASSWORD_CHARS);
                (layout::field_error(errors, "new_password"))
                label for="confirm" { "Repeat new password" }
                input type="password" id="confirm" name="confirm" autocomplete="new-password" required;
                (layout::field_error(errors, "confirm"))
                span {}
                div { button type="submit" id="change-password" { "Change password" } }
            }
        }
        div.panel {
            h2 { "API tokens" }
            p.muted { "Use a token with " code { "Authorization: Bearer <token>" } " on "
                code { (base) "/api/…" } ". The token is shown once; only a hash is kept." }
            form method="post" action={ (base) "/account/tokens" } class="filters" {
                input type="hidden" name="csrf" value=(p.csrf());
                label { "Name" input name="name" required maxlength="100" placeholder="e.g. CI pipeline"; }
                label { "Expires in days (empty: never)" input name="days" type="number" min="1" max="3650"; }
                button type="submit" id="create-token" { "Create token" }
            }
            table {
                thead { tr { th { "Name" } th { "Created" } th { "Expires" } th { "Last used" } th { "State" } th {} } }
                tbody {
                    @for t in tokens {
                        tr {
                            td { (t.name) }
                            td { (time(Some(t.created_at))) }
                            td { (time(t.expires_at)) }
                            td { (time(t.last_used_at)) }
                            td { @if t.revoked_at.is_some() { span.badge.s-failed { "revoked" } } @else { span.badge.s-ok { "active" } } }
                            td {
                                @if t.revoked_at.is_none() {
                                    form.inline method="post" action={ (base) "/account/tokens/" (t.id) "/revoke" } data-confirm="Revoke this token?" {
                                        input type="hidden" name="csrf" value=(p.csrf());
                                        button.secondary type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(state, p, Nav::Account, "Account", body)
}

pub async fn account(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<AccountQuery>,
) -> PageResult<HttpResponse> {
    let tokens = users::list_tokens(&state.db, Some(p.user.id)).await?;
    Ok(account_page(
        &state,
        &p,
        &tokens,
        None,
        &[],
        q.must_change.is_some(),
    ))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

/// Check and store a new password; shared by the page and the API.
pub async fn change_password(
    state: &AppState,
    p: &Principal,
    current: &str,
    new_password: &str,
) -> Result<(), AppError> {
    let hash = users::password_hash(&state.db, p.user.id).await?;
    if !auth::verify_password(hash, current).await {
        return Err(AppError::invalid("current", "is not your current password"));
    }
    user::validate_password("new_password", new_password, &p.user.username)
        .map_err(|e| AppError::invalid(&e.field, e.message))?;
    let hash = auth::hash_password(new_password).await?;
    users::set_password(&state.db, p.user.id, &hash, false, p.session_id()).await?;
    Ok(())
}

pub async fn password(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    form: web::Form<PasswordForm>,
) -> PageResult<HttpResponse> {
    p.check_csrf(&req, Some(&form.csrf))?;
    let tokens = users::list_tokens(&state.db, Some(p.user.id)).await?;
    if form.new_password != form.confirm {
        let errors = vec![domain::tenant::FieldError {
            field: "confirm".into(),
            message: "does not match the new password".into(),
        }];
        return Ok(account_page(&state, &p, &tokens, None, &errors, false));
    }
    match change_password(&state, &p, &form.current, &form.new_password).await {
        Ok(()) => {
            let mut p = p;
            p.user.must_change_password = false;
            let notice = html! { div.alert.ok { "Your password was changed. Other sessions were signed out." } };
            Ok(account_page(&state, &p, &tokens, Some(notice), &[], false))
        }
        Err(AppError::Invalid { fields, .. }) => {
            Ok(account_page(&state, &p, &tokens, None, &fields, false))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    days: Option<String>,
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

pub async fn token_create(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    form: web::Form<TokenForm>,
) -> PageResult<HttpResponse> {
    p.check_csrf(&req, Some(&form.csrf))?;
    let days = match form
        .days
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        None => None,
        Some(d) => Some(
            d.parse::<u32>()
                .map_err(|_| AppError::invalid("days", "must be a whole number"))?,
        ),
    };
    let result = create_token(&state, p.user.id, &form.name, days).await;
    let tokens = users::list_tokens(&state.db, Some(p.user.id)).await?;
    match result {
        Ok((secret, _)) => {
            let notice = html! {
                div.alert.ok {
                    "Your new token (copy it now; it is not shown again): "
                    code id="new-token" { (secret) }
                }
            };
            Ok(account_page(&state, &p, &tokens, Some(notice), &[], false))
        }
        Err(AppError::Invalid { fields, .. }) => {
            Ok(account_page(&state, &p, &tokens, None, &fields, false))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn token_revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> PageResult<HttpResponse> {
    p.check_csrf(&req, Some(&form.csrf))?;
    let id = path.into_inner();
    match users::get_token(&state.db, id).await? {
        Some(t) if t.user_id == p.user.id => {
            users::revoke_token(&state.db, id, Utc::now()).await?;
        }
        _ => return Err(AppError::not_found(format!("token {id}")).into()),
    }
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", state.cfg.url("/account")))
        .finish())
}
