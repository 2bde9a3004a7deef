//! How to reach one tenant: API URL, credentials, TLS, timeouts, limits. Accepts a BTP service
//! key as it is downloaded. Secrets are wrapped so they never show in Debug output or errors.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::error::CpiError;
use crate::limits::LimitsConfig;
use crate::outbound::OutboundPolicy;
use crate::retry::RetryPolicy;

/// The `User-Agent` of every call, so tenant admins can tell IntegraMon's traffic apart.
pub const USER_AGENT: &str = concat!("IntegraMon/", env!("CARGO_PKG_VERSION"));

/// Credentials travel as the domain's redacting type (re-exported here for the client's users).
pub use domain::Secret;

/// How IntegraMon authenticates.
#[derive(Clone, PartialEq)]
pub enum Auth {
    /// HTTP Basic with a tenant user (Neo, or an IdP user on CF).
    Basic { username: String, password: Secret },
    /// OAuth 2.0 client credentials from a service key (SAP's recommendation).
    OAuth2ClientCredentials {
        token_url: Url,
        client_id: String,
        client_secret: Secret,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"***")
                .finish(),
            Self::OAuth2ClientCredentials {
                token_url,
                client_id,
                ..
            } => f
                .debug_struct("OAuth2ClientCredentials")
                .field("token_url", &token_url.as_str())
                .field("client_id", client_id)
                .field("client_secret", &"***")
                .finish(),
        }
    }
}

impl Auth {
    /// Values that must never appear in messages: used to scrub response snippets.
    pub(crate) fn secret_values(&self) -> Vec<String> {
        match self {
            Self::Basic { password, .. } => vec![password.expose().to_string()],
            Self::OAuth2ClientCredentials { client_secret, .. } => {
                vec![client_secret.expose().to_string()]
            }
        }
    }
}

/// TLS verification. Turning it off is for test tenants behind self-signed certificates only.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub verify: bool,
    /// An extra trusted CA (PEM, one or more certificates), e.g. a corporate proxy's.
    pub ca_cert_pem: Option<Vec<u8>>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            verify: true,
            ca_cert_pem: None,
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("verify", &self.verify)
            .field(
                "ca_cert_pem",
                &self
                    .ca_cert_pem
                    .as_ref()
                    .map(|p| format!("{} bytes", p.len())),
            )
            .finish()
    }
}

/// Time limits. MPL list calls can be slow on busy tenants (clients with 4–5 s limits failed),
/// so the default is 30 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// Whole request, body included, for JSON calls.
    pub request: Duration,
    /// Establishing the TCP + TLS connection.
    pub connect: Duration,
    /// Whole request for `$value` downloads (payloads, zips).
    pub download: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(30),
            connect: Duration::from_secs(10),
            download: Duration::from_secs(300),
        }
    }
}

/// Everything needed to talk to one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantConfig {
    /// The service root, always ending in `/api/v1` (no trailing slash).
    pub api_url: Url,
    pub auth: Auth,
    pub tls: TlsConfig,
    pub timeouts: Timeouts,
    pub limits: LimitsConfig,
    pub retry: RetryPolicy,
    /// Largest JSON body accepted (a page of 1000 MPLs is about 1–3 MB).
    pub max_json_body: u64,
    /// The `tenant` label of this client's call counters in `/metrics`: the tenant's name when
    /// the caller knows it, else the API host (never the URL, which may carry credentials).
    pub metrics_tenant: String,
    /// Which targets may be called (`OUTBOUND_DENY_PRIVATE`); redirects stay on one origin.
    pub outbound: OutboundPolicy,
}

impl TenantConfig {
    /// A configuration with defaults for everything but URL and credentials.
    pub fn new(api_url: &str, auth: Auth) -> Result<Self, CpiError> {
        let api_url = normalize_api_url(api_url)?;
        Ok(Self {
            metrics_tenant: api_url.host_str().unwrap_or_default().to_string(),
            api_url,
            auth,
            tls: TlsConfig::default(),
            timeouts: Timeouts::default(),
            limits: LimitsConfig::default(),
            retry: RetryPolicy::default(),
            max_json_body: 64 * 1024 * 1024,
            outbound: OutboundPolicy::default(),
        })
    }

    /// From a tenant's stored connection settings and its plaintext secret (the password or the
    /// client secret).
    pub fn from_connection(
        conn: &domain::tenant::ConnectionSettings,
        secret: Secret,
    ) -> Result<Self, CpiError> {
        let auth = match &conn.auth {
            domain::tenant::Auth::Basic { username } => Auth::Basic {
                username: username.clone(),
                password: secret,
            },
            domain::tenant::Auth::OAuth2 {
                client_id,
                token_url,
            } => Auth::OAuth2ClientCredentials {
                token_url: token_url.parse().map_err(|e| {
                    CpiError::Config(format!("the token URL {token_url:?} is not a URL: {e}"))
                })?,
                client_id: client_id.clone(),
                client_secret: secret,
            },
        };
        let mut config = Self::new(&conn.api_url, auth)?;
        config.tls.verify = conn.tls_verify;
        config.tls.ca_cert_pem = conn.ca_cert.as_ref().map(|p| p.as_bytes().to_vec());
        Ok(config)
    }

    /// From a BTP service key (JSON text, either shape).
    pub fn from_service_key(json: &str) -> Result<Self, CpiError> {
        let key = ServiceKey::parse(json)?;
        Self::new(
            &key.url,
            Auth::OAuth2ClientCredentials {
                token_url: key.token_url,
                client_id: key.client_id,
                client_secret: key.client_secret,
            },
        )
    }
}

/// The fields of a Process Integration Runtime service key (plan `api`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceKey {
    pub url: String,
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Deserialize)]
struct RawKey {
    #[serde(default)]
    oauth: Option<RawOauth>,
    #[serde(flatten)]
    flat: RawOauth,
}

#[derive(Deserialize, Default)]
struct RawOauth {
    #[serde(default)]
    clientid: Option<String>,
    #[serde(default)]
    clientsecret: Option<String>,
    #[serde(default)]
    tokenurl: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

impl ServiceKey {
    /// Accepts `{"oauth": {"clientid","clientsecret","tokenurl","url"}}` and the flat form.
    /// Errors name the missing field, never a value.
    pub fn parse(json: &str) -> Result<Self, CpiError> {
        let raw: RawKey = serde_json::from_str(json).map_err(|e| {
            // serde_json's message may quote input; report position only.
            CpiError::Config(format!(
                "the service key is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let o = raw.oauth.unwrap_or_default();
        let f = raw.flat;
        let pick = |a: Option<String>, b: Option<String>, name: &str| {
            a.or(b)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| CpiError::Config(format!("the service key has no \"{name}\"")))
        };
        let client_id = pick(o.clientid, f.clientid, "clientid")?;
        let client_secret = Secret::new(pick(o.clientsecret, f.clientsecret, "clientsecret")?);
        let token_url = pick(o.tokenurl, f.tokenurl, "tokenurl")?;
        let url = pick(o.url, f.url, "url")?;
        let mut token_url = Url::parse(&token_url)
            .map_err(|e| CpiError::Config(format!("the service key's tokenurl is invalid: {e}")))?;
        if token_url.path() == "/" || token_url.path().is_empty() {
            token_url.set_path("/oauth/token");
        }
        Ok(Self {
            url,
            token_url,
            client_id,
            client_secret,
        })
    }
}

/// Turns what a user pastes (service key `url`, tenant host, with or without `/api/v1`, with a
/// trailing slash) into the service root `…/api/v1`.
pub fn normalize_api_url(raw: &str) -> Result<Url, CpiError> {
    let trimmed = raw.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme)
        .map_err(|e| CpiError::Config(format!("the API URL is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CpiError::Config(format!(
            "the API URL must use https (or http for tests), not {}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(CpiError::Config("the API URL has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CpiError::Config(
            "the API URL contains credentials; put them in the authentication settings".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(CpiError::Config(
            "the API URL must not have a query or fragment".into(),
        ));
    }
    let path = url.path().trim_end_matches('/').to_string();
    let path = if path.ends_with("/api/v1") {
        path
    } else {
        format!("{path}/api/v1")
    };
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_url_gets_api_v1_once() {
        for (input, want) in [
            (
                "https://t.it-cpi001.cfapps.eu10.hana.ondemand.com",
                "https://t.it-cpi001.cfapps.eu10.hana.ondemand.com/api/v1",
            ),
            ("https://t.example.com/", "https://t.example.com/api/v1"),
            (
                "https://t.example.com/api/v1/",
                "https://t.example.com/api/v1",
            ),
            ("t.example.com", "https://t.example.com/api/v1"),
            (
                "https://h/location/abc/api/v1",
                "https://h/location/abc/api/v1",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1"),
        ] {
            assert_eq!(normalize_api_url(input).unwrap().as_str(), want, "{input}");
        }
        assert!(normalize_api_url("ftp://x").is_err());
        let e = normalize_api_url("https://u:pw123456@h")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw123456"), "{e}");
    }

    #[test]
    fn service_key_both_shapes() {
        let nested = r#"{"oauth":{"clientid":"sb-abc","clientsecret":"s3cr3t-value",
            "tokenurl":"https://sub.authentication.eu10.hana.ondemand.com/oauth/token",
            "url":"https://t.it-cpi001.cfapps.eu10.hana.ondemand.com","createdate":"x"}}"#;
        let flat = r#"{"clientid":"sb-abc","clientsecret":"s3cr3t-value",
            "tokenurl":"https://sub.authentication.eu10.hana.ondemand.com/oauth/token",
            "url":"https://t.it-cpi001.cfapps.eu10.hana.ondemand.com"}"#;
        for key in [nested, flat] {
            let c = TenantConfig::from_service_key(key).unwrap();
            assert_eq!(
                c.api_url.as_str(),
                "https://t.it-cpi001.cfapps.eu10.hana.ondemand.com/api/v1"
            );
            match &c.auth {
                Auth::OAuth2ClientCredentials {
                    token_url,
                    client_id,
                    client_secret,
                } => {
                    assert_eq!(client_id, "sb-abc");
                    assert_eq!(client_secret.expose(), "s3cr3t-value");
                    assert_eq!(token_url.path(), "/oauth/token");
                }
                other => panic!("unexpected {other:?}"),
            }
            assert!(!format!("{c:?}").contains("s3cr3t-value"));
        }
        let missing = ServiceKey::parse(r#"{"oauth":{"clientid":"a","url":"https://x"}}"#)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("clientsecret"), "{missing}");
        let bad = ServiceKey::parse(r#"{"clientsecret":"s3cr3t-value" "#)
            .unwrap_err()
            .to_string();
        assert!(!bad.contains("s3cr3t"), "{bad}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let a = Auth::Basic {
            username: "u".into(),
            password: Secret::new("hunter2hunter2"),
        };
        let s = format!("{a:?} {}", Secret::new("hunter2hunter2"));
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("***"));
    }

    #[test]
    fn user_agent_names_integramon_and_version() {
        assert_eq!(
            USER_AGENT,
            format!("IntegraMon/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
