//! IntegraMon metrics: metric and storage snapshots.
//!
//! This version keeps the message-count rollup honest: every `METRICS_RECONCILE_SECS` it
//! recomputes each tenant's recent hours (`METRICS_RECONCILE_HOURS`) from the messages, healing
//! an hour a worker committed but did not refresh (the facets and charts read the rollup).
//! Metric and storage snapshots are added by their own issue.

use std::time::Duration;

use chrono::Utc;
use runtime::{Context, Spec};
use store::repo::{monitor, tenants};

pub const SPEC: Spec = Spec {
    component: "metrics",
    default_listen: "127.0.0.1:9104",
    listen_env: "METRICS_LISTEN",
    http: None,
};

pub const ABOUT: &str = "IntegraMon metrics: metric and storage snapshots";

fn number(ctx: &Context, key: &str, default: u64, min: u64, max: u64) -> anyhow::Result<u64> {
    match ctx.settings.raw(key) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => anyhow::bail!("{key} must be a number from {min} to {max}, not {v:?}"),
        },
    }
}

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context) -> anyhow::Result<()> {
    let every = Duration::from_secs(number(&ctx, "METRICS_RECONCILE_SECS", 300, 10, 86_400)?);
    let hours = number(&ctx, "METRICS_RECONCILE_HOURS", 2, 1, 24 * 31)?;
    tracing::info!(
        component = SPEC.component,
        every_secs = every.as_secs(),
        hours,
        "reconciling message counts; metric snapshots are not implemented in this version"
    );
    fill_missing_counts(&ctx).await;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => reconcile(&ctx, hours).await,
        }
    }
}

/// Tenants collected before the rollup existed get it filled once (facets and charts read it).
async fn fill_missing_counts(ctx: &Context) {
    let Ok(list) = tenants::list(&ctx.db).await else {
        return;
    };
    for t in list {
        match monitor::counts_missing(&ctx.db, t.id).await {
            Ok(true) => match monitor::rebuild_counts(&ctx.db, t.id).await {
                Ok(rows) => {
                    tracing::info!(tenant = %t.settings.name, rows, "message counts filled for earlier messages")
                }
                Err(e) => tracing::warn!(tenant = %t.settings.name, "filling message counts: {e}"),
            },
            Ok(false) => {}
            Err(e) => tracing::warn!(tenant = %t.settings.name, "checking message counts: {e}"),
        }
    }
}

async fn reconcile(ctx: &Context, hours: u64) {
    let list = match tenants::list(&ctx.db).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("reconciling message counts: cannot list tenants: {e}");
            return;
        }
    };
    let since = Utc::now() - chrono::Duration::hours(hours as i64);
    for t in list {
        if ctx.shutdown.is_cancelled() {
            return;
        }
        match monitor::refresh_recent_counts(&ctx.db, t.id, since).await {
            Ok(n) => {
                tracing::debug!(tenant = %t.settings.name, hours = n, "message counts reconciled")
            }
            Err(e) => tracing::warn!(tenant = %t.settings.name, "reconciling message counts: {e}"),
        }
    }
}
