//! The `metrics` job: snapshot one tenant's recent intervals, and record the run and the
//! tenant's `metrics` sync state (its watermark is the end of the last interval written) the
//! way the other workers do.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use domain::job::{self, Disposition, JobEnvelope, JobOutcome, JobType, RetryTiers, TenantRef};
use queue::{Delivery, JobHandler};
use store::Db;
use store::repo::job_runs::{self, NewJobRun};
use store::repo::{sync_state, tenants};

use crate::snapshot::{self, SnapshotOptions};

/// The sync-state key of the metric snapshots.
pub const KIND: &str = "metrics";

pub struct Worker {
    pub db: Db,
    pub options: SnapshotOptions,
    /// Recorded on each run, so the UI shows which process ran it.
    pub name: String,
    pub max_attempts: u32,
    pub retry_tiers: RetryTiers,
}

pub fn handler(worker: Worker) -> Arc<dyn JobHandler> {
    Arc::new(worker)
}

#[async_trait]
impl JobHandler for Worker {
    async fn handle(&self, job: JobEnvelope, delivery: Delivery) -> JobOutcome {
        let started = Utc::now();
        let tenant_id = match self.resolve(&job).await {
            Ok(id) => id,
            Err(outcome) => {
                self.record_end(&job, None, &delivery, &outcome).await;
                return outcome;
            }
        };
        let run = NewJobRun {
            job_id: job.job_id.clone(),
            tenant_id: Some(tenant_id),
            job_type: job.job_type.as_str().to_string(),
            queue: delivery.queue.clone(),
            attempt: job.attempt as i32,
            params: job.params.clone(),
        };
        if let Err(e) = job_runs::mark_running(&self.db, &run, &self.name, started).await {
            return JobOutcome::retry(format!("database: {e}"));
        }
        let outcome = self.run(tenant_id).await;
        self.record_end(&job, Some(&run), &delivery, &outcome).await;
        outcome
    }
}

impl Worker {
    async fn resolve(&self, job: &JobEnvelope) -> Result<i64, JobOutcome> {
        if job.job_type != JobType::Metrics {
            return Err(JobOutcome::fail(format!(
                "the metrics daemon does not run {} jobs",
                job.job_type
            )));
        }
        let found = match &job.tenant {
            TenantRef::Id(id) => tenants::get(&self.db, *id).await,
            TenantRef::Name(name) => tenants::get_by_name(&self.db, name).await,
        };
        match found {
            Ok(Some(t)) => Ok(t.id),
            Ok(None) => Err(JobOutcome::fail(format!(
                "tenant {} does not exist",
                job.tenant
            ))),
            Err(e) => Err(JobOutcome::retry(format!("database: {e}"))),
        }
    }

    /// Snapshot the tenant; database trouble is worth another try.
    async fn run(&self, tenant_id: i64) -> JobOutcome {
        let now = Utc::now();
        let watermark = match sync_state::get(&self.db, tenant_id, KIND).await {
            Ok(s) => s.and_then(|s| s.watermark),
            Err(e) => return JobOutcome::retry(format!("database: {e}")),
        };
        let (from, to) = snapshot::range(watermark, now, &self.options);
        match snapshot::snapshot_tenant(&self.db, tenant_id, from, to, self.options.bucket_secs)
            .await
        {
            Ok(report) => {
                if let Err(e) =
                    sync_state::record_success(&self.db, tenant_id, KIND, now, Some(to), None).await
                {
                    tracing::warn!(tenant_id, "cannot record the metrics watermark: {e}");
                }
                JobOutcome::done(serde_json::to_value(&report).unwrap_or_default())
            }
            Err(e) => {
                let reason = format!("database: {e}");
                let _ = sync_state::record_failure(&self.db, tenant_id, KIND, now, &reason).await;
                JobOutcome::retry(reason)
            }
        }
    }

    /// Record how the run ended, with the same rule the queue applies to the outcome.
    async fn record_end(
        &self,
        job: &JobEnvelope,
        run: Option<&NewJobRun>,
        delivery: &Delivery,
        outcome: &JobOutcome,
    ) {
        let now = Utc::now();
        let id = &job.job_id;
        let result =
            match job::disposition(outcome, job.attempt, self.max_attempts, &self.retry_tiers) {
                Disposition::Ack => match outcome {
                    JobOutcome::Done { summary } => {
                        job_runs::mark_succeeded(&self.db, id, summary, now).await
                    }
                    JobOutcome::Fail { reason } | JobOutcome::Retry { reason, .. } => {
                        job_runs::mark_failed(&self.db, id, reason, now).await
                    }
                },
                Disposition::Retry { next_attempt, .. } => {
                    let reason = match outcome {
                        JobOutcome::Retry { reason, .. } | JobOutcome::Fail { reason } => {
                            reason.as_str()
                        }
                        JobOutcome::Done { .. } => "",
                    };
                    job_runs::mark_retried(&self.db, id, next_attempt as i32, reason, now).await
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
                        let _ = job_runs::mark_running(&self.db, &run, &self.name, now).await;
                    }
                    job_runs::mark_dead(&self.db, id, &reason, now).await
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
}
