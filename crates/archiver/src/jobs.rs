//! The `archive` job handler: archive one tenant's days. Looking up the tenant and recording
//! the run (running, succeeded, retried, dead, failed) is `runtime::runs::run_recorded`'s, as in
//! the other consuming daemons.

use std::sync::Arc;

use domain::job::{self, JobEnvelope, JobOutcome, RetryTiers};
use domain::tenant::Tenant;
use queue::JobHandler;
use runtime::runs::{Recorded, RecordedJob, Recorder};

use crate::error::ArchiveError;
use crate::{Archiver, SPEC, TenantRef};

pub struct Worker {
    pub archiver: Archiver,
    /// Recorded on each run, so the UI shows which archiver ran it.
    pub name: String,
    pub max_attempts: u32,
    pub retry_tiers: RetryTiers,
}

impl RecordedJob for Worker {
    fn recorder(&self) -> Recorder<'_> {
        let (db, tiers) = (&self.archiver.db, &self.retry_tiers);
        Recorder::new(db, SPEC.component, &self.name, self.max_attempts, tiers)
    }

    async fn run(&self, job: &JobEnvelope, tenant: &Tenant) -> JobOutcome {
        match self.archive(job, tenant).await {
            Ok(summary) => JobOutcome::Done { summary },
            Err(e) => e.outcome(),
        }
    }
}

impl Worker {
    async fn archive(
        &self,
        job: &JobEnvelope,
        tenant: &Tenant,
    ) -> Result<serde_json::Value, ArchiveError> {
        let params: job::Archive = job
            .params_as()
            .map_err(|e| ArchiveError::Fail(format!("invalid parameters: {e}")))?;
        let tenant = TenantRef {
            id: tenant.id,
            name: tenant.settings.name.clone(),
        };
        let report = self.archiver.run_tenant(&tenant, params.day).await?;
        serde_json::to_value(&report)
            .map_err(|e| ArchiveError::Fail(format!("cannot summarise the run: {e}")))
    }
}

pub fn handler(worker: Worker) -> Arc<dyn JobHandler> {
    Arc::new(Recorded(worker))
}
