//! How a consuming daemon records its job runs (running, succeeded, retried, failed, dead): the
//! same way in the ingest worker, the archiver and the metrics daemon, with the rule the queue
//! applies to the outcome, so the run history matches what happened to the job.

use chrono::Utc;
use domain::job::{self, Disposition, JobEnvelope, JobOutcome, RetryTiers};
use queue::Delivery;
use store::Db;
use store::repo::job_runs::{self, NewJobRun};

/// Who runs jobs and the queue's retry rule.
#[derive(Debug, Clone, Copy)]
pub struct RunPolicy<'a> {
    /// Recorded on each run, so the UI shows which process ran it.
    pub worker: &'a str,
    pub max_attempts: u32,
    pub retry_tiers: &'a RetryTiers,
}

/// The run record of `job` as delivered.
pub fn new_run(job: &JobEnvelope, tenant_id: Option<i64>, delivery: &Delivery) -> NewJobRun {
    NewJobRun {
        job_id: job.job_id.clone(),
        tenant_id,
        job_type: job.job_type.as_str().to_string(),
        queue: delivery.queue.clone(),
        attempt: job.attempt as i32,
        params: job.params.clone(),
    }
}

/// Record how the run ended. `run` is `None` when it never started (its tenant could not be
/// resolved): a dead job still leaves a trace.
pub async fn record_end(
    db: &Db,
    policy: &RunPolicy<'_>,
    job: &JobEnvelope,
    run: Option<&NewJobRun>,
    delivery: &Delivery,
    outcome: &JobOutcome,
) {
    let now = Utc::now();
    let id = &job.job_id;
    let result = match job::disposition(
        outcome,
        job.attempt,
        policy.max_attempts,
        policy.retry_tiers,
    ) {
        Disposition::Ack => match outcome {
            JobOutcome::Done { summary } => job_runs::mark_succeeded(db, id, summary, now).await,
            JobOutcome::Fail { reason } | JobOutcome::Retry { reason, .. } => {
                job_runs::mark_failed(db, id, reason, now).await
            }
        },
        Disposition::Retry { next_attempt, .. } => {
            let reason = match outcome {
                JobOutcome::Retry { reason, .. } | JobOutcome::Fail { reason } => reason.as_str(),
                JobOutcome::Done { .. } => "",
            };
            job_runs::mark_retried(db, id, next_attempt as i32, reason, now).await
        }
        Disposition::DeadLetter { reason } => {
            if run.is_none() {
                let _ =
                    job_runs::mark_running(db, &new_run(job, None, delivery), policy.worker, now)
                        .await;
            }
            job_runs::mark_dead(db, id, &reason, now).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(job = %id, "cannot record the job run: {e}");
    }
    match outcome {
        JobOutcome::Done { summary } => {
            tracing::info!(job = %id, kind = %job.job_type, %summary, "job done")
        }
        JobOutcome::Retry { reason, .. } => {
            tracing::warn!(job = %id, kind = %job.job_type, attempt = job.attempt, "job will be retried: {reason}")
        }
        JobOutcome::Fail { reason } => {
            tracing::error!(job = %id, kind = %job.job_type, "job failed: {reason}")
        }
    }
}
