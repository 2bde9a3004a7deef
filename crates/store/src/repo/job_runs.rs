//! The history of queued jobs, one row per job id, moved through its states as the job goes:
//! `queued` → `running` → `succeeded` | `failed` | `retried` (another attempt is scheduled) |
//! `dead` (dead-lettered). Every write is keyed by the job id and safe to repeat, because a job
//! can be delivered twice.

use std::fmt;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{Sql, clean};
use crate::connect::Db;
use crate::entity::job_runs;
use crate::error::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Retried,
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Retried => "retried",
            Self::Dead => "dead",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "retried" => Self::Retried,
            "dead" => Self::Dead,
            _ => return None,
        })
    }

    /// Queued or running: what the controller's no-pile-up rule waits for.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job run row is created from (the envelope's fields).
#[derive(Debug, Clone, PartialEq)]
pub struct NewJobRun {
    pub job_id: String,
    pub tenant_id: Option<i64>,
    pub job_type: String,
    pub queue: String,
    pub attempt: i32,
    pub params: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    pub id: i64,
    pub job_id: String,
    pub tenant_id: Option<i64>,
    pub job_type: String,
    pub queue: String,
    pub state: JobState,
    pub attempt: i32,
    pub params: serde_json::Value,
    pub error: Option<String>,
    pub worker: Option<String>,
    pub counts: Option<serde_json::Value>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn to_run(r: job_runs::Model) -> Result<JobRun, DbErr> {
    let state = JobState::parse(&r.state)
        .ok_or_else(|| DbErr::Type(format!("job_runs {}: unknown state {:?}", r.id, r.state)))?;
    let params = serde_json::from_str(&r.params)
        .map_err(|e| DbErr::Json(format!("job_runs {} params: {e}", r.id)))?;
    let counts = match r.counts.as_deref() {
        Some(c) => Some(
            serde_json::from_str(c)
                .map_err(|e| DbErr::Json(format!("job_runs {} counts: {e}", r.id)))?,
        ),
        None => None,
    };
    Ok(JobRun {
        id: r.id,
        job_id: r.job_id,
        tenant_id: r.tenant_id,
        job_type: r.job_type,
        queue: r.queue,
        state,
        attempt: r.attempt,
        params,
        error: r.error,
        worker: r.worker,
        counts,
        queued_at: r.queued_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
    })
}

/// `INSERT … ON CONFLICT (job_id) DO <on_conflict>` of a new run in state `state`.
async fn insert_run<C: ConnectionTrait>(
    conn: &C,
    run: &NewJobRun,
    state: JobState,
    at: DateTime<Utc>,
    worker: Option<&str>,
    on_conflict: &str,
) -> Result<u64, DbErr> {
    let started = (state == JobState::Running).then_some(at);
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(
        "INSERT INTO job_runs (job_id, tenant_id, job_type, queue, state, attempt, params, worker, \
         queued_at, started_at) VALUES ",
    )
    .tuple(|t| {
        t.bind(clean(&run.job_id))
            .bind(run.tenant_id)
            .bind(clean(&run.job_type))
            .bind(clean(&run.queue))
            .bind(state.as_str())
            .bind(run.attempt)
            .bind(clean(&run.params.to_string()))
            .bind(worker.map(clean))
            .bind(at)
            .bind(started);
    })
    .push(" ON CONFLICT (job_id) DO ")
    .push(on_conflict);
    Ok(conn.execute_raw(sql.statement()).await?.rows_affected())
}

/// Record a job as published. Repeating it (a re-publish of the same job id) changes nothing.
/// Returns whether the row was new.
pub async fn record_queued(
    db: &Db,
    run: &NewJobRun,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = insert_run(db.conn(), run, JobState::Queued, at, None, "NOTHING").await?;
    Ok(n > 0)
}

/// Record that `worker` started attempt `run.attempt`. Creates the row when the job was
/// published by someone who did not record it (an external system).
pub async fn mark_running(
    db: &Db,
    run: &NewJobRun,
    worker: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_run(
        db.conn(),
        run,
        JobState::Running,
        at,
        Some(worker),
        "UPDATE SET state = excluded.state, attempt = excluded.attempt, worker = excluded.worker, \
         started_at = excluded.started_at, finished_at = NULL, error = NULL",
    )
    .await?;
    Ok(())
}

async fn finish(
    db: &Db,
    job_id: &str,
    state: JobState,
    set: &[(&str, sea_orm::Value)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("UPDATE job_runs SET state = ")
        .bind(state.as_str());
    for (col, v) in set {
        sql.push(&format!(", {col} = ")).bind(v.clone());
    }
    sql.push(", finished_at = ")
        .bind(at)
        .push(" WHERE job_id = ")
        .bind(job_id);
    let n = db
        .conn()
        .execute_raw(sql.statement())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(DbErr::RecordNotFound(format!("job run {job_id}")).into());
    }
    Ok(())
}

/// The job finished; `counts` says what it did (rows fetched, inserted, …).
pub async fn mark_succeeded(
    db: &Db,
    job_id: &str,
    counts: &serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    finish(
        db,
        job_id,
        JobState::Succeeded,
        &[
            ("counts", counts.to_string().into()),
            ("error", Option::<String>::None.into()),
        ],
        at,
    )
    .await
}

/// The attempt failed and no retry follows from here (the queue may still dead-letter it).
pub async fn mark_failed(
    db: &Db,
    job_id: &str,
    error: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    finish(
        db,
        job_id,
        JobState::Failed,
        &[("error", clean(error).into())],
        at,
    )
    .await
}

/// The attempt failed and attempt `next_attempt` is scheduled.
pub async fn mark_retried(
    db: &Db,
    job_id: &str,
    next_attempt: i32,
    error: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    finish(
        db,
        job_id,
        JobState::Retried,
        &[
            ("attempt", next_attempt.into()),
            ("error", clean(error).into()),
        ],
        at,
    )
    .await
}

/// The job was dead-lettered: it will not run again.
pub async fn mark_dead(
    db: &Db,
    job_id: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    finish(
        db,
        job_id,
        JobState::Dead,
        &[("error", clean(reason).into())],
        at,
    )
    .await
}

/// Mark as failed the runs a crashed worker left behind: `running` since before `older_than`,
/// and `queued` since before `older_than` (their message was lost, e.g. with a non-durable
/// broker). Without this the controller's no-pile-up rule would wait on them forever. Should
/// such a job still be delivered later, [`mark_running`] revives its row. Pick `older_than` well
/// beyond the longest job and queue wait. Returns how many runs were marked.
pub async fn reconcile_stale(
    db: &Db,
    older_than: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut total = 0;
    for (state, since, error) in [
        (
            JobState::Running,
            "started_at",
            format!(
                "abandoned: still running at {} with no result; its worker stopped or lost \
                 the database (marked failed by reconcile)",
                older_than.to_rfc3339()
            ),
        ),
        (
            JobState::Queued,
            "queued_at",
            format!(
                "abandoned: queued before {} and never started; the queue lost it \
                 (marked failed by reconcile)",
                older_than.to_rfc3339()
            ),
        ),
    ] {
        let mut sql = Sql::new(db.db_backend());
        sql.push("UPDATE job_runs SET state = ")
            .bind(JobState::Failed.as_str())
            .push(", error = ")
            .bind(error)
            .push(", finished_at = ")
            .bind(now)
            .push(" WHERE state = ")
            .bind(state.as_str())
            .push(&format!(" AND {since} < "))
            .bind(older_than);
        total += db
            .conn()
            .execute_raw(sql.statement())
            .await?
            .rows_affected();
    }
    Ok(total)
}

/// Whether a run of this job type for this tenant is queued or running.
pub async fn active_run_exists(
    db: &Db,
    tenant_id: i64,
    job_type: &str,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT 1 AS one FROM job_runs WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND job_type = ")
        .bind(job_type)
        .push(" AND state IN ")
        .bind_list([JobState::Queued.as_str(), JobState::Running.as_str()])
        .push(" LIMIT 1");
    Ok(db.conn().query_one_raw(sql.statement()).await?.is_some())
}

pub async fn get_run(db: &Db, job_id: &str) -> Result<Option<JobRun>, StoreError> {
    let row = job_runs::Entity::find()
        .filter(job_runs::Column::JobId.eq(job_id))
        .one(db.conn())
        .await?;
    Ok(row.map(to_run).transpose()?)
}

/// The latest runs, newest first, optionally of one tenant and/or job type.
pub async fn list_recent(
    db: &Db,
    tenant_id: Option<i64>,
    job_type: Option<&str>,
    limit: u64,
) -> Result<Vec<JobRun>, StoreError> {
    let ids = tenant_id.map(|t| [t]);
    list_runs(
        db,
        &RunFilter {
            tenant_ids: ids.as_ref().map(|a| a.as_slice()),
            job_type,
            state: None,
        },
        limit,
    )
    .await
}

/// Which runs [`list_runs`] returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunFilter<'a> {
    /// Only runs of these tenants (empty: none). `None`: every run, also those without a
    /// tenant.
    pub tenant_ids: Option<&'a [i64]>,
    pub job_type: Option<&'a str>,
    pub state: Option<JobState>,
}

/// The latest runs matching `filter`, newest first.
pub async fn list_runs(
    db: &Db,
    filter: &RunFilter<'_>,
    limit: u64,
) -> Result<Vec<JobRun>, StoreError> {
    let mut q = job_runs::Entity::find();
    if let Some(ids) = filter.tenant_ids {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        q = q.filter(job_runs::Column::TenantId.is_in(ids.iter().copied()));
    }
    if let Some(j) = filter.job_type {
        q = q.filter(job_runs::Column::JobType.eq(j));
    }
    if let Some(s) = filter.state {
        q = q.filter(job_runs::Column::State.eq(s.as_str()));
    }
    let rows = q
        .order_by_desc(job_runs::Column::QueuedAt)
        .order_by_desc(job_runs::Column::Id)
        .limit(limit)
        .all(db.conn())
        .await?;
    Ok(rows.into_iter().map(to_run).collect::<Result<_, _>>()?)
}
