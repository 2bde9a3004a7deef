//! The AMQP consumer loop: one channel per `consume` call (prefetch shared by the queues it
//! consumes), manual acks after the handler returns, retries and dead letters published with
//! confirms *before* the ack (so a crash in between repeats the job rather than losing it), never
//! a requeue (except for jobs a shutdown stopped or never started), reconnection after the
//! connection is lost, and a two-stage shutdown (see [`Shutdown`](crate::Shutdown)).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::job::{Disposition, JobEnvelope, JobOutcome, disposition};
use futures::StreamExt;
use futures::stream::{BoxStream, select_all};
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::amqp::Inner;
use crate::celery::{self, CeleryMessage, CeleryState, ReplyTarget};
use crate::dispatch::{Ran, Step, before_running, run_handler};
use crate::error::QueueError;
use crate::handler::{Delivery, JobHandler};
use crate::publish::{DeadInfo, Marks, publish_dead, publish_held, publish_reply, publish_retry};
use crate::reconnect::describe;
use crate::shutdown::Shutdown;
use crate::topology::{CELERY_TASK_HEADER, INTERRUPTED_HEADER};

/// Longest wait, at shutdown, for deliveries the broker sent before it saw the cancel.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

type Deliveries = BoxStream<'static, (String, lapin::Result<lapin::message::Delivery>)>;

pub(crate) async fn consume(
    inner: Arc<Inner>,
    queues: Vec<String>,
    prefetch: u16,
    handler: Arc<dyn JobHandler>,
    shutdown: Shutdown,
) -> Result<(), QueueError> {
    let mut tasks = JoinSet::new();
    let mut pause = inner.config.reconnect_min;
    let result = loop {
        let Some((generation, conn)) = inner.connector.get_patiently(shutdown.intake_token()).await
        else {
            break Ok(());
        };
        match session(
            &inner, &conn, &queues, prefetch, &handler, &shutdown, &mut tasks,
        )
        .await
        {
            Ok(()) => break Ok(()),
            Err(e @ (QueueError::TopologyMismatch { .. } | QueueError::UnknownJobType(_))) => {
                break Err(e);
            }
            Err(e) => {
                if conn.status().connected() {
                    tracing::warn!(?queues, "consumer stopped: {e}; starting again");
                } else {
                    inner.connector.broken(generation, &e.to_string()).await;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break Ok(()),
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(inner.config.reconnect_max);
            }
        }
    };
    // Jobs still running from a session that broke: let them finish (their acks fail, and the
    // broker has already handed those jobs out again).
    while let Some(done) = tasks.join_next().await {
        log_join(done);
    }
    result
}

async fn session(
    inner: &Arc<Inner>,
    conn: &Connection,
    queues: &[String],
    prefetch: u16,
    handler: &Arc<dyn JobHandler>,
    shutdown: &Shutdown,
    tasks: &mut JoinSet<()>,
) -> Result<(), QueueError> {
    let channel = conn
        .create_channel()
        .await
        .map_err(QueueError::amqp("channel.open"))?;
    inner.topo.declare(&channel).await?;
    // global: the limit is shared by every queue this call consumes, like Celery's prefetch.
    channel
        .basic_qos(prefetch, BasicQosOptions { global: true })
        .await
        .map_err(QueueError::amqp("basic.qos"))?;
    let publisher = conn
        .create_channel()
        .await
        .map_err(QueueError::amqp("channel.open"))?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(QueueError::amqp("confirm.select"))?;

    let mut tags = Vec::new();
    let mut streams: Vec<Deliveries> = Vec::new();
    for queue in queues {
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(QueueError::amqp("basic.consume"))?;
        tags.push(consumer.tag());
        let q = queue.clone();
        streams.push(consumer.map(move |d| (q.clone(), d)).boxed());
    }
    tracing::info!(?queues, prefetch, "consuming");
    let mut deliveries = select_all(streams);
    // Set by a job that could not publish its retry or dead letter: the channel is suspect, so
    // the session is re-made and the unacked job comes back.
    let abort = CancellationToken::new();

    let broken = loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break None,
            _ = abort.cancelled() => {
                break Some(QueueError::Session("a retry or dead letter could not be published".into()));
            }
            next = deliveries.next() => match next {
                Some((queue, Ok(delivery))) => {
                    tasks.spawn(process(inner.clone(), publisher.clone(), queue, delivery, handler.clone(), abort.clone(), shutdown.jobs_token()));
                }
                Some((_, Err(e))) => break Some(QueueError::Session(describe(&e))),
                None => break Some(QueueError::Session("the broker cancelled the consumer".into())),
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => log_join(done),
        }
    };
    if let Some(e) = broken {
        // Closing returns whatever is still unacknowledged on this channel to its queue.
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            channel.close(200, "restarting".into()),
        )
        .await;
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            publisher.close(200, "restarting".into()),
        )
        .await;
        return Err(e);
    }

    // Stage one: stop deliveries; what the broker sent before it saw the cancel goes back
    // unstarted; jobs in flight finish (or, in stage two, stop between pages), then close.
    tracing::info!(
        ?queues,
        running = tasks.len(),
        "stopping: taking no more jobs, letting those in flight finish"
    );
    for tag in tags {
        if let Err(e) = channel
            .basic_cancel(tag, BasicCancelOptions::default())
            .await
        {
            tracing::debug!("basic.cancel: {e}");
        }
    }
    let drain = async {
        while let Some((queue, next)) = deliveries.next().await {
            if let Ok(delivery) = next {
                give_back(&queue, &delivery, "not started before shutdown").await;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
    while let Some(done) = tasks.join_next().await {
        log_join(done);
    }
    let _ = publisher.close(200, "bye".into()).await;
    let _ = channel.close(200, "bye".into()).await;
    Ok(())
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!("job task panicked: {e}");
    }
}

/// Return a delivery to its queue unsettled: the broker delivers it again (marked redelivered).
async fn give_back(queue: &str, delivery: &lapin::message::Delivery, why: &str) {
    tracing::info!(queue, "returning a job to its queue: {why}");
    if let Err(e) = delivery
        .acker
        .reject(BasicRejectOptions { requeue: true })
        .await
    {
        // Closing the channel returns it all the same.
        tracing::debug!(queue, "basic.reject: {e}");
    }
}

async fn process(
    inner: Arc<Inner>,
    publisher: Channel,
    queue: String,
    delivery: lapin::message::Delivery,
    handler: Arc<dyn JobHandler>,
    abort: CancellationToken,
    stop: CancellationToken,
) {
    let ctx = Ctx {
        inner: &inner,
        publisher: &publisher,
        queue: &queue,
        delivery: &delivery,
        stop: &stop,
    };
    match ctx.handle(&handler).await {
        Ok(Settled::No) => give_back(&queue, &delivery, "stopped by shutdown").await,
        Ok(Settled::Yes) => {
            if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                // The broker hands the job out again (marked redelivered): it runs again.
                tracing::warn!(queue, "could not acknowledge a finished job: {e}");
            }
        }
        Err(e) => {
            tracing::error!(queue, "job left unacknowledged: {e}");
            abort.cancel();
        }
    }
}

struct Ctx<'a> {
    inner: &'a Inner,
    publisher: &'a Channel,
    queue: &'a str,
    delivery: &'a lapin::message::Delivery,
    /// The job's stage-two shutdown token.
    stop: &'a CancellationToken,
}

/// Whether a handled delivery is settled (done, retried or dead-lettered: ack it) or was stopped
/// by shutdown (give it back).
enum Settled {
    Yes,
    No,
}

impl Ctx<'_> {
    /// Everything but the ack.
    async fn handle(&self, handler: &Arc<dyn JobHandler>) -> Result<Settled, QueueError> {
        let now = Utc::now();
        let d = self.delivery;
        let props = &d.properties;
        let headers = props.headers().as_ref();
        let decoded = if celery::is_celery(headers) {
            let empty = FieldTable::default();
            let msg = CeleryMessage {
                headers: headers.unwrap_or(&empty),
                content_type: props.content_type().as_ref().map(|s| s.as_str()),
                content_encoding: props.content_encoding().as_ref().map(|s| s.as_str()),
                reply_to: props.reply_to().as_ref().map(|s| s.as_str()),
                correlation_id: props.correlation_id().as_ref().map(|s| s.as_str()),
                body: &d.data,
            };
            celery::decode(&msg, now)
                .map(|(job, task)| (job, Some(task)))
                .map_err(|e| (e.reason, e.task_id, e.reply))
        } else {
            let task = headers.and_then(|h| celery::header_str(h, CELERY_TASK_HEADER));
            JobEnvelope::from_json(&d.data)
                .map(|job| (job, task))
                .map_err(|e| (format!("undecodable job: {e}"), None, self.property_reply()))
        };
        let (job, celery_task) = match decoded {
            Ok(ok) => ok,
            Err((reason, task_id, reply)) => {
                let info = DeadInfo {
                    reason: reason.clone(),
                    routing_key: self.queue.to_string(),
                    attempts: 0,
                    job_id: task_id,
                    job_type: None,
                };
                self.dead(&info).await?;
                self.reply(reply.as_ref(), &CeleryState::Failure(reason))
                    .await;
                return Ok(Settled::Yes);
            }
        };

        let reply = ReplyTarget::of(&job);
        if self.inner.topo.queue(&job.job_type).as_deref() != Some(self.queue) {
            let reason = format!(
                "job type {} belongs on queue {}, not {}",
                job.job_type,
                self.inner.topo.queue(&job.job_type).unwrap_or_default(),
                self.queue
            );
            self.dead(&self.dead_info(&job, reason.clone())).await?;
            self.reply(reply.as_ref(), &CeleryState::Failure(reason))
                .await;
            return Ok(Settled::Yes);
        }

        let interrupted_before = headers
            .and_then(|h| h.inner().get(INTERRUPTED_HEADER))
            .is_some_and(|v| matches!(v, AMQPValue::Boolean(true)));
        match before_running(&job, d.redelivered, now) {
            Step::Expired(reason) => {
                tracing::info!(job_id = job.job_id, "dead-lettering expired job");
                self.dead(&self.dead_info(&job, reason.clone())).await?;
                self.reply(reply.as_ref(), &CeleryState::Revoked(reason))
                    .await;
                Ok(Settled::Yes)
            }
            Step::Refused(reason) => {
                tracing::warn!(job_id = job.job_id, "dead-lettering refused job: {reason}");
                self.dead(&self.dead_info(&job, reason.clone())).await?;
                self.reply(reply.as_ref(), &CeleryState::Failure(reason))
                    .await;
                Ok(Settled::Yes)
            }
            Step::Interrupted(outcome) => {
                let marks = Marks {
                    interrupted: true,
                    celery_task,
                };
                self.settle(&job, outcome, &marks).await?;
                Ok(Settled::Yes)
            }
            Step::Hold(wait) => {
                tracing::debug!(
                    job_id = job.job_id,
                    wait_ms = wait.as_millis(),
                    "holding job back"
                );
                let marks = Marks {
                    interrupted: interrupted_before,
                    celery_task,
                };
                publish_held(self.publisher, &self.inner.topo, &job, wait, &marks).await?;
                Ok(Settled::Yes)
            }
            Step::Run => {
                let delivery = Delivery {
                    queue: self.queue.to_string(),
                    redelivered: interrupted_before,
                    celery_task: celery_task.clone(),
                };
                let started = std::time::Instant::now();
                let outcome = match run_handler(handler, job.clone(), delivery, self.stop).await {
                    Ran::Settle(outcome) => outcome,
                    Ran::Stopped => return Ok(Settled::No),
                };
                tracing::debug!(
                    job_id = job.job_id,
                    job_type = %job.job_type,
                    ms = started.elapsed().as_millis(),
                    "job ran"
                );
                let marks = Marks {
                    interrupted: false,
                    celery_task,
                };
                self.settle(&job, outcome, &marks).await?;
                Ok(Settled::Yes)
            }
        }
    }

    /// Apply [`disposition`] to an outcome.
    async fn settle(
        &self,
        job: &JobEnvelope,
        outcome: JobOutcome,
        marks: &Marks,
    ) -> Result<(), QueueError> {
        let cfg = &self.inner.config;
        let reply = ReplyTarget::of(job);
        match disposition(&outcome, job.attempt, cfg.max_attempts, &cfg.retry_tiers) {
            Disposition::Ack => {
                let summary = match outcome {
                    JobOutcome::Done { summary } => summary,
                    _ => serde_json::Value::Null,
                };
                self.reply(reply.as_ref(), &CeleryState::Success(summary))
                    .await;
            }
            Disposition::Retry {
                tier,
                delay,
                next_attempt,
            } => {
                let reason = match &outcome {
                    JobOutcome::Retry { reason, .. } => reason.clone(),
                    _ => String::new(),
                };
                tracing::info!(
                    job_id = job.job_id,
                    job_type = %job.job_type,
                    next_attempt,
                    delay_s = delay.as_secs_f64(),
                    "retrying job: {reason}"
                );
                let next = job.next_attempt(next_attempt);
                publish_retry(self.publisher, &self.inner.topo, &next, tier, marks).await?;
                self.reply(reply.as_ref(), &CeleryState::Retry(reason))
                    .await;
            }
            Disposition::Hold { delay } => {
                publish_held(self.publisher, &self.inner.topo, job, delay, marks).await?;
            }
            Disposition::DeadLetter { reason } => {
                tracing::warn!(job_id = job.job_id, job_type = %job.job_type, "dead-lettering job: {reason}");
                self.dead(&self.dead_info(job, reason.clone())).await?;
                self.reply(reply.as_ref(), &CeleryState::Failure(reason))
                    .await;
            }
        }
        Ok(())
    }

    fn dead_info(&self, job: &JobEnvelope, reason: String) -> DeadInfo {
        DeadInfo {
            reason,
            routing_key: self.queue.to_string(),
            attempts: job.attempt,
            job_id: Some(job.job_id.clone()),
            job_type: Some(job.job_type.to_string()),
        }
    }

    async fn dead(&self, info: &DeadInfo) -> Result<(), QueueError> {
        publish_dead(
            self.publisher,
            &self.inner.topo,
            &self.delivery.data,
            &self.delivery.properties,
            info,
            Utc::now(),
        )
        .await
    }

    /// A result for whoever waits on it; failing to deliver one does not fail the job.
    async fn reply(&self, target: Option<&ReplyTarget>, state: &CeleryState) {
        let Some(target) = target else { return };
        let body = celery::result_body(&target.correlation_id, state, Utc::now());
        if let Err(e) = publish_reply(self.publisher, target, &body).await {
            tracing::warn!(
                reply_to = target.reply_to,
                "could not publish the job's result: {e}"
            );
        }
    }

    /// The reply target in the AMQP properties, for a body too broken to read one from.
    fn property_reply(&self) -> Option<ReplyTarget> {
        let props = &self.delivery.properties;
        let reply_to = props.reply_to().as_ref()?.as_str();
        let correlation_id = props.correlation_id().as_ref()?.as_str();
        (!reply_to.is_empty()).then(|| ReplyTarget {
            reply_to: reply_to.to_string(),
            correlation_id: correlation_id.to_string(),
        })
    }
}
