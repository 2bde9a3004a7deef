//! The in-process queue of the all-in-one mode passes the same behavioural tests as RabbitMQ.

mod support;

use std::sync::Arc;
use std::time::Duration;

use domain::job::{JobOutcome, JobType};
use queue::{BrokerStatus, InProcessQueue, JobQueue, handler_fn};
use support::{behaviour, test_config, wait_for};

fn fresh() -> Arc<dyn JobQueue> {
    Arc::new(InProcessQueue::new(test_config("inproc")).unwrap())
}

#[tokio::test]
async fn publish_then_consume() {
    behaviour::publish_then_consume(fresh()).await;
}

#[tokio::test]
async fn invalid_jobs_are_refused_at_publish() {
    behaviour::invalid_jobs_are_refused_at_publish(fresh()).await;
}

#[tokio::test]
async fn retry_tier_then_success() {
    behaviour::retry_then_success(fresh()).await;
}

#[tokio::test]
async fn max_attempts_then_dead_letter_with_reason() {
    behaviour::max_attempts_then_dead_letter(fresh()).await;
}

#[tokio::test]
async fn failures_and_panics_are_dead_lettered_at_once() {
    behaviour::failure_and_panic_dead_letter_at_once(fresh()).await;
}

#[tokio::test]
async fn competing_consumers_get_each_job_once() {
    let q = fresh();
    behaviour::competing_consumers_each_job_once(move || q.clone()).await;
}

#[tokio::test]
async fn warm_shutdown_finishes_jobs_in_flight() {
    behaviour::warm_shutdown_finishes_in_flight(fresh()).await;
}

#[tokio::test]
async fn stopped_jobs_go_back_to_their_queue() {
    behaviour::stopped_jobs_go_back_to_their_queue(fresh()).await;
}

#[tokio::test]
async fn not_before_holds_jobs_back() {
    behaviour::not_before_holds_the_job_back(fresh()).await;
}

#[tokio::test]
async fn expired_jobs_are_dead_lettered_not_run() {
    behaviour::expired_jobs_are_not_run(fresh()).await;
}

#[tokio::test]
async fn dead_letters_can_be_requeued() {
    behaviour::dead_letters_can_be_requeued(fresh()).await;
}

#[tokio::test]
async fn a_job_whose_consumer_is_aborted_mid_job_comes_back() {
    let q = fresh();
    let job = support::hot_job(0);
    q.publish(&job).await.unwrap();
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handler = {
        let started = started.clone();
        handler_fn(move |_job, _d| {
            let started = started.clone();
            async move {
                started.store(true, std::sync::atomic::Ordering::SeqCst);
                std::future::pending::<JobOutcome>().await
            }
        })
    };
    let consumer = {
        let q = q.clone();
        tokio::spawn(async move {
            q.consume(&[JobType::MessagesHot], 1, handler, Default::default())
                .await
        })
    };
    wait_for("the job to start", Duration::from_secs(5), || {
        started.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    // The all-in-one equivalent of a killed worker: its consumer is dropped mid-job.
    consumer.abort();
    let _ = consumer.await;
    behaviour::interrupted_job_comes_back(q, &job.job_id).await;
}

#[tokio::test]
async fn it_is_always_ready() {
    let q = fresh();
    assert_eq!(q.status(), BrokerStatus::InProcess);
    q.check().await.unwrap();
    let depths = q.depths().await.unwrap();
    assert_eq!(depths.len(), JobType::KNOWN.len() + 1);
}
