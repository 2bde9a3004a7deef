//! Publishing a job from the UI or the API: validate the envelope, record the run as queued,
//! publish. A run that could not be published is marked failed, never left queued.

use chrono::Utc;
use domain::job::{JobEnvelope, JobType, TenantRef};
use store::repo::job_runs::{self, NewJobRun};

use crate::error::AppError;
use crate::state::AppState;

pub async fn submit(
    state: &AppState,
    job_type: JobType,
    tenant_id: i64,
    params: serde_json::Value,
) -> Result<JobEnvelope, AppError> {
    let envelope = JobEnvelope::new(job_type, TenantRef::Id(tenant_id), params, Utc::now());
    envelope.validate().map_err(|e| match e.field() {
        Some(f) => AppError::invalid(f, e.to_string()),
        None => AppError::invalid("type", e.to_string()),
    })?;
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
