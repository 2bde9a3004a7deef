//! Every crate's typed settings in one place, for `integramon up` (all daemons in one process,
//! each handed its own settings) and `integramon config` (printed, secrets masked, with where
//! each value came from). Built once from the layered settings.

use domain::setting::{self, Entry};
use queue::QueueConfig;
use runtime::Settings;

/// The simulated tenant of the all-in-one mode.
#[derive(Debug, Clone)]
pub struct Demo {
    /// `DEMO` (default true).
    pub enabled: bool,
    /// `DEMO_LISTEN` (default `127.0.0.1:0`, a free port).
    pub listen: String,
}

impl Demo {
    pub fn from_settings(s: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            enabled: s.flag("DEMO", true)?,
            listen: s
                .raw("DEMO_LISTEN")
                .unwrap_or_else(|| "127.0.0.1:0".to_string()),
        })
    }
}

/// The typed settings of every daemon and of the all-in-one mode.
#[derive(Debug, Clone)]
pub struct AllSettings {
    pub queue: QueueConfig,
    /// `WEB_WORKERS`.
    pub web_workers: usize,
    pub web: integramon_web::config::WebConfig,
    pub ingest: integramon_ingest_worker::IngestSettings,
    pub controller: integramon_controller::Config,
    pub archiver: integramon_archiver::ArchiverSettings,
    pub metrics: integramon_metrics::Options,
    pub demo: Demo,
}

impl AllSettings {
    /// Every daemon's settings; the first bad value stops with its variable named.
    pub fn from_settings(s: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            queue: s.queue()?,
            web_workers: s.http_workers(true)?,
            web: integramon_web::config::WebConfig::from_settings(s)?,
            ingest: integramon_ingest_worker::IngestSettings::from_settings(s)?,
            controller: integramon_controller::Config::from_settings(s)?,
            archiver: integramon_archiver::ArchiverSettings::from_settings(s)?,
            metrics: integramon_metrics::options(s)?,
            demo: Demo::from_settings(s)?,
        })
    }

    /// The daemons' entries (the shared ones come from [`Settings::entries`]).
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = self.queue.entries();
        out.push(Entry::new("WEB_WORKERS", self.web_workers));
        out.extend(self.web.entries());
        out.extend(self.ingest.entries());
        out.extend(self.controller.entries());
        out.extend(self.archiver.entries());
        out.extend(self.metrics.entries());
        out.push(Entry::new("DEMO", self.demo.enabled));
        out.push(Entry::new("DEMO_LISTEN", &self.demo.listen));
        out
    }
}

/// `integramon config`: every resolved setting, `KEY = value (source)`, secrets masked.
pub fn show(s: &Settings) -> anyhow::Result<String> {
    let all = AllSettings::from_settings(s)?;
    Ok(s.render(&all.entries()))
}

/// What `integramon secrets init` reads: values given in the environment (or file) are
/// written as given.
#[derive(Clone)]
pub struct SecretsSettings {
    pub db_password: Option<String>,
    pub rabbitmq_password: Option<String>,
    /// `RABBITMQ_USER` (default `integramon`).
    pub rabbitmq_user: String,
}

impl SecretsSettings {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            db_password: s.raw("DB_PASSWORD"),
            rabbitmq_password: s.raw("RABBITMQ_PASSWORD"),
            rabbitmq_user: s
                .raw("RABBITMQ_USER")
                .unwrap_or_else(|| "integramon".into()),
        }
    }
}

impl std::fmt::Debug for SecretsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsSettings")
            .field(
                "db_password",
                &self.db_password.as_ref().map(|_| setting::MASK),
            )
            .field(
                "rabbitmq_password",
                &self.rabbitmq_password.as_ref().map(|_| setting::MASK),
            )
            .field("rabbitmq_user", &self.rabbitmq_user)
            .finish()
    }
}
