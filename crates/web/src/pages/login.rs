//! Sign in, sign out, and the account page (password change, personal API tokens).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Secret;
use domain::user;
use maud::{Markup, html};
use serde::Deserialize;
use store::repo::users;

use super::layout::{self, Nav, bare, html_response, time};
use crate::audit::{self, Change};
use crate::auth::{self, LOGIN_CSRF_COOKIE, Principal, SESSION_COOKIE};
use crate::error::{AppError, PageResult};
use crate::service::users as users_service;
use crate::state::AppState;
use crate::throttle::Refused;

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Where to go after signing in: only a path of this app (below `APP_BASE_PATH`), never
/// another site. Browsers drop tabs and line breaks from a `Location` and read `\` as `/`, so
/// `/\t/evil.example` or `/\\evil.example` would lead away: anything but printable ASCII, a
/// backslash, or a path starting with `//` sends the user home instead.
fn safe_next(state: &AppState, next: Option<&str>) -> String {
    let home = state.cfg.url("/");
    let Some(n) = next else { return home };
    let inside = state.cfg.base.is_empty()
        || n == state.cfg.base
        || n.starts_with(&format!("{}/", state.cfg.base))
        || n.starts_with(&format!("{}?", state.cfg.base));
    let path = n.strip_prefix(state.cfg.base.as_str()).unwrap_or(n);
    let ok = inside
        && n.starts_with('/')
        && !n.starts_with("//")
        && !path.starts_with("//")
        && n.bytes().all(|b| b.is_ascii_graphic())
        && !n.contains('\\')
        && !path.starts_with("/login");
    if ok { n.to_string() } else { home }
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

/// The sign-in form. The password is a [`Secret`], so a `{:?}` of the form shows `***`.
#[derive(Deserialize, Debug)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: Secret,
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
    // Reserved before the password is verified: parallel guesses count at once.
    let attempt = match state.throttle.begin(&state.db, &ip, &name).await {
        Ok(a) => a,
        Err(refused) => {
            tracing::warn!(ip, user = %name, ?refused, "sign-in refused");
            let (status, secs, msg) = match refused {
                Refused::TooMany(s) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    s,
                    format!("Too many failed sign-ins. Try again in {s} s."),
                ),
                Refused::Busy(s) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    s,
                    format!("Too many sign-ins at once. Try again in {s} s."),
                ),
                Refused::Unavailable => return Err(AppError::from(refused).into()),
            };
            let mut res = again(status, &msg);
            res.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(secs),
            );
            return Ok(res);
        }
    };
    let found = users::credentials(&state.db, &name).await?;
    let (user, hash) = match found {
        Some((u, h)) if u.active => (Some(u), Some(h)),
        _ => (None, None),
    };
    if !auth::verify_password(hash, form.password.expose()).await {
        tracing::info!(ip, user = %name, "sign-in failed");
        return Ok(again(
            StatusCode::UNAUTHORIZED,
            "The user name or password is not right.",
        ));
    }
    let Some(user) = user else {
        return Err(AppError::Internal.into());
    };
    attempt.succeeded(&state.db).await;
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
        // Signed-in pages kept by the browser must not come back with the back button.
        .insert_header(("Clear-Site-Data", "\"cache\""))
        .cookie(auth::removal(&state, &req, SESSION_COOKIE))
        .finish())
}

#[derive(Deserialize, Default)]
pub struct AccountQuery {
    must_change: Option<String>,
    /// Set by the redirect after a password change.
    password_changed: Option<String>,
    /// Set by the redirect after the time zone was saved.
    time_zone_saved: Option<String>,
}

/// Carries a new token's secret across the redirect after "Create token" (post/redirect/get:
/// a reload must not create another), sealed with the installation's key, for one page view.
const NEW_TOKEN_COOKIE: &str = "im_new_token";

/// How long the sealed secret waits for the page that shows it.
const NEW_TOKEN_TTL_SECS: i64 = 300;

pub(super) fn account_page(
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
        (super::time_zone::panel(state, p, errors))
        // Tokens only once the password is the user's own (until then they cannot be made).
        @if !p.user.must_change_password {
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
        }
    };
    layout::page(state, p, Nav::Account, "Account", body)
}

pub async fn account(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    q: web::Query<AccountQuery>,
) -> PageResult<HttpResponse> {
    let tokens = users::list_tokens(&state.db, Some(p.user.id)).await?;
    let new_token = req
        .cookie(NEW_TOKEN_COOKIE)
        .and_then(|c| domain::secret::open(&state.key, c.value()).ok())
        // Only the user who created it sees it (a shared browser switching users).
        .and_then(|v| {
            let (user, secret) = v.split_once(':')?;
            (user == p.user.id.to_string()).then(|| secret.to_owned())
        });
    let notice = match (&new_token, q.password_changed.is_some()) {
        (Some(secret), _) => Some(html! {
            div.alert.ok {
                "Your new token (copy it now; it is not shown again): "
                code id="new-token" { (secret) }
            }
        }),
        (None, true) => Some(
            html! { div.alert.ok id="password-changed" { "Your password was changed. Other sessions were signed out." } },
        ),
        (None, false) if q.time_zone_saved.is_some() => {
            Some(html! { div.alert.ok id="time-zone-saved" { "Your time zone was saved." } })
        }
        (None, false) => None,
    };
    let mut res = account_page(&state, &p, &tokens, notice, &[], q.must_change.is_some());
    if req.cookie(NEW_TOKEN_COOKIE).is_some() {
        let _ = res.add_removal_cookie(&auth::removal(&state, &req, NEW_TOKEN_COOKIE));
    }
    Ok(res)
}

/// A page answering a form that failed validation: nothing was changed, so a reload repeats
/// nothing; 422 says so.
pub(super) fn unprocessable(mut res: HttpResponse) -> HttpResponse {
    if res.status().is_success() {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    res
}

#[derive(Deserialize, Debug)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: Secret,
    #[serde(default)]
    new_password: Secret,
    #[serde(default)]
    confirm: Secret,
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
        return Ok(unprocessable(account_page(
            &state, &p, &tokens, None, &errors, false,
        )));
    }
    match users_service::change_password(&state, &req, &p, &form.current, &form.new_password).await
    {
        Ok(()) => {
            audit::record(
                &state,
                &req,
                &p,
                Change::user("user.password_changed", &p.user),
            )
            .await;
            Ok(layout::see_other(
                state.cfg.url("/account?password_changed=1"),
            ))
        }
        Err(AppError::Invalid { fields, .. }) => Ok(unprocessable(account_page(
            &state, &p, &tokens, None, &fields, false,
        ))),
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
    let result = users_service::create_token(&state, p.user.id, &form.name, days).await;
    let tokens = users::list_tokens(&state.db, Some(p.user.id)).await?;
    match result {
        Ok((secret, token)) => {
            audit::record(
                &state,
                &req,
                &p,
                Change::token("token.created", token.id, Some(&token.name)),
            )
            .await;
            let sealed = domain::secret::seal(&state.key, &format!("{}:{secret}", p.user.id))
                .map_err(|e| {
                    tracing::error!("sealing a new token for its page: {e}");
                    AppError::Internal
                })?;
            let mut res = layout::see_other(state.cfg.url("/account"));
            let _ = res.add_cookie(&auth::cookie(
                &state,
                &req,
                NEW_TOKEN_COOKIE,
                sealed,
                Some(chrono::Duration::seconds(NEW_TOKEN_TTL_SECS)),
            ));
            Ok(res)
        }
        Err(AppError::Invalid { fields, .. }) => Ok(unprocessable(account_page(
            &state, &p, &tokens, None, &fields, false,
        ))),
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
    // The account page lists only your own tokens, so it revokes only those, admins included.
    let t = users_service::revoke_token(&state, &p, id, users_service::TokenScope::Own).await?;
    audit::record(
        &state,
        &req,
        &p,
        Change::token("token.revoked", id, Some(&t.name)),
    )
    .await;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", state.cfg.url("/account")))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_and_password_forms_print_no_password_in_debug() {
        let login: LoginForm = serde_json::from_value(
            serde_json::json!({"username": "amy", "password": "hunter2hunter2"}),
        )
        .unwrap();
        let change: PasswordForm = serde_json::from_value(serde_json::json!({
            "current": "hunter2hunter2", "new_password": "hunter3hunter3", "confirm": "hunter3hunter3"
        }))
        .unwrap();
        let shown = format!("{login:?} {change:?}");
        assert!(!shown.contains("hunter"), "{shown}");
        assert_eq!(login.password.expose(), "hunter2hunter2");
    }
}
