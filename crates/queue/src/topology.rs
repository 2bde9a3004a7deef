//! The names and the declaration of every exchange and queue. Every process declares the whole
//! topology on each (re)connection; declaring is idempotent as long as the arguments match, so
//! they never change for a given name (a changed retry delay makes a new queue name instead).
//!
//! ```text
//!  publish ──► <prefix> (direct) ──rk=<prefix>.<family>──► <prefix>.<family>   (one per job type)
//!                       └─────────rk=<prefix>.dead──────► <prefix>.dead      (dead letters)
//!  retry / eta ──► <prefix>.delay (headers, integramon-delay=<label>)
//!          ├──► <prefix>.retry.<label>  (x-message-ttl=<label>)  ─┐ expire: dead-lettered to
//!          └──► <prefix>.delay          (per-message expiration) ─┘ <prefix>, original rk
//! ```

use domain::job::{JobType, RetryTiers};
use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::config::duration_label;
use crate::error::QueueError;

/// Header the delay exchange routes on: a tier label (`10s`) or [`ETA_ROUTE`]. Not `x-…`:
/// headers exchanges ignore `x-` headers when matching.
pub const DELAY_HEADER: &str = "integramon-delay";
/// [`DELAY_HEADER`] value of the per-message-expiration queue.
pub const ETA_ROUTE: &str = "eta";
/// Headers every dead letter carries.
pub const DEAD_REASON_HEADER: &str = "x-integramon-dead-reason";
pub const DEAD_ROUTING_KEY_HEADER: &str = "x-integramon-original-routing-key";
pub const DEAD_ATTEMPTS_HEADER: &str = "x-integramon-attempts";
pub const DEAD_AT_HEADER: &str = "x-integramon-dead-at";
pub const DEAD_JOB_ID_HEADER: &str = "x-integramon-job-id";
pub const DEAD_JOB_TYPE_HEADER: &str = "x-integramon-job-type";
/// Set on the retry of a job whose previous try was interrupted (the worker died or lost its
/// connection before acknowledging).
pub const INTERRUPTED_HEADER: &str = "x-integramon-interrupted";
/// Set on the retry or hold of a job that came in as a Celery task: the task name.
pub const CELERY_TASK_HEADER: &str = "x-integramon-celery-task";

/// Every name of one installation, derived from the prefix and the retry tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
    tiers: RetryTiers,
}

impl Topology {
    pub fn new(prefix: &str, tiers: &RetryTiers) -> Self {
        Self {
            prefix: prefix.to_string(),
            tiers: tiers.clone(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn tiers(&self) -> &RetryTiers {
        &self.tiers
    }

    /// The direct exchange every job is published to.
    pub fn exchange(&self) -> String {
        self.prefix.clone()
    }

    /// The headers exchange in front of the retry and delay queues.
    pub fn delay_exchange(&self) -> String {
        format!("{}.delay", self.prefix)
    }

    /// The queue (and routing key) of a job type; `None` for an unknown type.
    pub fn queue(&self, job_type: &JobType) -> Option<String> {
        job_type.queue_name(&self.prefix)
    }

    /// Like [`queue`](Self::queue), as an error for unknown types.
    pub fn queue_for(&self, job_type: &JobType) -> Result<String, QueueError> {
        self.queue(job_type)
            .ok_or_else(|| QueueError::UnknownJobType(job_type.to_string()))
    }

    pub fn family_queues(&self) -> Vec<String> {
        JobType::KNOWN
            .iter()
            .filter_map(|t| self.queue(t))
            .collect()
    }

    pub fn tier_label(&self, tier: usize) -> String {
        duration_label(self.tiers.delays()[tier.min(self.tiers.delays().len() - 1)])
    }

    pub fn retry_queue(&self, tier: usize) -> String {
        format!("{}.retry.{}", self.prefix, self.tier_label(tier))
    }

    /// The queue of per-message delays (Celery `eta`).
    pub fn eta_queue(&self) -> String {
        format!("{}.delay", self.prefix)
    }

    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// Every queue of this topology: job families, retry tiers, the delay queue, the dead queue.
    pub fn all_queues(&self) -> Vec<String> {
        let mut all = self.family_queues();
        all.extend((0..self.tiers.delays().len()).map(|i| self.retry_queue(i)));
        all.push(self.eta_queue());
        all.push(self.dead_queue());
        all
    }

    /// Declare everything (idempotent).
    pub async fn declare(&self, channel: &Channel) -> Result<(), QueueError> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                self.exchange().into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await
            .map_err(|e| {
                mismatch(
                    format!("exchange {}", self.exchange()),
                    e,
                    "exchange.declare",
                )
            })?;
        channel
            .exchange_declare(
                self.delay_exchange().into(),
                ExchangeKind::Headers,
                durable,
                FieldTable::default(),
            )
            .await
            .map_err(|e| {
                mismatch(
                    format!("exchange {}", self.delay_exchange()),
                    e,
                    "exchange.declare",
                )
            })?;

        // Plain durable queues without arguments: Celery clients declare the queue they send to
        // with exactly these settings, so both sides agree.
        for queue in self.family_queues().into_iter().chain([self.dead_queue()]) {
            declare_queue(channel, &queue, FieldTable::default()).await?;
            bind(
                channel,
                &queue,
                &self.exchange(),
                &queue,
                FieldTable::default(),
            )
            .await?;
        }

        for (i, delay) in self.tiers.delays().iter().enumerate() {
            let queue = self.retry_queue(i);
            let mut args = self.dead_letter_back();
            let ttl = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
            declare_queue(channel, &queue, args).await?;
            bind(
                channel,
                &queue,
                &self.delay_exchange(),
                "",
                route_on(&self.tier_label(i)),
            )
            .await?;
        }

        let eta = self.eta_queue();
        declare_queue(channel, &eta, self.dead_letter_back()).await?;
        bind(
            channel,
            &eta,
            &self.delay_exchange(),
            "",
            route_on(ETA_ROUTE),
        )
        .await?;
        Ok(())
    }

    /// Delete every queue and exchange of this topology, messages included (tests, uninstall).
    pub async fn delete(&self, channel: &Channel) -> Result<(), QueueError> {
        for queue in self.all_queues() {
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(QueueError::amqp("queue.delete"))?;
        }
        for exchange in [self.exchange(), self.delay_exchange()] {
            channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await
                .map_err(QueueError::amqp("exchange.delete"))?;
        }
        Ok(())
    }

    /// Expired messages go back to the main exchange with the routing key they were published
    /// with, which is their job family's queue.
    fn dead_letter_back(&self) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from(self.exchange())),
        );
        args
    }
}

fn route_on(label: &str) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-match".into(), AMQPValue::LongString("all".into()));
    args.insert(DELAY_HEADER.into(), AMQPValue::LongString(label.into()));
    args
}

async fn declare_queue(channel: &Channel, queue: &str, args: FieldTable) -> Result<(), QueueError> {
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), args)
        .await
        .map(|_| ())
        .map_err(|e| mismatch(format!("queue {queue}"), e, "queue.declare"))
}

async fn bind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    routing_key: &str,
    args: FieldTable,
) -> Result<(), QueueError> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            routing_key.into(),
            QueueBindOptions::default(),
            args,
        )
        .await
        .map_err(QueueError::amqp("queue.bind"))
}

/// PRECONDITION_FAILED on a declare means the object exists with other arguments: say so.
fn mismatch(what: String, e: lapin::Error, op: &'static str) -> QueueError {
    if let lapin::ErrorKind::ProtocolError(amqp) = e.kind()
        && amqp.get_id() == 406
    {
        return QueueError::TopologyMismatch {
            what,
            detail: amqp.get_message().to_string(),
        };
    }
    QueueError::Amqp { op, source: e }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn names_follow_the_prefix_and_tiers() {
        let tiers =
            RetryTiers::new(vec![Duration::from_secs(10), Duration::from_secs(60)]).unwrap();
        let t = Topology::new("integramon", &tiers);
        assert_eq!(t.exchange(), "integramon");
        assert_eq!(t.delay_exchange(), "integramon.delay");
        assert_eq!(t.retry_queue(0), "integramon.retry.10s");
        assert_eq!(t.retry_queue(1), "integramon.retry.60s");
        assert_eq!(t.eta_queue(), "integramon.delay");
        assert_eq!(t.dead_queue(), "integramon.dead");
        assert_eq!(
            t.queue(&JobType::MessagesHot).as_deref(),
            Some("integramon.messages.hot")
        );
        assert!(t.queue(&JobType::Unknown("x".into())).is_none());
        let all = t.all_queues();
        assert_eq!(all.len(), JobType::KNOWN.len() + 2 + 2);
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
    }
}
