//! Behaviour every [`JobQueue`] must show, run against RabbitMQ and the in-process queue alike.
//! Each function gets a fresh queue (its own prefix) configured by `support::test_config`:
//! retry tiers 1 s and 2 s, 3 attempts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use domain::job::{JobEnvelope, JobOutcome, JobType};
use queue::Shutdown;
use queue::{JobQueue, handler_fn};
use serde_json::json;

use super::{Recorder, hot_job, job, wait_dead, wait_for};

const T: Duration = Duration::from_secs(20);

type Q = Arc<dyn JobQueue>;

fn start(
    q: &Q,
    families: &[JobType],
    prefetch: u16,
    handler: Arc<dyn queue::JobHandler>,
) -> (
    Shutdown,
    tokio::task::JoinHandle<Result<(), queue::QueueError>>,
) {
    let shutdown = Shutdown::new();
    let (q, families, s) = (q.clone(), families.to_vec(), shutdown.clone());
    let task = tokio::spawn(async move { q.consume(&families, prefetch, handler, s).await });
    (shutdown, task)
}

async fn stop(shutdown: Shutdown, task: tokio::task::JoinHandle<Result<(), queue::QueueError>>) {
    shutdown.cancel();
    tokio::time::timeout(T, task)
        .await
        .expect("consumer stops after shutdown")
        .expect("consumer task")
        .expect("consumer returns Ok");
}

pub async fn publish_then_consume(q: Q) {
    let jobs: Vec<JobEnvelope> = (0..5).map(hot_job).collect();
    for j in &jobs {
        q.publish(j).await.unwrap();
    }
    let rec = Recorder::default();
    let (s, t) = start(
        &q,
        &[JobType::MessagesHot],
        1,
        rec.handler(0, |j| JobOutcome::done(json!({"synced": j.job_id}))),
    );
    wait_for("5 jobs handled", T, || rec.len() >= 5).await;
    stop(s, t).await;
    let seen = rec.all();
    assert_eq!(seen.len(), 5, "each job once: {seen:?}");
    let mut ids: Vec<_> = seen.iter().map(|s| s.job.job_id.clone()).collect();
    ids.sort();
    let mut want: Vec<_> = jobs.iter().map(|j| j.job_id.clone()).collect();
    want.sort();
    assert_eq!(ids, want);
    for s in &seen {
        assert_eq!(s.job.attempt, 1);
        assert!(!s.delivery.redelivered);
        assert!(
            s.delivery.queue.ends_with(".messages.hot"),
            "{}",
            s.delivery.queue
        );
        assert_eq!(s.delivery.celery_task, None);
    }
    let depths = q.depths().await.unwrap();
    let hot = depths
        .iter()
        .find(|d| d.queue.ends_with(".messages.hot"))
        .expect("hot queue depth");
    assert_eq!(hot.messages, 0, "{depths:?}");
    assert!(q.take_dead(10).await.unwrap().is_empty());
}

pub async fn invalid_jobs_are_refused_at_publish(q: Q) {
    let mut unknown = hot_job(0);
    unknown.job_type = JobType::Unknown("alarms".into());
    let e = q.publish(&unknown).await.unwrap_err().to_string();
    assert!(e.contains("unknown job type"), "{e}");
    let bad = job(JobType::MessageDetails, json!({}));
    let e = q.publish(&bad).await.unwrap_err().to_string();
    assert!(e.contains("params.message_guid"), "{e}");
}

pub async fn retry_then_success(q: Q) {
    let rec = Recorder::default();
    let (s, t) = start(
        &q,
        &[JobType::Payloads],
        1,
        rec.handler(0, |j| {
            if j.attempt == 1 {
                JobOutcome::retry("tenant answered 503")
            } else {
                JobOutcome::done(json!({"ok": true}))
            }
        }),
    );
    let j = job(JobType::Payloads, json!({"message_guid": "G1"}));
    q.publish(&j).await.unwrap();
    wait_for("the retry", T, || rec.len() >= 2).await;
    // Nothing more: the second try succeeded.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop(s, t).await;
    let seen = rec.all();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].job.attempt, 1);
    assert_eq!(seen[1].job.attempt, 2);
    assert_eq!(seen[1].job.job_id, j.job_id);
    assert_eq!(seen[1].job.params, json!({"message_guid": "G1"}));
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "first tier is 1 s, gap {gap:?}"
    );
    assert!(q.take_dead(10).await.unwrap().is_empty());
}

pub async fn max_attempts_then_dead_letter(q: Q) {
    let rec = Recorder::default();
    let (s, t) = start(
        &q,
        &[JobType::Keystore],
        1,
        rec.handler(0, |_| JobOutcome::retry("tenant unreachable")),
    );
    let j = job(JobType::Keystore, json!({}));
    q.publish(&j).await.unwrap();
    let dead = wait_dead(q.as_ref(), 1, T).await;
    stop(s, t).await;
    let seen = rec.all();
    assert_eq!(
        seen.iter().map(|s| s.job.attempt).collect::<Vec<_>>(),
        [1, 2, 3],
        "three tries, then no more"
    );
    let d = &dead[0];
    assert!(
        d.reason.contains("gave up after 3 of 3 attempts"),
        "{}",
        d.reason
    );
    assert!(d.reason.contains("tenant unreachable"), "{}", d.reason);
    assert_eq!(d.attempts, 3);
    assert_eq!(d.job_id.as_deref(), Some(j.job_id.as_str()));
    assert_eq!(d.job_type.as_deref(), Some("keystore"));
    assert!(d.routing_key.ends_with(".keystore"), "{}", d.routing_key);
    assert!(d.dead_at.is_some());
    let body = JobEnvelope::from_json(&d.body).unwrap();
    assert_eq!(body.job_id, j.job_id);
    assert_eq!(body.attempt, 3);
}

pub async fn failure_and_panic_dead_letter_at_once(q: Q) {
    let rec = Recorder::default();
    let (s, t) = start(
        &q,
        &[JobType::Packages, JobType::DeepSync],
        2,
        rec.handler(0, |j| match j.job_type {
            JobType::Packages => JobOutcome::fail("no such tenant"),
            _ => panic!("bug in the deep sync"),
        }),
    );
    q.publish(&job(JobType::Packages, json!({}))).await.unwrap();
    q.publish(&job(JobType::DeepSync, json!({}))).await.unwrap();
    let mut dead = wait_dead(q.as_ref(), 2, T).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(s, t).await;
    assert_eq!(rec.len(), 2, "each ran once");
    dead.sort_by(|a, b| a.job_type.cmp(&b.job_type));
    assert_eq!(dead[0].job_type.as_deref(), Some("deep_sync"));
    assert!(
        dead[0]
            .reason
            .contains("handler panicked: bug in the deep sync"),
        "{}",
        dead[0].reason
    );
    assert_eq!(dead[1].reason, "failed on attempt 1: no such tenant");
}

pub async fn competing_consumers_each_job_once(make: impl Fn() -> Q) {
    let q = make();
    let rec = Recorder::default();
    let mut consumers = Vec::new();
    for i in 0..3 {
        let handler = {
            let rec = rec.clone();
            handler_fn(move |job, delivery| {
                let rec = rec.clone();
                async move {
                    rec.record(&job, &delivery, i);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    JobOutcome::done(json!(null))
                }
            })
        };
        consumers.push(start(&make(), &[JobType::MessagesCold], 2, handler));
    }
    let jobs: Vec<_> = (0..30)
        .map(|_| job(JobType::MessagesCold, json!({})))
        .collect();
    for j in &jobs {
        q.publish(j).await.unwrap();
    }
    wait_for("30 jobs", T, || rec.len() >= 30).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (s, t) in consumers {
        stop(s, t).await;
    }
    let seen = rec.all();
    let mut per_job: HashMap<String, usize> = HashMap::new();
    let mut per_consumer: HashMap<usize, usize> = HashMap::new();
    for s in &seen {
        *per_job.entry(s.job.job_id.clone()).or_default() += 1;
        *per_consumer.entry(s.consumer).or_default() += 1;
    }
    assert_eq!(per_job.len(), 30);
    assert!(
        per_job.values().all(|n| *n == 1),
        "exactly once each: {per_job:?}"
    );
    assert!(per_consumer.len() >= 2, "work was shared: {per_consumer:?}");
}

pub async fn warm_shutdown_finishes_in_flight(q: Q) {
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (started, finished) = (started.clone(), finished.clone());
        handler_fn(move |_job, _d| {
            let (started, finished) = (started.clone(), finished.clone());
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1500)).await;
                finished.fetch_add(1, Ordering::SeqCst);
                JobOutcome::done(json!(null))
            }
        })
    };
    let (s, t) = start(&q, &[JobType::MessagesHot], 1, handler);
    q.publish(&hot_job(0)).await.unwrap();
    q.publish(&hot_job(1)).await.unwrap();
    wait_for("the first job to start", T, || {
        started.load(Ordering::SeqCst) >= 1
    })
    .await;
    let asked = Instant::now();
    stop(s, t).await;
    assert!(
        asked.elapsed() >= Duration::from_millis(500),
        "waited for the job in flight"
    );
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "nothing new started after shutdown"
    );
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the job in flight finished"
    );

    // The finished job was acknowledged: only the second one is left, and it runs once.
    let rec = Recorder::default();
    let (s, t) = start(
        &q,
        &[JobType::MessagesHot],
        1,
        rec.handler(0, |_| JobOutcome::done(json!(null))),
    );
    wait_for("the remaining job", T, || rec.len() >= 1).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop(s, t).await;
    assert_eq!(rec.len(), 1, "{:?}", rec.all());
    assert_eq!(rec.all()[0].job.attempt, 1);
}

/// Stage two of a shutdown: a long job that checks `stop_requested` between its "pages" stops,
/// is not settled (no retry, no dead letter), and comes back to the next consumer, which
/// completes it once.
pub async fn stopped_jobs_go_back_to_their_queue(q: Q) {
    let pages = Arc::new(AtomicUsize::new(0));
    let handler = {
        let pages = pages.clone();
        handler_fn(move |_job, _d| {
            let pages = pages.clone();
            async move {
                for _ in 0..600 {
                    if queue::stop_requested() {
                        return JobOutcome::retry(queue::STOPPED_REASON);
                    }
                    pages.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                JobOutcome::done(json!("all pages"))
            }
        })
    };
    let (s, t) = start(&q, &[JobType::MessagesHot], 1, handler);
    let job = hot_job(7);
    q.publish(&job).await.unwrap();
    wait_for("the long job to start", T, || {
        pages.load(Ordering::SeqCst) >= 2
    })
    .await;
    // Stage one alone lets it go on.
    s.cancel();
    let before = pages.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!t.is_finished(), "the consumer waits for the job in flight");
    assert!(pages.load(Ordering::SeqCst) > before, "the job went on");
    // Stage two: it stops at its next page and the consumer returns.
    s.stop_jobs();
    tokio::time::timeout(Duration::from_secs(5), t)
        .await
        .expect("the consumer returns once the job stopped")
        .expect("consumer task")
        .expect("consumer returns Ok");
    assert!(pages.load(Ordering::SeqCst) < 600, "the job ran to its end");
    assert!(q.take_dead(10).await.unwrap().is_empty(), "nothing dead");

    // The next consumer gets it back (as an interrupted try) and completes it once.
    let rec = Recorder::default();
    let (s, t) = start(
        &q,
        &[JobType::MessagesHot],
        1,
        rec.handler(0, |_| JobOutcome::done(json!(null))),
    );
    wait_for("the returned job", T, || rec.len() >= 1).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop(s, t).await;
    let seen = rec.all();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].job.job_id, job.job_id);
    assert_eq!(seen[0].job.attempt, 2, "counted as an interrupted try");
    assert!(q.take_dead(10).await.unwrap().is_empty(), "nothing dead");
}

pub async fn not_before_holds_the_job_back(q: Q) {
    let rec = Recorder::default();
    let (s, t) = start(
        &q,
        &[JobType::MessagesHot, JobType::Payloads],
        1,
        rec.handler(0, |_| JobOutcome::done(json!(null))),
    );
    let now = chrono::Utc::now();
    // 3.5 s: one hop through the 2 s tier, then the per-message delay queue.
    let mut later = hot_job(0);
    later.not_before = Some(now + chrono::Duration::milliseconds(3500));
    let mut short = job(JobType::Payloads, json!({}));
    short.not_before = Some(now + chrono::Duration::milliseconds(700));
    let published = Instant::now();
    q.publish(&later).await.unwrap();
    q.publish(&short).await.unwrap();
    wait_for("both held jobs", T, || rec.len() >= 2).await;
    stop(s, t).await;
    let seen = rec.all();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0].job.job_id, short.job_id,
        "the shorter delay is not stuck behind the longer"
    );
    for s in &seen {
        let due = s.job.not_before.unwrap();
        let ran = chrono::Utc::now() - chrono::Duration::from_std(s.at.elapsed()).unwrap();
        assert!(
            ran >= due - chrono::Duration::milliseconds(300),
            "ran {ran} before {due}"
        );
        assert_eq!(s.job.attempt, 1, "holding back is not a retry");
    }
    let late = seen[1].at - published;
    assert!(
        late < Duration::from_millis(3500 + 2500),
        "not held much longer than asked: {late:?}"
    );
}

pub async fn expired_jobs_are_not_run(q: Q) {
    let rec = Recorder::default();
    let (s, t) = start(
        &q,
        &[JobType::MessagesHot],
        1,
        rec.handler(0, |_| JobOutcome::done(json!(null))),
    );
    let mut j = hot_job(0);
    j.expires = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
    q.publish(&j).await.unwrap();
    let dead = wait_dead(q.as_ref(), 1, T).await;
    stop(s, t).await;
    assert_eq!(rec.len(), 0, "an expired job never runs");
    assert!(dead[0].reason.contains("expired at"), "{}", dead[0].reason);
    assert_eq!(dead[0].job_id.as_deref(), Some(j.job_id.as_str()));
}

pub async fn dead_letters_can_be_requeued(q: Q) {
    let calls = Arc::new(AtomicUsize::new(0));
    let rec = Recorder::default();
    let handler = {
        let (calls, rec) = (calls.clone(), rec.clone());
        handler_fn(move |job, d| {
            let (calls, rec) = (calls.clone(), rec.clone());
            async move {
                rec.record(&job, &d, 0);
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    JobOutcome::fail("tenant disabled")
                } else {
                    JobOutcome::done(json!(null))
                }
            }
        })
    };
    let (s, t) = start(&q, &[JobType::Keystore], 1, handler);
    q.publish(&job(JobType::Keystore, json!({}))).await.unwrap();
    wait_for("the failure", T, || rec.len() >= 1).await;
    // Let the dead letter land, then move it back.
    let mut moved = 0;
    let deadline = Instant::now() + T;
    while moved == 0 {
        assert!(Instant::now() < deadline, "no dead letter to requeue");
        moved = q.requeue_dead(10).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(moved, 1);
    wait_for("the requeued job", T, || rec.len() >= 2).await;
    stop(s, t).await;
    let seen = rec.all();
    assert_eq!(seen[1].job.job_id, seen[0].job.job_id);
    assert_eq!(seen[1].job.attempt, 1, "a requeued job starts over");
    assert!(q.take_dead(10).await.unwrap().is_empty());
}

/// After a consumer was killed mid-job: the job comes back as a new try, marked redelivered.
pub async fn interrupted_job_comes_back(q: Q, job_id: &str) {
    let rec = Recorder::default();
    let (s, t) = start(
        &q,
        &[JobType::MessagesHot],
        1,
        rec.handler(0, |_| JobOutcome::done(json!(null))),
    );
    wait_for("the interrupted job to run again", T, || rec.len() >= 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(s, t).await;
    let seen = rec.all();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].job.job_id, job_id);
    assert_eq!(seen[0].job.attempt, 2, "the interrupted try counts");
    assert!(seen[0].delivery.redelivered, "the handler is told");
}
