//! IntegraMon controller: decides per tenant what is due and publishes jobs.
//!
//! Every `CONTROLLER_TICK` seconds it walks the enabled jobs of the enabled tenants and fires
//! each open slot ([`slots`]) once, across any number of controllers ([`scheduler`]); every
//! minute it marks abandoned runs failed and forgets old firings. No job family waits on
//! another: each tenant and type is only held back by its own previous run.

pub mod scheduler;
pub mod slots;

use std::time::Duration;

use anyhow::Context as _;
use queue::BrokerStatus;
use runtime::{Context, Settings, Spec};

pub use scheduler::{Scheduler, TickSummary};

pub const SPEC: Spec = Spec {
    component: "controller",
    default_listen: "127.0.0.1:9102",
    listen_env: "CONTROLLER_LISTEN",
    http: None,
};

pub const ABOUT: &str = "IntegraMon controller: decides per tenant what is due and publishes jobs";

/// `CONTROLLER_TICK` default, in seconds.
pub const DEFAULT_TICK_SECS: u64 = 5;
/// `JOB_STALE_AFTER` default, in seconds: well beyond the longest job plus its queue wait.
pub const DEFAULT_STALE_AFTER_SECS: u64 = 7200;
/// How often the housekeeping runs.
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);
/// How long firings are kept. A slot key can only come up again within its own interval or
/// day, so a week is ample, and short enough to keep the table small.
pub const KEEP_FIRINGS: Duration = Duration::from_secs(7 * 24 * 3600);

/// The controller's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `CONTROLLER_TICK`: how often due slots are looked for. A slot fires at most this long
    /// after it opens.
    pub tick: Duration,
    /// `JOB_STALE_AFTER`: a run queued or running longer than this is marked failed.
    pub stale_after: Duration,
}

impl Config {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let secs = |key: &str, default: u64| -> anyhow::Result<Duration> {
            let v: u64 = settings
                .get(key, "a whole number of seconds, at least 1")?
                .unwrap_or(default);
            anyhow::ensure!(
                v >= 1,
                "{key}={v:?} is not valid; expected a whole number of seconds, at least 1"
            );
            Ok(Duration::from_secs(v))
        };
        Ok(Self {
            tick: secs("CONTROLLER_TICK", DEFAULT_TICK_SECS)?,
            stale_after: secs("JOB_STALE_AFTER", DEFAULT_STALE_AFTER_SECS)?,
        })
    }
}

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context) -> anyhow::Result<()> {
    let started = chrono::Utc::now();
    let config = Config::from_settings(&ctx.settings)?;
    let prefix = runtime::daemon::queue_config(&ctx.settings)
        .map_err(anyhow::Error::msg)?
        .prefix;
    let stale_after =
        chrono::Duration::from_std(config.stale_after).context("JOB_STALE_AFTER is too large")?;
    let keep_firings = chrono::Duration::from_std(KEEP_FIRINGS)?;
    let archive_tz = match ctx.settings.raw("ARCHIVE_TIME_ZONE") {
        None => chrono_tz::Tz::UTC,
        Some(raw) => raw.trim().parse::<chrono_tz::Tz>().map_err(|_| {
            anyhow::anyhow!(
                "ARCHIVE_TIME_ZONE={raw:?} is not an IANA time zone name (e.g. UTC, Europe/Berlin)"
            )
        })?,
    };
    let mut scheduler = Scheduler::new(ctx.db.clone(), ctx.queue.clone(), prefix, stale_after)
        .with_archive_time_zone(archive_tz);

    if ctx.queue.status() == BrokerStatus::InProcess {
        match scheduler.forget_previous_process(started).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                runs = n,
                "marked job runs of the previous process failed (the in-process queue lost them)"
            ),
            Err(e) => tracing::warn!("cannot clear the previous process's job runs: {e}"),
        }
    }

    tracing::info!(
        component = SPEC.component,
        tick_secs = config.tick.as_secs(),
        stale_after_secs = config.stale_after.as_secs(),
        "scheduling jobs"
    );
    let mut ticker = tokio::time::interval(config.tick);
    // After a slow tick (a broker time-out), carry on from now instead of catching up in a burst.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_maintenance: Option<tokio::time::Instant> = None;
    let mut db_was_ok = true;
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = chrono::Utc::now();
        match scheduler.tick(now, &ctx.shutdown).await {
            Ok(summary) => {
                if !db_was_ok {
                    tracing::info!("database available again, scheduling resumes");
                    db_was_ok = true;
                }
                tracing::debug!(
                    jobs = summary.jobs,
                    fired = summary.fired,
                    busy = summary.busy,
                    "tick: {summary}"
                );
            }
            // Readiness reports the database; one line per outage is enough here.
            Err(e) if db_was_ok => {
                tracing::warn!("cannot read the schedule, skipping ticks until it works: {e}");
                db_was_ok = false;
            }
            Err(e) => tracing::debug!("tick skipped: {e}"),
        }
        if ctx.shutdown.is_cancelled() {
            break;
        }
        if last_maintenance.is_none_or(|t| t.elapsed() >= MAINTENANCE_EVERY) {
            last_maintenance = Some(tokio::time::Instant::now());
            if let Err(e) = scheduler.maintain(now, keep_firings).await {
                tracing::warn!("housekeeping failed (retried in a minute): {e}");
            }
        }
    }
    tracing::info!(component = SPEC.component, "scheduling stopped");
    Ok(())
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
        ] {
            let err = Config::from_settings(&settings(&[(key, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{err}");
        }
    }
}
