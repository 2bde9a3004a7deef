//! What a job can fail with, and which failures are worth another try.

use cpi::{BadResponseKind, CpiError};
use domain::job::JobOutcome;
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The tenant or the database failed in a way that may pass (throttling, 5xx, time-outs,
    /// connection loss): try again later.
    #[error("{0}")]
    Retry(String),
    /// Trying again will not help (bad credentials, a missing role, a tenant that no longer
    /// exists, invalid parameters).
    #[error("{0}")]
    Fail(String),
}

/// A page or batch boundary: `Err` once the process's shutdown grace is over, so the job stops
/// here and goes back to its queue (everything written so far is committed and idempotent).
pub fn stop_point() -> Result<(), JobError> {
    if queue::stop_requested() {
        Err(JobError::Retry(queue::STOPPED_REASON.into()))
    } else {
        Ok(())
    }
}

impl JobError {
    pub fn outcome(&self) -> JobOutcome {
        match self {
            Self::Retry(reason) => JobOutcome::Retry {
                reason: reason.clone(),
                after: None,
            },
            Self::Fail(reason) => JobOutcome::Fail {
                reason: reason.clone(),
            },
        }
    }
}

impl From<CpiError> for JobError {
    fn from(e: CpiError) -> Self {
        // Broken JSON is not worth repeating the call for at once (the client does not), but
        // it may be a passing fault between us and the tenant: the job gets its later tries,
        // and a lasting fault still ends in the dead-letter queue with this reason.
        let malformed = matches!(
            e,
            CpiError::BadResponse {
                kind: BadResponseKind::Malformed,
                ..
            }
        );
        if e.is_retryable() || malformed {
            Self::Retry(format!("tenant: {e}"))
        } else {
            Self::Fail(format!("tenant: {e}"))
        }
    }
}

impl From<StoreError> for JobError {
    // Database trouble is mostly transient (restart, fail-over, lock time-out); a job that
    // keeps failing ends in the dead-letter queue after the retry tiers.
    fn from(e: StoreError) -> Self {
        Self::Retry(format!("database: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(kind: BadResponseKind) -> CpiError {
        CpiError::BadResponse {
            url: "https://t/api/v1/MessageProcessingLogs".into(),
            status: 200,
            content_type: None,
            kind,
            detail: "x".into(),
            length: 0,
        }
    }

    #[test]
    fn broken_json_is_retried_and_a_login_page_is_not() {
        assert!(matches!(
            JobError::from(bad(BadResponseKind::Malformed)),
            JobError::Retry(_)
        ));
        assert!(matches!(
            JobError::from(bad(BadResponseKind::Truncated)),
            JobError::Retry(_)
        ));
        assert!(matches!(
            JobError::from(bad(BadResponseKind::HtmlPage)),
            JobError::Fail(_)
        ));
        let unauthorized = CpiError::Unauthorized {
            url: "https://t/api/v1".into(),
            detail: None,
        };
        assert!(matches!(JobError::from(unauthorized), JobError::Fail(_)));
    }
}
