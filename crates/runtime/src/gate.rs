//! The migration gate: a daemon starts work only once the marker names the schema this binary
//! needs and the database itself has no pending migration.

use std::path::Path;
use std::time::{Duration, Instant};

use migration::Migrator;
use store::Db;
use store::schema::{GateState, check_gate};

use crate::health::Health;
use crate::shutdown::Shutdown;

/// How often the reason is repeated in the log while it does not change.
const REPEAT_EVERY: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(500);

/// Wait until the gate opens. Returns `false` if shutdown came first.
pub async fn wait(db: &Db, marker: &Path, health: &Health, shutdown: &Shutdown) -> bool {
    let mut last: Option<(String, Instant)> = None;
    loop {
        let state = check_gate::<Migrator>(db, marker).await;
        if let GateState::Ready { version } = &state {
            health.set_gate_passed(marker);
            tracing::info!(schema = %version, "schema is migrated; starting work");
            return true;
        }
        let reason = format!("waiting for migrations: {state}");
        let repeat = match &last {
            Some((prev, at)) => *prev != reason || at.elapsed() >= REPEAT_EVERY,
            None => true,
        };
        if repeat {
            tracing::warn!("{reason}");
            last = Some((reason.clone(), Instant::now()));
        }
        health.set_waiting(reason);
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(POLL_EVERY) => {}
        }
    }
}
