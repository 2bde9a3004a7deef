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
pub mod settings;
pub mod snapshot;
pub mod storage;

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use domain::job::JobType;
use runtime::{Context, Spec};

pub use crate::settings::{Options, options};

pub const SPEC: Spec<Options> = Spec {
    component: "metrics",
    default_listen: "127.0.0.1:9104",
    listen_env: "METRICS_LISTEN",
    settings: options,
    http: None,
};

pub const ABOUT: &str = "IntegraMon metrics: metric and storage snapshots, installation gauges";

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context<Options>) -> anyhow::Result<()> {
    let opts = ctx.config.clone();
    gauges::register();
    let queue_config = ctx.queue_config.clone();
    let worker = jobs::Worker {
        db: ctx.db.clone(),
        options: opts.snapshots,
        name: ctx.settings.worker_name("metrics"),
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
async fn clock(ctx: &Context<Options>, opts: &Options) {
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
            _ = reconcile.tick() => {
                reconcile::reconcile(ctx, opts.reconcile_hours).await;
                // Error-group states that change with time alone (no longer new, escalation
                // over, an ignore date reached).
                if let Err(e) = store::repo::error_groups::tick(&ctx.db, Utc::now()).await {
                    tracing::warn!("error-group states: {e}");
                }
            }
            _ = storage.tick() => storage_and_retention(ctx, opts).await,
        }
    }
}

async fn storage_and_retention(ctx: &Context<Options>, opts: &Options) {
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
    let before = now - chrono::Duration::days(opts.error_history_days as i64);
    match store::repo::error_groups::prune_hours(&ctx.db, before).await {
        Ok(n) if n > 0 => tracing::info!(rows = n, "old error-group hourly counts removed"),
        Ok(_) => {}
        Err(e) => tracing::warn!("error-group history retention: {e}"),
    }
}
