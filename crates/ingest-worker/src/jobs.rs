//! The job handler: resolve the tenant, run the job, record the run (running, succeeded,
//! retried, dead, failed) and report the outcome the queue acts on.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use domain::job::{self, JobEnvelope, JobOutcome, JobType, MessagesSync, RetryTiers};
use domain::tenant::{Tenant, TenantStatus};
use queue::{Delivery, JobHandler};
use store::Db;
use store::repo::job_runs::{self, NewJobRun};
use store::repo::{sync_state, tenants};

use crate::error::JobError;
use crate::messages::{self, MessageOptions};
use crate::tenants::Clients;
use crate::{content, details, payloads};

/// The job families an ingest worker consumes unless told otherwise.
pub const FAMILIES: [JobType; 7] = [
    JobType::MessagesHot,
    JobType::MessagesCold,
    JobType::MessageDetails,
    JobType::Payloads,
    JobType::Packages,
    JobType::DeepSync,
    JobType::Keystore,
];

pub struct Worker {
    pub db: Db,
    pub clients: Clients,
    pub messages: MessageOptions,
    /// Recorded on each run, so the UI shows which worker ran it.
    pub name: String,
    pub max_attempts: u32,
    pub retry_tiers: RetryTiers,
}

#[async_trait]
impl JobHandler for Worker {
    async fn handle(&self, job: JobEnvelope, delivery: Delivery) -> JobOutcome {
        let started = Utc::now();
        let tenant = match self.clients.tenant(&self.db, &job.tenant).await {
            Ok(t) => t,
            Err(e) => {
                let outcome = e.outcome();
                self.record_end(&job, None, &delivery, &outcome).await;
                return outcome;
            }
        };
        let run = runtime::runs::new_run(&job, Some(tenant.id), &delivery);
        if let Err(e) = job_runs::mark_running(&self.db, &run, &self.name, started).await {
            // Without the database the job cannot do anything useful either.
            return JobError::from(e).outcome();
        }
        let outcome = match self.run(&job, &tenant).await {
            Ok(summary) => {
                self.tenant_reachable(&tenant, &job, None).await;
                JobOutcome::Done { summary }
            }
            Err(e) => {
                self.tenant_reachable(&tenant, &job, Some(&e)).await;
                e.outcome()
            }
        };
        self.record_end(&job, Some(&run), &delivery, &outcome).await;
        outcome
    }
}

impl Worker {
    async fn run(&self, job: &JobEnvelope, tenant: &Tenant) -> Result<serde_json::Value, JobError> {
        let bad_params = |e: job::JobError| JobError::Fail(format!("invalid parameters: {e}"));
        let client = self.clients.client(&self.db, tenant).await?;
        let now = Utc::now();
        let summary = match &job.job_type {
            JobType::MessagesHot | JobType::MessagesCold => {
                let range: MessagesSync = job.params_as().map_err(bad_params)?;
                let report = match (range.from, range.to) {
                    (Some(from), to) => {
                        messages::sync_range(
                            &self.db,
                            &client,
                            tenant,
                            &self.messages,
                            from,
                            to.unwrap_or(now),
                            |_| {},
                        )
                        .await?
                    }
                    (None, _) if job.job_type == JobType::MessagesHot => {
                        messages::sync_hot(&self.db, &client, tenant, &self.messages, now).await?
                    }
                    (None, _) => {
                        messages::sync_cold(&self.db, &client, tenant, &self.messages, now).await?
                    }
                };
                serde_json::to_value(report)
            }
            JobType::MessageDetails => {
                let p: job::MessageDetails = job.params_as().map_err(bad_params)?;
                let status =
                    details::sync_one(&self.db, &client, tenant.id, &p.message_guid).await?;
                Ok(serde_json::json!({ "message_guid": p.message_guid, "status": status }))
            }
            JobType::Payloads => {
                let p: job::Payloads = job.params_as().map_err(bad_params)?;
                if let Some(guid) = &p.message_guid {
                    // An explicit request may name a message whose entries are not known yet.
                    details::sync_one(&self.db, &client, tenant.id, guid).await?;
                }
                let report =
                    payloads::sync(&self.db, &client, tenant, p.message_guid.as_deref()).await?;
                serde_json::to_value(report)
            }
            JobType::Packages => {
                serde_json::to_value(content::sync_packages(&self.db, &client, tenant).await?)
            }
            JobType::DeepSync => {
                let p: job::DeepSync = job.params_as().map_err(bad_params)?;
                let report =
                    content::deep_sync(&self.db, &client, tenant, p.package_id.as_deref()).await?;
                serde_json::to_value(report)
            }
            JobType::Keystore => {
                serde_json::to_value(content::sync_keystore(&self.db, &client, tenant).await?)
            }
            other => {
                return Err(JobError::Fail(format!(
                    "the ingest worker does not run {other} jobs"
                )));
            }
        };
        summary.map_err(|e| JobError::Fail(format!("cannot summarise the run: {e}")))
    }

    /// Keep the tenant's status and the job's sync state current, so the UI can say "tenant
    /// unreachable" and when it last worked.
    async fn tenant_reachable(&self, tenant: &Tenant, job: &JobEnvelope, error: Option<&JobError>) {
        let now = Utc::now();
        let kind = job.job_type.as_str();
        let result = match error {
            None => {
                let r = tenants::set_status(&self.db, tenant.id, TenantStatus::Ok, None, now).await;
                r.and(sync_state::record_success(&self.db, tenant.id, kind, now, None, None).await)
            }
            Some(e) => {
                let message = e.to_string();
                let unreachable = message.starts_with("tenant:");
                let status = if unreachable {
                    TenantStatus::Unreachable
                } else {
                    tenant.status
                };
                let r = if unreachable {
                    tenants::set_status(&self.db, tenant.id, status, Some(&message), now).await
                } else {
                    Ok(())
                };
                r.and(
                    sync_state::record_failure(&self.db, tenant.id, kind, now, &message)
                        .await
                        .map(|_| ()),
                )
            }
        };
        if let Err(e) = result {
            tracing::warn!(tenant = %tenant.settings.name, "cannot record the tenant's state: {e}");
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

pub fn handler(worker: Worker) -> Arc<dyn JobHandler> {
    Arc::new(worker)
}
