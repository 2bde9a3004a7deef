//! Who is asking: a browser session (cookie) or an API token (`Authorization: Bearer`). Also
//! password hashing (argon2id), session and token secrets (only their SHA-256 is stored), and
//! the CSRF check for session-authenticated writes.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError, web};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use chrono::Utc;
use domain::user::{Role, User};
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use store::repo::users;

use crate::config::CookieSecure;
use crate::error::{ApiError, AppError};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "integramon_session";
/// Double-submit token for the login form (there is no session yet to hold one).
pub const LOGIN_CSRF_COOKIE: &str = "integramon_login";
/// Prefix of API tokens, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "imt_";

/// Sessions are touched at most this often, so reading pages does not write on every request.
const TOUCH_EVERY_SECS: i64 = 60;

/// A random secret, URL-safe base64 of `bytes` random bytes.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Equal in time whatever the inputs, so a CSRF token cannot be guessed byte by byte.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Argon2id with the crate's default parameters (19 MiB, 2 passes), off the async threads.
pub async fn hash_password(password: &str) -> Result<String, AppError> {
    let password = password.to_owned();
    web::block(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| AppError::Internal)?
    .map_err(|e| {
        tracing::error!("hashing a password failed: {e}");
        AppError::Internal
    })
}

/// [`hash_password`] within one of the hashing slots shared with sign-ins (for admins setting
/// passwords: waits for a slot).
pub async fn hash_password_bounded(state: &AppState, password: &str) -> Result<String, AppError> {
    let _slot = state.throttle.hash_slot().await?;
    hash_password(password).await
}

/// A hash of a random password nobody knows, verified against when the user does not exist,
/// so a missing user takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        SaltString::encode_b64(&salt)
            .ok()
            .and_then(|salt| {
                argon2::Argon2::default()
                    .hash_password(random_secret(16).as_bytes(), &salt)
                    .ok()
                    .map(|h| h.to_string())
            })
            .unwrap_or_default()
    })
}

pub async fn verify_password(hash: Option<String>, password: &str) -> bool {
    let password = password.to_owned();
    let known = hash.is_some();
    let ok = web::block(move || {
        let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false);
    ok && known
}

#[derive(Debug, Clone)]
pub enum Via {
    Session { id: String, csrf: String },
    Token { id: i64 },
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Via,
}

impl Principal {
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        if self.user.role.allows(role) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "this needs the {role} role; you are {}",
                self.user.role
            )))
        }
    }

    /// The CSRF token pages put into forms (empty for token callers, who need none).
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token { .. } => "",
        }
    }

    pub fn session_id(&self) -> Option<&str> {
        match &self.via {
            Via::Session { id, .. } => Some(id),
            Via::Token { .. } => None,
        }
    }

    /// A state-changing request made with the session cookie must carry the session's CSRF
    /// token (form field `csrf` or header `X-CSRF-Token`); token callers are not exposed to
    /// CSRF (browsers never attach a bearer token by themselves).
    pub fn check_csrf(&self, req: &HttpRequest, form_value: Option<&str>) -> Result<(), AppError> {
        match &self.via {
            Via::Token { .. } => Ok(()),
            Via::Session { csrf, .. } => {
                let sent = form_value.map(str::to_owned).or_else(|| {
                    req.headers()
                        .get("x-csrf-token")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                });
                if sent.is_some_and(|s| same_secret(&s, csrf)) {
                    Ok(())
                } else {
                    Err(AppError::forbidden(
                        "the form is out of date or was not sent by this site (CSRF check \
                         failed); reload the page and try again",
                    ))
                }
            }
        }
    }
}

/// Why a request has no principal; answered as 401 JSON for the API, a redirect to the login
/// page for pages. `must_change`: signed in, but the password must be changed first (403 JSON
/// for the API, a redirect to the account page for pages).
#[derive(Debug, Clone, thiserror::Error)]
#[error("sign in first")]
pub struct NoPrincipal {
    api: bool,
    login: String,
    unavailable: Option<String>,
    must_change: Option<String>,
}

impl ResponseError for NoPrincipal {
    fn status_code(&self) -> actix_web::http::StatusCode {
        if self.unavailable.is_some() {
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE
        } else if self.must_change.is_some() && self.api {
            actix_web::http::StatusCode::FORBIDDEN
        } else if self.api {
            actix_web::http::StatusCode::UNAUTHORIZED
        } else {
            actix_web::http::StatusCode::SEE_OTHER
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(why) = &self.unavailable {
            return ApiError(AppError::Unavailable(why.clone())).error_response();
        }
        if let Some(account) = &self.must_change {
            return if self.api {
                ApiError(AppError::forbidden(
                    "your password must be changed first (POST /api/me/password)",
                ))
                .error_response()
            } else {
                HttpResponse::SeeOther()
                    .insert_header(("Location", account.as_str()))
                    .finish()
            };
        }
        if self.api {
            ApiError(AppError::Unauthorized).error_response()
        } else {
            HttpResponse::SeeOther()
                .insert_header(("Location", self.login.as_str()))
                .finish()
        }
    }
}

fn is_api(state: &AppState, req: &HttpRequest) -> bool {
    req.path().starts_with(&state.cfg.url("/api/"))
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

async fn resolve(state: web::Data<AppState>, req: HttpRequest) -> Result<Principal, NoPrincipal> {
    let api = is_api(&state, &req);
    let next = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let login = format!(
        "{}?next={}",
        state.cfg.url("/login"),
        percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC)
    );
    let fail = |unavailable: Option<String>| NoPrincipal {
        api,
        login: login.clone(),
        unavailable,
        must_change: None,
    };
    let now = Utc::now();
    if let Some(token) = bearer(&req) {
        let hash = sha256_hex(&token);
        return match users::find_token(&state.db, &hash, now).await {
            Ok(Some((t, user))) => {
                if t.last_used_at
                    .is_none_or(|l| (now - l).num_seconds() >= TOUCH_EVERY_SECS)
                {
                    let db = state.db.clone();
                    tokio::spawn(async move {
                        if let Err(e) = users::touch_token(&db, t.id, now).await {
                            tracing::debug!("recording token use: {e}");
                        }
                    });
                }
                Ok(Principal {
                    user,
                    via: Via::Token { id: t.id },
                })
            }
            Ok(None) => Err(fail(None)),
            Err(e) => {
                tracing::warn!("checking an API token: {e}");
                Err(fail(Some("the database did not answer; try again".into())))
            }
        };
    }
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Err(fail(None));
    };
    let id = sha256_hex(cookie.value());
    match users::find_session(&state.db, &id, now).await {
        Ok(Some((session, user))) => {
            if (now - session.last_seen_at).num_seconds() >= TOUCH_EVERY_SECS {
                let db = state.db.clone();
                let sid = session.id.clone();
                tokio::spawn(async move {
                    if let Err(e) = users::touch_session(&db, &sid, now).await {
                        tracing::debug!("recording session use: {e}");
                    }
                });
            }
            Ok(Principal {
                user,
                via: Via::Session {
                    id: session.id,
                    csrf: session.csrf_token,
                },
            })
        }
        Ok(None) => Err(fail(None)),
        Err(e) => {
            tracing::warn!("checking a session: {e}");
            Err(fail(Some("the database did not answer; try again".into())))
        }
    }
}

/// The outcome of [`authenticate`], kept for the [`Principal`] extractor.
#[derive(Clone)]
struct Resolved(Result<Principal, NoPrincipal>);

/// What a user who must change their password may still reach (paths below the base): the
/// account page to change it, the password API, signing out, and the sign-in page (to sign in
/// as someone else). Static assets need no principal at all.
fn allowed_before_password_change(state: &AppState, req: &HttpRequest) -> bool {
    let Some(path) = req.path().strip_prefix(state.cfg.base.as_str()) else {
        return false;
    };
    let get = req.method() == actix_web::http::Method::GET;
    let post = req.method() == actix_web::http::Method::POST;
    path == "/login"
        || (get && path == "/account")
        || (post && matches!(path, "/account/password" | "/logout" | "/api/me/password"))
}

/// Who is asking, refusing a user who must change their password everywhere else.
async fn decide(state: web::Data<AppState>, req: HttpRequest) -> Result<Principal, NoPrincipal> {
    let api = is_api(&state, &req);
    match resolve(state.clone(), req.clone()).await {
        Ok(p) if p.user.must_change_password && !allowed_before_password_change(&state, &req) => {
            Err(NoPrincipal {
                api,
                login: String::new(),
                unavailable: None,
                must_change: Some(state.cfg.url("/account?must_change=1")),
            })
        }
        other => other,
    }
}

/// Authenticate before any handler or extractor runs (the middleware calls this), so that a
/// wrong token is answered 401 whatever the body holds, and a user who must change their
/// password reaches nothing else. Returns the answer to give at once, if any; otherwise the
/// outcome is kept for the [`Principal`] extractor. Requests without credentials pass through:
/// handlers that need a principal refuse them.
pub async fn authenticate(req: &ServiceRequest) -> Option<HttpResponse> {
    let state = req.app_data::<web::Data<AppState>>()?.clone();
    let http = req.request().clone();
    if bearer(&http).is_none() && http.cookie(SESSION_COOKIE).is_none() {
        return None;
    }
    let api = is_api(&state, &http);
    let outcome = decide(state, http).await;
    let answer = match &outcome {
        // Every API route needs a principal: wrong credentials are refused before the body.
        Err(e) if api || e.must_change.is_some() => Some(e.error_response()),
        _ => None,
    };
    req.extensions_mut().insert(Resolved(outcome));
    answer
}

impl FromRequest for Principal {
    type Error = NoPrincipal;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
                return Err(NoPrincipal {
                    api: true,
                    login: String::new(),
                    unavailable: Some("not configured".into()),
                    must_change: None,
                });
            };
            // Normally decided by [`authenticate`] before any extractor ran.
            let resolved = req.extensions().get::<Resolved>().map(|r| r.0.clone());
            match resolved {
                Some(outcome) => outcome,
                None => decide(state, req).await,
            }
        })
    }
}

/// Whether cookies set in answer to this request get the `Secure` flag.
pub fn secure_cookies(state: &AppState, req: &HttpRequest) -> bool {
    match state.cfg.cookie_secure {
        CookieSecure::Always => true,
        CookieSecure::Never => false,
        CookieSecure::Auto => {
            req.connection_info().scheme() == "https"
                || state
                    .cfg
                    .frontend_base_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://"))
        }
    }
}

/// A cookie scoped to the app's path, HttpOnly, SameSite=Lax (Strict would log users out when
/// they follow a link from a mail), Secure as [`secure_cookies`] decides.
pub fn cookie(
    state: &AppState,
    req: &HttpRequest,
    name: &'static str,
    value: String,
    max_age: Option<chrono::Duration>,
) -> Cookie<'static> {
    let path = if state.cfg.base.is_empty() {
        "/".to_string()
    } else {
        state.cfg.base.clone()
    };
    let mut c = Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure_cookies(state, req))
        .finish();
    if let Some(age) = max_age {
        c.set_max_age(actix_web::cookie::time::Duration::seconds(
            age.num_seconds(),
        ));
    }
    c
}

/// A cookie that removes `name`.
pub fn removal(state: &AppState, req: &HttpRequest, name: &'static str) -> Cookie<'static> {
    let mut c = cookie(state, req, name, String::new(), None);
    c.make_removal();
    c
}

/// Sign a user in: a new session row, its cookie. Returns the cookie.
pub async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
) -> Result<Cookie<'static>, AppError> {
    let secret = random_secret(32);
    let ip = req.peer_addr().map(|a| a.ip().to_string());
    let user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    users::create_session(
        &state.db,
        &users::NewSession {
            id: sha256_hex(&secret),
            user_id: user.id,
            csrf_token: random_secret(24),
            expires_at: Utc::now() + state.cfg.session_ttl,
            ip,
            user_agent,
        },
    )
    .await?;
    if let Err(e) = users::record_login(&state.db, user.id, Utc::now()).await {
        tracing::warn!("recording the login of {}: {e}", user.username);
    }
    Ok(cookie(
        state,
        req,
        SESSION_COOKIE,
        secret,
        Some(state.cfg.session_ttl),
    ))
}

/// A new API token: the secret (shown once) and its hash (stored).
pub fn new_token() -> (String, String) {
    let secret = format!("{TOKEN_PREFIX}{}", random_secret(32));
    let hash = sha256_hex(&secret);
    (secret, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_in_full() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", ""));
    }

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(Some(h.clone()), "correct horse battery").await);
        assert!(!verify_password(Some(h), "wrong horse battery").await);
        assert!(!verify_password(None, "anything").await);
    }

    #[test]
    fn tokens_are_prefixed_and_only_the_hash_is_kept() {
        let (secret, hash) = new_token();
        assert!(secret.starts_with(TOKEN_PREFIX));
        assert_eq!(hash, sha256_hex(&secret));
        assert_ne!(new_token().0, secret);
    }
}
