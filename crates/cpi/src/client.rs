//! The request engine: one `CpiClient` per tenant. Every call goes through the same path:
//! rate bucket → concurrency slot → credentials → send → status mapping → (body, parse), with
//! bounded retries for transient failures and one token refresh on 401.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION};
use tokio::sync::OwnedSemaphorePermit;
use url::Url;

use crate::auth::{TokenCache, basic_header};
use crate::config::{Auth, Secret, TenantConfig, USER_AGENT};
use crate::error::{BadResponseKind, CpiError};
use crate::http::{Body, bad_response, content_type, read_body, status_error, transport_error};
use crate::limits::{ApiFamily, Limiter};
use crate::odata::{Collection, Entity, ParseError, encode_query, parse_collection, sniff};

/// The `Accept` of JSON calls (the only ones that ask for gzip).
const JSON: &str = "application/json";
/// Largest error body read for its message.
const ERROR_BODY_CAP: u64 = 64 * 1024;
/// A guard against next links that never end.
const MAX_PAGES: usize = 100_000;

/// A client for one tenant. Cheap to clone; clones share limits, token and connections.
#[derive(Clone)]
pub struct CpiClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) config: TenantConfig,
    /// The service root with a trailing slash, for joining relative paths.
    pub(crate) root: Url,
    tokens: Option<TokenCache>,
    limiter: Limiter,
    secrets: Vec<String>,
    requests: AtomicU64,
    retries: AtomicU64,
    wire_bytes: AtomicU64,
    body_bytes: AtomicU64,
    /// The tenant refused `$expand` of a message's parts once (400/501): from then on they are
    /// read one call per part, without asking again.
    pub(crate) parts_expand_refused: AtomicBool,
}

/// Counters, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent to the API (token requests not included).
    pub requests: u64,
    /// Of those, repeats after a transient failure or a rejected token.
    pub retries: u64,
    /// Token requests sent.
    pub token_fetches: u64,
    /// Bytes of JSON bodies as they came over the wire (compressed when the server compressed).
    pub json_wire_bytes: u64,
    /// The same bodies' bytes after decoding.
    pub json_body_bytes: u64,
}

impl std::fmt::Debug for CpiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpiClient")
            .field("api_url", &self.inner.config.api_url.as_str())
            .field("auth", &self.inner.config.auth)
            .finish_non_exhaustive()
    }
}

/// A failed attempt, with the bearer token it used (to drop it on 401).
struct Failure {
    error: CpiError,
    token: Option<Secret>,
}

impl From<CpiError> for Failure {
    fn from(error: CpiError) -> Self {
        Self { error, token: None }
    }
}

impl CpiClient {
    pub fn new(config: TenantConfig) -> Result<Self, CpiError> {
        let mut builder = crate::outbound::client_builder(config.outbound)
            .user_agent(USER_AGENT)
            .connect_timeout(config.timeouts.connect)
            .pool_idle_timeout(Duration::from_secs(60))
            .tls_danger_accept_invalid_certs(!config.tls.verify);
        if let Some(pem) = &config.tls.ca_cert_pem {
            builder = builder.tls_certs_merge(parse_ca_certs(pem)?);
        }
        let http = builder
            .build()
            .map_err(|e| CpiError::Config(format!("cannot set up the HTTP client: {e}")))?;
        let mut root = config.api_url.clone();
        root.set_path(&format!("{}/", config.api_url.path().trim_end_matches('/')));
        let tokens = match &config.auth {
            Auth::Basic { .. } => None,
            Auth::OAuth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
            } => Some(TokenCache::new(
                token_url.clone(),
                client_id.clone(),
                client_secret.clone(),
                config.outbound,
            )),
        };
        let limiter = Limiter::new(&config.limits);
        let secrets = config.auth.secret_values();
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                root,
                tokens,
                limiter,
                secrets,
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                wire_bytes: AtomicU64::new(0),
                body_bytes: AtomicU64::new(0),
                parts_expand_refused: AtomicBool::new(false),
            }),
        })
    }

    pub fn config(&self) -> &TenantConfig {
        &self.inner.config
    }

    /// The service root, `…/api/v1`.
    pub fn api_url(&self) -> &Url {
        &self.inner.config.api_url
    }

    pub fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.inner.requests.load(Ordering::Relaxed),
            retries: self.inner.retries.load(Ordering::Relaxed),
            token_fetches: self
                .inner
                .tokens
                .as_ref()
                .map_or(0, TokenCache::fetch_count),
            json_wire_bytes: self.inner.wire_bytes.load(Ordering::Relaxed),
            json_body_bytes: self.inner.body_bytes.load(Ordering::Relaxed),
        }
    }

    /// `<root>/<path>?<params>`; `path` must already have its keys quoted (see
    /// [`crate::odata::quote_key`]).
    pub fn url(&self, path: &str, params: &[(&str, String)]) -> Result<Url, CpiError> {
        let mut s = format!("{}{}", self.inner.root, path.trim_start_matches('/'));
        if !params.is_empty() {
            s.push('?');
            s.push_str(&encode_query(params));
        }
        Url::parse(&s).map_err(|e| CpiError::Config(format!("cannot build a URL for {path}: {e}")))
    }

    /// Resolves a `__next` link of this tenant (see [`resolve_next`]).
    pub fn resolve_next(&self, next: &str) -> Option<Url> {
        resolve_next(&self.inner.config.api_url, next)
    }

    pub(crate) fn secret_refs(&self) -> Vec<&str> {
        self.inner.secrets.iter().map(String::as_str).collect()
    }

    /// Makes sure a token can be had (OAuth) — used by the connection test to report token
    /// problems apart from API problems. Basic auth has nothing to check here.
    pub async fn check_credentials(&self) -> Result<(), CpiError> {
        if let Some(tokens) = &self.inner.tokens {
            tokens
                .token(
                    &self.inner.http,
                    &self.inner.config.retry,
                    self.inner.config.timeouts.request,
                )
                .await?;
        }
        Ok(())
    }

    /// One try: credentials, send, and map a non-success status to its error.
    async fn send_once(
        &self,
        family: ApiFamily,
        url: &Url,
        accept: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, Failure> {
        let inner = &self.inner;
        // IP literals never reach the checking resolver: check them here, before any secret
        // goes out.
        crate::outbound::check_url(inner.config.outbound, url).map_err(|e| CpiError::Refused {
            url: url.to_string(),
            detail: e.to_string(),
        })?;
        let mut request = inner
            .http
            .get(url.clone())
            .header(ACCEPT, accept)
            .timeout(timeout);
        if accept == JSON {
            // A page of 1,000 messages with headers is megabytes of JSON that compresses
            // ~10:1; payload downloads keep their own encoding.
            request = request.header(ACCEPT_ENCODING, "gzip");
        }
        let mut used_token = None;
        match &inner.config.auth {
            Auth::Basic { username, password } => {
                request = request.header(AUTHORIZATION, basic_header(username, password.expose()));
            }
            Auth::OAuth2ClientCredentials { .. } => {
                if let Some(tokens) = &inner.tokens {
                    let token = tokens
                        .token(
                            &inner.http,
                            &inner.config.retry,
                            inner.config.timeouts.request,
                        )
                        .await?;
                    request = request.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
                    used_token = Some(token);
                }
            }
        }
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let tenant = &inner.config.metrics_tenant;
        crate::metrics::record_call(tenant, family);
        let resp = request.send().await.map_err(|e| {
            let error = transport_error(&e, url.as_str(), timeout);
            crate::metrics::record_error(tenant, family, &error);
            Failure::from(error)
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let headers = resp.headers().clone();
        // The body only feeds the message; if it cannot be read, the status still tells enough.
        let body = read_body(resp, ERROR_BODY_CAP, url.as_str(), timeout)
            .await
            .map(|b| b.bytes)
            .unwrap_or_default();
        let error = status_error(
            status,
            &headers,
            &body,
            family,
            url.as_str(),
            &self.secret_refs(),
        );
        crate::metrics::record_error(tenant, family, &error);
        Err(Failure {
            error,
            token: used_token,
        })
    }

    /// Sends with retries until a success status. `attempt` counts tries across the caller's
    /// own retries (body failures), so the bound holds for the whole operation.
    pub(crate) async fn send(
        &self,
        family: ApiFamily,
        url: &Url,
        accept: &str,
        timeout: Duration,
        attempt: &mut u32,
    ) -> Result<(reqwest::Response, OwnedSemaphorePermit), CpiError> {
        let mut token_retry_left = true;
        loop {
            *attempt += 1;
            let permit = self.inner.limiter.acquire(family).await;
            let failure = match self.send_once(family, url, accept, timeout).await {
                Ok(resp) => return Ok((resp, permit)),
                Err(f) => f,
            };
            drop(permit);
            if let (CpiError::Unauthorized { .. }, Some(token), Some(tokens)) =
                (&failure.error, &failure.token, &self.inner.tokens)
                && token_retry_left
            {
                // Expired or revoked token: exactly one more try with a fresh one.
                token_retry_left = false;
                tokens.invalidate(token).await;
                *attempt -= 1;
                self.inner.retries.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(url = %url, "401 with a cached token; fetching a new one");
                continue;
            }
            self.pause_or_fail(failure.error, *attempt).await?;
        }
    }

    /// Sleeps before the next try if the error is transient and tries are left; otherwise
    /// hands the error back.
    pub(crate) async fn pause_or_fail(
        &self,
        error: CpiError,
        attempt: u32,
    ) -> Result<(), CpiError> {
        let policy = &self.inner.config.retry;
        if !error.is_retryable() || attempt >= policy.max_attempts.max(1) {
            return Err(error);
        }
        let Some(wait) = policy.delay(attempt, error.retry_after()) else {
            return Err(error);
        };
        tracing::warn!(error = %error, attempt, ?wait, "CPI call failed, retrying");
        self.inner.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// GET a JSON document and parse it; cut bodies are retried like failed requests.
    pub(crate) async fn fetch_json<T>(
        &self,
        family: ApiFamily,
        url: &Url,
        parse: impl Fn(&[u8]) -> Result<T, ParseError>,
    ) -> Result<T, CpiError> {
        let timeout = self.inner.config.timeouts.request;
        let cap = self.inner.config.max_json_body;
        let mut attempt = 0;
        loop {
            let (resp, permit) = self.send(family, url, JSON, timeout, &mut attempt).await?;
            let status = resp.status();
            let ct = content_type(resp.headers());
            let result = match read_body(resp, cap, url.as_str(), timeout).await {
                Ok(Body {
                    bytes: body,
                    wire_len,
                }) => {
                    self.inner.wire_bytes.fetch_add(wire_len, Ordering::Relaxed);
                    self.inner
                        .body_bytes
                        .fetch_add(body.len() as u64, Ordering::Relaxed);
                    sniff(&body, ct.as_deref())
                        .and_then(|()| parse(&body))
                        .map_err(|e| {
                            bad_response(
                                e,
                                status,
                                ct.clone(),
                                &body,
                                url.as_str(),
                                &self.secret_refs(),
                            )
                        })
                }
                Err(e) => Err(e),
            };
            drop(permit);
            match result {
                Ok(v) => return Ok(v),
                Err(e) => {
                    // The request itself succeeded (counted as a call); its body did not.
                    crate::metrics::record_error(&self.inner.config.metrics_tenant, family, &e);
                    self.pause_or_fail(e, attempt).await?
                }
            }
        }
    }

    /// GET one page of a collection of `T`.
    pub async fn get_collection<T: Entity>(
        &self,
        family: ApiFamily,
        url: &Url,
    ) -> Result<Collection<T>, CpiError> {
        self.fetch_json(family, url, parse_collection::<T>).await
    }

    /// GET a single entity.
    pub async fn get_entity<T: Entity>(&self, family: ApiFamily, url: &Url) -> Result<T, CpiError> {
        self.fetch_json(family, url, crate::odata::parse_entity::<T>)
            .await
    }

    /// GET a whole (small) collection: follows `__next`; with `page_size`, also pages with
    /// `$top`/`$skip` and `$inlinecount` when the server gives no next link.
    pub async fn get_all<T: Entity>(
        &self,
        family: ApiFamily,
        path: &str,
        params: &[(&str, String)],
        page_size: Option<u32>,
    ) -> Result<Vec<T>, CpiError> {
        let with_paging = |skip: usize| {
            let mut p = params.to_vec();
            if let Some(size) = page_size {
                p.push(("$inlinecount", "allpages".into()));
                p.push(("$top", size.to_string()));
                if skip > 0 {
                    p.push(("$skip", skip.to_string()));
                }
            }
            p
        };
        let mut url = self.url(path, &with_paging(0))?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.get_collection::<T>(family, &url).await?;
            let n = page.results.len();
            out.extend(page.results);
            if let Some(next) = page.next.as_deref() {
                let next_url = self.next_url(next, &url)?;
                if !seen.insert(next_url.to_string()) {
                    return Err(self.paging_error(&url, "the next link repeats itself"));
                }
                url = next_url;
                continue;
            }
            let Some(size) = page_size else {
                return Ok(out);
            };
            let more = match page.count {
                Some(total) => (out.len() as u64) < total && n > 0,
                None => n as u64 >= u64::from(size),
            };
            if !more {
                return Ok(out);
            }
            url = self.url(path, &with_paging(out.len()))?;
        }
        Err(self.paging_error(&url, "more than 100000 pages"))
    }

    pub(crate) fn next_url(&self, next: &str, current: &Url) -> Result<Url, CpiError> {
        self.resolve_next(next).ok_or_else(|| {
            self.paging_error(
                current,
                "the __next link cannot be resolved against the service root",
            )
        })
    }

    pub(crate) fn paging_error(&self, url: &Url, what: &str) -> CpiError {
        CpiError::BadResponse {
            url: url.to_string(),
            status: 200,
            content_type: None,
            kind: BadResponseKind::UnexpectedShape,
            detail: what.to_string(),
            length: 0,
        }
    }
}

/// Resolves a `__next` link against the service root. Relative links (`MessageProcessingLogs?
/// $skiptoken=1000`, or `/api/v1/…`) are joined to the root. Absolute links to the same origin
/// are used as they are. Absolute links to another host (an internal name behind a proxy, or
/// SAP's odd `:443:443`) are re-based onto our root, so credentials never go to a host the
/// user did not configure. `None` when the link cannot be placed under the root.
pub fn resolve_next(api_url: &Url, next: &str) -> Option<Url> {
    let next = next.trim();
    if next.is_empty() {
        return None;
    }
    let mut base = api_url.clone();
    base.set_path(&format!("{}/", api_url.path().trim_end_matches('/')));
    match Url::parse(next) {
        Ok(abs) if same_origin(&abs, api_url) => Some(abs),
        Ok(abs) => {
            let tail = match abs.query() {
                Some(q) => format!("{}?{q}", abs.path()),
                None => abs.path().to_string(),
            };
            rebase(&base, &tail)
        }
        Err(url::ParseError::RelativeUrlWithoutBase) => base.join(next).ok(),
        Err(_) => rebase(&base, next),
    }
}

use crate::outbound::same_origin;

/// The certificates of a PEM bundle, for trusting a tenant's (or its proxy's) CA. Every
/// certificate must parse as X.509, so a garbage bundle is refused when it is saved, not when
/// the first call fails with "builder error".
pub fn parse_ca_certs(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, CpiError> {
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| CpiError::Config(format!("the CA certificate is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(CpiError::Config(
            "the CA certificate holds no certificate".into(),
        ));
    }
    // reqwest checks the X.509 structure only when it builds a client: build one to know now.
    reqwest::Client::builder()
        .tls_certs_merge(certs.clone())
        .build()
        .map_err(|e| {
            CpiError::Config(format!(
                "the CA certificate is not a valid X.509 certificate ({})",
                std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_else(|| e.to_string())
            ))
        })?;
    Ok(certs)
}

/// Keeps what follows `api/v1/` in `text` and joins it to `base`.
fn rebase(base: &Url, text: &str) -> Option<Url> {
    const MARK: &str = "api/v1/";
    let at = text.rfind(MARK)?;
    let rest = &text[at + MARK.len()..];
    if rest.is_empty() {
        return None;
    }
    base.join(rest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Url {
        Url::parse("https://t.example.com/api/v1").unwrap()
    }

    #[test]
    fn relative_next_links_are_joined_to_the_service_root() {
        assert_eq!(
            resolve_next(&root(), "MessageProcessingLogs?$skiptoken=1000")
                .unwrap()
                .as_str(),
            "https://t.example.com/api/v1/MessageProcessingLogs?$skiptoken=1000"
        );
        assert_eq!(
            resolve_next(&root(), "/api/v1/MessageProcessingLogs?$skiptoken=1000")
                .unwrap()
                .as_str(),
            "https://t.example.com/api/v1/MessageProcessingLogs?$skiptoken=1000"
        );
    }

    #[test]
    fn absolute_next_links_same_origin_kept_foreign_rebased() {
        assert_eq!(
            resolve_next(
                &root(),
                "https://t.example.com:443/api/v1/MessageProcessingLogs?$skiptoken=2000"
            )
            .unwrap()
            .as_str(),
            "https://t.example.com/api/v1/MessageProcessingLogs?$skiptoken=2000"
        );
        assert_eq!(
            resolve_next(
                &root(),
                "https://internal-node:8443/api/v1/MessageProcessingLogs?$skiptoken=3000"
            )
            .unwrap()
            .as_str(),
            "https://t.example.com/api/v1/MessageProcessingLogs?$skiptoken=3000"
        );
        assert_eq!(
            resolve_next(
                &root(),
                "https://sandbox.api.sap.com:443:443/cpi/api/v1/MessageProcessingLogs?$skiptoken=1000"
            )
            .unwrap()
            .as_str(),
            "https://t.example.com/api/v1/MessageProcessingLogs?$skiptoken=1000"
        );
        assert_eq!(resolve_next(&root(), "https://evil.example/steal"), None);
        assert_eq!(resolve_next(&root(), "  "), None);
    }
}
