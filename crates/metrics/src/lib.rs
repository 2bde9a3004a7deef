//! IntegraMon metrics: metric and storage snapshots, and the installation-wide gauges of
//! `/metrics`.
//!
//! - Consumes `metrics` jobs (one per tenant, fired by the controller at the tenant's `metrics`
//!   interval; over AMQP or in-process): snapshots of the tenant's recent intervals per iFlow
//!   ([`snapshot`]).
//! - On its own clock: storage snapshots at most every `METRICS_STORAGE_SECS` ([`storage`]),
//!   the snapshot retention purge, the collection-lag and queue-depth gauges ([`gauges`]), and
//!   the reconciliation of the hourly message-count rollup ([`reconcile`]).

pub mod gauges;
pub mod jobs;
pub mod reconcile;
pub mod snapshot;
pub mod storage;

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use domain::job::JobType;
use runtime::{Context, Settings, Spec};

use crate::snapshot::SnapshotOptions;

pub const SPEC: Spec = Spec {
    component: "metrics",
    default_listen: "127.0.0.1:9104",
    listen_env: "METRICS_LISTEN",
    http: None,
};

pub const ABOUT: &str = "IntegraMon metrics: metric and storage snapshots, installation gauges";

fn number(settings: &Settings, key: &str, default: u64, min: u64, max: u64) -> anyhow::Result<u64> {
    match settings.raw(key) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => anyhow::bail!("{key} must be a number from {min} to {max}, not {v:?}"),
        },
    }
}

/// The daemon's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub snapshots: SnapshotOptions,
    /// `METRICS_STORAGE_SECS`: least time between storage snapshots.
    pub storage_every: Duration,
    /// `METRICS_SNAPSHOT_RETENTION_DAYS`.
    pub retention_days: u64,
    /// `METRICS_REFRESH_SECS`: how often the lag and depth gauges are refreshed.
    pub refresh_every: Duration,
    /// `METRICS_RECONCILE_SECS` and `METRICS_RECONCILE_HOURS`.
    pub reconcile_every: Duration,
    pub reconcile_hours: u64,
}

pub fn options(settings: &Settings) -> anyhow::Result<Options> {
    let bucket_secs = number(settings, "METRICS_SNAPSHOT_SECS", 300, 60, 86_400)?;
    if 86_400 % bucket_secs != 0 {
        anyhow::bail!(
            "METRICS_SNAPSHOT_SECS must divide a day (86400) so intervals align to days, not {bucket_secs}"
        );
    }
    let recompute = number(settings, "METRICS_RECOMPUTE_SECS", 3600, 0, 7 * 86_400)?;
    Ok(Options {
        snapshots: SnapshotOptions {
            bucket_secs: bucket_secs as u32,
            recompute: Duration::from_secs(recompute),
            catch_up: Duration::from_secs(recompute.max(86_400)),
        },
        storage_every: Duration::from_secs(number(
            settings,
            "METRICS_STORAGE_SECS",
            3600,
            60,
            30 * 86_400,
        )?),
        retention_days: number(settings, "METRICS_SNAPSHOT_RETENTION_DAYS", 90, 1, 36_500)?,
        refresh_every: Duration::from_secs(number(settings, "METRICS_REFRESH_SECS", 15, 1, 3600)?),
        reconcile_every: Duration::from_secs(number(
            settings,
            "METRICS_RECONCILE_SECS",
            300,
            10,
            86_400,
        )?),
        reconcile_hours: number(settings, "METRICS_RECONCILE_HOURS", 2, 1, 24 * 31)?,
    })
}

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context) -> anyhow::Result<()> {
    let opts = options(&ctx.settings)?;
    gauges::register();
    let queue_config = runtime::daemon::queue_config(&ctx.settings).map_err(anyhow::Error::msg)?;
    let worker = jobs::Worker {
        db: ctx.db.clone(),
        options: opts.snapshots,
        name: format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "metrics".into()),
            std::process::id()
        ),
        max_attempts: queue_config.max_attempts,
        retry_tiers: queue_config.retry_tiers.clone(),
    };
    tracing::info!(
        component = SPEC.component,
        snapshot_secs = opts.snapshots.bucket_secs,
        storage_secs = opts.storage_every.as_secs(),
        retention_days = opts.retention_days,
        "consuming metrics jobs; storage snapshots, gauges and rollup reconciliation on a clock"
    );
    let consume = async {
        ctx.queue
            .consume(
                &[JobType::Metrics],
                queue_config.prefetch,
                jobs::handler(worker),
                ctx.shutdown.clone(),
            )
            .await
            .context("consuming metrics jobs")
    };
    let clock = async {
        clock(&ctx, &opts).await;
        Ok(())
    };
    tokio::try_join!(consume, clock)?;
    Ok(())
}

/// Everything on the daemon's own clock, until shutdown.
async fn clock(ctx: &Context, opts: &Options) {
    reconcile::fill_missing_counts(ctx).await;
    let mut refresh = tokio::time::interval(opts.refresh_every);
    let mut reconcile = tokio::time::interval(opts.reconcile_every);
    // Storage is checked every minute (or more often when configured so) and taken when due, so
    // a restart neither loses nor doubles a period.
    let mut storage = tokio::time::interval(opts.storage_every.min(Duration::from_secs(60)));
    for t in [&mut refresh, &mut reconcile, &mut storage] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            _ = refresh.tick() => {
                if let Err(e) = gauges::refresh_lag(&ctx.db).await {
                    tracing::debug!("collection lag gauges: {e}");
                }
                if let Err(e) = gauges::refresh_depths(&ctx.queue).await {
                    tracing::debug!("queue depth gauges: {e}");
                }
            }
            _ = reconcile.tick() => reconcile::reconcile(ctx, opts.reconcile_hours).await,
            _ = storage.tick() => storage_and_retention(ctx, opts).await,
        }
    }
}

async fn storage_and_retention(ctx: &Context, opts: &Options) {
    let now = Utc::now();
    match storage::take_if_due(&ctx.db, &ctx.settings.data_dir, opts.storage_every, now).await {
        Ok(false) => return,
        Ok(true) => tracing::info!("storage snapshot taken"),
        Err(e) => {
            tracing::warn!("storage snapshot: {e}");
            return;
        }
    }
    // Purged with each storage snapshot: often enough for a retention counted in days.
    let before = now - chrono::Duration::days(opts.retention_days as i64);
    match store::repo::snapshots::purge(&ctx.db, before).await {
        Ok(p) if p.metric + p.storage > 0 => {
            tracing::info!(
                metric = p.metric,
                storage = p.storage,
                "old snapshots removed"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("snapshot retention: {e}"),
    }
}
