//! The `metrics` job: snapshot one tenant's recent intervals, and record the run and the
//! tenant's `metrics` sync state (its watermark is the end of the last interval written) the
//! way the other workers do.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use domain::job::{JobEnvelope, JobOutcome, JobType, RetryTiers, TenantRef};
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
        let run = runtime::runs::new_run(&job, Some(tenant_id), &delivery);
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
        let policy = runtime::runs::RunPolicy {
            worker: &self.name,
            max_attempts: self.max_attempts,
            retry_tiers: &self.retry_tiers,
        };
        runtime::runs::record_end(&self.db, &policy, job, run, delivery, outcome).await;
    }
}
