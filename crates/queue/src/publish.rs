//! Publishing with publisher confirms: jobs (persistent JSON), held-back jobs and retries (through
//! the delay exchange), dead letters (original body unchanged, reason in headers), and Celery
//! results. Every function returns only once the broker has confirmed the message.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use domain::job::JobEnvelope;
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};

use crate::celery::ReplyTarget;
use crate::dispatch::{HoldRoute, hold_route};
use crate::error::QueueError;
use crate::topology::{
    CELERY_TASK_HEADER, DEAD_AT_HEADER, DEAD_ATTEMPTS_HEADER, DEAD_JOB_ID_HEADER,
    DEAD_JOB_TYPE_HEADER, DEAD_REASON_HEADER, DEAD_ROUTING_KEY_HEADER, DELAY_HEADER, ETA_ROUTE,
    INTERRUPTED_HEADER, Topology,
};

pub(crate) const JSON: &str = "application/json";
const PERSISTENT: u8 = 2;
const TRANSIENT: u8 = 1;

/// Publish and wait for the broker's confirm. `mandatory` turns "no queue bound" into an error
/// instead of a silent drop.
pub(crate) async fn confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    props: BasicProperties,
    mandatory: bool,
) -> Result<(), QueueError> {
    let exchange = short(exchange)?;
    let rk = short(routing_key)?;
    let confirm = channel
        .basic_publish(
            exchange,
            rk,
            BasicPublishOptions {
                mandatory,
                ..BasicPublishOptions::default()
            },
            body,
            props,
        )
        .await
        .map_err(QueueError::amqp("basic.publish"))?
        .await
        .map_err(QueueError::amqp("publisher confirm"))?;
    match confirm {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(_)) => Err(QueueError::Unroutable(routing_key.to_string())),
        Confirmation::Nack(_) => Err(QueueError::Nacked(routing_key.to_string())),
    }
}

fn short(s: &str) -> Result<ShortString, QueueError> {
    ShortString::try_new(s).map_err(|e| QueueError::Config(format!("{s:?}: {e}")))
}

fn job_properties(job: &JobEnvelope, headers: FieldTable) -> BasicProperties {
    let mut props = BasicProperties::default()
        .with_content_type(JSON.into())
        .with_delivery_mode(PERSISTENT)
        .with_app_id("integramon".into())
        .with_timestamp(u64::try_from(job.submitted_at.timestamp()).unwrap_or(0))
        .with_headers(headers);
    if let Ok(id) = ShortString::try_new(job.job_id.as_str()) {
        props = props.with_message_id(id);
    }
    if let Ok(ty) = ShortString::try_new(job.job_type.as_str()) {
        props = props.with_type(ty);
    }
    props
}

/// What a job carries from one try to the next besides its envelope.
#[derive(Debug, Clone, Default)]
pub(crate) struct Marks {
    /// The previous try was interrupted.
    pub interrupted: bool,
    /// It came in as this Celery task.
    pub celery_task: Option<String>,
}

impl Marks {
    fn apply(&self, headers: &mut FieldTable) {
        if self.interrupted {
            headers.insert(INTERRUPTED_HEADER.into(), AMQPValue::Boolean(true));
        }
        if let Some(task) = &self.celery_task {
            headers.insert(
                CELERY_TASK_HEADER.into(),
                AMQPValue::LongString(task.as_str().into()),
            );
        }
    }
}

/// A job to its family's queue, or held back through the delay exchange if not due yet.
pub(crate) async fn publish_job(
    channel: &Channel,
    topo: &Topology,
    job: &JobEnvelope,
    now: DateTime<Utc>,
) -> Result<(), QueueError> {
    let queue = topo.queue_for(&job.job_type)?;
    match job.wait_before_running(now) {
        Some(wait) if wait > crate::dispatch::DUE_MARGIN => {
            publish_held(channel, topo, job, wait, &Marks::default()).await
        }
        _ => {
            confirmed(
                channel,
                &topo.exchange(),
                &queue,
                &job.to_json(),
                job_properties(job, FieldTable::default()),
                true,
            )
            .await
        }
    }
}

/// Hold a job back for `wait` (see [`hold_route`]); it comes back to its family queue.
pub(crate) async fn publish_held(
    channel: &Channel,
    topo: &Topology,
    job: &JobEnvelope,
    wait: Duration,
    marks: &Marks,
) -> Result<(), QueueError> {
    match hold_route(wait, topo.tiers()) {
        HoldRoute::Tier(tier) => publish_retry(channel, topo, job, tier, marks).await,
        HoldRoute::Eta(wait) => {
            let queue = topo.queue_for(&job.job_type)?;
            let mut headers = FieldTable::default();
            headers.insert(DELAY_HEADER.into(), AMQPValue::LongString(ETA_ROUTE.into()));
            marks.apply(&mut headers);
            let ms = wait.as_millis().max(1).to_string();
            let props = job_properties(job, headers).with_expiration(ms.into());
            confirmed(
                channel,
                &topo.delay_exchange(),
                &queue,
                &job.to_json(),
                props,
                true,
            )
            .await
        }
    }
}

/// A job into retry tier `tier`; the routing key is its family queue, which the tier's
/// dead-lettering sends it back to.
pub(crate) async fn publish_retry(
    channel: &Channel,
    topo: &Topology,
    job: &JobEnvelope,
    tier: usize,
    marks: &Marks,
) -> Result<(), QueueError> {
    let queue = topo.queue_for(&job.job_type)?;
    let mut headers = FieldTable::default();
    headers.insert(
        DELAY_HEADER.into(),
        AMQPValue::LongString(topo.tier_label(tier).into()),
    );
    marks.apply(&mut headers);
    confirmed(
        channel,
        &topo.delay_exchange(),
        &queue,
        &job.to_json(),
        job_properties(job, headers),
        true,
    )
    .await
}

/// Why and from where a message is dead-lettered.
#[derive(Debug, Clone)]
pub(crate) struct DeadInfo {
    pub reason: String,
    pub routing_key: String,
    pub attempts: u32,
    pub job_id: Option<String>,
    pub job_type: Option<String>,
}

/// The delivered message, body and properties unchanged, into the dead-letter queue with the
/// reason added to its headers.
pub(crate) async fn publish_dead(
    channel: &Channel,
    topo: &Topology,
    body: &[u8],
    original: &BasicProperties,
    info: &DeadInfo,
    now: DateTime<Utc>,
) -> Result<(), QueueError> {
    let mut headers = original.headers().clone().unwrap_or_default();
    let text = |s: &str| AMQPValue::LongString(LongString::from(s));
    headers.insert(DEAD_REASON_HEADER.into(), text(&info.reason));
    headers.insert(DEAD_ROUTING_KEY_HEADER.into(), text(&info.routing_key));
    headers.insert(
        DEAD_ATTEMPTS_HEADER.into(),
        AMQPValue::LongLongInt(i64::from(info.attempts)),
    );
    headers.insert(
        DEAD_AT_HEADER.into(),
        text(&now.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    if let Some(id) = &info.job_id {
        headers.insert(DEAD_JOB_ID_HEADER.into(), text(id));
    }
    if let Some(ty) = &info.job_type {
        headers.insert(DEAD_JOB_TYPE_HEADER.into(), text(ty));
    }
    // Everything but `expiration` (a dead letter must not expire) and the delivery mode.
    let mut props = BasicProperties::default()
        .with_headers(headers)
        .with_delivery_mode(PERSISTENT);
    if let Some(v) = original.content_type() {
        props = props.with_content_type(v.clone());
    }
    if let Some(v) = original.content_encoding() {
        props = props.with_content_encoding(v.clone());
    }
    if let Some(v) = original.correlation_id() {
        props = props.with_correlation_id(v.clone());
    }
    if let Some(v) = original.reply_to() {
        props = props.with_reply_to(v.clone());
    }
    if let Some(v) = original.message_id() {
        props = props.with_message_id(v.clone());
    }
    if let Some(v) = original.timestamp() {
        props = props.with_timestamp(*v);
    }
    if let Some(v) = original.kind() {
        props = props.with_type(v.clone());
    }
    if let Some(v) = original.app_id() {
        props = props.with_app_id(v.clone());
    }
    if let Some(v) = original.priority() {
        props = props.with_priority(*v);
    }
    confirmed(
        channel,
        &topo.exchange(),
        &topo.dead_queue(),
        body,
        props,
        true,
    )
    .await
}

/// A Celery result to the client's reply queue. Not mandatory: a client that stopped waiting
/// has deleted its queue, and that is no error of the job's.
pub(crate) async fn publish_reply(
    channel: &Channel,
    target: &ReplyTarget,
    body: &[u8],
) -> Result<(), QueueError> {
    let props = BasicProperties::default()
        .with_content_type(JSON.into())
        .with_content_encoding("utf-8".into())
        .with_delivery_mode(TRANSIENT)
        .with_correlation_id(short(&target.correlation_id)?);
    confirmed(channel, "", &target.reply_to, body, props, false).await
}
