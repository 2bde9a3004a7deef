//! [`InProcessQueue`]: the [`JobQueue`] of the all-in-one mode, on tokio primitives instead of
//! RabbitMQ. Same contract, same [`disposition`] and retry delays, same dead letters; what it
//! cannot give is durability (queued and delayed jobs live in memory and end with the process:
//! the controller schedules them again) and other processes as consumers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use domain::job::{Disposition, JobEnvelope, JobOutcome, JobType, disposition};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::shutdown::Shutdown;

use crate::config::QueueConfig;
use crate::dispatch::{DUE_MARGIN, Ran, Step, before_running, run_handler};
use crate::error::QueueError;
use crate::handler::{Delivery, JobHandler};
use crate::status::{BrokerStatus, QueueDepth};
use crate::topology::Topology;
use crate::{DeadFilter, DeadLetter, JobQueue, MAX_DEAD_SCANNED};

/// Dead letters kept; older ones are dropped (and logged) beyond this.
const MAX_DEAD: usize = 10_000;

/// The in-memory job queues. Cheap to clone; clones share the queues.
#[derive(Clone)]
pub struct InProcessQueue {
    shared: Arc<Shared>,
}

struct Shared {
    config: QueueConfig,
    topo: Topology,
    state: Mutex<State>,
    /// Woken whenever a job becomes ready.
    ready: Notify,
}

#[derive(Default)]
struct State {
    queues: HashMap<String, VecDeque<Message>>,
    /// Jobs waiting on a timer (retry or not yet due), per queue.
    waiting: HashMap<String, u32>,
    consumers: HashMap<String, u32>,
    dead: VecDeque<DeadLetter>,
}

#[derive(Debug, Clone)]
struct Message {
    job: JobEnvelope,
    /// Taken by a consumer that stopped before finishing it.
    redelivered: bool,
    /// Retried because a previous try was interrupted.
    interrupted: bool,
}

impl InProcessQueue {
    /// Dead letters back into their queues as first tries; returns how many moved.
    fn revive(&self, letters: Vec<DeadLetter>) -> usize {
        let mut moved = 0;
        for letter in letters {
            match serde_json::from_slice::<JobEnvelope>(&letter.body) {
                Ok(job) => {
                    let msg = Message {
                        job: job.next_attempt(1),
                        redelivered: false,
                        interrupted: false,
                    };
                    self.shared.push(&letter.routing_key, msg, false);
                    moved += 1;
                }
                // Only jobs that decoded ever reach this queue; keep anything else as it was.
                Err(_) => self.shared.lock().dead.push_back(letter),
            }
        }
        moved
    }

    /// The prefix names the queues in [`depths`](JobQueue::depths); the retry tiers and
    /// `max_attempts` apply as they do on RabbitMQ.
    pub fn new(config: QueueConfig) -> Result<Self, QueueError> {
        config.validate()?;
        Ok(Self {
            shared: Arc::new(Shared {
                topo: Topology::new(&config.prefix, &config.retry_tiers),
                config,
                state: Mutex::new(State::default()),
                ready: Notify::new(),
            }),
        })
    }

    pub fn config(&self) -> &QueueConfig {
        &self.shared.config
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Only whole-value updates happen under this lock: a poisoned one is consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, queue: &str, msg: Message, front: bool) {
        {
            let mut s = self.lock();
            let q = s.queues.entry(queue.to_string()).or_default();
            if front {
                q.push_front(msg);
            } else {
                q.push_back(msg);
            }
        }
        self.ready.notify_waiters();
    }

    /// Put `msg` on `queue` after `wait`, as the TTL queues do on RabbitMQ.
    fn push_later(self: &Arc<Self>, queue: String, msg: Message, wait: Duration) {
        *self.lock().waiting.entry(queue.clone()).or_default() += 1;
        let shared = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(n) = shared.lock().waiting.get_mut(&queue) {
                *n = n.saturating_sub(1);
            }
            shared.push(&queue, msg, false);
        });
    }

    fn dead(&self, queue: &str, job: &JobEnvelope, reason: String) {
        tracing::warn!(job_id = job.job_id, job_type = %job.job_type, "dead-lettering job: {reason}");
        let mut s = self.lock();
        if s.dead.len() >= MAX_DEAD
            && let Some(old) = s.dead.pop_front()
        {
            tracing::warn!(
                job_id = old.job_id,
                "in-process dead-letter queue full: dropping the oldest"
            );
        }
        s.dead.push_back(DeadLetter {
            reason,
            routing_key: queue.to_string(),
            attempts: job.attempt,
            job_id: Some(job.job_id.clone()),
            job_type: Some(job.job_type.to_string()),
            dead_at: Some(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)),
            body: job.to_json(),
        });
    }

    /// The next job of `queues`, waiting for one. Starts at `start` so several queues share
    /// the consumer fairly.
    async fn next(&self, queues: &[String], start: usize) -> (String, Message) {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            // Registered before looking, so a push between the look and the wait is not missed.
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                for i in 0..queues.len() {
                    let q = &queues[(start + i) % queues.len()];
                    if let Some(msg) = s.queues.get_mut(q).and_then(VecDeque::pop_front) {
                        return (q.clone(), msg);
                    }
                }
            }
            notified.await;
        }
    }

    /// Run or hold a job; `false` when shutdown stopped it unsettled.
    async fn process(
        self: &Arc<Self>,
        queue: &str,
        msg: Message,
        handler: &Arc<dyn JobHandler>,
        stop: &CancellationToken,
    ) -> bool {
        let job = msg.job;
        match before_running(&job, msg.redelivered, Utc::now()) {
            Step::Expired(reason) => self.dead(queue, &job, reason),
            Step::Refused(reason) => self.dead(queue, &job, reason),
            Step::Interrupted(outcome) => self.settle(queue, &job, outcome, true),
            Step::Hold(wait) => self.push_later(
                queue.to_string(),
                Message {
                    job,
                    redelivered: false,
                    interrupted: msg.interrupted,
                },
                wait,
            ),
            Step::Run => {
                let delivery = Delivery {
                    queue: queue.to_string(),
                    redelivered: msg.interrupted,
                    celery_task: None,
                };
                match run_handler(handler, job.clone(), delivery, stop).await {
                    Ran::Settle(outcome) => self.settle(queue, &job, outcome, false),
                    Ran::Stopped => return false,
                }
            }
        }
        true
    }

    fn settle(
        self: &Arc<Self>,
        queue: &str,
        job: &JobEnvelope,
        outcome: JobOutcome,
        interrupted: bool,
    ) {
        let cfg = &self.config;
        match disposition(&outcome, job.attempt, cfg.max_attempts, &cfg.retry_tiers) {
            Disposition::Ack => {}
            Disposition::Retry {
                delay,
                next_attempt,
                ..
            } => {
                if let JobOutcome::Retry { reason, .. } = &outcome {
                    tracing::info!(
                        job_id = job.job_id,
                        next_attempt,
                        delay_s = delay.as_secs_f64(),
                        "retrying job: {reason}"
                    );
                }
                self.push_later(
                    queue.to_string(),
                    Message {
                        job: job.next_attempt(next_attempt),
                        redelivered: false,
                        interrupted,
                    },
                    delay,
                );
            }
            Disposition::DeadLetter { reason } => self.dead(queue, job, reason),
            Disposition::Hold { delay } => self.push_later(
                queue.to_string(),
                Message {
                    job: job.clone(),
                    redelivered: false,
                    interrupted,
                },
                delay,
            ),
        }
    }
}

/// A job taken from a queue and not yet settled. Dropped unsettled (the consumer was aborted
/// mid-job), it goes back to the front of its queue marked redelivered, as an unacknowledged
/// message does on RabbitMQ.
struct InFlight {
    shared: Arc<Shared>,
    queue: String,
    msg: Option<Message>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(mut msg) = self.msg.take() {
            msg.redelivered = true;
            self.shared.push(&self.queue, msg, true);
        }
    }
}

/// Counts a consumer on its queues while it lives.
struct ConsumerCount {
    shared: Arc<Shared>,
    queues: Vec<String>,
}

impl ConsumerCount {
    fn new(shared: Arc<Shared>, queues: Vec<String>) -> Self {
        {
            let mut s = shared.lock();
            for q in &queues {
                *s.consumers.entry(q.clone()).or_default() += 1;
            }
        }
        Self { shared, queues }
    }
}

impl Drop for ConsumerCount {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        for q in &self.queues {
            if let Some(n) = s.consumers.get_mut(q) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

#[async_trait]
impl JobQueue for InProcessQueue {
    async fn publish(&self, job: &JobEnvelope) -> Result<(), QueueError> {
        job.validate()?;
        job.check_horizon(Utc::now())?;
        let queue = self.shared.topo.queue_for(&job.job_type)?;
        let msg = Message {
            job: job.clone(),
            redelivered: false,
            interrupted: false,
        };
        match job.wait_before_running(Utc::now()) {
            Some(wait) if wait > DUE_MARGIN => self.shared.push_later(queue, msg, wait),
            _ => self.shared.push(&queue, msg, false),
        }
        Ok(())
    }

    async fn consume(
        &self,
        families: &[JobType],
        prefetch: u16,
        handler: Arc<dyn JobHandler>,
        shutdown: Shutdown,
    ) -> Result<(), QueueError> {
        if families.is_empty() {
            return Err(QueueError::Config(
                "consume needs at least one job type".into(),
            ));
        }
        if prefetch == 0 {
            return Err(QueueError::Config("prefetch must be at least 1".into()));
        }
        let mut queues: Vec<String> = Vec::new();
        for family in families {
            let q = self.shared.topo.queue_for(family)?;
            if !queues.contains(&q) {
                queues.push(q);
            }
        }
        let _count = ConsumerCount::new(self.shared.clone(), queues.clone());
        let slots = Arc::new(Semaphore::new(usize::from(prefetch)));
        let mut tasks = JoinSet::new();
        let mut turn = 0usize;
        loop {
            let permit = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (queue, msg) = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                next = self.shared.next(&queues, turn) => next,
            };
            turn = turn.wrapping_add(1);
            let shared = self.shared.clone();
            let handler = handler.clone();
            let stop = shutdown.jobs_token();
            tasks.spawn(async move {
                let _permit = permit;
                let mut in_flight = InFlight {
                    shared: shared.clone(),
                    queue: queue.clone(),
                    msg: Some(msg.clone()),
                };
                if shared.process(&queue, msg, &handler, &stop).await {
                    // Settled: the "ack". Otherwise dropping it returns the job to its queue.
                    in_flight.msg = None;
                }
            });
            while let Some(done) = tasks.try_join_next() {
                if let Err(e) = done
                    && e.is_panic()
                {
                    tracing::error!("job task panicked: {e}");
                }
            }
        }
        // Take nothing more; let what runs finish (or stop between pages in stage two).
        while let Some(done) = tasks.join_next().await {
            if let Err(e) = done
                && e.is_panic()
            {
                tracing::error!("job task panicked: {e}");
            }
        }
        Ok(())
    }

    async fn depths(&self) -> Result<Vec<QueueDepth>, QueueError> {
        let s = self.shared.lock();
        let mut out: Vec<QueueDepth> = self
            .shared
            .topo
            .family_queues()
            .into_iter()
            .map(|queue| {
                let ready = s.queues.get(&queue).map_or(0, VecDeque::len);
                let waiting = s.waiting.get(&queue).copied().unwrap_or(0);
                QueueDepth {
                    messages: u32::try_from(ready)
                        .unwrap_or(u32::MAX)
                        .saturating_add(waiting),
                    consumers: s.consumers.get(&queue).copied().unwrap_or(0),
                    queue,
                }
            })
            .collect();
        out.push(QueueDepth {
            queue: self.shared.topo.dead_queue(),
            messages: u32::try_from(s.dead.len()).unwrap_or(u32::MAX),
            consumers: 0,
        });
        Ok(out)
    }

    fn status(&self) -> BrokerStatus {
        BrokerStatus::InProcess
    }

    async fn check(&self) -> Result<(), String> {
        Ok(())
    }

    async fn take_dead(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut s = self.shared.lock();
        let n = max.min(s.dead.len());
        Ok(s.dead.drain(..n).collect())
    }

    async fn requeue_dead_matching(
        &self,
        max: usize,
        only: DeadFilter,
    ) -> Result<usize, QueueError> {
        let letters: Vec<DeadLetter> = {
            let mut s = self.shared.lock();
            let mut taken = Vec::new();
            let mut kept = VecDeque::with_capacity(s.dead.len());
            for (i, letter) in s.dead.drain(..).enumerate() {
                if taken.len() < max && i < MAX_DEAD_SCANNED && only(&letter) {
                    taken.push(letter);
                } else {
                    kept.push_back(letter);
                }
            }
            s.dead = kept;
            taken
        };
        Ok(self.revive(letters))
    }

    async fn requeue_dead(&self, max: usize) -> Result<usize, QueueError> {
        let letters = self.take_dead(max).await?;
        Ok(self.revive(letters))
    }
}
