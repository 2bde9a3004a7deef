//! The `metrics` job: snapshot one tenant's recent intervals and record the tenant's `metrics`
//! sync state (its watermark is the end of the last interval written). Looking up the tenant and
//! recording the run is `runtime::runs::run_recorded`'s, as in the other consuming daemons.

use std::sync::Arc;

use chrono::Utc;
use domain::job::{JobEnvelope, JobOutcome, JobType, RetryTiers};
use domain::tenant::Tenant;
use queue::JobHandler;
use runtime::runs::{Recorded, RecordedJob, Recorder};
use store::Db;
use store::repo::sync_state;

use crate::SPEC;
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
    Arc::new(Recorded(worker))
}

impl RecordedJob for Worker {
    fn recorder(&self) -> Recorder<'_> {
        let (name, tiers) = (&self.name, &self.retry_tiers);
        Recorder::new(&self.db, SPEC.component, name, self.max_attempts, tiers)
    }

    fn accept(&self, job: &JobEnvelope) -> Result<(), JobOutcome> {
        if job.job_type != JobType::Metrics {
            return Err(JobOutcome::fail(format!(
                "the metrics daemon does not run {} jobs",
                job.job_type
            )));
        }
        Ok(())
    }

    async fn run(&self, _job: &JobEnvelope, tenant: &Tenant) -> JobOutcome {
        self.snapshot(tenant.id).await
    }
}

impl Worker {
    /// Snapshot the tenant; database trouble is worth another try.
    async fn snapshot(&self, tenant_id: i64) -> JobOutcome {
        let now = Utc::now();
        let watermark = match sync_state::get(&self.db, tenant_id, KIND).await {
            Ok(s) => s.and_then(|s| s.watermark),
            Err(e) => return JobOutcome::retry(format!("database: {e}")),
        };
        let (from, to) = snapshot::range(watermark, now, &self.options);
        match snapshot::snapshot_tenant(&self.db, tenant_id, from, to, self.options.bucket_secs)
            .await
        {
            // Stopped by shutdown: the job goes back to its queue; intervals are replaced
            // whole, so its next run redoes the rest.
            Ok(report) if report.to < to => JobOutcome::retry(queue::STOPPED_REASON),
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
}
