//! IntegraMon controller: decides per tenant what is due and publishes jobs.
//!
//! The daemon exists with the shared runtime (settings, migration gate, health, clean shutdown);
//! its work (job scheduling) is added by its own issue.

use runtime::{Context, Spec};

pub const SPEC: Spec = Spec {
    component: "controller",
    default_listen: "127.0.0.1:9102",
    listen_env: "CONTROLLER_LISTEN",
};

pub const ABOUT: &str = "IntegraMon controller: decides per tenant what is due and publishes jobs";

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context) -> anyhow::Result<()> {
    tracing::info!(
        component = SPEC.component,
        "ready; no job scheduling is implemented in this version"
    );
    ctx.shutdown.cancelled().await;
    Ok(())
}
