//! [`AmqpQueue`]: the [`JobQueue`] on RabbitMQ.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use domain::job::{JobEnvelope, JobType};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};

use crate::celery::{header_int, header_str};
use crate::config::QueueConfig;
use crate::error::QueueError;
use crate::handler::JobHandler;
use crate::publish::{JSON, confirmed, publish_job};
use crate::reconnect::Connector;
use crate::status::{BrokerStatus, QueueDepth};
use crate::topology::{
    DEAD_AT_HEADER, DEAD_ATTEMPTS_HEADER, DEAD_JOB_ID_HEADER, DEAD_JOB_TYPE_HEADER,
    DEAD_REASON_HEADER, DEAD_ROUTING_KEY_HEADER, Topology,
};
use crate::{DeadFilter, DeadLetter, JobQueue, MAX_DEAD_SCANNED};

/// How long a readiness probe waits for the broker.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The job queues on RabbitMQ. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct AmqpQueue {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: QueueConfig,
    pub(crate) topo: Topology,
    pub(crate) connector: Connector,
    /// The publishing channel (confirm mode) and the connection generation it belongs to.
    publisher: tokio::sync::Mutex<Option<(u64, Channel)>>,
}

impl AmqpQueue {
    /// Check the settings; connects lazily (on first use), so a daemon can start, and report
    /// "not ready", while the broker is down.
    pub fn new(config: QueueConfig) -> Result<Self, QueueError> {
        config.validate()?;
        let topo = Topology::new(&config.prefix, &config.retry_tiers);
        Ok(Self {
            inner: Arc::new(Inner {
                connector: Connector::new(&config),
                topo,
                config,
                publisher: tokio::sync::Mutex::new(None),
            }),
        })
    }

    pub fn config(&self) -> &QueueConfig {
        &self.inner.config
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topo
    }

    /// Connect and declare the topology now (at start-up, to fail early on a mismatch).
    pub async fn declare(&self) -> Result<(), QueueError> {
        self.with_publisher(|_, _| async { Ok(()) }).await
    }

    /// Publish a raw body to a queue of this topology through the main exchange, as an
    /// external client would (content type application/json, persistent). For tools and tests;
    /// jobs go through [`JobQueue::publish`].
    pub async fn publish_raw(
        &self,
        routing_key: &str,
        body: &[u8],
        headers: FieldTable,
    ) -> Result<(), QueueError> {
        let exchange = self.inner.topo.exchange();
        let body = body.to_vec();
        let rk = routing_key.to_string();
        self.with_publisher(move |channel, _| {
            let (exchange, body, rk, headers) =
                (exchange.clone(), body.clone(), rk.clone(), headers.clone());
            async move {
                let props = BasicProperties::default()
                    .with_content_type(JSON.into())
                    .with_delivery_mode(2)
                    .with_headers(headers);
                confirmed(&channel, &exchange, &rk, &body, props, true).await
            }
        })
        .await
    }

    /// Delete every queue and exchange of this topology, messages included (tests, uninstall).
    pub async fn delete_topology(&self) -> Result<(), QueueError> {
        // Not through the publishing channel, which would declare first (and fail on a
        // mismatched queue, the very thing one may want to delete).
        let channel = self.scratch_channel().await?;
        let result = self.inner.topo.delete(&channel).await;
        let _ = channel.close(200, "done".into()).await;
        // The publishing channel's declarations are gone: re-declare on next use.
        *self.inner.publisher.lock().await = None;
        result
    }

    /// Close the connection (end of the process). Consumers should be stopped first.
    pub async fn close(&self) {
        *self.inner.publisher.lock().await = None;
        self.inner.connector.close().await;
    }

    /// Run `op` on the publishing channel, making it (and declaring the topology) when needed.
    /// A connection failure gets one more try on a fresh connection.
    async fn with_publisher<F, Fut, T>(&self, op: F) -> Result<T, QueueError>
    where
        F: Fn(Channel, u64) -> Fut,
        Fut: Future<Output = Result<T, QueueError>>,
    {
        let mut last = None;
        for _ in 0..2 {
            let (generation, channel) = match self.publisher_channel().await {
                Ok(c) => c,
                Err(e) if e.is_connection_error() => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            match op(channel.clone(), generation).await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let channel_dead = !channel.status().connected();
                    if channel_dead {
                        *self.inner.publisher.lock().await = None;
                    }
                    if e.is_connection_error() && channel_dead {
                        self.inner
                            .connector
                            .broken(generation, &e.to_string())
                            .await;
                        last = Some(e);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| QueueError::Session("publishing failed".into())))
    }

    async fn publisher_channel(&self) -> Result<(u64, Channel), QueueError> {
        let mut slot = self.inner.publisher.lock().await;
        let (generation, conn) = self.inner.connector.get().await?;
        if let Some((g, ch)) = slot.as_ref()
            && *g == generation
            && ch.status().connected()
        {
            return Ok((*g, ch.clone()));
        }
        let fresh = async {
            let channel = conn
                .create_channel()
                .await
                .map_err(QueueError::amqp("channel.open"))?;
            self.inner.topo.declare(&channel).await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(QueueError::amqp("confirm.select"))?;
            Ok::<_, QueueError>(channel)
        };
        match fresh.await {
            Ok(channel) => {
                *slot = Some((generation, channel.clone()));
                Ok((generation, channel))
            }
            Err(e) => {
                if !conn.status().connected() {
                    self.inner
                        .connector
                        .broken(generation, &e.to_string())
                        .await;
                }
                Err(e)
            }
        }
    }

    /// A throwaway channel (passive declares close the channel when the queue is missing).
    async fn scratch_channel(&self) -> Result<Channel, QueueError> {
        let (_, conn) = self.inner.connector.get().await?;
        conn.create_channel()
            .await
            .map_err(QueueError::amqp("channel.open"))
    }
}

#[async_trait]
impl JobQueue for AmqpQueue {
    async fn publish(&self, job: &JobEnvelope) -> Result<(), QueueError> {
        job.validate()?;
        job.check_horizon(Utc::now())?;
        self.with_publisher(|channel, _| {
            let topo = self.inner.topo.clone();
            async move { publish_job(&channel, &topo, job, Utc::now()).await }
        })
        .await
    }

    async fn consume(
        &self,
        families: &[JobType],
        prefetch: u16,
        handler: Arc<dyn JobHandler>,
        shutdown: crate::Shutdown,
    ) -> Result<(), QueueError> {
        if families.is_empty() {
            return Err(QueueError::Config(
                "consume needs at least one job type".into(),
            ));
        }
        if prefetch == 0 {
            return Err(QueueError::Config("prefetch must be at least 1".into()));
        }
        let mut queues = Vec::new();
        for family in families {
            let q = self.inner.topo.queue_for(family)?;
            if !queues.contains(&q) {
                queues.push(q);
            }
        }
        crate::consume::consume(self.inner.clone(), queues, prefetch, handler, shutdown).await
    }

    async fn depths(&self) -> Result<Vec<QueueDepth>, QueueError> {
        let mut channel = self.scratch_channel().await?;
        let mut depths = Vec::new();
        for queue in self.inner.topo.all_queues() {
            let passive = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            match channel
                .queue_declare(queue.as_str().into(), passive, FieldTable::default())
                .await
            {
                Ok(q) => depths.push(QueueDepth {
                    queue,
                    messages: q.message_count(),
                    consumers: q.consumer_count(),
                }),
                Err(e) => {
                    // 404: not declared yet. The broker closed the channel; take another.
                    if !is_not_found(&e) {
                        return Err(QueueError::Amqp {
                            op: "queue.declare (passive)",
                            source: e,
                        });
                    }
                    channel = self.scratch_channel().await?;
                }
            }
        }
        let _ = channel.close(200, "done".into()).await;
        Ok(depths)
    }

    fn status(&self) -> BrokerStatus {
        self.inner.connector.status()
    }

    async fn check(&self) -> Result<(), String> {
        match tokio::time::timeout(CHECK_TIMEOUT, self.inner.connector.get()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(self.status().to_string()),
            Err(_) => Err(format!(
                "unreachable at {}: no answer within {}s",
                self.inner.config.redacted_url(),
                CHECK_TIMEOUT.as_secs()
            )),
        }
    }

    async fn take_dead(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let dead_queue = self.inner.topo.dead_queue();
        self.with_publisher(|channel, _| {
            let dead_queue = dead_queue.clone();
            async move {
                let mut out = Vec::new();
                while out.len() < max {
                    let Some(msg) = channel
                        .basic_get(
                            dead_queue.as_str().into(),
                            BasicGetOptions { no_ack: false },
                        )
                        .await
                        .map_err(QueueError::amqp("basic.get"))?
                    else {
                        break;
                    };
                    let d = &msg.delivery;
                    out.push(dead_letter(&d.properties, d.data.clone()));
                    d.acker
                        .ack(BasicAckOptions::default())
                        .await
                        .map_err(QueueError::amqp("basic.ack"))?;
                }
                Ok(out)
            }
        })
        .await
    }

    async fn requeue_dead_matching(
        &self,
        max: usize,
        only: DeadFilter,
    ) -> Result<usize, QueueError> {
        let topo = self.inner.topo.clone();
        self.with_publisher(|channel, _| {
            let topo = topo.clone();
            let only = only.clone();
            async move {
                let mut moved = 0;
                // Letters not taken stay unacknowledged until the end, so basic.get does not
                // hand them out again; then they return to the queue.
                let mut passed = Vec::new();
                let mut outcome = Ok(());
                while moved < max && passed.len() < MAX_DEAD_SCANNED {
                    let got = channel
                        .basic_get(
                            topo.dead_queue().as_str().into(),
                            BasicGetOptions { no_ack: false },
                        )
                        .await
                        .map_err(QueueError::amqp("basic.get"));
                    let msg = match got {
                        Ok(Some(msg)) => msg,
                        Ok(None) => break,
                        Err(e) => {
                            outcome = Err(e);
                            break;
                        }
                    };
                    let d = msg.delivery;
                    let letter = dead_letter(&d.properties, Vec::new());
                    let letter = DeadLetter {
                        body: d.data.clone(),
                        ..letter
                    };
                    if !only(&letter) {
                        passed.push(d);
                        continue;
                    }
                    let (body, props) = revived(&d.data, &d.properties);
                    let sent = confirmed(
                        &channel,
                        &topo.exchange(),
                        &letter.routing_key,
                        &body,
                        props,
                        true,
                    )
                    .await;
                    if let Err(e) = sent {
                        passed.push(d);
                        outcome = Err(e);
                        break;
                    }
                    if let Err(e) = d.acker.ack(BasicAckOptions::default()).await {
                        outcome = Err(QueueError::amqp("basic.ack")(e));
                        break;
                    }
                    moved += 1;
                }
                for d in passed {
                    let _ = d
                        .acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await;
                }
                outcome.map(|()| moved)
            }
        })
        .await
    }

    async fn requeue_dead(&self, max: usize) -> Result<usize, QueueError> {
        let topo = self.inner.topo.clone();
        self.with_publisher(|channel, _| {
            let topo = topo.clone();
            async move {
                let mut moved = 0;
                while moved < max {
                    let Some(msg) = channel
                        .basic_get(
                            topo.dead_queue().as_str().into(),
                            BasicGetOptions { no_ack: false },
                        )
                        .await
                        .map_err(QueueError::amqp("basic.get"))?
                    else {
                        break;
                    };
                    let d = &msg.delivery;
                    let letter = dead_letter(&d.properties, Vec::new());
                    let (body, props) = revived(&d.data, &d.properties);
                    let sent = confirmed(
                        &channel,
                        &topo.exchange(),
                        &letter.routing_key,
                        &body,
                        props,
                        true,
                    )
                    .await;
                    if let Err(e) = sent {
                        // Back into the dead-letter queue, where it was: an operator's retry.
                        let _ = d
                            .acker
                            .nack(BasicNackOptions {
                                requeue: true,
                                ..BasicNackOptions::default()
                            })
                            .await;
                        return Err(e);
                    }
                    d.acker
                        .ack(BasicAckOptions::default())
                        .await
                        .map_err(QueueError::amqp("basic.ack"))?;
                    moved += 1;
                }
                Ok(moved)
            }
        })
        .await
    }
}

fn is_not_found(e: &lapin::Error) -> bool {
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(amqp) if amqp.get_id() == 404)
}

fn dead_letter(props: &BasicProperties, body: Vec<u8>) -> DeadLetter {
    let empty = FieldTable::default();
    let h = props.headers().as_ref().unwrap_or(&empty);
    DeadLetter {
        reason: header_str(h, DEAD_REASON_HEADER).unwrap_or_default(),
        routing_key: header_str(h, DEAD_ROUTING_KEY_HEADER).unwrap_or_default(),
        attempts: header_int(h, DEAD_ATTEMPTS_HEADER)
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        job_id: header_str(h, DEAD_JOB_ID_HEADER),
        job_type: header_str(h, DEAD_JOB_TYPE_HEADER),
        dead_at: header_str(h, DEAD_AT_HEADER),
        body,
    }
}

/// A dead letter made fit to run again: our headers removed, and a job envelope reset to its
/// first try (a Celery message keeps its own headers).
fn revived(body: &[u8], props: &BasicProperties) -> (Vec<u8>, BasicProperties) {
    let mut headers = FieldTable::default();
    if let Some(h) = props.headers() {
        for (k, v) in h {
            if !k.as_str().starts_with("x-integramon-") && k.as_str() != "x-death" {
                headers.insert(k.clone(), v.clone());
            }
        }
    }
    let is_celery = headers.contains_key("task");
    let body = match (is_celery, serde_json::from_slice::<JobEnvelope>(body)) {
        (false, Ok(job)) => job.next_attempt(1).to_json(),
        _ => body.to_vec(),
    };
    if is_celery {
        headers.insert("retries".into(), AMQPValue::LongLongInt(0));
    }
    let mut out = props.clone().with_headers(headers);
    if out.content_type().is_none() {
        out = out.with_content_type(JSON.into());
    }
    (body, out)
}
