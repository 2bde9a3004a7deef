//! The message-count rollup kept honest: the facets and charts read `message_counts`, which each
//! page's transaction moves by exact deltas; this recomputes each tenant's recent hours as a
//! safety net (rows changed by hand, or by a writer that bypassed the store).

use chrono::Utc;
use runtime::Context;
use store::repo::{monitor, tenants};

/// Tenants collected before the rollup existed get it filled once (facets and charts read it).
pub async fn fill_missing_counts<S>(ctx: &Context<S>) {
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

pub async fn reconcile<S>(ctx: &Context<S>, hours: u64) {
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
