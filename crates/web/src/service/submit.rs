//! Publishing a job from the UI or the API: validate the envelope, record the run as queued,
//! publish. A run that could not be published is marked failed, never left queued.

use chrono::Utc;
use domain::job::{self, JobEnvelope, JobType, TenantRef};
use store::repo::job_runs::{self, NewJobRun};
use store::repo::tenants;

use crate::error::AppError;
use crate::state::AppState;

pub async fn submit(
    state: &AppState,
    job_type: JobType,
    tenant_id: i64,
    params: serde_json::Value,
) -> Result<JobEnvelope, AppError> {
    let envelope = JobEnvelope::new(job_type, TenantRef::Id(tenant_id), params, Utc::now());
    let invalid = |e: job::JobError| match e {
        job::JobError::Invalid { field, problem } => AppError::invalid(&field, problem),
        other => AppError::invalid("type", other.to_string()),
    };
    envelope.validate().map_err(invalid)?;
    envelope
        .check_horizon(envelope.submitted_at)
        .map_err(invalid)?;
    if matches!(
        envelope.job_type,
        JobType::MessagesHot | JobType::MessagesCold
    ) {
        // The worker refuses a window outside the tenant's collection too; say so at once.
        let tenant = tenants::get(&state.db, tenant_id).await?.ok_or_else(|| {
            AppError::invalid("tenant", format!("there is no tenant {tenant_id}"))
        })?;
        let now = envelope.submitted_at;
        let start = job::collection_start(tenant.settings.collection.collect_from, now);
        let window: job::MessagesSync = envelope.params_as().map_err(invalid)?;
        window.check_bounds(start, now).map_err(invalid)?;
    }
    let run = NewJobRun {
        job_id: envelope.job_id.clone(),
        tenant_id: Some(tenant_id),
        job_type: envelope.job_type.as_str().to_string(),
        queue: envelope
            .job_type
            .queue_name(&state.queue_prefix)
            .unwrap_or_default(),
        attempt: 1,
        params: envelope.params.clone(),
    };
    job_runs::record_queued(&state.db, &run, envelope.submitted_at).await?;
    if let Err(e) = state.queue.publish(&envelope).await {
        let error = format!("not published: {e}");
        if let Err(e2) =
            job_runs::mark_failed(&state.db, &envelope.job_id, &error, Utc::now()).await
        {
            tracing::warn!(job_id = %envelope.job_id, "recording the unpublished job: {e2}");
        }
        tracing::warn!(job_id = %envelope.job_id, "publishing a job failed: {e}");
        return Err(AppError::Unavailable(
            "the job queue is not reachable; the job was not submitted".into(),
        ));
    }
    tracing::info!(job_id = %envelope.job_id, job_type = %envelope.job_type.as_str(), tenant_id, "job submitted");
    Ok(envelope)
}
