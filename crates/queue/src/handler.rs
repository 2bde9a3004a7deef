//! What a daemon implements to run jobs: [`JobHandler`], and the [`Delivery`] context it gets.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use domain::job::{JobEnvelope, JobOutcome};

/// Where a job came from and how it got here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The queue it was consumed from (`integramon.messages.hot`).
    pub queue: String,
    /// A previous try of this job was interrupted: a worker died or lost its broker connection
    /// before acknowledging it. The job may have partly run (jobs are idempotent).
    pub redelivered: bool,
    /// The Celery task name when the job was sent with `celery.send_task`.
    pub celery_task: Option<String>,
}

/// Runs one job. It must commit its effects before returning (the queue acknowledges the job
/// after `handle` returns, and a crash before that runs the job again), and be idempotent.
///
/// Return [`JobOutcome::Retry`] for failures another try may fix and [`JobOutcome::Fail`] for
/// the rest; a panic counts as `Fail`.
#[async_trait]
pub trait JobHandler: Send + Sync {
    async fn handle(&self, job: JobEnvelope, delivery: Delivery) -> JobOutcome;
}

/// A handler from an async closure (tests, small daemons).
pub fn handler_fn<F, Fut>(f: F) -> Arc<dyn JobHandler>
where
    F: Fn(JobEnvelope, Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = JobOutcome> + Send + 'static,
{
    Arc::new(FnHandler(f))
}

struct FnHandler<F>(F);

#[async_trait]
impl<F, Fut> JobHandler for FnHandler<F>
where
    F: Fn(JobEnvelope, Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = JobOutcome> + Send + 'static,
{
    async fn handle(&self, job: JobEnvelope, delivery: Delivery) -> JobOutcome {
        (self.0)(job, delivery).await
    }
}
