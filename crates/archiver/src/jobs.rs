//! The `archive` job handler: resolve the tenant, run it, record the run (running, succeeded,
//! retried, dead, failed) the way the ingest worker does, and report the outcome the queue acts
//! on.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use domain::job::{self, Disposition, JobEnvelope, JobOutcome, RetryTiers};
use queue::{Delivery, JobHandler};
use store::repo::job_runs::{self, NewJobRun};

use crate::Archiver;
use crate::error::ArchiveError;

pub struct Worker {
    pub archiver: Archiver,
    /// Recorded on each run, so the UI shows which archiver ran it.
    pub name: String,
    pub max_attempts: u32,
    pub retry_tiers: RetryTiers,
}

#[async_trait]
impl JobHandler for Worker {
    async fn handle(&self, job: JobEnvelope, delivery: Delivery) -> JobOutcome {
        let db = &self.archiver.db;
        let started = Utc::now();
        let tenant = match self.archiver.tenant(&job.tenant).await {
            Ok(t) => Some(t),
            Err(e) => {
                let outcome = e.outcome();
                self.record_end(&job, &delivery, None, &outcome).await;
                return outcome;
            }
        };
        let run = NewJobRun {
            job_id: job.job_id.clone(),
            tenant_id: tenant.as_ref().map(|t| t.id),
            job_type: job.job_type.as_str().to_string(),
            queue: delivery.queue.clone(),
            attempt: job.attempt as i32,
            params: job.params.clone(),
        };
        if let Err(e) = job_runs::mark_running(db, &run, &self.name, started).await {
            return ArchiveError::from(e).outcome();
        }
        let outcome = match self.run(&job, tenant.as_ref()).await {
            Ok(summary) => JobOutcome::Done { summary },
            Err(e) => e.outcome(),
        };
        self.record_end(&job, &delivery, Some(&run), &outcome).await;
        outcome
    }
}

impl Worker {
    async fn run(
        &self,
        job: &JobEnvelope,
        tenant: Option<&crate::TenantRef>,
    ) -> Result<serde_json::Value, ArchiveError> {
        let params: job::Archive = job
            .params_as()
            .map_err(|e| ArchiveError::Fail(format!("invalid parameters: {e}")))?;
        let tenant = tenant.ok_or_else(|| ArchiveError::Fail("no tenant".into()))?;
        let report = self.archiver.run_tenant(tenant, params.day).await?;
        serde_json::to_value(&report)
            .map_err(|e| ArchiveError::Fail(format!("cannot summarise the run: {e}")))
    }

    async fn record_end(
        &self,
        job: &JobEnvelope,
        delivery: &Delivery,
        run: Option<&NewJobRun>,
        outcome: &JobOutcome,
    ) {
        let db = &self.archiver.db;
        let now = Utc::now();
        let id = &job.job_id;
        let result =
            match job::disposition(outcome, job.attempt, self.max_attempts, &self.retry_tiers) {
                Disposition::Ack => match outcome {
                    JobOutcome::Done { summary } => {
                        job_runs::mark_succeeded(db, id, summary, now).await
                    }
                    JobOutcome::Fail { reason } | JobOutcome::Retry { reason, .. } => {
                        job_runs::mark_failed(db, id, reason, now).await
                    }
                },
                Disposition::Retry { next_attempt, .. } => {
                    let reason = match outcome {
                        JobOutcome::Retry { reason, .. } | JobOutcome::Fail { reason } => {
                            reason.as_str()
                        }
                        JobOutcome::Done { .. } => "",
                    };
                    job_runs::mark_retried(db, id, next_attempt as i32, reason, now).await
                }
                Disposition::DeadLetter { reason } => {
                    if run.is_none() {
                        // The tenant could not be resolved: still leave a trace of the job.
                        let run = NewJobRun {
                            job_id: id.clone(),
                            tenant_id: None,
                            job_type: job.job_type.as_str().to_string(),
                            queue: delivery.queue.clone(),
                            attempt: job.attempt as i32,
                            params: job.params.clone(),
                        };
                        let _ = job_runs::mark_running(db, &run, &self.name, now).await;
                    }
                    job_runs::mark_dead(db, id, &reason, now).await
                }
            };
        if let Err(e) = result {
            tracing::warn!(job = %id, "cannot record the job run: {e}");
        }
        match outcome {
            JobOutcome::Done { .. } => {
                tracing::info!(job = %id, tenant = %job.tenant, "archive job done")
            }
            JobOutcome::Retry { reason, .. } => {
                tracing::warn!(job = %id, attempt = job.attempt, "archive job will be retried: {reason}")
            }
            JobOutcome::Fail { reason } => {
                tracing::error!(job = %id, "archive job failed: {reason}")
            }
        }
    }
}

pub fn handler(worker: Worker) -> Arc<dyn JobHandler> {
    Arc::new(worker)
}
