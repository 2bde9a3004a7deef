//! The job handler: run a collection job on its tenant, within this worker's fair share of
//! slots, and keep the tenant's status current. Looking up the tenant and recording the run
//! (running, succeeded, retried, dead, failed) is `runtime::runs::run_recorded`'s.

use std::sync::Arc;

use chrono::Utc;
use cpi::CpiClient;
use domain::collection::{self, CollectionState};
use domain::job::{self, JobEnvelope, JobOutcome, JobType, MessagesSync, RetryTiers};
use domain::tenant::{JobKind, JobSettings, Tenant, TenantStatus};
use queue::JobHandler;
use runtime::runs::{Permit, Recorded, RecordedJob, Recorder};
use store::Db;
use store::repo::{sync_state, tenants};

use crate::SPEC;
use crate::error::JobError;
use crate::fairness::{Busy, DEFER_AFTER, TenantSlots, WAIT_FOR_SLOT};
use crate::messages::{self, MessageOptions};
use crate::tenants::Clients;
use crate::{content, details, payloads};

/// The job families an ingest worker consumes unless told otherwise.
pub const FAMILIES: [JobType; 9] = [
    JobType::MessagesHot,
    JobType::MessagesCold,
    JobType::MessageDetails,
    JobType::Payloads,
    JobType::Packages,
    JobType::DeepSync,
    JobType::Keystore,
    JobType::Alerts,
    JobType::Resources,
];

pub struct Worker {
    pub db: Db,
    pub clients: Clients,
    pub messages: MessageOptions,
    /// Recorded on each run, so the UI shows which worker ran it.
    pub name: String,
    pub max_attempts: u32,
    pub retry_tiers: RetryTiers,
    /// Jobs in flight per tenant and type on this worker (fair scheduling).
    pub slots: TenantSlots,
    /// Where a hot messages job that stored new problem messages asks for an alert
    /// evaluation; `None`: it does not.
    pub alerts: Option<crate::alerts::Trigger>,
}

impl RecordedJob for Worker {
    fn recorder(&self) -> Recorder<'_> {
        let (name, tiers) = (&self.name, &self.retry_tiers);
        Recorder::new(&self.db, SPEC.component, name, self.max_attempts, tiers)
    }

    /// At most the tenant's share of this worker's slots: one more job waits for the next free
    /// one (briefly), the rest are handed back for a moment.
    async fn admit<'a>(
        &'a self,
        job: &'a JobEnvelope,
        tenant: &'a Tenant,
    ) -> Result<Option<Permit<'a>>, JobOutcome> {
        let kind = job.job_type.as_str();
        match self.slots.take(tenant.id, kind, WAIT_FOR_SLOT).await {
            Ok(slot) => Ok(Some(Box::new(slot))),
            Err(busy) => Err(JobOutcome::defer(
                format!(
                    "tenant {} already has {} {} job(s) running on this worker ({})",
                    tenant.settings.name,
                    self.slots.limit(),
                    job.job_type,
                    match busy {
                        Busy::AnotherWaits => "another one waits for the slot",
                        Busy::WaitedInVain => "waited for the slot in vain",
                    }
                ),
                DEFER_AFTER,
            )),
        }
    }

    async fn run(&self, job: &JobEnvelope, tenant: &Tenant) -> JobOutcome {
        if job.job_type == JobType::Alerts {
            // Reads and writes the database only: says nothing about the tenant's reachability.
            return match crate::alerts::evaluate_tenant(&self.db, tenant, Utc::now()).await {
                Ok(report) => JobOutcome::Done {
                    summary: serde_json::to_value(report).unwrap_or_default(),
                },
                Err(e) => JobError::from(e).outcome(),
            };
        }
        let mut called = false;
        match self.run_job(job, tenant, &mut called).await {
            Ok(summary) => {
                self.tenant_reachable(tenant, job, Ok(called)).await;
                JobOutcome::Done { summary }
            }
            // Stopped by shutdown says nothing about the tenant.
            Err(e) if queue::stop_requested() => e.outcome(),
            Err(e) => {
                self.tenant_reachable(tenant, job, Err(&e)).await;
                e.outcome()
            }
        }
    }
}

impl Worker {
    /// Runs the job; `called` tells afterwards whether it sent the tenant any request (a
    /// payloads job with nothing to fetch does not, and so proves nothing about the tenant).
    async fn run_job(
        &self,
        job: &JobEnvelope,
        tenant: &Tenant,
        called: &mut bool,
    ) -> Result<serde_json::Value, JobError> {
        let bad_params = |e: job::JobError| JobError::Fail(format!("invalid parameters: {e}"));
        let now = Utc::now();
        if matches!(job.job_type, JobType::MessagesHot | JobType::MessagesCold) {
            // Refused before the tenant is called: a window from year 1 to 9999 would read
            // millions of windows and hold this worker for hours.
            let range: MessagesSync = job.params_as().map_err(bad_params)?;
            let start = job::collection_start(tenant.settings.collection.collect_from, now);
            range.check_bounds(start, now).map_err(bad_params)?;
        }
        let client = self.clients.client(&self.db, tenant).await?;
        let requests_before = client.stats().requests;
        let summary = self.run_with(job, tenant, &client, now).await;
        // Other jobs of the tenant share the client; counting theirs too errs towards "called".
        *called = client.stats().requests > requests_before;
        summary
    }

    async fn run_with(
        &self,
        job: &JobEnvelope,
        tenant: &Tenant,
        client: &CpiClient,
        now: chrono::DateTime<Utc>,
    ) -> Result<serde_json::Value, JobError> {
        let bad_params = |e: job::JobError| JobError::Fail(format!("invalid parameters: {e}"));
        let summary = match &job.job_type {
            JobType::MessagesHot | JobType::MessagesCold => {
                let range: MessagesSync = job.params_as().map_err(bad_params)?;
                let report = match (range.from, range.to) {
                    (Some(from), to) => {
                        messages::sync_range(
                            &self.db,
                            client,
                            tenant,
                            &self.messages,
                            from,
                            to.unwrap_or(now),
                            |_| {},
                        )
                        .await?
                    }
                    (None, _) if job.job_type == JobType::MessagesHot => {
                        let report =
                            messages::sync_hot(&self.db, client, tenant, &self.messages, now)
                                .await?;
                        self.after_hot(tenant, &report).await;
                        report
                    }
                    (None, _) => {
                        messages::sync_cold(&self.db, client, tenant, &self.messages, now).await?
                    }
                };
                serde_json::to_value(report)
            }
            JobType::MessageDetails => {
                let p: job::MessageDetails = job.params_as().map_err(bad_params)?;
                let status =
                    details::sync_one(&self.db, client, tenant.id, &p.message_guid).await?;
                Ok(serde_json::json!({ "message_guid": p.message_guid, "status": status }))
            }
            JobType::Payloads => {
                let p: job::Payloads = job.params_as().map_err(bad_params)?;
                if let Some(guid) = &p.message_guid {
                    // An explicit request may name a message whose entries are not known yet.
                    details::sync_one(&self.db, client, tenant.id, guid).await?;
                }
                let report =
                    payloads::sync(&self.db, client, tenant, p.message_guid.as_deref()).await?;
                serde_json::to_value(report)
            }
            JobType::Packages => {
                serde_json::to_value(content::sync_packages(&self.db, client, tenant).await?)
            }
            JobType::DeepSync => {
                let p: job::DeepSync = job.params_as().map_err(bad_params)?;
                let report =
                    content::deep_sync(&self.db, client, tenant, p.package_id.as_deref()).await?;
                serde_json::to_value(report)
            }
            JobType::Keystore => {
                serde_json::to_value(content::sync_keystore(&self.db, client, tenant).await?)
            }
            JobType::Resources => {
                serde_json::to_value(crate::resources::sync(&self.db, client, tenant).await?)
            }
            other => {
                return Err(JobError::Fail(format!(
                    "the ingest worker does not run {other} jobs"
                )));
            }
        };
        summary.map_err(|e| JobError::Fail(format!("cannot summarise the run: {e}")))
    }

    /// After a hot run that stored new or changed problem messages (those whose details it
    /// fetched, or tried to), ask for an alert evaluation so failures alert within seconds
    /// instead of at the next scheduled evaluation.
    async fn after_hot(&self, tenant: &Tenant, report: &messages::SyncReport) {
        let Some(trigger) = &self.alerts else {
            return;
        };
        let problems = match self.messages.details {
            messages::DetailsPolicy::Problems => report.details + report.details_failed,
            messages::DetailsPolicy::All => report.inserted + report.updated,
        };
        if problems == 0 {
            return;
        }
        match crate::alerts::request_evaluation(&self.db, trigger, tenant.id).await {
            Ok(queued) => {
                tracing::debug!(tenant = %tenant.settings.name, queued, "alert evaluation requested after new problem messages")
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant.settings.name, "cannot request an alert evaluation: {e}")
            }
        }
    }

    /// Keep the tenant's status and the job's sync state current, so the UI can say "tenant
    /// unreachable", "collection stuck" (with the reason) and when it last worked.
    /// `outcome` is whether the job, when it succeeded, sent the tenant any request, or its error.
    async fn tenant_reachable(
        &self,
        tenant: &Tenant,
        job: &JobEnvelope,
        outcome: Result<bool, &JobError>,
    ) {
        let now = Utc::now();
        let kind = job.job_type.as_str();
        let recorded = match outcome {
            Ok(_) => sync_state::record_success(&self.db, tenant.id, kind, now, None, None).await,
            Err(e) => sync_state::record_failure(&self.db, tenant.id, kind, now, &e.to_string())
                .await
                .map(|_| ()),
        };
        let result = match recorded {
            Ok(()) => self.set_tenant_status(tenant, outcome, now).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(tenant = %tenant.settings.name, "cannot record the tenant's state: {e}");
        }
    }

    /// The tenant's status after a job: `stuck` while its message collection makes no progress
    /// (whatever other jobs do), else `unreachable` after a failed call to the tenant, `ok` after
    /// a success that called it; a success without a call (nothing to fetch) and other failures
    /// leave it as it was — they say nothing about the tenant.
    async fn set_tenant_status(
        &self,
        tenant: &Tenant,
        outcome: Result<bool, &JobError>,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), store::StoreError> {
        let stuck = self.stuck_reason(tenant, now).await?;
        let (status, message) = match (stuck, outcome) {
            (Some(reason), _) => (TenantStatus::Stuck, Some(reason)),
            (None, Ok(true)) => (TenantStatus::Ok, None),
            (None, Err(e)) if e.to_string().starts_with("tenant:") => {
                (TenantStatus::Unreachable, Some(e.to_string()))
            }
            // Collection is no longer stuck: a stuck tenant recovers whatever this job did.
            (None, _) if tenant.status == TenantStatus::Stuck => (TenantStatus::Ok, None),
            (None, _) => return Ok(()),
        };
        tenants::set_status(&self.db, tenant.id, status, message.as_deref(), now).await
    }

    async fn stuck_reason(
        &self,
        tenant: &Tenant,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<String>, store::StoreError> {
        let states = sync_state::list(&self.db, tenant.id).await?;
        let jobs = tenants::jobs(&self.db, tenant.id).await?;
        let interval = |kind: &JobKind| {
            let secs = jobs
                .iter()
                .find(|j| &j.kind == kind)
                .and_then(|j| j.interval_secs)
                .or(JobSettings::default_for(kind.clone()).interval_secs)
                .unwrap_or(60);
            std::time::Duration::from_secs(u64::from(secs))
        };
        let collecting: Vec<CollectionState<'_>> = [JobKind::MessagesHot, JobKind::MessagesCold]
            .iter()
            .filter_map(|kind| {
                let s = states.iter().find(|s| s.job_type == kind.as_str())?;
                Some(CollectionState {
                    job_type: &s.job_type,
                    interval: interval(kind),
                    last_success_at: s.last_success_at,
                    consecutive_failures: u32::try_from(s.consecutive_failures).unwrap_or(0),
                    last_error: s.last_error.as_deref(),
                })
            })
            .collect();
        Ok(collection::stuck_reason(
            &collecting,
            self.max_attempts,
            tenant.created_at,
            now,
        ))
    }
}

pub fn handler(worker: Worker) -> Arc<dyn JobHandler> {
    Arc::new(Recorded(worker))
}
