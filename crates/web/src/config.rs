//! The web daemon's settings (`WEB_*`, `APP_BASE_PATH`, `FRONTEND_BASE_URL`), read once at start.

use std::time::Duration;

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
    pub login_max_failures: u32,
    pub login_window: Duration,
    /// Largest payload shown inline; larger ones are offered as a download.
    pub payload_view_bytes: usize,
    /// How long the counts of closed hours (facets, volume charts) are shared between requests
    /// (zero: never).
    pub facet_cache: Duration,
    /// Created at start when no user exists yet (`WEB_ADMIN_USER`/`WEB_ADMIN_PASSWORD`).
    pub bootstrap_admin: Option<(String, String)>,
}

impl WebConfig {
    pub fn from_settings(s: &Settings) -> Result<Self, String> {
        let num = |key: &str, default: u64, min: u64, max: u64| -> Result<u64, String> {
            match s.raw(key) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(n),
                    _ => Err(format!(
                        "{key} must be a number from {min} to {max}, not {v:?}"
                    )),
                },
            }
        };
        let cookie_secure = match s
            .raw("WEB_COOKIE_SECURE")
            .unwrap_or_else(|| "auto".into())
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "auto" => CookieSecure::Auto,
            "true" | "1" | "yes" | "on" => CookieSecure::Always,
            "false" | "0" | "no" | "off" => CookieSecure::Never,
            other => {
                return Err(format!(
                    "WEB_COOKIE_SECURE must be auto, true or false, not {other:?}"
                ));
            }
        };
        let mask = MaskPolicy::parse(
            &s.raw("WEB_MASK_ROLES").unwrap_or_default(),
            &s.raw("WEB_MASK_TAGS").unwrap_or_default(),
        )?;
        let bootstrap_admin = match (s.raw("WEB_ADMIN_USER"), s.raw("WEB_ADMIN_PASSWORD")) {
            (Some(u), Some(p)) => Some((u.trim().to_string(), p)),
            (None, None) => None,
            _ => {
                return Err(
                    "WEB_ADMIN_USER and WEB_ADMIN_PASSWORD must be set together".to_string()
                );
            }
        };
        let frontend_base_url = s
            .frontend_base_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &frontend_base_url {
            url::Url::parse(u).map_err(|e| format!("FRONTEND_BASE_URL {u:?} is not a URL: {e}"))?;
        }
        Ok(Self {
            base: s.app_base_path.trim_end_matches('/').to_string(),
            frontend_base_url,
            cookie_secure,
            session_ttl: chrono::Duration::hours(num("WEB_SESSION_HOURS", 12, 1, 24 * 30)? as i64),
            mask,
            login_max_failures: num("WEB_LOGIN_MAX_FAILURES", 5, 1, 1000)? as u32,
            login_window: Duration::from_secs(num("WEB_LOGIN_WINDOW_SECS", 300, 10, 86_400)?),
            payload_view_bytes: num("WEB_PAYLOAD_VIEW_BYTES", 256 * 1024, 1024, 64 << 20)? as usize,
            facet_cache: Duration::from_secs(num("WEB_FACET_CACHE_SECS", 15, 0, 3600)?),
            bootstrap_admin,
        })
    }

    /// An absolute path inside the app: `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
