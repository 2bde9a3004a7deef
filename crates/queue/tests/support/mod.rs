//! Shared test support: configs with a prefix of the test's own (tests run in parallel on the
//! shared broker), clean-up, a recording handler, waiting helpers.
#![allow(dead_code)]

pub mod behaviour;
#[path = "../../../../tests/support/private_rabbit.rs"]
pub mod private_rabbit;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::job::{JobEnvelope, JobOutcome, JobType, TenantRef};
use queue::{AmqpQueue, Delivery, JobHandler, JobQueue, QueueConfig, handler_fn};
use serde_json::{Value, json};

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| queue::config::DEFAULT_URL.into())
}

/// A config with its own prefix, short retry tiers (1 s, 2 s), 3 attempts, fast reconnects.
pub fn test_config(name: &str) -> QueueConfig {
    let id = uuid::Uuid::new_v4().simple().to_string();
    QueueConfig {
        url: amqp_url(),
        prefix: format!("imtest.{name}.{}", &id[..8]),
        retry_tiers: domain::job::RetryTiers::new(vec![
            Duration::from_secs(1),
            Duration::from_secs(2),
        ])
        .unwrap(),
        max_attempts: 3,
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(5),
        connection_name: format!("integramon-test-{name}"),
        ..QueueConfig::default()
    }
}

/// An AMQP queue on the shared broker, which must be running: the test fails otherwise.
pub async fn amqp_queue(config: &QueueConfig) -> AmqpQueue {
    let q = AmqpQueue::new(config.clone()).unwrap();
    if let Err(e) = q.declare().await {
        panic!(
            "RabbitMQ is needed at {} (guest/guest; .ci/run starts it): {e}",
            config.redacted_url()
        );
    }
    q
}

/// Deletes a test's queues and exchanges when dropped, even when the test panicked.
pub struct Cleanup {
    config: QueueConfig,
    extra_exchanges: Vec<String>,
}

impl Cleanup {
    pub fn new(config: &QueueConfig) -> Self {
        Self {
            config: config.clone(),
            extra_exchanges: Vec::new(),
        }
    }

    /// Exchanges a test client (Celery) declared besides ours.
    pub fn also_exchanges(mut self, names: Vec<String>) -> Self {
        self.extra_exchanges = names;
        self
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let config = self.config.clone();
        let extra = std::mem::take(&mut self.extra_exchanges);
        // A fresh runtime on its own thread: the test's runtime may be gone or busy.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let q = AmqpQueue::new(config.clone()).unwrap();
                if let Err(e) = q.delete_topology().await {
                    eprintln!("cleanup of {}: {e}", config.prefix);
                }
                q.close().await;
                if !extra.is_empty()
                    && let Ok(conn) = lapin::Connection::connect(
                        &config.url,
                        lapin::ConnectionProperties::default(),
                    )
                    .await
                    && let Ok(ch) = conn.create_channel().await
                {
                    for name in extra {
                        let _ = ch
                            .exchange_delete(name.as_str().into(), Default::default())
                            .await;
                    }
                    let _ = conn.close(200, "bye".into()).await;
                }
            });
        })
        .join();
    }
}

pub fn job(job_type: JobType, params: Value) -> JobEnvelope {
    JobEnvelope::new(
        job_type,
        TenantRef::Name("acme".into()),
        params,
        chrono::Utc::now(),
    )
}

pub fn hot_job(n: u32) -> JobEnvelope {
    let _ = n;
    job(JobType::MessagesHot, json!({}))
}

/// One handled job.
#[derive(Debug, Clone)]
pub struct Seen {
    pub job: JobEnvelope,
    pub delivery: Delivery,
    pub at: Instant,
    pub consumer: usize,
}

/// Records every job a handler gets.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn record(&self, job: &JobEnvelope, delivery: &Delivery, consumer: usize) {
        self.0.lock().unwrap().push(Seen {
            job: job.clone(),
            delivery: delivery.clone(),
            at: Instant::now(),
            consumer,
        });
    }

    /// A handler that records, then answers with `outcome(job)`.
    pub fn handler<F>(&self, consumer: usize, outcome: F) -> Arc<dyn JobHandler>
    where
        F: Fn(&JobEnvelope) -> JobOutcome + Send + Sync + 'static,
    {
        let rec = self.clone();
        let outcome = Arc::new(outcome);
        handler_fn(move |job, delivery| {
            let rec = rec.clone();
            let outcome = outcome.clone();
            async move {
                rec.record(&job, &delivery, consumer);
                outcome(&job)
            }
        })
    }
}

/// Poll `cond` every 50 ms until it holds; panic with `what` after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Dead letters, waiting until there are `n`.
pub async fn wait_dead(q: &dyn JobQueue, n: usize, timeout: Duration) -> Vec<queue::DeadLetter> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < n {
        got.extend(q.take_dead(n - got.len()).await.unwrap());
        if got.len() >= n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {n} dead letters; got {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    got
}
