//! The metrics daemon's settings (`METRICS_*`), built once at start from the layered settings
//! and handed to the daemon on its context.

use std::time::Duration;

use domain::setting::{self, Entry};
use runtime::Settings;

use crate::snapshot::SnapshotOptions;

fn number(settings: &Settings, key: &str, default: u64, min: u64, max: u64) -> anyhow::Result<u64> {
    Ok(settings.parsed(key, default, |k, v| setting::whole_in(k, v, min, max))?)
}

/// The daemon's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub snapshots: SnapshotOptions,
    /// `METRICS_STORAGE_SECS`: least time between storage snapshots.
    pub storage_every: Duration,
    /// `METRICS_SNAPSHOT_RETENTION_DAYS`.
    pub retention_days: u64,
    /// `METRICS_ERROR_HISTORY_DAYS`: hourly error-group counts older than this are deleted.
    pub error_history_days: u64,
    /// `METRICS_REFRESH_SECS`: how often the lag and depth gauges are refreshed.
    pub refresh_every: Duration,
    /// `METRICS_RECONCILE_SECS` and `METRICS_RECONCILE_HOURS`.
    pub reconcile_every: Duration,
    pub reconcile_hours: u64,
}

impl Options {
    /// The resolved settings for `integramon config`.
    pub fn entries(&self) -> Vec<Entry> {
        vec![
            Entry::new("METRICS_SNAPSHOT_SECS", self.snapshots.bucket_secs),
            Entry::secs("METRICS_RECOMPUTE_SECS", self.snapshots.recompute),
            Entry::secs("METRICS_STORAGE_SECS", self.storage_every),
            Entry::new("METRICS_SNAPSHOT_RETENTION_DAYS", self.retention_days),
            Entry::new("METRICS_ERROR_HISTORY_DAYS", self.error_history_days),
            Entry::secs("METRICS_REFRESH_SECS", self.refresh_every),
            Entry::secs("METRICS_RECONCILE_SECS", self.reconcile_every),
            Entry::new("METRICS_RECONCILE_HOURS", self.reconcile_hours),
        ]
    }
}

/// The daemon's settings from the layered settings, built once at start.
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
        // At least 15 days: the Errors list's 14-day sparkline and the escalation limit's week
        // read this history.
        error_history_days: number(settings, "METRICS_ERROR_HISTORY_DAYS", 90, 15, 36_500)?,
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
