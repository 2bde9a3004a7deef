//! What a job can fail with, and which failures are worth another try.

use cpi::CpiError;
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
        if e.is_retryable() {
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
