//! Broker restart: consumers and publishers reconnect by themselves, durable queues keep their
//! jobs, and readiness says the broker is unreachable meanwhile. Uses a private RabbitMQ node;
//! the machine's shared broker is never restarted.

mod support;

use std::sync::Arc;
use std::time::Duration;

use domain::job::{JobOutcome, JobType};
use queue::Shutdown;
use queue::{AmqpQueue, BrokerStatus, JobQueue, QueueConfig};
use serde_json::json;
use support::private_rabbit::PrivateRabbit;
use support::{Recorder, job, test_config, wait_for};

const T: Duration = Duration::from_secs(30);

#[tokio::test]
async fn consumers_and_publishers_survive_a_broker_restart() {
    let mut rabbit = tokio::task::spawn_blocking(PrivateRabbit::start)
        .await
        .unwrap();
    let config = QueueConfig {
        url: rabbit.url(),
        ..test_config("restart")
    };
    let q = Arc::new(AmqpQueue::new(config.clone()).unwrap());
    q.declare().await.unwrap();

    let rec = Recorder::default();
    let shutdown = Shutdown::new();
    let consumer = {
        let (q, s, h) = (
            q.clone(),
            shutdown.clone(),
            rec.handler(0, |_| JobOutcome::done(json!(null))),
        );
        tokio::spawn(async move { q.consume(&[JobType::MessagesHot], 1, h, s).await })
    };
    q.publish(&job(JobType::MessagesHot, json!({})))
        .await
        .unwrap();
    wait_for("the first job", T, || rec.len() >= 1).await;
    // A job for a queue nobody consumes yet: it must survive the restart (durable, persistent).
    let kept = job(JobType::Keystore, json!({}));
    q.publish(&kept).await.unwrap();

    let mut rabbit = tokio::task::spawn_blocking(move || {
        rabbit.stop();
        rabbit
    })
    .await
    .unwrap();
    wait_for("the loss to be noticed", T, || {
        matches!(q.status(), BrokerStatus::Unreachable { .. })
    })
    .await;
    let reason = q.check().await.unwrap_err();
    assert!(
        reason.starts_with("unreachable at amqp://guest:***@127.0.0.1:"),
        "{reason}"
    );
    assert!(
        q.publish(&job(JobType::MessagesHot, json!({})))
            .await
            .is_err()
    );

    let rabbit = tokio::task::spawn_blocking(move || {
        rabbit.start_again();
        rabbit
    })
    .await
    .unwrap();
    // The same consume() call carries on once the broker is back; the publisher reconnects too.
    let after = job(JobType::MessagesHot, json!({}));
    let deadline = std::time::Instant::now() + T;
    while let Err(e) = q.publish(&after).await {
        assert!(
            std::time::Instant::now() < deadline,
            "publishing after the restart: {e}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for("the job published after the restart", T, || {
        rec.all().iter().any(|s| s.job.job_id == after.job_id)
    })
    .await;
    q.check().await.unwrap();
    assert!(matches!(q.status(), BrokerStatus::Connected { .. }));

    let kept_rec = Recorder::default();
    let s2 = Shutdown::new();
    let keystore = {
        let (q, s, h) = (
            q.clone(),
            s2.clone(),
            kept_rec.handler(1, |_| JobOutcome::done(json!(null))),
        );
        tokio::spawn(async move { q.consume(&[JobType::Keystore], 1, h, s).await })
    };
    wait_for("the job kept across the restart", T, || kept_rec.len() >= 1).await;
    assert_eq!(kept_rec.all()[0].job.job_id, kept.job_id);

    shutdown.cancel();
    s2.cancel();
    consumer.await.unwrap().unwrap();
    keystore.await.unwrap().unwrap();
    q.close().await;
    tokio::task::spawn_blocking(move || drop(rabbit))
        .await
        .unwrap();
}
