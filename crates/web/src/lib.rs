//! IntegraMon web UI and JSON API.
//!
//! The daemon exists with the shared runtime (settings, migration gate, health, clean shutdown);
//! its work (the web UI and JSON API) is added by its own issue.

use runtime::{Context, Spec};

pub const SPEC: Spec = Spec {
    component: "web",
    default_listen: "127.0.0.1:8080",
    listen_env: "WEB_LISTEN",
};

pub const ABOUT: &str = "IntegraMon web UI and JSON API";

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context) -> anyhow::Result<()> {
    tracing::info!(
        component = SPEC.component,
        "ready; the UI and JSON API are not part of this version yet"
    );
    ctx.shutdown.cancelled().await;
    Ok(())
}
