//! The controller's settings, built once at start from the layered settings and handed to the
//! daemon on its context.

use std::time::Duration;

use anyhow::Context as _;
use domain::setting::{self, Entry};
use runtime::Settings;

use crate::{DEFAULT_STALE_AFTER_SECS, DEFAULT_TICK_SECS};

/// The controller's own settings, built once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `CONTROLLER_TICK`: how often due slots are looked for. A slot fires at most this long
    /// after it opens.
    pub tick: Duration,
    /// `JOB_STALE_AFTER`: a run queued or running longer than this is marked failed.
    pub stale_after: Duration,
    /// `ARCHIVE_TIME_ZONE`: the archive job's planned time is in this zone (default UTC).
    pub archive_time_zone: chrono_tz::Tz,
}

impl Config {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let secs = |key: &str, default: u64| {
            settings.parsed(key, Duration::from_secs(default), |k, v| {
                setting::seconds_in(k, v, 1, u64::MAX)
            })
        };
        let config = Self {
            tick: secs("CONTROLLER_TICK", DEFAULT_TICK_SECS)?,
            stale_after: secs("JOB_STALE_AFTER", DEFAULT_STALE_AFTER_SECS)?,
            archive_time_zone: settings.parsed(
                "ARCHIVE_TIME_ZONE",
                chrono_tz::Tz::UTC,
                setting::time_zone,
            )?,
        };
        chrono::Duration::from_std(config.stale_after).context("JOB_STALE_AFTER is too large")?;
        Ok(config)
    }

    /// The resolved settings for `integramon config`.
    pub fn entries(&self) -> Vec<Entry> {
        vec![
            Entry::secs("CONTROLLER_TICK", self.tick),
            Entry::secs("JOB_STALE_AFTER", self.stale_after),
            Entry::new("ARCHIVE_TIME_ZONE", self.archive_time_zone),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let mut env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.insert("DATA_DIR".into(), "/nonexistent".into());
        Settings::from_env(env).unwrap()
    }

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_settings(&settings(&[])).unwrap();
        assert_eq!(c.tick, Duration::from_secs(5));
        assert_eq!(c.stale_after, Duration::from_secs(7200));
        let c = Config::from_settings(&settings(&[
            ("CONTROLLER_TICK", "1"),
            ("JOB_STALE_AFTER", "600"),
        ]))
        .unwrap();
        assert_eq!(c.tick, Duration::from_secs(1));
        assert_eq!(c.stale_after, Duration::from_secs(600));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (key, value) in [
            ("CONTROLLER_TICK", "0"),
            ("CONTROLLER_TICK", "fast"),
            ("JOB_STALE_AFTER", "-5"),
            ("ARCHIVE_TIME_ZONE", "Mars/Olympus"),
        ] {
            let err = Config::from_settings(&settings(&[(key, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{err}");
        }
    }
}
