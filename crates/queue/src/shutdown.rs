//! How a process stops consuming, in two stages: first it takes no more jobs (the ones running
//! go on), then, once its grace is over, running jobs stop at their next page or batch and go
//! back to their queue unsettled, to be redelivered. [`stop_requested`] is what job loops ask.

use std::future::Future;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// The process's stop signal for consumers. Cheap to clone; clones share the state.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    intake: CancellationToken,
    jobs: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stage one: take no more work (consumers stop, schedulers stop firing).
    pub fn cancel(&self) {
        self.intake.cancel();
    }

    /// Whether stage one has begun.
    pub fn is_cancelled(&self) -> bool {
        self.intake.is_cancelled()
    }

    /// Resolves when stage one begins.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.intake.cancelled()
    }

    /// Stage two (implies stage one): running jobs stop between pages and are returned to their
    /// queue unsettled.
    pub fn stop_jobs(&self) {
        self.intake.cancel();
        self.jobs.cancel();
    }

    /// Whether stage two has begun.
    pub fn jobs_stopped(&self) -> bool {
        self.jobs.is_cancelled()
    }

    /// Resolves when stage two begins.
    pub fn jobs_stopping(&self) -> WaitForCancellationFuture<'_> {
        self.jobs.cancelled()
    }

    pub(crate) fn intake_token(&self) -> &CancellationToken {
        &self.intake
    }

    pub(crate) fn jobs_token(&self) -> CancellationToken {
        self.jobs.clone()
    }
}

/// A plain token is stage one only: the consumer stops taking jobs and lets running ones finish
/// (what callers that never stop jobs early want).
impl From<CancellationToken> for Shutdown {
    fn from(intake: CancellationToken) -> Self {
        Self {
            intake,
            jobs: CancellationToken::new(),
        }
    }
}

tokio::task_local! {
    /// The running job's stage-two token. Task-local rather than a parameter, so every page loop
    /// of every job can ask without threading it through functions the one-shot commands share.
    static JOB_STOP: CancellationToken;
}

/// True when the job running on this task should stop at this page or batch boundary: its
/// process is shutting down and the grace is over. Return a retryable error then; the queue
/// returns the job unsettled instead of settling it. Always false outside a consumer (one-shot
/// commands, tests calling a handler directly).
pub fn stop_requested() -> bool {
    JOB_STOP
        .try_with(CancellationToken::is_cancelled)
        .unwrap_or(false)
}

/// The reason a job gives when it stops for [`stop_requested`].
pub const STOPPED_REASON: &str =
    "stopped by shutdown between pages; the job goes back to its queue";

/// Run `job` with `stop` as its [`stop_requested`] token.
pub(crate) async fn with_stop<F: Future>(stop: CancellationToken, job: F) -> F::Output {
    JOB_STOP.scope(stop, job).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_requested_follows_the_scoped_token_and_is_false_outside() {
        assert!(!stop_requested());
        let s = Shutdown::new();
        let token = s.jobs_token();
        let seen = with_stop(token.clone(), async {
            let before = stop_requested();
            s.stop_jobs();
            (before, stop_requested())
        })
        .await;
        assert_eq!(seen, (false, true));
        assert!(s.is_cancelled(), "stage two implies stage one");
    }

    #[test]
    fn a_plain_token_only_stops_intake() {
        let t = CancellationToken::new();
        let s = Shutdown::from(t.clone());
        t.cancel();
        assert!(s.is_cancelled());
        assert!(!s.jobs_stopped());
    }
}
