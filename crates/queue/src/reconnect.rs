//! The one broker connection of an [`AmqpQueue`](crate::AmqpQueue): made on first use, re-made
//! after it is lost (broker restart, network), with exponential backoff, and reported as a
//! [`BrokerStatus`] for readiness. Each connection has a generation, so a failure seen by several
//! users at once causes one reconnection, not several.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

use crate::config::QueueConfig;
use crate::error::QueueError;
use crate::status::BrokerStatus;

/// AMQP frame size asked for unless `AMQP_URL` says `?frame_max=` (see `Connector::connect`).
const DEFAULT_FRAME_MAX: u32 = 16 * 1024;

pub(crate) struct Connector {
    url: String,
    redacted_url: String,
    name: String,
    timeout: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    /// Serialises connecting; holds the live connection.
    current: tokio::sync::Mutex<Option<(u64, Arc<Connection>)>>,
    state: Mutex<State>,
}

struct State {
    generation: u64,
    status: BrokerStatus,
    failures: u32,
}

impl Connector {
    pub(crate) fn new(config: &QueueConfig) -> Self {
        Self {
            url: config.url.clone(),
            redacted_url: config.redacted_url(),
            name: config.connection_name.clone(),
            timeout: config.connect_timeout,
            backoff_min: config.reconnect_min,
            backoff_max: config.reconnect_max,
            current: tokio::sync::Mutex::new(None),
            state: Mutex::new(State {
                generation: 0,
                status: BrokerStatus::NotConnected,
                failures: 0,
            }),
        }
    }

    pub(crate) fn status(&self) -> BrokerStatus {
        self.lock().status.clone()
    }

    /// The live connection, connecting once if there is none. No waiting between attempts.
    pub(crate) async fn get(&self) -> Result<(u64, Arc<Connection>), QueueError> {
        let mut current = self.current.lock().await;
        if let Some((generation, conn)) = current.as_ref() {
            if conn.status().connected() {
                return Ok((*generation, conn.clone()));
            }
            let reason = "connection lost".to_string();
            self.failed(reason);
            *current = None;
        }
        match self.connect().await {
            Ok(conn) => {
                let conn = Arc::new(conn);
                let generation = {
                    let mut s = self.lock();
                    s.generation += 1;
                    s.failures = 0;
                    s.status = BrokerStatus::Connected {
                        url: self.redacted_url.clone(),
                        since: Utc::now(),
                    };
                    s.generation
                };
                tracing::info!(url = %self.redacted_url, "connected to the broker");
                *current = Some((generation, conn.clone()));
                Ok((generation, conn))
            }
            Err(reason) => {
                self.failed(reason.clone());
                Err(QueueError::Unreachable {
                    url: self.redacted_url.clone(),
                    reason,
                })
            }
        }
    }

    /// Like [`get`](Self::get), retrying with backoff until connected; `None` once `shutdown`
    /// is cancelled.
    pub(crate) async fn get_patiently(
        &self,
        shutdown: &CancellationToken,
    ) -> Option<(u64, Arc<Connection>)> {
        let mut wait = self.backoff_min;
        loop {
            if shutdown.is_cancelled() {
                return None;
            }
            match self.get().await {
                Ok(c) => return Some(c),
                Err(e) => {
                    let pause = jitter(wait);
                    tracing::warn!("{e}; retrying in {:.1}s", pause.as_secs_f64());
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    wait = (wait * 2).min(self.backoff_max);
                }
            }
        }
    }

    /// Report that connection `generation` failed; the next [`get`](Self::get) reconnects.
    pub(crate) async fn broken(&self, generation: u64, reason: &str) {
        let mut current = self.current.lock().await;
        if let Some((g, conn)) = current.as_ref()
            && *g == generation
        {
            tracing::warn!(url = %self.redacted_url, "broker connection lost: {reason}");
            // Closing a half-dead connection can hang; the io loop ends by itself once dropped.
            if conn.status().connected() {
                let conn = conn.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        conn.close(320, "reconnecting".into()),
                    )
                    .await;
                });
            }
            *current = None;
            self.failed(reason.to_string());
        }
    }

    /// Close the connection (end of the process).
    pub(crate) async fn close(&self) {
        if let Some((_, conn)) = self.current.lock().await.take() {
            let _ =
                tokio::time::timeout(Duration::from_secs(5), conn.close(200, "bye".into())).await;
        }
        self.lock().status = BrokerStatus::NotConnected;
    }

    async fn connect(&self) -> Result<Connection, String> {
        let props = ConnectionProperties::default().with_connection_name(self.name.clone().into());
        let mut uri: AMQPUri = self.url.parse()?;
        // lapin keeps 32 frames of buffer per direction per connection, zero-filled: with
        // RabbitMQ's default 128 KiB frames that is 8 MiB of every process's memory. Jobs are
        // a few hundred bytes; a larger message simply spans several frames.
        uri.query.frame_max.get_or_insert(DEFAULT_FRAME_MAX);
        match tokio::time::timeout(self.timeout, Connection::connect_uri(uri, props)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(format!(
                "no AMQP handshake within {}s",
                self.timeout.as_secs()
            )),
        }
    }

    fn failed(&self, reason: String) {
        let mut s = self.lock();
        s.failures = s.failures.saturating_add(1);
        let since = match &s.status {
            BrokerStatus::Unreachable { since, .. } => *since,
            _ => Utc::now(),
        };
        s.status = BrokerStatus::Unreachable {
            url: self.redacted_url.clone(),
            reason,
            since,
            attempts: s.failures,
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain assignments only under this lock: a poisoned one is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A lapin error in words an operator can act on.
pub(crate) fn describe(e: &lapin::Error) -> String {
    match e.kind() {
        lapin::ErrorKind::IOError(io) => io.to_string(),
        lapin::ErrorKind::ProtocolError(amqp) => {
            format!("{} ({})", amqp.get_message(), amqp.get_id())
        }
        _ => e.to_string(),
    }
}

/// Up to a quarter more, so many workers do not reconnect in lockstep.
fn jitter(d: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d + d.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the machine's RabbitMQ (`AMQP_URL`, or the default URL).
    #[tokio::test]
    async fn frames_are_small_unless_the_url_asks_for_more() {
        let mut config = QueueConfig {
            url: std::env::var("AMQP_URL").unwrap_or_else(|_| crate::config::DEFAULT_URL.into()),
            ..QueueConfig::default()
        };
        let (_, conn) = Connector::new(&config).get().await.unwrap();
        assert_eq!(conn.configuration().frame_max(), DEFAULT_FRAME_MAX);
        conn.close(200, "test".into()).await.unwrap();

        let sep = if config.url.contains('?') { '&' } else { '?' };
        config.url = format!("{}{sep}frame_max=65536", config.url);
        let (_, conn) = Connector::new(&config).get().await.unwrap();
        assert_eq!(conn.configuration().frame_max(), 65536);
        conn.close(200, "test".into()).await.unwrap();
    }
}
