//! IntegraMon archiver: retention, archive files and database upkeep.
//!
//! The daemon exists with the shared runtime (settings, migration gate, health, clean shutdown);
//! its work (archiving) is added by its own issue.

use runtime::{Context, Spec};

pub const SPEC: Spec = Spec {
    component: "archiver",
    default_listen: "127.0.0.1:9103",
    listen_env: "ARCHIVER_LISTEN",
    http: None,
};

pub const ABOUT: &str = "IntegraMon archiver: retention, archive files and database upkeep";

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context) -> anyhow::Result<()> {
    tracing::info!(
        component = SPEC.component,
        "ready; no archiving is implemented in this version"
    );
    ctx.shutdown.cancelled().await;
    Ok(())
}
