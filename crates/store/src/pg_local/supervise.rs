//! Keeping the internal cluster alive for the process that owns it (`integramon up`), as the
//! original's Supervisor did: a dead server is started again, with a growing pause between
//! failed attempts, each logged; when the owner stops, the server is stopped too.

use std::future::Future;
use std::time::Duration;

use crate::settings::DbSettings;

use super::LocalCluster;

/// How often the server's process is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Longest pause between failed restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl LocalCluster {
    /// Watch the server until `stop` completes, restarting it whenever it is gone; then stop
    /// it (fast shutdown: open sessions are ended, committed work is kept).
    pub async fn supervise(&self, settings: &DbSettings, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut backoff = Duration::from_secs(1);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
            if self.postmaster_alive() {
                backoff = Duration::from_secs(1);
                continue;
            }
            tracing::warn!(
                dir = %self.data_dir.display(),
                "the internal PostgreSQL is not running; starting it again"
            );
            match self.start(settings).await {
                Ok(()) => {
                    tracing::info!(port = settings.port, "the internal PostgreSQL runs again")
                }
                Err(e) => {
                    tracing::error!(
                        "the internal PostgreSQL did not start ({e}); next attempt in {}s (log: {})",
                        backoff.as_secs(),
                        self.log_file.display()
                    );
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        match self.stop().await {
            Ok(()) => tracing::info!("stopped the internal PostgreSQL"),
            Err(e) => tracing::error!("stopping the internal PostgreSQL: {e}"),
        }
    }

    /// Whether the postmaster named in `postmaster.pid` is alive. A dead one whose parent is this
    /// process (a container's PID 1 inherits it) is reaped here, not counted as alive.
    pub fn postmaster_alive(&self) -> bool {
        let Some(pid) = std::fs::read_to_string(self.data_dir.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
        else {
            return false;
        };
        let pid = nix::unistd::Pid::from_raw(pid);
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            // Our own child and still running.
            Ok(WaitStatus::StillAlive) => return true,
            Ok(_) => return false,
            // Not our child: ask the kernel whether it exists.
            Err(_) => {}
        }
        let exists = match nix::sys::signal::kill(pid, None) {
            Ok(()) => true,
            Err(nix::errno::Errno::EPERM) => true,
            Err(_) => false,
        };
        // A dead process nobody has reaped yet (a zombie) still answers the signal test.
        exists
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with('Z'))
            })
    }
}
