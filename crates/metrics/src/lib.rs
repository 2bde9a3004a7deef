//! IntegraMon metrics: metric and storage snapshots.
//!
//! The daemon exists with the shared runtime (settings, migration gate, health, clean shutdown);
//! its work (metric snapshots) is added by its own issue.

use runtime::{Context, Spec};

pub const SPEC: Spec = Spec {
    component: "metrics",
    default_listen: "127.0.0.1:9104",
    listen_env: "METRICS_LISTEN",
    http: None,
};

pub const ABOUT: &str = "IntegraMon metrics: metric and storage snapshots";

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context) -> anyhow::Result<()> {
    tracing::info!(
        component = SPEC.component,
        "ready; no metric snapshots are implemented in this version"
    );
    ctx.shutdown.cancelled().await;
    Ok(())
}
