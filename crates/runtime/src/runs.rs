//! How a consuming daemon records its job runs (running, succeeded, retried, failed, dead): the
//! same way in the ingest worker, the archiver and the metrics daemon, with the rule the queue
//! applies to the outcome, so the run history matches what happened to the job.
//!
//! [`run_recorded`] is the shell around every job handler: it looks up the job's tenant, marks
//! the run running, runs the handler and records the end, all inside a `job` span whose fields
//! (`job_id`, `type`, `tenant`, `attempt`, ...) every log line of the job carries. A daemon only
//! says how its jobs run ([`RecordedJob`]).

use std::future::Future;

use async_trait::async_trait;
use chrono::Utc;
use domain::job::{self, Disposition, JobEnvelope, JobOutcome, RetryTiers, TenantRef};
use domain::tenant::Tenant;
use queue::{Delivery, JobHandler};
use store::Db;
use store::repo::job_runs::{self, NewJobRun};
use store::repo::tenants;
use tracing::Instrument;

/// Who runs jobs and the queue's retry rule.
#[derive(Debug, Clone, Copy)]
pub struct RunPolicy<'a> {
    /// Recorded on each run, so the UI shows which process ran it.
    pub worker: &'a str,
    pub max_attempts: u32,
    pub retry_tiers: &'a RetryTiers,
}

/// Where a daemon records its runs, and how its job lines are labelled.
#[derive(Debug, Clone, Copy)]
pub struct Recorder<'a> {
    pub db: &'a Db,
    /// The daemon (`SPEC.component`): in `integramon up` several daemons share one output.
    pub component: &'static str,
    pub policy: RunPolicy<'a>,
}

impl<'a> Recorder<'a> {
    pub fn new(
        db: &'a Db,
        component: &'static str,
        worker: &'a str,
        max_attempts: u32,
        retry_tiers: &'a RetryTiers,
    ) -> Self {
        let policy = RunPolicy {
            worker,
            max_attempts,
            retry_tiers,
        };
        Self {
            db,
            component,
            policy,
        }
    }
}

/// Held from before a run is marked running until it has ended (a fairness slot).
pub type Permit<'a> = Box<dyn Send + 'a>;

/// A family of jobs whose runs are recorded: what a consuming daemon adds to [`run_recorded`].
/// [`Recorded`] makes it the queue's handler.
pub trait RecordedJob: Send + Sync {
    fn recorder(&self) -> Recorder<'_>;

    /// Refuse a job before its tenant is looked up (a type this daemon does not run). Like a
    /// job whose tenant cannot be resolved, it still leaves a run trace when it ends dead.
    fn accept(&self, _job: &JobEnvelope) -> Result<(), JobOutcome> {
        Ok(())
    }

    /// Whether the job may start (it may wait a little for that): `Err` hands it back (a defer)
    /// with nothing recorded, so its run stays queued. What `Ok` holds is dropped once the run
    /// has ended.
    fn admit<'a>(
        &'a self,
        _job: &'a JobEnvelope,
        _tenant: &'a Tenant,
    ) -> impl Future<Output = Result<Option<Permit<'a>>, JobOutcome>> + Send + 'a {
        async { Ok(None) }
    }

    /// The job itself, once its run is marked running.
    fn run(&self, job: &JobEnvelope, tenant: &Tenant) -> impl Future<Output = JobOutcome> + Send;
}

/// The queue's handler of a [`RecordedJob`]: every delivery goes through [`run_recorded`].
pub struct Recorded<J>(pub J);

#[async_trait]
impl<J: RecordedJob> JobHandler for Recorded<J> {
    async fn handle(&self, job: JobEnvelope, delivery: Delivery) -> JobOutcome {
        run_recorded(&self.0, job, delivery).await
    }
}

/// Run `job` with `handler`, recording its run: accept, tenant look-up, admission, running,
/// the handler, and the end with the queue's retry rule; all inside the job's span.
pub async fn run_recorded<J: RecordedJob>(
    handler: &J,
    job: JobEnvelope,
    delivery: Delivery,
) -> JobOutcome {
    let recorder = handler.recorder();
    let span = job_span(&job, recorder.component, recorder.policy.worker);
    recorded(handler, recorder, &job, &delivery)
        .instrument(span)
        .await
}

/// The span of one job run. It is created at error level on purpose: a span's level only
/// decides whether it exists, and the job's fields should stay on its warnings and errors
/// however quiet `RUST_LOG` is.
pub fn job_span(job: &JobEnvelope, component: &str, worker: &str) -> tracing::Span {
    tracing::error_span!(
        "job",
        job_id = %job.job_id,
        "type" = %job.job_type,
        tenant = %job.tenant,
        attempt = job.attempt,
        tenant_id = tracing::field::Empty,
        component,
        worker,
    )
}

async fn recorded<J: RecordedJob>(
    handler: &J,
    recorder: Recorder<'_>,
    job: &JobEnvelope,
    delivery: &Delivery,
) -> JobOutcome {
    let Recorder { db, policy, .. } = recorder;
    let started = Utc::now();
    let tenant = match handler.accept(job) {
        Ok(()) => look_up(db, &job.tenant).await,
        Err(outcome) => Err(outcome),
    };
    let tenant = match tenant {
        Ok(t) => t,
        Err(outcome) => {
            record_end(db, &policy, job, None, delivery, &outcome).await;
            return outcome;
        }
    };
    tracing::Span::current().record("tenant_id", tenant.id);
    let _permit = match handler.admit(job, &tenant).await {
        Ok(permit) => permit,
        Err(outcome) => return outcome,
    };
    let run = new_run(job, Some(tenant.id), delivery);
    if let Err(e) = job_runs::mark_running(db, &run, policy.worker, started).await {
        // Without the database the job cannot do anything useful either.
        return JobOutcome::retry(format!("database: {e}"));
    }
    let outcome = handler.run(job, &tenant).await;
    record_end(db, &policy, job, Some(&run), delivery, &outcome).await;
    outcome
}

/// The job's tenant. Database trouble is mostly transient: another try; a tenant that does not
/// exist will not come back by itself.
async fn look_up(db: &Db, r: &TenantRef) -> Result<Tenant, JobOutcome> {
    let found = match r {
        TenantRef::Id(id) => tenants::get(db, *id).await,
        TenantRef::Name(name) => tenants::get_by_name(db, name).await,
    };
    match found {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(JobOutcome::fail(format!("tenant {r} does not exist"))),
        Err(e) => Err(JobOutcome::retry(format!("database: {e}"))),
    }
}

/// The run record of `job` as delivered.
pub fn new_run(job: &JobEnvelope, tenant_id: Option<i64>, delivery: &Delivery) -> NewJobRun {
    NewJobRun {
        job_id: job.job_id.clone(),
        tenant_id,
        job_type: job.job_type.as_str().to_string(),
        queue: delivery.queue.clone(),
        attempt: job.attempt as i32,
        params: job.params.clone(),
    }
}

/// Record how the run ended. `run` is `None` when it never started (its tenant could not be
/// resolved): a dead job still leaves a trace.
pub async fn record_end(
    db: &Db,
    policy: &RunPolicy<'_>,
    job: &JobEnvelope,
    run: Option<&NewJobRun>,
    delivery: &Delivery,
    outcome: &JobOutcome,
) {
    let now = Utc::now();
    let id = &job.job_id;
    let result = match job::disposition(
        outcome,
        job.attempt,
        policy.max_attempts,
        policy.retry_tiers,
    ) {
        Disposition::Ack => match outcome {
            JobOutcome::Done { summary } => job_runs::mark_succeeded(db, id, summary, now).await,
            JobOutcome::Fail { reason }
            | JobOutcome::Retry { reason, .. }
            | JobOutcome::Defer { reason, .. } => job_runs::mark_failed(db, id, reason, now).await,
        },
        // Handed back before it ran: the run stays as it was (queued), nothing to record.
        Disposition::Hold { .. } => Ok(()),
        Disposition::Retry { next_attempt, .. } => {
            let reason = match outcome {
                JobOutcome::Retry { reason, .. }
                | JobOutcome::Fail { reason }
                | JobOutcome::Defer { reason, .. } => reason.as_str(),
                JobOutcome::Done { .. } => "",
            };
            job_runs::mark_retried(db, id, next_attempt as i32, reason, now).await
        }
        Disposition::DeadLetter { reason } => {
            if run.is_none() {
                let _ =
                    job_runs::mark_running(db, &new_run(job, None, delivery), policy.worker, now)
                        .await;
            }
            job_runs::mark_dead(db, id, &reason, now).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(job = %id, "cannot record the job run: {e}");
    }
    match outcome {
        JobOutcome::Done { summary } => {
            tracing::info!(job = %id, kind = %job.job_type, %summary, "job done")
        }
        JobOutcome::Retry { reason, .. } => {
            tracing::warn!(job = %id, kind = %job.job_type, attempt = job.attempt, "job will be retried: {reason}")
        }
        JobOutcome::Fail { reason } => {
            tracing::error!(job = %id, kind = %job.job_type, "job failed: {reason}")
        }
        JobOutcome::Defer { reason, after } => {
            tracing::debug!(job = %id, kind = %job.job_type, after_ms = after.as_millis() as u64, "job held back: {reason}")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use domain::job::JobType;
    use domain::tenant::{Auth, TenantSettings};
    use migration::{Migrator, MigratorTrait};
    use serde_json::{Value, json};
    use store::DbSettings;
    use store::repo::job_runs::JobState;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::logging::{MemoryWriter, json_layer};

    /// A job family that logs from inside its run and can refuse at each step.
    struct Fake {
        db: Db,
        tiers: RetryTiers,
        refuse_type: bool,
        busy: bool,
        ran: AtomicBool,
    }

    impl RecordedJob for Fake {
        fn recorder(&self) -> Recorder<'_> {
            Recorder::new(&self.db, "fake", "test-worker", 3, &self.tiers)
        }

        fn accept(&self, job: &JobEnvelope) -> Result<(), JobOutcome> {
            match self.refuse_type {
                true => Err(JobOutcome::fail(format!("no {} jobs here", job.job_type))),
                false => Ok(()),
            }
        }

        async fn admit<'a>(
            &'a self,
            _job: &'a JobEnvelope,
            _tenant: &'a Tenant,
        ) -> Result<Option<Permit<'a>>, JobOutcome> {
            match self.busy {
                true => Err(JobOutcome::defer("busy", std::time::Duration::from_secs(5))),
                false => Ok(None),
            }
        }

        async fn run(&self, _job: &JobEnvelope, _tenant: &Tenant) -> JobOutcome {
            self.ran.store(true, Ordering::SeqCst);
            tracing::warn!("halfway through");
            JobOutcome::done(json!({ "rows": 1 }))
        }
    }

    async fn fake(dir: &tempfile::TempDir) -> Fake {
        let db = store::connect(&DbSettings::sqlite(dir.path().join("t.db"))).expect("connect");
        Migrator::up(db.conn(), None).await.expect("migrate");
        Fake {
            db,
            tiers: RetryTiers::default(),
            refuse_type: false,
            busy: false,
            ran: AtomicBool::new(false),
        }
    }

    async fn tenant(db: &Db) -> Tenant {
        let auth = Auth::Basic {
            username: "u".into(),
        };
        let settings = TenantSettings::new("Acme", "https://acme.example.com", auth);
        tenants::create(db, &settings, None).await.expect("tenant")
    }

    fn delivery() -> Delivery {
        Delivery {
            queue: "metrics".into(),
            redelivered: false,
            celery_task: None,
        }
    }

    /// Run `job` with `handler` and return its outcome and the JSON lines it logged.
    async fn run_logged(handler: &Fake, job: JobEnvelope) -> (JobOutcome, Vec<Value>) {
        let out = MemoryWriter::default();
        let subscriber = tracing_subscriber::registry().with(json_layer(out.clone()));
        let _default = tracing::subscriber::set_default(subscriber);
        let outcome = run_recorded(handler, job, delivery()).await;
        let lines = out
            .contents()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        (outcome, lines)
    }

    fn line<'a>(lines: &'a [Value], message: &str) -> &'a Value {
        lines
            .iter()
            .find(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message))
            })
            .unwrap_or_else(|| panic!("no line {message:?} in {lines:?}"))
    }

    #[tokio::test]
    async fn every_line_of_a_job_carries_its_span_and_the_run_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let handler = fake(&dir).await;
        let t = tenant(&handler.db).await;
        let mut job =
            JobEnvelope::new(JobType::Metrics, TenantRef::Id(t.id), json!({}), Utc::now());
        job.attempt = 2;
        let (outcome, lines) = run_logged(&handler, job.clone()).await;

        assert!(matches!(outcome, JobOutcome::Done { .. }), "{outcome:?}");
        for message in ["halfway through", "job done"] {
            let span = &line(&lines, message)["span"];
            assert_eq!(span["name"], "job");
            assert_eq!(span["job_id"], job.job_id.as_str());
            assert_eq!(span["type"], "metrics");
            assert_eq!(span["tenant"], format!("#{}", t.id));
            assert_eq!(span["attempt"], 2);
            assert_eq!(span["tenant_id"], t.id);
            assert_eq!(span["component"], "fake");
            assert_eq!(span["worker"], "test-worker");
        }
        let run = job_runs::get_run(&handler.db, &job.job_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(run.state, JobState::Succeeded);
        assert_eq!(run.tenant_id, Some(t.id));
        assert_eq!(run.worker.as_deref(), Some("test-worker"));
        assert_eq!(run.attempt, 2);
    }

    #[tokio::test]
    async fn a_job_whose_tenant_does_not_exist_leaves_a_dead_run() {
        let dir = tempfile::tempdir().unwrap();
        let handler = fake(&dir).await;
        let job = JobEnvelope::new(
            JobType::Metrics,
            TenantRef::Name("gone".into()),
            json!({}),
            Utc::now(),
        );
        let (outcome, lines) = run_logged(&handler, job.clone()).await;

        assert_eq!(outcome, JobOutcome::fail("tenant gone does not exist"));
        assert!(!handler.ran.load(Ordering::SeqCst));
        assert_eq!(line(&lines, "job failed")["span"]["tenant"], "gone");
        let run = job_runs::get_run(&handler.db, &job.job_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(run.state, JobState::Dead);
        assert_eq!(run.tenant_id, None);
        let error = run.error.unwrap_or_default();
        assert!(error.contains("tenant gone does not exist"), "{error}");
    }

    #[tokio::test]
    async fn a_refused_type_ends_dead_before_its_tenant_is_looked_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut handler = fake(&dir).await;
        handler.refuse_type = true;
        // The tenant does not exist either: the type's refusal is the one recorded.
        let job = JobEnvelope::new(JobType::Archive, TenantRef::Id(99), json!({}), Utc::now());
        let (outcome, _) = run_logged(&handler, job.clone()).await;

        assert_eq!(outcome, JobOutcome::fail("no archive jobs here"));
        assert!(!handler.ran.load(Ordering::SeqCst));
        let run = job_runs::get_run(&handler.db, &job.job_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(run.state, JobState::Dead);
        assert!(
            run.error
                .unwrap_or_default()
                .contains("no archive jobs here")
        );
    }

    #[tokio::test]
    async fn a_job_not_admitted_is_handed_back_with_nothing_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut handler = fake(&dir).await;
        handler.busy = true;
        let t = tenant(&handler.db).await;
        let job = JobEnvelope::new(JobType::Metrics, TenantRef::Id(t.id), json!({}), Utc::now());
        let (outcome, _) = run_logged(&handler, job.clone()).await;

        assert!(matches!(outcome, JobOutcome::Defer { .. }), "{outcome:?}");
        assert!(!handler.ran.load(Ordering::SeqCst));
        assert_eq!(
            job_runs::get_run(&handler.db, &job.job_id).await.unwrap(),
            None
        );
    }
}
