//! The process's stop, driven by SIGTERM and Ctrl-C: the first signal stops taking work (and
//! readiness answers 503 "shutting down"); after `SHUTDOWN_GRACE_SECS` running jobs stop between
//! pages and go back to their queue; [`STOP_MARGIN`] later the process exits whatever still runs.
//! A second signal exits at once.

use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

pub use queue::Shutdown;

/// After the grace, how long jobs get to reach a page boundary and hand their job back before
/// the process exits anyway (nothing is lost then either: page writes are transactions, and an
/// unacknowledged job is redelivered). Compose's `stop_grace_period` covers grace + margin.
pub const STOP_MARGIN: Duration = Duration::from_secs(10);

/// Exit status when jobs did not stop within [`STOP_MARGIN`].
pub const EXIT_FORCED: i32 = 1;

/// Drive `shutdown` from SIGTERM and SIGINT with `grace` for running jobs. A stop begun
/// otherwise (a daemon failing in the all-in-one mode) gets the same grace.
pub fn on_signals(shutdown: Shutdown, grace: Duration) {
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("cannot listen for SIGTERM/SIGINT: {e}");
            return;
        }
    };
    tokio::spawn(async move {
        tokio::select! {
            name = next(&mut term, &mut int) => tracing::info!(
                "{name} received: taking no more work; running jobs have {} s to finish \
                 (SHUTDOWN_GRACE_SECS); a second signal exits at once",
                grace.as_secs()
            ),
            _ = shutdown.cancelled() => tracing::info!(
                "stopping: taking no more work; running jobs have {} s to finish",
                grace.as_secs()
            ),
        }
        shutdown.cancel();
        tokio::select! {
            name = next(&mut term, &mut int) => exit_now(name),
            _ = tokio::time::sleep(grace) => {}
        }
        tracing::warn!(
            "shutdown grace of {} s is over: stopping running jobs between pages; they go back \
             to their queue",
            grace.as_secs()
        );
        shutdown.stop_jobs();
        tokio::select! {
            name = next(&mut term, &mut int) => exit_now(name),
            _ = tokio::time::sleep(STOP_MARGIN) => {}
        }
        let why = format!(
            "jobs did not stop within {} s after the grace; exiting now (unacknowledged jobs \
             are redelivered)",
            STOP_MARGIN.as_secs()
        );
        tracing::error!("{why}");
        eprintln!("{why}");
        std::process::exit(EXIT_FORCED);
    });
}

/// The next SIGTERM or SIGINT, by name.
async fn next(term: &mut Signal, int: &mut Signal) -> &'static str {
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// The second signal: the operator wants the process gone now. Exits with 128 + the signal's
/// number, as a shell reports a process killed by it.
fn exit_now(name: &str) -> ! {
    let (why, code) = if name == "SIGINT" {
        ("second interrupt", 130)
    } else {
        ("second SIGTERM", 143)
    };
    tracing::warn!("{why}: exiting at once");
    eprintln!("{why}: exiting at once");
    std::process::exit(code);
}
