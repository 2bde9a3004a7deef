//! The controller daemon on the real binary: two controllers against one database (SQLite and
//! PostgreSQL) fire every slot at most once, never pile jobs up behind an unconsumed one, never
//! fire disabled jobs or tenants, fire a daily job once a day, and survive a missing broker.
//! Each test has its own AMQP prefix on the shared RabbitMQ at 127.0.0.1:5672.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::job::{JobOutcome, JobType};
use domain::tenant::{Auth, JobKind, JobSettings, PlanTime, TenantSettings};
use integramon_tests::proc::run;
use integramon_tests::{Proc, Target, bin, free_port, wait_for};
use queue::{AmqpQueue, JobQueue, QueueConfig, handler_fn};
use store::repo::job_runs::{self, JobRun, JobState, NewJobRun};
use store::repo::tenants;

/// Interval of the test's hot job: short, so several slots pass during a test.
const EVERY: u32 = 2;
/// The only retry tier, for controllers and the test's consumer alike (the queues are declared
/// by whoever comes first, and must match).
const RETRY_DELAY: &str = "2s";

struct Ids {
    active: i64,
    off: i64,
}

fn migrate(target: &Target) {
    let (status, out) = run(&bin("integramon-migrate"), &[], &target.env(), 120);
    assert!(status.success(), "migrate failed: {out}");
}

fn job(kind: JobKind, enabled: bool, every: Option<u32>, daily: Option<PlanTime>) -> JobSettings {
    JobSettings {
        enabled,
        interval_secs: every,
        plan_time: daily,
        ..JobSettings::default_for(kind)
    }
}

/// Two tenants. `active`: hot messages every 2 s and a deep sync daily at 00:00 UTC (so due
/// whenever the test runs), payloads and alerts every 2 s but disabled, everything else
/// disabled. `off`: collection disabled, hot messages every 2 s enabled.
async fn create_tenants(db: &store::Db) -> Ids {
    let mut ids = Vec::new();
    for (name, enabled) in [("active", true), ("off", false)] {
        let mut settings = TenantSettings::new(
            name,
            "https://tenant.example.com",
            Auth::Basic {
                username: "u".into(),
            },
        );
        settings.collection.enabled = enabled;
        let tenant = tenants::create(db, &settings, None).await.unwrap();
        for kind in JobKind::ALL {
            let settings = match kind {
                JobKind::MessagesHot => job(kind, true, Some(EVERY), None),
                JobKind::DeepSync if enabled => job(kind, true, None, PlanTime::new(0, 0)),
                JobKind::Payloads => job(kind, false, Some(EVERY), None),
                JobKind::Alerts => job(kind, false, Some(EVERY), None),
                other => job(other, false, Some(600), None),
            };
            tenants::upsert_job(db, tenant.id, &settings).await.unwrap();
        }
        ids.push(tenant.id);
    }
    Ids {
        active: ids[0],
        off: ids[1],
    }
}

fn prefix() -> String {
    format!("imt-ctl-{}", uuid::Uuid::new_v4().simple())
}

fn amqp(prefix: &str) -> AmqpQueue {
    let config = QueueConfig::from_lookup(|k| match k {
        "AMQP_PREFIX" => Some(prefix.to_string()),
        "AMQP_RETRY_DELAYS" => Some(RETRY_DELAY.to_string()),
        _ => None,
    })
    .unwrap();
    AmqpQueue::new(config).unwrap()
}

/// Deletes a test's queues and exchanges when dropped, also when the test failed.
struct Cleanup(AmqpQueue);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(async {
                let _ = self.0.delete_topology().await;
                self.0.close().await;
            });
        }
    }
}

fn controller(target: &Target, prefix: &str, extra: &[(&str, &str)]) -> Proc {
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut env = vec![
        ("AMQP_PREFIX", prefix),
        ("AMQP_RETRY_DELAYS", RETRY_DELAY),
        ("CONTROLLER_TICK", "1"),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "info,integramon_controller=debug"),
        ("CONTROLLER_LISTEN", listen.as_str()),
    ];
    env.extend_from_slice(extra);
    Proc::spawn(&bin("integramon-controller"), &[], &target.env_with(&env))
}

/// The JSON log lines of a process with this message.
fn events(p: &Proc, message: &str) -> Vec<serde_json::Value> {
    p.output()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == message)
        .collect()
}

fn stop(mut p: Proc) -> String {
    p.signal(nix::sys::signal::Signal::SIGTERM);
    let status = p.wait(30);
    let out = p.output();
    assert!(status.success(), "{} exited with {status}: {out}", p.name);
    out
}

async fn runs(db: &store::Db, tenant: i64, job_type: &str) -> Vec<JobRun> {
    let mut runs = job_runs::list_recent(db, Some(tenant), Some(job_type), 1000)
        .await
        .unwrap();
    runs.reverse();
    runs
}

/// `(slot_key, job_id)` of every firing of a tenant and type.
fn firings(target: &Target, tenant: i64, job_type: &str) -> Vec<(String, String)> {
    let out = target.sql(&format!(
        "SELECT slot_key || '|' || job_id FROM job_firings WHERE tenant_id = {tenant} \
         AND job_type = '{job_type}' ORDER BY id"
    ));
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (slot, id) = l.split_once('|').unwrap();
            (slot.to_string(), id.to_string())
        })
        .collect()
}

fn count(target: &Target, sql: &str) -> u64 {
    target.sql(sql).trim().parse().unwrap()
}

/// Messages waiting anywhere in the topology: job queues and retry queues.
async fn waiting(queue: &AmqpQueue) -> u32 {
    let dead = format!("{}.dead", queue.config().prefix);
    queue
        .depths()
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.queue != dead)
        .map(|d| d.messages)
        .sum()
}

async fn depth(queue: &AmqpQueue, job_type: &JobType) -> u32 {
    let name = job_type.queue_name(queue.config().prefix.as_str()).unwrap();
    queue
        .depths()
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.queue == name)
        .map_or(0, |d| d.messages)
}

/// Every firing belongs to exactly one run and every run to one firing; no slot twice.
fn assert_one_run_per_slot(target: &Target, tenant: i64, job_type: &str, runs: &[JobRun]) {
    let fired = firings(target, tenant, job_type);
    let slots: HashSet<&str> = fired.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(slots.len(), fired.len(), "a slot fired twice: {fired:?}");
    let fired_ids: HashSet<&str> = fired.iter().map(|(_, id)| id.as_str()).collect();
    let run_ids: HashSet<&str> = runs.iter().map(|r| r.job_id.as_str()).collect();
    assert_eq!(fired_ids, run_ids, "firings and job runs differ");
    assert_eq!(run_ids.len(), runs.len());
}

/// Runs that were published: all but those a controller withdrew in a race (recorded as failed
/// with "not published"; expected to be rare or absent).
fn published(runs: &[JobRun]) -> Vec<&JobRun> {
    for r in runs.iter().filter(|r| r.state == JobState::Failed) {
        let error = r.error.as_deref().unwrap_or_default();
        assert!(
            error.starts_with("not published"),
            "unexpected failure: {r:?}"
        );
    }
    runs.iter()
        .filter(|r| r.state != JobState::Failed)
        .collect()
}

fn two_controllers_share_the_schedule(target: Target) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    store::install_tls_provider();
    migrate(&target);
    let db = rt.block_on(async { store::connect(&target.store_settings()).unwrap() });
    let ids = rt.block_on(create_tenants(&db));
    let prefix = prefix();
    let queue = amqp(&prefix);
    let _cleanup = Cleanup(amqp(&prefix));
    let day_at_start = Utc::now().date_naive();

    let a = controller(&target, &prefix, &[]);
    let b = controller(&target, &prefix, &[]);

    // Phase 1: nothing consumes. The first slot fires; every later one is skipped because its
    // run is still queued.
    wait_for(60, "the first hot job", || {
        (count(
            &target,
            "SELECT COUNT(*) FROM job_runs WHERE job_type = 'messages_hot'",
        ) > 0)
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3 * u64::from(EVERY)));
    let hot = rt.block_on(runs(&db, ids.active, "messages_hot"));
    let hot_published = published(&hot);
    assert_eq!(hot_published.len(), 1, "pile-up while unconsumed: {hot:?}");
    assert_eq!(hot_published[0].state, JobState::Queued);
    assert_eq!(
        hot_published[0].queue,
        format!("{prefix}.messages.hot"),
        "{hot:?}"
    );
    assert_one_run_per_slot(&target, ids.active, "messages_hot", &hot);
    let deep = rt.block_on(runs(&db, ids.active, "deep_sync"));
    assert_eq!(published(&deep).len(), 1, "{deep:?}");
    assert_eq!(rt.block_on(depth(&queue, &JobType::MessagesHot)), 1);
    assert_eq!(rt.block_on(depth(&queue, &JobType::DeepSync)), 1);
    let skipped: usize = [&a, &b]
        .iter()
        .map(|p| events(p, "skipped: the previous run is not finished").len())
        .sum();
    assert!(skipped > 0, "no slot was skipped for the queued run");

    // Phase 2: a worker consumes the jobs, asks for one retry of each (as for a tenant that
    // did not answer) and finishes it on the second attempt. Later slots fire again, one run
    // at a time: not while a run is queued, running, or waiting for its retry.
    let consumed: Arc<Mutex<Vec<String>>> = Arc::default();
    let shutdown = runtime::Shutdown::new();
    let consumer = {
        let (db, consumed) = (db.clone(), consumed.clone());
        let handler = handler_fn(move |job, delivery| {
            let (db, consumed) = (db.clone(), consumed.clone());
            async move {
                let attempt = job.attempt;
                let run = NewJobRun {
                    job_id: job.job_id.clone(),
                    tenant_id: Some(ids_tenant(&job.tenant)),
                    job_type: job.job_type.as_str().to_string(),
                    queue: delivery.queue,
                    attempt: job.attempt as i32,
                    params: job.params.clone(),
                };
                job_runs::mark_running(&db, &run, "test-worker", Utc::now())
                    .await
                    .unwrap();
                if attempt == 1 {
                    job_runs::mark_retried(&db, &job.job_id, 2, "try again", Utc::now())
                        .await
                        .unwrap();
                    return JobOutcome::retry("try again");
                }
                job_runs::mark_succeeded(&db, &job.job_id, &serde_json::json!({}), Utc::now())
                    .await
                    .unwrap();
                consumed.lock().unwrap().push(job.job_id);
                JobOutcome::done(serde_json::json!({}))
            }
        });
        let queue = queue.clone();
        let shutdown = shutdown.clone();
        rt.spawn(async move {
            queue
                .consume(
                    &[JobType::MessagesHot, JobType::DeepSync],
                    1,
                    handler,
                    shutdown,
                )
                .await
        })
    };
    std::thread::sleep(Duration::from_secs(6 * u64::from(EVERY)));
    shutdown.cancel();
    rt.block_on(consumer).unwrap().unwrap();
    let out_a = stop(a);
    let out_b = stop(b);

    let hot = rt.block_on(runs(&db, ids.active, "messages_hot"));
    assert_one_run_per_slot(&target, ids.active, "messages_hot", &hot);
    let hot_published = published(&hot);
    assert!(
        hot_published.len() >= 3,
        "slots did not fire again once the run was done: {hot:?}"
    );
    // No pile-up: each run was queued only after the previous one had finished, its retry
    // included.
    for pair in hot_published.windows(2) {
        let finished: DateTime<Utc> = pair[0].finished_at.expect("previous run finished");
        assert!(
            pair[1].queued_at >= finished,
            "queued before the previous run finished: {pair:?}"
        );
    }
    let deep = rt.block_on(runs(&db, ids.active, "deep_sync"));
    assert_one_run_per_slot(&target, ids.active, "deep_sync", &deep);
    if Utc::now().date_naive() == day_at_start {
        assert_eq!(published(&deep).len(), 1, "daily job fired twice: {deep:?}");
        let fired = firings(&target, ids.active, "deep_sync");
        assert_eq!(fired[0].0, format!("daily:{day_at_start}"));
    }

    // Every published job is in the queue or was consumed, exactly once.
    let consumed = consumed.lock().unwrap().clone();
    let unique: HashSet<&String> = consumed.iter().collect();
    assert_eq!(unique.len(), consumed.len(), "a job was delivered twice");
    let in_queue = rt.block_on(waiting(&queue));
    let published_ids: HashSet<&str> = hot_published
        .iter()
        .chain(published(&deep).iter())
        .map(|r| r.job_id.as_str())
        .collect();
    assert_eq!(
        consumed.len() + in_queue as usize,
        published_ids.len(),
        "messages (consumed {consumed:?} + {in_queue} waiting) differ from job runs"
    );
    assert!(
        consumed
            .iter()
            .all(|id| published_ids.contains(id.as_str()))
    );

    // One "job fired" line per published run, across both controllers, each slot once.
    let mut fired_lines: BTreeMap<String, usize> = BTreeMap::new();
    for out in [&out_a, &out_b] {
        for line in out.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if v["message"] == "job fired" {
                let key = format!("{}/{}/{}", v["tenant_id"], v["job_type"], v["slot"]);
                *fired_lines.entry(key).or_default() += 1;
            }
        }
    }
    assert!(fired_lines.values().all(|n| *n == 1), "{fired_lines:?}");
    assert_eq!(fired_lines.len(), published_ids.len(), "{fired_lines:?}");

    // Disabled jobs and a disabled tenant never fire.
    for (tenant, job_type) in [
        (ids.active, "payloads"),
        (ids.active, "alerts"),
        (ids.active, "packages"),
        (ids.off, "messages_hot"),
        (ids.off, "deep_sync"),
    ] {
        assert!(
            rt.block_on(runs(&db, tenant, job_type)).is_empty(),
            "{job_type} of tenant {tenant} fired"
        );
        assert!(firings(&target, tenant, job_type).is_empty());
    }
    assert_eq!(
        count(
            &target,
            &format!(
                "SELECT COUNT(*) FROM job_runs WHERE tenant_id = {}",
                ids.off
            )
        ),
        0
    );

    rt.block_on(async {
        queue.close().await;
        db.close().await;
    });
}

fn ids_tenant(tenant: &domain::job::TenantRef) -> i64 {
    match tenant {
        domain::job::TenantRef::Id(id) => *id,
        other => panic!("the controller publishes tenants by id, got {other:?}"),
    }
}

#[test]
fn two_controllers_on_sqlite_fire_each_slot_once_without_pile_up() {
    two_controllers_share_the_schedule(Target::sqlite());
}

#[test]
fn two_controllers_on_postgres_fire_each_slot_once_without_pile_up() {
    two_controllers_share_the_schedule(Target::postgres());
}

/// With the broker unreachable the controller keeps running, fires nothing (so no slot is used
/// up and no run waits on a queue that cannot take it) and says why once.
#[test]
fn a_missing_broker_neither_stops_the_controller_nor_uses_up_slots() {
    let target = Target::sqlite();
    let rt = tokio::runtime::Runtime::new().unwrap();
    migrate(&target);
    let db = rt.block_on(async { store::connect(&target.store_settings()).unwrap() });
    let ids = rt.block_on(create_tenants(&db));
    let dead = format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port());
    let prefix = prefix();
    let mut p = controller(&target, &prefix, &[("AMQP_URL", dead.as_str())]);
    wait_for(60, "the controller to start scheduling", || {
        (!events(&p, "scheduling jobs").is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_secs(4));
    assert!(p.is_running(), "{}", p.output());
    let warnings = p
        .output()
        .lines()
        .filter(|l| l.contains("broker unavailable"))
        .count();
    assert_eq!(warnings, 1, "{}", p.output());
    assert!(
        rt.block_on(runs(&db, ids.active, "messages_hot"))
            .is_empty()
    );
    assert!(firings(&target, ids.active, "messages_hot").is_empty());
    stop(p);
    rt.block_on(db.close());
}

#[test]
fn bad_controller_settings_stop_it_with_the_variable_named() {
    let target = Target::sqlite();
    migrate(&target);
    let prefix = prefix();
    let mut p = controller(&target, &prefix, &[("CONTROLLER_TICK", "0")]);
    let status = p.wait(60);
    assert!(!status.success());
    assert!(p.output().contains("CONTROLLER_TICK"), "{}", p.output());
}
