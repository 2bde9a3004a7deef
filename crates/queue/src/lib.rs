//! IntegraMon's job queues: the one place that knows lapin (RabbitMQ), plus the in-process queue
//! of the all-in-one mode. Daemons program against [`JobQueue`] and [`JobHandler`]; only the
//! transport differs between [`AmqpQueue`] and [`InProcessQueue`].
//!
//! The AMQP interface is a public contract, documented in `docs/jobs.md`.
//!
//! ```no_run
//! # async fn demo(health_add_check: impl Fn(&str, queue::Check)) -> Result<(), queue::QueueError> {
//! use std::sync::Arc;
//! use domain::job::{JobOutcome, JobType};
//! use queue::{AmqpQueue, JobQueue, QueueConfig, handler_fn, readiness_check};
//!
//! let queue: Arc<dyn JobQueue> = Arc::new(AmqpQueue::new(QueueConfig::default())?);
//! health_add_check("broker", readiness_check(queue.clone()));
//! let handler = handler_fn(|job, _delivery| async move {
//!     // … do the work, commit, then:
//!     JobOutcome::done(serde_json::json!({"job": job.job_id}))
//! });
//! let shutdown = queue::Shutdown::new();
//! queue.consume(&[JobType::MessagesHot, JobType::Payloads], 1, handler, shutdown).await?;
//! # Ok(()) }
//! ```

mod amqp;
pub mod celery;
pub mod config;
mod consume;
mod dispatch;
pub mod error;
mod handler;
pub mod inprocess;
pub mod metrics;
mod publish;
mod reconnect;
mod shutdown;
pub mod status;
pub mod topology;

use std::sync::Arc;

use async_trait::async_trait;
use domain::job::{JobEnvelope, JobType};
use futures::future::BoxFuture;
use serde::Serialize;

pub use amqp::AmqpQueue;
pub use config::QueueConfig;
pub use error::QueueError;
pub use handler::{Delivery, JobHandler, handler_fn};
pub use inprocess::InProcessQueue;
pub use shutdown::{STOPPED_REASON, Shutdown, stop_requested};
pub use status::{BrokerStatus, QueueDepth};
pub use topology::Topology;

/// A readiness check, the same type as `runtime::health::Check`: `Ok` when usable.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A job queue: the broker (RabbitMQ) or the all-in-one in-process queue.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Validate the job and publish it to its family's queue (held back until `not_before` if
    /// that is in the future). Returns once the broker has confirmed it.
    async fn publish(&self, job: &JobEnvelope) -> Result<(), QueueError>;

    /// Run `handler` on jobs from the queues of `families`, at most `prefetch` at once, until
    /// `shutdown` is cancelled; then stop taking jobs (deliveries not yet started go back to
    /// their queue), let those in flight finish and settle them, and return. Jobs still running
    /// when `shutdown` stops jobs (see [`Shutdown::stop_jobs`]) and that then end without
    /// success go back to their queue unsettled, to be redelivered. Survives broker restarts (reconnecting with backoff). Any number of consumers,
    /// in this process or others, may consume the same queues; each job goes to one of them.
    ///
    /// Returns an error only for what retrying cannot fix (an unknown job type, a queue that
    /// exists with other settings).
    async fn consume(
        &self,
        families: &[JobType],
        prefetch: u16,
        handler: Arc<dyn JobHandler>,
        shutdown: Shutdown,
    ) -> Result<(), QueueError>;

    /// Message and consumer counts of every queue of the topology that exists.
    async fn depths(&self) -> Result<Vec<QueueDepth>, QueueError>;

    /// The broker state as last seen (no I/O).
    fn status(&self) -> BrokerStatus;

    /// Readiness: connects if needed; `Err` says why the broker cannot be used.
    async fn check(&self) -> Result<(), String>;

    /// Remove up to `max` dead letters from the dead-letter queue and return them.
    async fn take_dead(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError>;

    /// Move up to `max` dead letters back to the queues they came from, as first tries again.
    /// Returns how many were moved.
    async fn requeue_dead(&self, max: usize) -> Result<usize, QueueError>;

    /// Like [`requeue_dead`](Self::requeue_dead), but only the dead letters `only` accepts (a
    /// manager limited to some tenants); the others stay in the dead-letter queue, in order.
    /// At most [`MAX_DEAD_SCANNED`] letters are looked at.
    async fn requeue_dead_matching(
        &self,
        max: usize,
        only: DeadFilter,
    ) -> Result<usize, QueueError>;
}

/// Which dead letters [`JobQueue::requeue_dead_matching`] moves.
pub type DeadFilter = Arc<dyn Fn(&DeadLetter) -> bool + Send + Sync>;

/// The most dead letters one [`JobQueue::requeue_dead_matching`] looks at.
pub const MAX_DEAD_SCANNED: usize = 10_000;

/// A job in the dead-letter queue, with why it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub reason: String,
    /// The queue it was taken from (where a requeue sends it).
    pub routing_key: String,
    /// Tries made (0 when it could not be decoded).
    pub attempts: u32,
    pub job_id: Option<String>,
    pub job_type: Option<String>,
    /// RFC 3339.
    pub dead_at: Option<String>,
    /// The body as it was delivered (a job envelope, a Celery message, or whatever arrived).
    pub body: Vec<u8>,
}

/// The readiness check of a queue, for `Health::add_check("broker", …)`.
pub fn readiness_check(queue: Arc<dyn JobQueue>) -> Check {
    Arc::new(move || {
        let queue = queue.clone();
        Box::pin(async move { queue.check().await })
    })
}
