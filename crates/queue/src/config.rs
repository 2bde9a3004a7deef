//! Queue settings: compiled-in defaults, overridden by `AMQP_*` variables through whatever
//! lookup the caller has. The daemons' bootstrap builds it once from the layered settings
//! (`runtime::Settings::queue`) and hands it over on their context; tests pass a map.

use std::time::Duration;

use domain::job::RetryTiers;
use domain::setting;

use crate::error::QueueError;

pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_PREFIX: &str = "integramon";
pub const DEFAULT_PREFETCH: u16 = 1;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// Every variable read by [`QueueConfig::from_lookup`], for `docs/configuration.md` and `--help`.
pub const VARIABLES: &[(&str, &str)] = &[
    ("AMQP_URL", DEFAULT_URL),
    ("AMQP_PREFIX", DEFAULT_PREFIX),
    ("AMQP_PREFETCH", "1"),
    ("AMQP_RETRY_DELAYS", "10s,60s,300s,1800s"),
    ("AMQP_MAX_ATTEMPTS", "5"),
    ("AMQP_RECONNECT_MAX", "30s"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// `AMQP_URL`: `amqp://user:password@host:port/vhost` (`%2f` is the default vhost `/`), or
    /// `amqps://…` for TLS.
    pub url: String,
    /// `AMQP_PREFIX`: first part of every exchange and queue name, so several installations (or
    /// tests) can share one broker.
    pub prefix: String,
    /// `AMQP_PREFETCH`: jobs one consumer runs at once (RabbitMQ prefetch, shared by the queues
    /// it consumes).
    pub prefetch: u16,
    /// `AMQP_RETRY_DELAYS`: the retry tiers, one TTL queue each.
    pub retry_tiers: RetryTiers,
    /// `AMQP_MAX_ATTEMPTS`: tries in all (the first included) before a job is dead-lettered.
    pub max_attempts: u32,
    /// First wait before reconnecting; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// `AMQP_RECONNECT_MAX`: longest wait between reconnection attempts.
    pub reconnect_max: Duration,
    /// Longest wait for a TCP + AMQP handshake.
    pub connect_timeout: Duration,
    /// Shown in RabbitMQ's connection list (`integramon-ingest-worker`).
    pub connection_name: String,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.to_string(),
            prefix: DEFAULT_PREFIX.to_string(),
            prefetch: DEFAULT_PREFETCH,
            retry_tiers: RetryTiers::default(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            connection_name: "integramon".to_string(),
        }
    }
}

impl QueueConfig {
    /// Defaults overridden by the variables `get` knows (see [`VARIABLES`]).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, QueueError> {
        let mut c = Self::default();
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = var("AMQP_URL") {
            c.url = v;
        }
        if let Some(v) = var("AMQP_PREFIX") {
            c.prefix = v;
        }
        let bad = |e: setting::Invalid| QueueError::Config(e.to_string());
        if let Some(v) = var("AMQP_PREFETCH") {
            c.prefetch = setting::whole_in("AMQP_PREFETCH", &v, 1, u16::MAX).map_err(bad)?;
        }
        if let Some(v) = var("AMQP_RETRY_DELAYS") {
            let delays = v
                .split(',')
                .map(|d| {
                    parse_duration(d).ok_or_else(|| {
                        QueueError::Config(format!(
                            "AMQP_RETRY_DELAYS: {d:?} is not a duration (10s, 5m, 500ms, 1h)"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            c.retry_tiers = RetryTiers::new(delays)
                .map_err(|e| QueueError::Config(format!("AMQP_RETRY_DELAYS={v:?}: {e}")))?;
        }
        if let Some(v) = var("AMQP_MAX_ATTEMPTS") {
            c.max_attempts =
                setting::whole("AMQP_MAX_ATTEMPTS", &v, "a whole number").map_err(bad)?;
        }
        if let Some(v) = var("AMQP_RECONNECT_MAX") {
            c.reconnect_max = setting::duration("AMQP_RECONNECT_MAX", &v).map_err(bad)?;
        }
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), QueueError> {
        let err = |m: String| Err(QueueError::Config(m));
        if !(self.url.starts_with("amqp://") || self.url.starts_with("amqps://")) {
            return err(format!(
                "AMQP_URL={:?} must start with amqp:// or amqps://",
                redact_url(&self.url)
            ));
        }
        if let Err(e) = self.url.parse::<lapin::uri::AMQPUri>() {
            return err(format!("AMQP_URL={:?}: {e}", redact_url(&self.url)));
        }
        // Names are AMQP short strings (255 bytes); leave room for the longest suffix.
        if self.prefix.is_empty()
            || self.prefix.len() > 100
            || !self
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return err(format!(
                "AMQP_PREFIX={:?} must be 1 to 100 characters of A-Z, a-z, 0-9, '.', '_', '-'",
                self.prefix
            ));
        }
        if self.prefetch == 0 {
            return err("AMQP_PREFETCH must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return err("AMQP_MAX_ATTEMPTS must be at least 1".into());
        }
        if self.reconnect_min.is_zero() || self.reconnect_max < self.reconnect_min {
            return err("AMQP_RECONNECT_MAX must be at least the minimum reconnect wait".into());
        }
        Ok(())
    }

    /// The resolved settings for `integramon config` (the URL's password masked).
    pub fn entries(&self) -> Vec<setting::Entry> {
        use setting::Entry;
        vec![
            Entry::new("AMQP_URL", self.redacted_url()),
            Entry::new("AMQP_PREFIX", &self.prefix),
            Entry::new("AMQP_PREFETCH", self.prefetch),
            Entry::new(
                "AMQP_RETRY_DELAYS",
                self.retry_tiers
                    .delays()
                    .iter()
                    .map(|d| duration_label(*d))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Entry::new("AMQP_MAX_ATTEMPTS", self.max_attempts),
            Entry::new("AMQP_RECONNECT_MAX", duration_label(self.reconnect_max)),
        ]
    }

    /// The URL without its password, for logs and readiness reasons.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// `amqp://user:secret@host/vhost` → `amqp://user:***@host/vhost`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{path}")
            } else {
                format!("{scheme}://{user}@{host}{path}")
            }
        }
        None => url.to_string(),
    }
}

pub use domain::setting::parse_duration;

/// The short label used in queue names: `10s`, `1800s`, `500ms`.
pub fn duration_label(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> Result<QueueConfig, QueueError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        QueueConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_without_variables() {
        let c = lookup(&[]).unwrap();
        assert_eq!(c, QueueConfig::default());
        assert_eq!(c.url, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(c.prefix, "integramon");
        assert_eq!(c.prefetch, 1);
        assert_eq!(c.max_attempts, 5);
        assert_eq!(c.retry_tiers.delays().len(), 4);
    }

    #[test]
    fn variables_override_and_bad_values_name_the_variable() {
        let c = lookup(&[
            ("AMQP_PREFIX", "t1"),
            ("AMQP_PREFETCH", "4"),
            ("AMQP_RETRY_DELAYS", "1m, 500ms,10s"),
            ("AMQP_MAX_ATTEMPTS", "3"),
        ])
        .unwrap();
        assert_eq!(c.prefix, "t1");
        assert_eq!(c.prefetch, 4);
        assert_eq!(c.max_attempts, 3);
        assert_eq!(
            c.retry_tiers.delays(),
            [
                Duration::from_millis(500),
                Duration::from_secs(10),
                Duration::from_secs(60)
            ]
        );
        for (k, v) in [
            ("AMQP_PREFETCH", "0"),
            ("AMQP_PREFETCH", "many"),
            ("AMQP_PREFIX", "has space"),
            ("AMQP_RETRY_DELAYS", "10s,soon"),
            ("AMQP_RETRY_DELAYS", "0s"),
            ("AMQP_MAX_ATTEMPTS", "0"),
            ("AMQP_URL", "http://x"),
            ("AMQP_RECONNECT_MAX", "fast"),
        ] {
            let e = lookup(&[(k, v)]).unwrap_err().to_string();
            assert!(e.contains(k), "{k}={v}: {e}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_url("amqp://127.0.0.1"), "amqp://127.0.0.1");
        assert_eq!(redact_url("amqps://u@h/v"), "amqps://u@h/v");
        let e = lookup(&[("AMQP_URL", "amqp://u:pw@h:notaport/")])
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw"), "{e}");
    }

    #[test]
    fn duration_labels() {
        // Parsing is domain::setting's (tested there); the labels are this module's.
        assert_eq!(duration_label(Duration::from_secs(1800)), "1800s");
        assert_eq!(duration_label(Duration::from_millis(1500)), "1500ms");
    }
}
