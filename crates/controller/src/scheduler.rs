//! One controller's scheduling state and its tick: for every enabled job of every enabled
//! tenant, fire the open slot unless a run of that tenant and type is still active.
//!
//! Firing a slot, in this order:
//! 1. `job_runs::active_run_exists` — a run still queued or running: skip (no pile-up when a
//!    tenant is slow; the slot stays open and fires later in its window if the run ends). A run
//!    in state `retried` counts too while younger than `JOB_STALE_AFTER`: its next attempt
//!    waits in a retry queue, and firing again would stack one job per slot behind an
//!    unreachable tenant.
//! 2. the broker answers — otherwise skip without consuming the slot, so nothing is recorded
//!    that cannot be published.
//! 3. `firings::try_fire` — the unique slot key admits one controller per slot.
//! 4. `job_runs::record_queued`, then a re-check for another active run of the same tenant and
//!    type: two controllers can both pass step 1 just before a slot boundary and win adjacent
//!    slots. Each records first and looks second, so at least one of them sees the other and
//!    withdraws (its run is marked failed, unpublished); at most one publishes.
//! 5. `queue.publish`; a failure marks the run failed so the next slot can fire.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::job::{JobEnvelope, JobType, TenantRef};
use domain::tenant::JobSettings;
use queue::JobQueue;
use runtime::Shutdown;
use store::Db;
use store::repo::job_runs::{self, JobState, NewJobRun};
use store::repo::{firings, tenants};

use crate::slots::Schedule;

/// Newest runs of a tenant and type looked at for one still busy: a busy run is the newest or
/// close to it (an older one is caught by `active_run_exists` or is long stale).
const RECENT_RUNS: u64 = 20;

/// What happened to the jobs considered in one tick, for the per-tick debug line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickSummary {
    /// Enabled jobs of enabled tenants looked at.
    pub jobs: usize,
    pub fired: usize,
    /// Not due: a daily job before its plan time, or a slot already claimed (by this controller
    /// or another).
    pub not_due: usize,
    /// A run of the same tenant and type is still queued or running, or waits for a retry.
    pub busy: usize,
    /// Won a slot, but another controller queued the same tenant and type at the same moment.
    pub withdrawn: usize,
    /// Kinds without a worker yet (alerts, archive, metrics) or without a usable schedule.
    pub unsupported: usize,
    /// Not fired because the broker did not answer.
    pub broker_down: usize,
    pub failed: usize,
    /// Shutdown came in the middle of the tick.
    pub interrupted: bool,
}

impl fmt::Display for TickSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} jobs: {} fired, {} not due, {} busy, {} withdrawn, {} unsupported, {} broker down, {} failed{}",
            self.jobs,
            self.fired,
            self.not_due,
            self.busy,
            self.withdrawn,
            self.unsupported,
            self.broker_down,
            self.failed,
            if self.interrupted {
                " (interrupted by shutdown)"
            } else {
                ""
            }
        )
    }
}

/// Outcome for one job in one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Fired,
    NotDue,
    Busy,
    Withdrawn,
    Unsupported,
    BrokerDown,
    Failed,
}

/// The broker's state within one tick: asked at most once, and given up on after a failed
/// publish, so a dead broker costs one timeout per tick instead of one per job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BrokerGate {
    Unknown,
    Up,
    Down,
}

/// One job's identity in the controller's memory.
type JobKey = (i64, String);

pub struct Scheduler {
    db: Db,
    queue: Arc<dyn JobQueue>,
    /// `AMQP_PREFIX`, for the queue name recorded with each run.
    prefix: String,
    /// The last slot this controller saw claimed per tenant and type. Claimed slots stay
    /// claimed, so a repeat within the slot needs no write; it only saves database work, the
    /// firing table stays the arbiter.
    claimed: HashMap<JobKey, String>,
    /// Last seen broker state, so its loss and return are logged once, not every tick.
    broker_was_up: Option<bool>,
    /// `JOB_STALE_AFTER`: older queued, running or retried runs no longer hold a slot back.
    stale_after: chrono::Duration,
    /// `ARCHIVE_TIME_ZONE`: the zone of the archive job's planned time.
    archive_tz: chrono_tz::Tz,
}

impl Scheduler {
    pub fn new(
        db: Db,
        queue: Arc<dyn JobQueue>,
        prefix: String,
        stale_after: chrono::Duration,
    ) -> Self {
        Self {
            db,
            queue,
            prefix,
            claimed: HashMap::new(),
            broker_was_up: None,
            stale_after,
            archive_tz: chrono_tz::Tz::UTC,
        }
    }

    /// Plan the archive job's daily time in `tz` instead of UTC.
    pub fn with_archive_time_zone(mut self, tz: chrono_tz::Tz) -> Self {
        self.archive_tz = tz;
        self
    }

    /// Consider every enabled job of every enabled tenant once, at `now`. Stops between jobs
    /// once `shutdown` is cancelled; a job being fired is always finished, so no run is left
    /// recorded but unpublished.
    pub async fn tick(
        &mut self,
        now: DateTime<Utc>,
        shutdown: &Shutdown,
    ) -> Result<TickSummary, store::StoreError> {
        let names: HashMap<i64, String> = tenants::list_enabled(&self.db)
            .await?
            .into_iter()
            .map(|t| (t.id, t.settings.name))
            .collect();
        let jobs = tenants::enabled_jobs(&self.db).await?;
        let mut summary = TickSummary::default();
        let mut gate = BrokerGate::Unknown;
        for (tenant_id, job) in jobs.iter().filter(|(_, j)| j.enabled) {
            if shutdown.is_cancelled() {
                summary.interrupted = true;
                break;
            }
            let name = names
                .get(tenant_id)
                .cloned()
                .unwrap_or_else(|| format!("#{tenant_id}"));
            summary.jobs += 1;
            let outcome = self.consider(*tenant_id, &name, job, now, &mut gate).await;
            match outcome {
                Outcome::Fired => summary.fired += 1,
                Outcome::NotDue => summary.not_due += 1,
                Outcome::Busy => summary.busy += 1,
                Outcome::Withdrawn => summary.withdrawn += 1,
                Outcome::Unsupported => summary.unsupported += 1,
                Outcome::BrokerDown => summary.broker_down += 1,
                Outcome::Failed => summary.failed += 1,
            }
        }
        // Forget tenants and jobs that are gone or disabled, so the map stays bounded.
        self.claimed.retain(|(tenant_id, kind), _| {
            jobs.iter()
                .any(|(t, j)| t == tenant_id && j.enabled && j.kind.as_str() == kind)
        });
        Ok(summary)
    }

    async fn consider(
        &mut self,
        tenant_id: i64,
        tenant: &str,
        job: &JobSettings,
        now: DateTime<Utc>,
        gate: &mut BrokerGate,
    ) -> Outcome {
        let job_type = JobType::parse(job.kind.as_str());
        if !job_type.is_known() {
            tracing::debug!(tenant, tenant_id, kind = %job.kind, "skipped: no worker handles this job kind yet");
            return Outcome::Unsupported;
        }
        // Only the archive job's planned time is in ARCHIVE_TIME_ZONE; every other daily job
        // stays in UTC.
        let schedule = if job.kind == domain::tenant::JobKind::Archive {
            Schedule::of_in(job, self.archive_tz)
        } else {
            Schedule::of(job)
        };
        let Some(schedule) = schedule else {
            tracing::debug!(tenant, tenant_id, kind = %job.kind, "skipped: the job has neither an interval nor a planned time");
            return Outcome::Unsupported;
        };
        let Some(slot) = schedule.slot_at(now) else {
            return Outcome::NotDue;
        };
        let key: JobKey = (tenant_id, job_type.as_str().to_string());
        if self.claimed.get(&key) == Some(&slot) {
            return Outcome::NotDue;
        }
        match self.fire(tenant_id, tenant, &job_type, &slot, gate).await {
            Ok(outcome) => {
                // Every outcome past `try_fire` used the slot up; remember it.
                if matches!(
                    outcome,
                    Outcome::Fired | Outcome::NotDue | Outcome::Withdrawn | Outcome::Failed
                ) {
                    self.claimed.insert(key, slot);
                }
                outcome
            }
            Err(e) => {
                tracing::warn!(tenant, tenant_id, job_type = %job_type, slot, "scheduling failed: {e}");
                Outcome::Failed
            }
        }
    }

    /// Steps 1–5 of the module description for one open slot.
    async fn fire(
        &mut self,
        tenant_id: i64,
        tenant: &str,
        job_type: &JobType,
        slot: &str,
        gate: &mut BrokerGate,
    ) -> Result<Outcome, store::StoreError> {
        let type_name = job_type.as_str();
        if job_runs::active_run_exists(&self.db, tenant_id, type_name).await? {
            tracing::debug!(
                tenant,
                tenant_id,
                job_type = type_name,
                slot,
                "skipped: the previous run is not finished"
            );
            return Ok(Outcome::Busy);
        }
        // Also after `active_run_exists`: it does not see runs waiting for a retry.
        if let Some((job_id, state)) = self.busy_run(tenant_id, type_name, None).await? {
            tracing::debug!(
                tenant,
                tenant_id,
                job_type = type_name,
                slot,
                job_id,
                state = %state,
                "skipped: the previous run is not finished"
            );
            return Ok(Outcome::Busy);
        }
        if !self.broker_up(gate).await {
            return Ok(Outcome::BrokerDown);
        }
        // The clock now, not the tick's: a run is recorded as queued after the check that
        // no other was active, so queue times never precede the previous run's end.
        let now = Utc::now();
        let envelope = JobEnvelope::new(
            job_type.clone(),
            TenantRef::Id(tenant_id),
            serde_json::json!({}),
            now,
        );
        let job_id = envelope.job_id.clone();
        if !firings::try_fire(&self.db, tenant_id, type_name, slot, &job_id).await? {
            // Another controller has it (or this one, before a restart).
            return Ok(Outcome::NotDue);
        }
        let run = NewJobRun {
            job_id: job_id.clone(),
            tenant_id: Some(tenant_id),
            job_type: type_name.to_string(),
            queue: job_type.queue_name(&self.prefix).unwrap_or_default(),
            attempt: 1,
            params: envelope.params.clone(),
        };
        if let Err(e) = job_runs::record_queued(&self.db, &run, now).await {
            // The slot is used up but nothing was recorded or published: the next slot fires.
            tracing::warn!(
                tenant,
                tenant_id,
                job_type = type_name,
                slot,
                job_id,
                "fired but could not record the run, not publishing: {e}"
            );
            return Ok(Outcome::Failed);
        }
        let concurrent = match self.busy_run(tenant_id, type_name, Some(&job_id)).await {
            Ok(c) => c,
            Err(e) => {
                // Do not leave a run queued that was never published: it would hold the tenant
                // and type back until JOB_STALE_AFTER. Best effort; the database just failed.
                let error = format!("not published: cannot check for a concurrent run: {e}");
                let _ = job_runs::mark_failed(&self.db, &job_id, &error, Utc::now()).await;
                return Err(e);
            }
        };
        if let Some((other, _)) = concurrent {
            let reason = format!(
                "not published: run {other} of this tenant and type was queued at the same moment \
                 (by another controller or an external publisher)"
            );
            job_runs::mark_failed(&self.db, &job_id, &reason, Utc::now()).await?;
            tracing::info!(tenant, tenant_id, job_type = type_name, slot, job_id, other = %other, "withdrawn: another run of this tenant and type was queued at the same moment");
            return Ok(Outcome::Withdrawn);
        }
        match self.queue.publish(&envelope).await {
            Ok(()) => {
                tracing::info!(
                    tenant,
                    tenant_id,
                    job_type = type_name,
                    slot,
                    job_id,
                    "job fired"
                );
                Ok(Outcome::Fired)
            }
            Err(e) => {
                *gate = BrokerGate::Down;
                let error = format!("not published: {e}");
                tracing::error!(
                    tenant,
                    tenant_id,
                    job_type = type_name,
                    slot,
                    job_id,
                    "{error}"
                );
                // Frees the tenant and type for the next slot.
                job_runs::mark_failed(&self.db, &job_id, &error, Utc::now()).await?;
                Ok(Outcome::Failed)
            }
        }
    }

    /// A recent run of this tenant and type, other than `except`, that holds the next one
    /// back: queued, running, or `retried` (its next attempt waits in a retry queue) within
    /// `JOB_STALE_AFTER`. `active_run_exists` does not count `retried`, so this does. One read,
    /// so a run moving from `retried` to `running` is seen in one state or the other, never
    /// missed between two queries.
    async fn busy_run(
        &self,
        tenant_id: i64,
        job_type: &str,
        except: Option<&str>,
    ) -> Result<Option<(String, JobState)>, store::StoreError> {
        let since = Utc::now() - self.stale_after;
        let recent =
            job_runs::list_recent(&self.db, Some(tenant_id), Some(job_type), RECENT_RUNS).await?;
        Ok(recent
            .into_iter()
            .find(|r| {
                Some(r.job_id.as_str()) != except
                    && (r.state.is_active()
                        || (r.state == JobState::Retried
                            && r.finished_at.unwrap_or(r.queued_at) >= since))
            })
            .map(|r| (r.job_id, r.state)))
    }

    /// Whether publishing is worth trying in this tick; logs the broker's loss and return once.
    async fn broker_up(&mut self, gate: &mut BrokerGate) -> bool {
        if *gate == BrokerGate::Unknown {
            let result = self.queue.check().await;
            *gate = if result.is_ok() {
                BrokerGate::Up
            } else {
                BrokerGate::Down
            };
            match (&result, self.broker_was_up) {
                (Err(reason), Some(true) | None) => {
                    tracing::warn!("broker unavailable, not firing until it answers: {reason}")
                }
                (Ok(()), Some(false)) => tracing::info!("broker available again, firing resumes"),
                _ => {}
            }
            self.broker_was_up = Some(result.is_ok());
        }
        *gate == BrokerGate::Up
    }

    /// The minutely housekeeping: runs left queued or running longer than `JOB_STALE_AFTER` are
    /// marked failed (a crashed worker, a lost message), so the no-pile-up rule does not block
    /// their tenant and type for ever; firings older than `keep_firings` are forgotten.
    pub async fn maintain(
        &self,
        now: DateTime<Utc>,
        keep_firings: chrono::Duration,
    ) -> Result<(), store::StoreError> {
        let stale_after = self.stale_after;
        let stale = job_runs::reconcile_stale(&self.db, now - stale_after, now).await?;
        if stale > 0 {
            tracing::warn!(
                runs = stale,
                "marked job runs failed that were left queued or running longer than {}s (a crashed worker or a lost job)",
                stale_after.num_seconds()
            );
        }
        let pruned = firings::prune(&self.db, now - keep_firings).await?;
        tracing::debug!(
            stale_runs = stale,
            pruned_firings = pruned,
            "housekeeping done"
        );
        Ok(())
    }

    /// The all-in-one mode's queue lives in memory, so runs left queued or running by an
    /// earlier process can never finish: mark them failed at start instead of waiting for
    /// `JOB_STALE_AFTER`.
    pub async fn forget_previous_process(
        &self,
        started: DateTime<Utc>,
    ) -> Result<u64, store::StoreError> {
        job_runs::reconcile_stale(&self.db, started, Utc::now()).await
    }
}
