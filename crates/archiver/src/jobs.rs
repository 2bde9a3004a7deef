//! The `archive` job handler: resolve the tenant, run it, record the run (running, succeeded,
//! retried, dead, failed) the way the ingest worker does, and report the outcome the queue acts
//! on.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use domain::job::{self, JobEnvelope, JobOutcome, RetryTiers};
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
        let run = runtime::runs::new_run(&job, tenant.as_ref().map(|t| t.id), &delivery);
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
        let policy = runtime::runs::RunPolicy {
            worker: &self.name,
            max_attempts: self.max_attempts,
            retry_tiers: &self.retry_tiers,
        };
        runtime::runs::record_end(&self.archiver.db, &policy, job, run, delivery, outcome).await;
    }
}

pub fn handler(worker: Worker) -> Arc<dyn JobHandler> {
    Arc::new(worker)
}
