//! IntegraMon controller: decides per tenant what is due and publishes jobs.
//!
//! Every `CONTROLLER_TICK` seconds it walks the enabled jobs of the enabled tenants and fires
//! each open slot ([`slots`]) once, across any number of controllers ([`scheduler`]); every
//! minute it marks abandoned runs failed and forgets old firings. No job family waits on
//! another: each tenant and type is only held back by its own previous run.

pub mod scheduler;
pub mod settings;
pub mod slots;

use std::time::Duration;

use anyhow::Context as _;
use queue::BrokerStatus;
use runtime::{Context, Spec};

pub use scheduler::{Scheduler, TickSummary};
pub use settings::Config;

pub const SPEC: Spec<Config> = Spec {
    component: "controller",
    default_listen: "127.0.0.1:9102",
    listen_env: "CONTROLLER_LISTEN",
    settings: Config::from_settings,
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

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context<Config>) -> anyhow::Result<()> {
    let started = chrono::Utc::now();
    let config = ctx.config.clone();
    let prefix = ctx.queue_config.prefix.clone();
    let stale_after =
        chrono::Duration::from_std(config.stale_after).context("JOB_STALE_AFTER is too large")?;
    let keep_firings = chrono::Duration::from_std(KEEP_FIRINGS)?;
    let archive_tz = config.archive_time_zone;
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
