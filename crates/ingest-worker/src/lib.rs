//! IntegraMon ingest worker: consumes collection jobs and writes what the tenant returns.
//!
//! The daemon exists with the shared runtime (settings, migration gate, health, clean shutdown);
//! its work (collection jobs) is added by its own issue.

use runtime::{Context, Spec};

pub const SPEC: Spec = Spec {
    component: "ingest-worker",
    default_listen: "127.0.0.1:9101",
    listen_env: "INGEST_WORKER_LISTEN",
};

pub const ABOUT: &str =
    "IntegraMon ingest worker: consumes collection jobs and writes what the tenant returns";

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context) -> anyhow::Result<()> {
    tracing::info!(
        component = SPEC.component,
        "ready; no collection jobs are implemented in this version"
    );
    ctx.shutdown.cancelled().await;
    Ok(())
}
