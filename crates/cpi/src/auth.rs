//! OAuth 2.0 client-credentials tokens: fetched once, shared by all requests of a tenant,
//! refreshed at 90 % of their lifetime, and dropped when the tenant answers 401 to them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use crate::config::Secret;
use crate::error::{BadResponseKind, CpiError};
use crate::http::{bad_response, content_type, read_body, retry_after, transport_error};
use crate::odata::{ParseError, lenient, parse_error_body, sniff};
use crate::outbound::OutboundPolicy;
use crate::retry::RetryPolicy;

/// Lifetime assumed when the token response has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// When to fetch a new token: at 90 % of its lifetime, so a request never goes out with a token
/// about to expire in flight.
pub fn refresh_after(expires_in: Duration) -> Duration {
    expires_in.mul_f64(0.9)
}

/// `Authorization: Basic …` value.
pub fn basic_header(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[derive(Clone)]
struct Cached {
    token: Secret,
    refresh_at: Instant,
}

/// The token of one tenant.
pub(crate) struct TokenCache {
    token_url: Url,
    outbound: OutboundPolicy,
    client_id: String,
    client_secret: Secret,
    state: Mutex<Option<Cached>>,
    fetches: AtomicU64,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    expires_in: Option<i64>,
}

impl TokenCache {
    pub(crate) fn new(
        token_url: Url,
        client_id: String,
        client_secret: Secret,
        outbound: OutboundPolicy,
    ) -> Self {
        Self {
            token_url,
            outbound,
            client_id,
            client_secret,
            state: Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// Tokens fetched so far (for tests and metrics).
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A valid token, fetching one if needed. Concurrent callers wait for one fetch.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        policy: &RetryPolicy,
        timeout: Duration,
    ) -> Result<Secret, CpiError> {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let fresh = self.fetch(http, policy, timeout).await?;
        let token = fresh.token.clone();
        *state = Some(fresh);
        Ok(token)
    }

    /// Forgets `used` if it is still the cached token (the tenant rejected it).
    pub(crate) async fn invalidate(&self, used: &Secret) {
        let mut state = self.state.lock().await;
        if state.as_ref().is_some_and(|c| &c.token == used) {
            *state = None;
        }
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        policy: &RetryPolicy,
        timeout: Duration,
    ) -> Result<Cached, CpiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.fetch_once(http, timeout).await {
                Ok(c) => return Ok(c),
                Err(e) if e.is_retryable() && attempt < policy.max_attempts.max(1) => {
                    let Some(wait) = policy.delay(attempt, e.retry_after()) else {
                        return Err(e);
                    };
                    tracing::debug!(error = %e, ?wait, "token request failed, retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn fetch_once(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Cached, CpiError> {
        let url = self.token_url.as_str();
        let secret = self.client_secret.expose();
        // An IP literal never reaches the checking resolver: check it before the secret goes out.
        crate::outbound::check_url(self.outbound, &self.token_url).map_err(|e| {
            CpiError::Refused {
                url: url.to_string(),
                detail: e.to_string(),
            }
        })?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let resp = http
            .post(self.token_url.clone())
            .header(
                AUTHORIZATION,
                basic_header(&self.client_id, self.client_secret.expose()),
            )
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport_error(&e, url, timeout))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let ct = content_type(&headers);
        let body = read_body(resp, 1024 * 1024, url, timeout).await?.bytes;
        if !status.is_success() {
            return Err(token_status_error(status, &headers, &body, url, secret));
        }
        sniff(&body, ct.as_deref())
            .map_err(|e| bad_response(e, status, ct.clone(), &body, url, &[secret]))?;
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            let kind = if e.is_eof() {
                BadResponseKind::Truncated
            } else {
                BadResponseKind::UnexpectedShape
            };
            // The body may hold a token: never quote it, not even sanitized.
            CpiError::BadResponse {
                url: url.to_string(),
                status: status.as_u16(),
                content_type: ct.clone(),
                kind,
                detail: "the token response is not the expected JSON".into(),
                length: body.len() as u64,
            }
        })?;
        let Some(token) = parsed.access_token.filter(|t| !t.is_empty()) else {
            return Err(bad_response(
                ParseError {
                    kind: BadResponseKind::UnexpectedShape,
                    detail: "the token response has no access_token".into(),
                },
                status,
                ct,
                &body,
                url,
                &[secret],
            ));
        };
        let lifetime = parsed
            .expires_in
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s as u64))
            .unwrap_or(DEFAULT_LIFETIME);
        Ok(Cached {
            token: Secret::new(token),
            refresh_at: Instant::now() + refresh_after(lifetime),
        })
    }
}

/// The token endpoint answers 401 (or 400 `invalid_client`) to a wrong client id/secret: that is
/// an authentication failure, whatever the status.
fn token_status_error(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    url: &str,
    secret: &str,
) -> CpiError {
    let oauth_error = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string));
    let rejected = matches!(status.as_u16(), 401 | 403)
        || oauth_error.as_deref() == Some("invalid_client")
        || oauth_error.as_deref() == Some("unauthorized_client");
    if rejected {
        return CpiError::Unauthorized {
            url: url.to_string(),
            detail: Some(
                "the token endpoint rejected the client id/secret of the service key".into(),
            ),
        };
    }
    let detail = oauth_error.or_else(|| parse_error_body(body).map(|e| e.to_string()));
    let detail = detail.map(|d| crate::error::sanitize_snippet(d.as_bytes(), &[secret]));
    match status.as_u16() {
        404 => CpiError::NotFound {
            url: url.to_string(),
            detail: Some("the token URL is wrong (check the service key's tokenurl)".into()),
        },
        429 => CpiError::Throttled {
            url: url.to_string(),
            retry_after: retry_after(headers),
        },
        s @ 500..=599 => CpiError::Server {
            url: url.to_string(),
            status: s,
            detail,
            retry_after: retry_after(headers),
        },
        s => CpiError::Http {
            url: url.to_string(),
            status: s,
            detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_is_at_ninety_percent_of_lifetime() {
        assert_eq!(
            refresh_after(Duration::from_secs(43200)),
            Duration::from_secs(38880)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(100)),
            Duration::from_secs(90)
        );
    }

    #[test]
    fn basic_header_is_base64_of_user_colon_password() {
        assert_eq!(basic_header("user", "pass"), "Basic dXNlcjpwYXNz");
    }
}
