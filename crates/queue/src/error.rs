//! The queue layer's one error type.

use domain::job::JobError;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("invalid queue settings: {0}")]
    Config(String),
    /// The broker cannot be reached (or the connection is down and could not be re-made).
    #[error("broker unreachable at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// An AMQP operation failed; `op` says which.
    #[error("broker error during {op}: {source}")]
    Amqp {
        op: &'static str,
        #[source]
        source: lapin::Error,
    },
    /// A queue or exchange exists with other arguments than ours.
    #[error(
        "{what} exists with different settings ({detail}); delete it or use another AMQP_PREFIX"
    )]
    TopologyMismatch { what: String, detail: String },
    #[error("the broker refused the message (publisher nack) on {0}")]
    Nacked(String),
    #[error("no queue is bound for routing key {0}")]
    Unroutable(String),
    #[error("invalid job: {0}")]
    InvalidJob(#[from] JobError),
    #[error("job type {0:?} has no queue")]
    UnknownJobType(String),
    /// The consumer's session broke (connection lost, channel closed); it reconnects.
    #[error("consumer session ended: {0}")]
    Session(String),
}

impl QueueError {
    pub(crate) fn amqp(op: &'static str) -> impl FnOnce(lapin::Error) -> Self {
        move |source| Self::Amqp { op, source }
    }

    /// Whether the error means the connection (not just one message) is gone, so the caller
    /// should reconnect.
    pub fn is_connection_error(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Session(_) => true,
            Self::Amqp { source, .. } => !matches!(
                source.kind(),
                lapin::ErrorKind::ProtocolError(e)
                    if matches!(e.kind(), lapin::protocol::AMQPErrorKind::Soft(_))
            ),
            _ => false,
        }
    }
}
