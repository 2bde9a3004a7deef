//! Broker state for readiness, and queue depths for the UI and metrics.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// The broker connection as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BrokerStatus {
    /// Nothing has needed the broker yet.
    NotConnected,
    Connected {
        url: String,
        since: DateTime<Utc>,
    },
    /// Connecting failed (or the connection was lost) and it is being retried.
    Unreachable {
        url: String,
        reason: String,
        since: DateTime<Utc>,
        attempts: u32,
    },
    /// The in-process queue of the all-in-one mode: always there.
    InProcess,
}

impl BrokerStatus {
    pub fn is_up(&self) -> bool {
        matches!(self, Self::Connected { .. } | Self::InProcess)
    }
}

impl fmt::Display for BrokerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotConnected => f.write_str("not connected yet"),
            Self::Connected { url, since } => write!(
                f,
                "connected to {url} since {}",
                since.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            Self::Unreachable {
                url,
                reason,
                since,
                attempts,
            } => write!(
                f,
                "unreachable at {url}: {reason} ({attempts} failed attempt{} since {})",
                if *attempts == 1 { "" } else { "s" },
                since.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            Self::InProcess => f.write_str("in-process queue"),
        }
    }
}

/// One queue's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub queue: String,
    /// Messages ready for delivery (for the in-process queue: waiting, delayed or held back).
    pub messages: u32,
    /// Consumers attached (for the in-process queue: jobs running).
    pub consumers: u32,
}
