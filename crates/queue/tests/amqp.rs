//! The queue layer on the machine's RabbitMQ (127.0.0.1:5672, guest/guest; `AMQP_URL`
//! overrides). Each test has its own prefix, so they run in parallel; they fail, never skip,
//! when RabbitMQ is not there.

mod support;

use std::sync::Arc;
use std::time::Duration;

use domain::job::{JobOutcome, JobType};
use lapin::types::FieldTable;
use queue::{AmqpQueue, BrokerStatus, JobQueue, QueueConfig, QueueError};
use serde_json::json;
use support::{Cleanup, Recorder, amqp_queue, behaviour, test_config, wait_dead, wait_for};

async fn fresh(name: &str) -> (Arc<dyn JobQueue>, Cleanup) {
    let config = test_config(name);
    let q = amqp_queue(&config).await;
    (Arc::new(q), Cleanup::new(&config))
}

#[tokio::test]
async fn topology_is_declared_idempotently_and_counted() {
    let config = test_config("topology");
    let _clean = Cleanup::new(&config);
    let a = amqp_queue(&config).await;
    a.declare().await.unwrap();
    // Another process with the same settings declares the same topology without complaint.
    let b = amqp_queue(&config).await;
    b.declare().await.unwrap();
    let depths = a.depths().await.unwrap();
    let names: Vec<&str> = depths.iter().map(|d| d.queue.as_str()).collect();
    let p = &config.prefix;
    for want in [
        format!("{p}.messages.hot"),
        format!("{p}.messages.cold"),
        format!("{p}.message_details"),
        format!("{p}.payloads"),
        format!("{p}.packages"),
        format!("{p}.deep_sync"),
        format!("{p}.keystore"),
        format!("{p}.retry.1s"),
        format!("{p}.retry.2s"),
        format!("{p}.delay"),
        format!("{p}.dead"),
    ] {
        assert!(
            names.contains(&want.as_str()),
            "{want} missing from {names:?}"
        );
    }
    assert!(depths.iter().all(|d| d.messages == 0));
    assert!(matches!(a.status(), BrokerStatus::Connected { .. }));
    a.check().await.unwrap();
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn a_queue_declared_with_other_settings_is_reported() {
    let config = test_config("mismatch");
    let _clean = Cleanup::new(&config);
    let conn = lapin::Connection::connect(&config.url, lapin::ConnectionProperties::default())
        .await
        .expect("RabbitMQ at AMQP_URL");
    let ch = conn.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "x-max-length".into(),
        lapin::types::AMQPValue::LongLongInt(5),
    );
    ch.queue_declare(
        format!("{}.keystore", config.prefix).as_str().into(),
        lapin::options::QueueDeclareOptions::durable(),
        args,
    )
    .await
    .unwrap();
    let q = AmqpQueue::new(config.clone()).unwrap();
    let e = q.declare().await.unwrap_err();
    assert!(matches!(e, QueueError::TopologyMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains(".keystore"), "{e}");
    let _ = conn.close(200, "bye".into()).await;
}

#[tokio::test]
async fn publish_then_consume_with_confirms() {
    let (q, _c) = fresh("pubsub").await;
    behaviour::publish_then_consume(q).await;
}

#[tokio::test]
async fn invalid_jobs_are_refused_at_publish() {
    let (q, _c) = fresh("refuse").await;
    behaviour::invalid_jobs_are_refused_at_publish(q).await;
}

#[tokio::test]
async fn retry_tier_then_success() {
    let (q, _c) = fresh("retry").await;
    behaviour::retry_then_success(q).await;
}

#[tokio::test]
async fn max_attempts_then_dead_letter_with_reason() {
    let (q, _c) = fresh("maxatt").await;
    behaviour::max_attempts_then_dead_letter(q).await;
}

#[tokio::test]
async fn failures_and_panics_are_dead_lettered_at_once() {
    let (q, _c) = fresh("fail").await;
    behaviour::failure_and_panic_dead_letter_at_once(q).await;
}

#[tokio::test]
async fn competing_consumers_get_each_job_once() {
    let config = test_config("compete");
    let _c = Cleanup::new(&config);
    amqp_queue(&config).await;
    // One connection per consumer, as separate worker processes would have.
    let make = || -> Arc<dyn JobQueue> { Arc::new(AmqpQueue::new(config.clone()).unwrap()) };
    behaviour::competing_consumers_each_job_once(make).await;
}

#[tokio::test]
async fn warm_shutdown_finishes_jobs_in_flight() {
    let (q, _c) = fresh("warm").await;
    behaviour::warm_shutdown_finishes_in_flight(q).await;
}

#[tokio::test]
async fn stopped_jobs_go_back_to_their_queue() {
    let (q, _c) = fresh("stopped").await;
    behaviour::stopped_jobs_go_back_to_their_queue(q).await;
}

#[tokio::test]
async fn not_before_holds_jobs_back() {
    let (q, _c) = fresh("eta").await;
    behaviour::not_before_holds_the_job_back(q).await;
}

#[tokio::test]
async fn expired_jobs_are_dead_lettered_not_run() {
    let (q, _c) = fresh("expired").await;
    behaviour::expired_jobs_are_not_run(q).await;
}

#[tokio::test]
async fn dead_letters_can_be_requeued() {
    let (q, _c) = fresh("requeue").await;
    behaviour::dead_letters_can_be_requeued(q).await;
}

#[tokio::test]
async fn undecodable_messages_are_dead_lettered_with_the_reason_and_body_unchanged() {
    let config = test_config("undecodable");
    let _c = Cleanup::new(&config);
    let q = amqp_queue(&config).await;
    let hot = format!("{}.messages.hot", config.prefix);
    let id = "0b6c1f2e-8f37-4d5c-9a4e-2a1f3c5d7e90";
    let bodies: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "body is not JSON"),
        (
            json!({"job_id": id, "type": "alarms", "tenant": 1, "submitted_at": "2025-01-01T00:00:00Z"})
                .to_string()
                .into_bytes(),
            "unknown job type \"alarms\"",
        ),
        (
            json!({"job_id": id, "type": "messages_hot", "submitted_at": "2025-01-01T00:00:00Z"})
                .to_string()
                .into_bytes(),
            "tenant: missing",
        ),
        (
            json!({"job_id": id, "type": "keystore", "tenant": 1, "submitted_at": "2025-01-01T00:00:00Z"})
                .to_string()
                .into_bytes(),
            "belongs on queue",
        ),
    ];
    for (body, _) in &bodies {
        q.publish_raw(&hot, body, FieldTable::default())
            .await
            .unwrap();
    }
    let rec = Recorder::default();
    let shutdown = queue::Shutdown::new();
    let consumer = {
        let (q, s, h) = (
            q.clone(),
            shutdown.clone(),
            rec.handler(0, |_| JobOutcome::done(json!(null))),
        );
        tokio::spawn(async move { q.consume(&[JobType::MessagesHot], 1, h, s).await })
    };
    let mut dead = wait_dead(&q, bodies.len(), Duration::from_secs(20)).await;
    shutdown.cancel();
    consumer.await.unwrap().unwrap();
    assert_eq!(rec.len(), 0, "nothing undecodable reaches the handler");
    for (body, reason) in &bodies {
        let i = dead
            .iter()
            .position(|d| &d.body == body)
            .unwrap_or_else(|| {
                panic!("no dead letter with body {}", String::from_utf8_lossy(body))
            });
        let d = dead.remove(i);
        assert!(
            d.reason.contains(reason),
            "want {reason:?} in {:?}",
            d.reason
        );
        assert_eq!(d.routing_key, hot);
    }
    // Never requeued: the queue is empty.
    let depths = q.depths().await.unwrap();
    assert!(depths.iter().all(|d| d.messages == 0), "{depths:?}");
}

#[tokio::test]
async fn readiness_names_the_unreachable_broker_without_the_password() {
    let config = QueueConfig {
        url: "amqp://guest:s3cret@127.0.0.1:1/%2f".into(),
        ..test_config("unreachable")
    };
    let q = AmqpQueue::new(config).unwrap();
    assert_eq!(q.status(), BrokerStatus::NotConnected);
    let e = q.check().await.unwrap_err();
    assert!(
        e.starts_with("unreachable at amqp://guest:***@127.0.0.1:1/%2f"),
        "{e}"
    );
    assert!(!e.contains("s3cret"), "{e}");
    assert!(matches!(
        q.status(),
        BrokerStatus::Unreachable { attempts: 1, .. }
    ));
    let e = q.publish(&support::hot_job(0)).await.unwrap_err();
    assert!(matches!(e, QueueError::Unreachable { .. }), "{e:?}");
    let check = queue::readiness_check(Arc::new(q));
    let reason = check().await.unwrap_err();
    assert!(reason.contains("unreachable"), "{reason}");
}

/// Runs only as the child process of `a_job_whose_consumer_dies_mid_job_is_redelivered`: a
/// consumer that announces the job it got and never finishes it.
#[tokio::test]
async fn child_consumer_that_hangs() {
    let Ok(prefix) = std::env::var("IMQ_CHILD_PREFIX") else {
        return;
    };
    let config = QueueConfig {
        prefix,
        ..test_config("child")
    };
    let q = AmqpQueue::new(config).unwrap();
    let handler = queue::handler_fn(|job, _d| async move {
        println!("STARTED {}", job.job_id);
        std::future::pending::<JobOutcome>().await
    });
    let _ = q
        .consume(&[JobType::MessagesHot], 1, handler, Default::default())
        .await;
}

#[tokio::test]
async fn a_job_whose_consumer_dies_mid_job_is_redelivered() {
    use tokio::io::AsyncBufReadExt;

    let config = test_config("killed");
    let _c = Cleanup::new(&config);
    let q = amqp_queue(&config).await;
    let job = support::hot_job(0);
    q.publish(&job).await.unwrap();

    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_consumer_that_hangs",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("IMQ_CHILD_PREFIX", &config.prefix)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let started = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // The harness prints "test … ... " without a newline before our line.
            if let Some((_, id)) = line.split_once("STARTED ") {
                return id.trim().to_string();
            }
        }
        panic!("the child consumer exited without starting the job");
    })
    .await
    .expect("the child consumer starts the job");
    assert_eq!(started, job.job_id);
    // SIGKILL mid-job: no ack was sent, the broker sees the connection drop.
    child.kill().await.unwrap();

    let q: Arc<dyn JobQueue> = Arc::new(q);
    behaviour::interrupted_job_comes_back(q, &job.job_id).await;
}

#[tokio::test]
async fn consumers_wait_for_the_broker_and_report_it() {
    // A consumer started while the broker is unreachable keeps trying and stops on shutdown.
    let config = QueueConfig {
        url: "amqp://guest:guest@127.0.0.1:1/%2f".into(),
        ..test_config("waiting")
    };
    let q = Arc::new(AmqpQueue::new(config).unwrap());
    let shutdown = queue::Shutdown::new();
    let task = {
        let (q, s) = (q.clone(), shutdown.clone());
        let rec = Recorder::default();
        tokio::spawn(async move {
            q.consume(
                &[JobType::MessagesHot],
                1,
                rec.handler(0, |_| JobOutcome::done(json!(null))),
                s,
            )
            .await
        })
    };
    wait_for(
        "a failed connection attempt",
        Duration::from_secs(10),
        || matches!(q.status(), BrokerStatus::Unreachable { attempts, .. } if attempts >= 2),
    )
    .await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
