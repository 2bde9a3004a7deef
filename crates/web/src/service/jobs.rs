//! Job runs, queue depths, retry and requeue, for `api::jobs` and `pages::jobs`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::job::JobType;
use domain::tenant::Tenant;
use domain::user::Role;
use queue::BrokerStatus;
use serde::{Deserialize, Serialize};
use store::repo::job_runs::{self, JobRun, JobState, RunFilter};
use utoipa::ToSchema;

use crate::access;
use crate::auth::Principal;
use crate::error::AppError;
use crate::service::tenants::JobSubmittedOut;
use crate::state::AppState;

/// Runs listed when no `limit` is given, and the most that may be asked for.
pub const DEFAULT_LIMIT: u64 = 100;

pub const MAX_LIMIT: u64 = 1000;

/// Dead letters requeued when no `max` is given, and the most at once.
pub const DEFAULT_REQUEUE: usize = 100;

pub const MAX_REQUEUE: usize = 10_000;

#[derive(Serialize, ToSchema)]
pub struct JobRunOut {
    pub job_id: String,
    pub tenant_id: Option<i64>,
    /// The tenant's name (absent for runs without a tenant).
    pub tenant: Option<String>,
    #[serde(rename = "type")]
    pub job_type: String,
    pub queue: String,
    /// `queued`, `running`, `succeeded`, `failed`, `retried` or `dead`.
    pub state: String,
    pub attempt: i32,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// The error of the last failed attempt; for dead runs, why they were dead-lettered.
    pub error: Option<String>,
    pub worker: Option<String>,
    /// What the job did (rows fetched, inserted, …).
    #[schema(value_type = Option<Object>)]
    pub counts: Option<serde_json::Value>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// From start to finish.
    pub duration_ms: Option<i64>,
}

pub fn run_out(r: JobRun, names: &HashMap<i64, String>) -> JobRunOut {
    JobRunOut {
        tenant: r.tenant_id.and_then(|t| names.get(&t).cloned()),
        duration_ms: duration_ms(&r),
        job_id: r.job_id,
        tenant_id: r.tenant_id,
        job_type: r.job_type,
        queue: r.queue,
        state: r.state.as_str().into(),
        attempt: r.attempt,
        params: r.params,
        error: r.error,
        worker: r.worker,
        counts: r.counts,
        queued_at: r.queued_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
    }
}

pub fn duration_ms(r: &JobRun) -> Option<i64> {
    match (r.started_at, r.finished_at) {
        (Some(s), Some(f)) if f >= s => Some((f - s).num_milliseconds()),
        _ => None,
    }
}

/// `{"fetched": 10, "inserted": 3}` as `fetched 10 · inserted 3` (nested values as JSON).
pub fn counts_summary(counts: &serde_json::Value) -> String {
    match counts {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k} {s}"),
                other => format!("{k} {other}"),
            })
            .collect::<Vec<_>>()
            .join(" · "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[derive(Deserialize, Default, Clone, utoipa::IntoParams)]
pub struct RunsQuery {
    /// A tenant id (default: every tenant you may see).
    pub tenant: Option<String>,
    /// A job type, e.g. `messages_hot`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub job_type: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed`, `retried` or `dead`.
    pub state: Option<String>,
    /// 1–1000 (default 100).
    pub limit: Option<String>,
}

/// A checked [`RunsQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Runs {
    pub tenant: Option<i64>,
    pub job_type: Option<String>,
    pub state: Option<JobState>,
    pub limit: u64,
}

pub(crate) fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

impl RunsQuery {
    pub fn parse(&self) -> Result<Runs, AppError> {
        let tenant = match given(self.tenant.as_deref()) {
            None => None,
            Some(t) => Some(
                t.parse::<i64>()
                    .map_err(|_| AppError::invalid("tenant", "must be a tenant id"))?,
            ),
        };
        let job_type = match given(self.job_type.as_deref()) {
            None => None,
            Some(t) if t.len() > 64 || t.chars().any(char::is_control) => {
                return Err(AppError::invalid("type", "is not a job type"));
            }
            Some(t) => Some(t.to_string()),
        };
        let state = match given(self.state.as_deref()) {
            None => None,
            Some(s) => Some(JobState::parse(s).ok_or_else(|| {
                AppError::invalid(
                    "state",
                    "must be queued, running, succeeded, failed, retried or dead",
                )
            })?),
        };
        let limit = match given(self.limit.as_deref()) {
            None => DEFAULT_LIMIT,
            Some(l) => match l.parse::<u64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(AppError::invalid(
                        "limit",
                        format!("must be between 1 and {MAX_LIMIT}"),
                    ));
                }
            },
        };
        Ok(Runs {
            tenant,
            job_type,
            state,
            limit,
        })
    }
}

/// Whether the user sees every tenant (and so also runs without one).
fn sees_all(p: &Principal) -> bool {
    p.user.role == Role::Admin || p.user.groups.is_empty()
}

/// The runs matching `q` among the tenants the user may see (404 for an invisible tenant),
/// with the tenants' names.
pub async fn load_runs(
    state: &AppState,
    p: &Principal,
    q: &Runs,
) -> Result<(Vec<JobRun>, Vec<Tenant>), AppError> {
    let visible = access::visible_tenants(state, p).await?;
    let runs = runs_among(state, p, &visible, q).await?;
    Ok((runs, visible))
}

/// The runs matching `q` among `visible`, the tenants the user may see (404 for another).
pub async fn runs_among(
    state: &AppState,
    p: &Principal,
    visible: &[Tenant],
    q: &Runs,
) -> Result<Vec<JobRun>, AppError> {
    let ids: Vec<i64> = match q.tenant {
        Some(t) => {
            if !visible.iter().any(|v| v.id == t) {
                return Err(AppError::not_found(format!("tenant {t}")));
            }
            vec![t]
        }
        None => visible.iter().map(|t| t.id).collect(),
    };
    let tenant_ids = if q.tenant.is_none() && sees_all(p) {
        None
    } else {
        Some(ids.as_slice())
    };
    Ok(job_runs::list_runs(
        &state.db,
        &RunFilter {
            tenant_ids,
            job_type: q.job_type.as_deref(),
            state: q.state,
        },
        q.limit,
    )
    .await?)
}

#[derive(Serialize, ToSchema)]
pub struct QueueDepthOut {
    pub queue: String,
    /// Messages ready for delivery.
    pub messages: u32,
    pub consumers: u32,
}

#[derive(Serialize, ToSchema)]
pub struct QueuesOut {
    /// The broker state as last seen: `{"state": "connected", "url", "since"}`,
    /// `unreachable` (with `reason`), `not_connected` or `in_process`.
    #[schema(value_type = Object)]
    pub broker: BrokerStatus,
    pub broker_up: bool,
    /// The broker state in words.
    pub broker_text: String,
    pub queues: Vec<QueueDepthOut>,
}

/// Queue depths; `Err` with the broker's error text when it cannot be asked.
pub async fn load_queues(state: &AppState) -> Result<Vec<QueueDepthOut>, String> {
    match state.queue.depths().await {
        Ok(list) => Ok(list
            .into_iter()
            .map(|d| QueueDepthOut {
                queue: d.queue,
                messages: d.messages,
                consumers: d.consumers,
            })
            .collect()),
        Err(e) => {
            tracing::warn!("reading queue depths: {e}");
            Err(e.to_string())
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobIn {
    /// `messages_hot`, `messages_cold`, `message_details`, `payloads`, `packages`,
    /// `deep_sync`, `keystore`.
    #[serde(rename = "type", default)]
    pub job_type: Option<String>,
    /// The tenant id.
    #[serde(default)]
    #[schema(value_type = i64)]
    pub tenant: Option<serde_json::Value>,
    /// The job's parameters (see docs/jobs.md); default `{}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RequeueIn {
    /// How many dead letters to move back at most (1–10000, default 100).
    #[serde(default)]
    pub max: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct RequeuedOut {
    pub requeued: usize,
}

#[derive(Serialize, ToSchema)]
pub struct RetriedOut {
    #[serde(flatten)]
    pub job: JobSubmittedOut,
    /// The run this one retries.
    pub retry_of: String,
}

/// Resubmit a failed or dead run's type, tenant and parameters as a new job. The caller has
/// checked the manager role and CSRF.
pub async fn retry_run(
    state: &AppState,
    p: &Principal,
    job_id: &str,
) -> Result<RetriedOut, AppError> {
    let missing = || AppError::not_found(format!("job run {job_id}"));
    let run = job_runs::get_run(&state.db, job_id)
        .await?
        .ok_or_else(missing)?;
    let tenant = match run.tenant_id {
        Some(t) => access::tenant(state, p, t).await.map_err(|e| match e {
            AppError::NotFound(_) => missing(),
            other => other,
        })?,
        None if sees_all(p) => {
            return Err(AppError::Conflict(
                "this run has no tenant (it was published by another system); it cannot be \
                 resubmitted from here"
                    .into(),
            ));
        }
        None => return Err(missing()),
    };
    if !matches!(run.state, JobState::Failed | JobState::Dead) {
        return Err(AppError::Conflict(format!(
            "only failed or dead runs can be retried; this one is {}",
            run.state
        )));
    }
    let envelope = crate::service::submit::submit(
        state,
        JobType::parse(&run.job_type),
        tenant.id,
        run.params.clone(),
    )
    .await?;
    tracing::info!(by = %p.user.username, tenant = %tenant.settings.name, retry_of = %run.job_id, job_id = %envelope.job_id, "job run retried");
    Ok(RetriedOut {
        job: JobSubmittedOut {
            job_id: envelope.job_id,
            job_type: envelope.job_type.as_str().into(),
            tenant_id: tenant.id,
        },
        retry_of: run.job_id,
    })
}

/// Move dead letters back to their queues. The caller has checked the manager role and CSRF.
pub async fn requeue(
    state: &AppState,
    p: &Principal,
    max: Option<usize>,
) -> Result<usize, AppError> {
    let max = match max {
        None => DEFAULT_REQUEUE,
        Some(m) if (1..=MAX_REQUEUE).contains(&m) => m,
        Some(_) => {
            return Err(AppError::invalid(
                "max",
                format!("must be between 1 and {MAX_REQUEUE}"),
            ));
        }
    };
    // A manager limited to some tenants moves only those tenants' dead letters.
    let moved = if p.user.role == Role::Admin || p.user.groups.is_empty() {
        state.queue.requeue_dead(max).await
    } else {
        let tenants = access::visible_tenants(state, p).await?;
        let ids: std::collections::HashSet<i64> = tenants.iter().map(|t| t.id).collect();
        let names: std::collections::HashSet<String> =
            tenants.into_iter().map(|t| t.settings.name).collect();
        let only: queue::DeadFilter = std::sync::Arc::new(move |letter: &queue::DeadLetter| {
            serde_json::from_slice::<domain::job::JobEnvelope>(&letter.body).is_ok_and(|job| {
                match &job.tenant {
                    domain::job::TenantRef::Id(id) => ids.contains(id),
                    domain::job::TenantRef::Name(n) => names.contains(n),
                }
            })
        });
        state.queue.requeue_dead_matching(max, only).await
    };
    let n = moved.map_err(|e| {
        tracing::warn!("requeueing dead letters: {e}");
        AppError::Unavailable(format!("the job queue broker did not answer: {e}"))
    })?;
    tracing::info!(by = %p.user.username, requeued = n, "dead letters requeued");
    Ok(n)
}

/// Publish a job a manager asked for through the API: the type, a tenant they may see (an
/// invisible one is answered like a missing one, so ids cannot be probed) and its parameters.
pub async fn submit_job(
    state: &AppState,
    p: &Principal,
    body: &JobIn,
) -> Result<JobSubmittedOut, AppError> {
    let job_type = match given(body.job_type.as_deref()) {
        None => return Err(AppError::invalid("type", "is required")),
        Some(t) => JobType::parse(t),
    };
    let tenant_id = match &body.tenant {
        None | Some(serde_json::Value::Null) => {
            return Err(AppError::invalid("tenant", "is required (a tenant id)"));
        }
        Some(v) => v
            .as_i64()
            .ok_or_else(|| AppError::invalid("tenant", "must be a tenant id (a number)"))?,
    };
    // An invisible tenant is answered like a missing one, so ids cannot be probed.
    let t = access::tenant(state, p, tenant_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => {
                AppError::invalid("tenant", format!("there is no tenant {tenant_id}"))
            }
            other => other,
        })?;
    let params = body
        .params
        .clone()
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| serde_json::json!({}));
    let envelope = crate::service::submit::submit(state, job_type, t.id, params).await?;
    tracing::info!(by = %p.user.username, tenant = %t.settings.name, job_type = %envelope.job_type, "job submitted via the API");
    Ok(JobSubmittedOut {
        job_id: envelope.job_id,
        job_type: envelope.job_type.as_str().into(),
        tenant_id: t.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_queries_name_the_bad_field() {
        let q = RunsQuery {
            tenant: Some(" 7 ".into()),
            job_type: Some("keystore".into()),
            state: Some("dead".into()),
            limit: Some("20".into()),
        };
        assert_eq!(
            q.parse().unwrap(),
            Runs {
                tenant: Some(7),
                job_type: Some("keystore".into()),
                state: Some(JobState::Dead),
                limit: 20
            }
        );
        let empty = RunsQuery {
            tenant: Some(String::new()),
            state: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(empty.parse().unwrap().limit, DEFAULT_LIMIT);
        for (q, field) in [
            (
                RunsQuery {
                    tenant: Some("x".into()),
                    ..Default::default()
                },
                "tenant",
            ),
            (
                RunsQuery {
                    state: Some("gone".into()),
                    ..Default::default()
                },
                "state",
            ),
            (
                RunsQuery {
                    limit: Some("0".into()),
                    ..Default::default()
                },
                "limit",
            ),
            (
                RunsQuery {
                    limit: Some("1001".into()),
                    ..Default::default()
                },
                "limit",
            ),
        ] {
            let e = q.parse().unwrap_err();
            assert_eq!(e.fields()[0].field, field);
        }
    }

    #[test]
    fn counts_read_as_a_line() {
        let c = serde_json::json!({"fetched": 10, "inserted": 3, "note": "ok"});
        assert_eq!(counts_summary(&c), "fetched 10 · inserted 3 · note ok");
        assert_eq!(counts_summary(&serde_json::Value::Null), "");
    }
}
