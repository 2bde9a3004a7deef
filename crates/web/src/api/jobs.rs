//! `/api/jobs`: the run history, queue depths and broker status, submitting jobs, retrying a
//! failed or dead run, and requeueing dead letters.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::user::Role;

use crate::auth::Principal;
use crate::error::{ApiResult, AppError};
use crate::service::jobs::*;
use crate::service::tenants::JobSubmittedOut;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/jobs/runs", web::get().to(runs))
        .route("/jobs/queues", web::get().to(queues))
        .route("/jobs", web::post().to(submit))
        .route("/jobs/dead/requeue", web::post().to(requeue_dead))
        .route("/jobs/{job_id}/retry", web::post().to(retry));
}

/// The latest job runs, newest first, of the tenants you may see.
#[utoipa::path(get, path = "/api/jobs/runs", tag = "jobs", params(RunsQuery),
    responses((status = 200, body = [JobRunOut]), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn runs(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<RunsQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.parse()?;
    let (list, visible) = load_runs(&state, &p, &q).await?;
    let names = crate::service::messages::tenant_names(&visible);
    Ok(HttpResponse::Ok().json(
        list.into_iter()
            .map(|r| run_out(r, &names))
            .collect::<Vec<_>>(),
    ))
}

/// Queue depths and the broker status; 503 when the broker cannot be asked.
#[utoipa::path(get, path = "/api/jobs/queues", tag = "jobs",
    responses((status = 200, body = QueuesOut), (status = 503, body = crate::error::ErrorBody)))]
pub async fn queues(state: web::Data<AppState>, _p: Principal) -> ApiResult<HttpResponse> {
    let broker = state.queue.status();
    let queues = load_queues(&state)
        .await
        .map_err(|e| AppError::Unavailable(format!("the job queue broker did not answer: {e}")))?;
    Ok(HttpResponse::Ok().json(QueuesOut {
        broker_up: broker.is_up(),
        broker_text: broker.to_string(),
        broker,
        queues,
    }))
}

/// Submit a job (managers). Validation errors name the field (`type`, `tenant`,
/// `params.from`, …).
#[utoipa::path(post, path = "/api/jobs", tag = "jobs", request_body = JobIn,
    responses((status = 202, body = JobSubmittedOut), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    body: web::Json<JobIn>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let out = submit_job(&state, &p, &body).await?;
    Ok(HttpResponse::Accepted().json(out))
}

/// Retry a failed or dead run as a new job (managers); 409 for a run in another state.
#[utoipa::path(post, path = "/api/jobs/{job_id}/retry", tag = "jobs",
    params(("job_id" = String, Path, description = "the run's job id")),
    responses((status = 202, body = RetriedOut), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn retry(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let out = retry_run(&state, &p, &path.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(out))
}

/// Move up to `max` dead letters back to the queues they came from (managers).
#[utoipa::path(post, path = "/api/jobs/dead/requeue", tag = "jobs", request_body = RequeueIn,
    responses((status = 200, body = RequeuedOut), (status = 422, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody)))]
pub async fn requeue_dead(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let input: RequeueIn = if body.iter().all(u8::is_ascii_whitespace) {
        RequeueIn::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| AppError::invalid("body", e.to_string()))?
    };
    let n = requeue(&state, &p, input.max).await?;
    Ok(HttpResponse::Ok().json(RequeuedOut { requeued: n }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_lists_the_catalog_and_job_routes() {
        let doc = crate::api::openapi::build("");
        for path in [
            "/api/tenants/{id}/packages",
            "/api/tenants/{id}/artifacts",
            "/api/tenants/{id}/artifacts/{artifact_id}/versions",
            "/api/tenants/{id}/keystore",
            "/api/jobs/runs",
            "/api/jobs/queues",
            "/api/jobs",
            "/api/jobs/{job_id}/retry",
            "/api/jobs/dead/requeue",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path} is missing");
        }
    }
}
