//! The web daemon's settings (`WEB_*`, `APP_BASE_PATH`, `FRONTEND_BASE_URL`), built once at
//! start and handed to the daemon on its context.

use std::time::Duration;

use domain::setting::{self, Entry};
use domain::user::MaskPolicy;
use runtime::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSecure {
    /// Secure when the request came over HTTPS (directly or as `X-Forwarded-Proto`/`Forwarded`
    /// says) or `FRONTEND_BASE_URL` is https.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// `""` or `/sub/path` (no trailing slash).
    pub base: String,
    pub frontend_base_url: Option<String>,
    pub cookie_secure: CookieSecure,
    pub session_ttl: chrono::Duration,
    pub mask: MaskPolicy,
    /// `WEB_MASK_ERRORS`: the masking of `mask` also covers error texts (error group titles,
    /// samples, templates and a message's error text). Off: masked users still read them (an
    /// error text is not a payload).
    pub mask_errors: bool,
    pub login_max_failures: u32,
    pub login_window: Duration,
    /// Password hashes (argon2id, 19 MiB each) computed at once; further sign-ins get 503.
    pub password_hashes: usize,
    /// Largest payload shown inline; larger ones are offered as a download.
    pub payload_view_bytes: usize,
    /// How long the counts of closed hours (facets, volume charts) are shared between requests
    /// (zero: never).
    pub facet_cache: Duration,
    /// `WEB_EXPORT_MAX_ROWS`: the most messages one CSV export writes.
    pub export_max_rows: u64,
    /// Created at start when no user exists yet (`WEB_ADMIN_USER`/`WEB_ADMIN_PASSWORD`).
    pub bootstrap_admin: Option<(String, String)>,
    /// `WEB_ADMIN_GENERATE`: without `bootstrap_admin`, create `admin` with a printed password
    /// while no user exists.
    pub generate_admin: bool,
    /// What the connection test may call (`OUTBOUND_DENY_PRIVATE`).
    pub outbound: cpi::OutboundPolicy,
}

impl WebConfig {
    /// From the layered settings, once at start; a bad value names its variable.
    pub fn from_settings(s: &Settings) -> anyhow::Result<Self> {
        let num = |key: &str, default: u64, min: u64, max: u64| {
            s.parsed(key, default, |k, v| setting::whole_in(k, v, min, max))
        };
        let cookie_secure =
            s.parsed(
                "WEB_COOKIE_SECURE",
                CookieSecure::Auto,
                |k, v| match setting::one_of(k, v, &["auto"]) {
                    Ok(_) => Ok(CookieSecure::Auto),
                    Err(_) => match setting::flag(k, v) {
                        Ok(true) => Ok(CookieSecure::Always),
                        Ok(false) => Ok(CookieSecure::Never),
                        Err(_) => Err(setting::Invalid::new(k, v, "auto, true or false")),
                    },
                },
            )?;
        let mask = MaskPolicy::parse(
            &s.raw("WEB_MASK_ROLES").unwrap_or_default(),
            &s.raw("WEB_MASK_TAGS").unwrap_or_default(),
        )
        .map_err(anyhow::Error::msg)?;
        let bootstrap_admin = match (s.raw("WEB_ADMIN_USER"), s.raw("WEB_ADMIN_PASSWORD")) {
            (Some(u), Some(p)) => Some((u.trim().to_string(), p)),
            (None, None) => None,
            _ => anyhow::bail!("WEB_ADMIN_USER and WEB_ADMIN_PASSWORD must be set together"),
        };
        let frontend_base_url = s
            .frontend_base_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &frontend_base_url {
            url::Url::parse(u)
                .map_err(|e| anyhow::anyhow!("FRONTEND_BASE_URL {u:?} is not a URL: {e}"))?;
        }
        Ok(Self {
            base: s.app_base_path.trim_end_matches('/').to_string(),
            frontend_base_url,
            cookie_secure,
            session_ttl: chrono::Duration::hours(num("WEB_SESSION_HOURS", 12, 1, 24 * 30)? as i64),
            mask,
            mask_errors: s.flag("WEB_MASK_ERRORS", false)?,
            login_max_failures: num("WEB_LOGIN_MAX_FAILURES", 5, 1, 1000)? as u32,
            login_window: Duration::from_secs(num("WEB_LOGIN_WINDOW_SECS", 300, 10, 86_400)?),
            password_hashes: num("WEB_PASSWORD_HASHES", 4, 1, 64)? as usize,
            payload_view_bytes: s.parsed("WEB_PAYLOAD_VIEW_BYTES", 256 * 1024, |k, v| {
                setting::bytes_in(k, v, 1024, 64 << 20)
            })? as usize,
            facet_cache: Duration::from_secs(num("WEB_FACET_CACHE_SECS", 15, 0, 3600)?),
            export_max_rows: num("WEB_EXPORT_MAX_ROWS", 100_000, 1, 10_000_000)?,
            bootstrap_admin,
            generate_admin: s.flag("WEB_ADMIN_GENERATE", false)?,
            outbound: cpi::OutboundPolicy {
                deny_private: s.outbound_deny_private,
            },
        })
    }

    /// The resolved settings for `integramon config` (the admin password masked).
    pub fn entries(&self) -> Vec<Entry> {
        vec![
            Entry::new(
                "WEB_COOKIE_SECURE",
                match self.cookie_secure {
                    CookieSecure::Auto => "auto",
                    CookieSecure::Always => "true",
                    CookieSecure::Never => "false",
                },
            ),
            Entry::new("WEB_SESSION_HOURS", self.session_ttl.num_hours()),
            Entry::new(
                "WEB_MASK_ROLES",
                self.mask
                    .roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Entry::new("WEB_MASK_TAGS", self.mask.tags.join(",")),
            Entry::new("WEB_MASK_ERRORS", self.mask_errors),
            Entry::new("WEB_LOGIN_MAX_FAILURES", self.login_max_failures),
            Entry::secs("WEB_LOGIN_WINDOW_SECS", self.login_window),
            Entry::new("WEB_PASSWORD_HASHES", self.password_hashes),
            Entry::new("WEB_PAYLOAD_VIEW_BYTES", self.payload_view_bytes),
            Entry::secs("WEB_FACET_CACHE_SECS", self.facet_cache),
            Entry::new("WEB_EXPORT_MAX_ROWS", self.export_max_rows),
            Entry::optional(
                "WEB_ADMIN_USER",
                self.bootstrap_admin.as_ref().map(|(u, _)| u.as_str()),
            ),
            Entry::secret("WEB_ADMIN_PASSWORD", self.bootstrap_admin.is_some()),
            Entry::new("WEB_ADMIN_GENERATE", self.generate_admin),
        ]
    }

    /// An absolute path inside the app: `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
