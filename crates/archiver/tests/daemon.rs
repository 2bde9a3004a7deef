//! The archiver daemon consumes `archive` jobs from both transports — the in-process queue of
//! `integramon up` and RabbitMQ at 127.0.0.1:5672 (guest/guest; own exchange and queue names
//! per test) — archives the day and records the job run.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use domain::job::{JobEnvelope, JobType, TenantRef as JobTenant};
use queue::JobQueue;
use runtime::{Context, Health, Settings, Shutdown};
use store::repo::archives::{self, ArchiveStatus};
use store::repo::job_runs::{self, JobState};
use support::{Kind, TestDb, days_ago, messages_on, tenant};

async fn consumes_archive_jobs(amqp: bool) {
    let t = TestDb::new(Kind::Sqlite).await;
    let acme = tenant(&t.db, "acme", 30, 365).await;
    let d = days_ago(33);
    messages_on(&t.db, &acme, d, 12, "q").await;
    let support::Target::Sqlite(path) = &t.target else {
        unreachable!()
    };
    let prefix = format!("imtest-archiver-{}", uuid::Uuid::new_v4().simple());
    let env: HashMap<String, String> = [
        ("DB_BACKEND", "sqlite".to_string()),
        ("SQLITE_PATH", path.display().to_string()),
        ("DATA_DIR", t.data_dir().display().to_string()),
        ("AMQP_PREFIX", prefix.clone()),
        ("ARCHIVE_DELETE_BATCH", "5".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let settings = Settings::from_env(env).expect("settings");
    let cleanup = settings.clone();
    let config = settings.queue().expect("queue config");
    let queue: Arc<dyn JobQueue> = if amqp {
        Arc::new(queue::AmqpQueue::new(config.clone()).expect("amqp"))
    } else {
        Arc::new(queue::InProcessQueue::new(config.clone()).expect("in-process queue"))
    };
    let shutdown = Shutdown::new();
    let ctx = Context {
        config: integramon_archiver::ArchiverSettings::from_settings(&settings).expect("settings"),
        settings,
        queue_config: config,
        db: t.db.clone(),
        queue: queue.clone(),
        health: Health::new("archiver", t.db.clone()),
        shutdown: shutdown.clone(),
    };
    let daemon = tokio::spawn(integramon_archiver::run(ctx));
    let job = JobEnvelope::new(
        JobType::Archive,
        JobTenant::Name("acme".into()),
        serde_json::json!({ "day": d.to_string() }),
        chrono::Utc::now(),
    );
    queue.publish(&job).await.expect("publish");
    let mut run = None;
    for _ in 0..300 {
        run = job_runs::get_run(&t.db, &job.job_id).await.unwrap();
        if run.as_ref().is_some_and(|r| !r.state.is_active()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = run.expect("the job run was recorded");
    assert_eq!(run.state, JobState::Succeeded, "{:?}", run.error);
    assert_eq!(run.tenant_id, Some(acme.id));
    let counts = run.counts.expect("summary");
    assert_eq!(counts["days"][0]["outcome"], "written", "{counts}");
    assert_eq!(counts["days"][0]["deleted"], 12, "{counts}");
    let row = archives::find_day(&t.db, acme.id, d)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.status, row.message_count),
        (ArchiveStatus::Archived, 12)
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), daemon)
        .await
        .expect("the daemon stops on shutdown")
        .expect("join")
        .expect("the daemon ends cleanly");
    if amqp {
        let q = queue::AmqpQueue::new(cleanup.queue().expect("config")).expect("amqp");
        q.delete_topology().await.expect("delete the test's queues");
        q.close().await;
    }
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumes_archive_jobs_in_process() {
    consumes_archive_jobs(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumes_archive_jobs_from_rabbitmq() {
    consumes_archive_jobs(true).await;
}
