//! What archiving can fail with, and which failures are worth another try.

use std::path::Path;

use domain::job::JobOutcome;
use store::StoreError;

use crate::format::FormatError;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// May pass (database restart, lock time-out, another archiver on the tenant, disk full
    /// until someone frees space): try again later.
    #[error("{0}")]
    Retry(String),
    /// Trying again will not help until someone acts (a broken or missing archive file,
    /// invalid parameters).
    #[error("{0}")]
    Fail(String),
}

impl ArchiveError {
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

    /// A batch boundary: `Err` once the process's shutdown grace is over, so the run stops here
    /// and the job goes back to its queue (its next run resumes: see `day::archive_day`).
    pub(crate) fn stop_point() -> Result<(), Self> {
        if queue::stop_requested() {
            Err(Self::Retry(queue::STOPPED_REASON.into()))
        } else {
            Ok(())
        }
    }

    pub(crate) fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |e| Self::Retry(format!("{what} {}: {e}", path.display()))
    }
}

impl From<StoreError> for ArchiveError {
    fn from(e: StoreError) -> Self {
        Self::Retry(format!("database: {e}"))
    }
}

impl From<FormatError> for ArchiveError {
    fn from(e: FormatError) -> Self {
        match e {
            // Disk trouble may pass; a file that reads wrong will not fix itself.
            FormatError::Io { .. } => Self::Retry(e.to_string()),
            _ => Self::Fail(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_trouble_is_retried_and_broken_files_are_not() {
        let db = ArchiveError::from(StoreError::Command("x".into()));
        assert!(matches!(db.outcome(), JobOutcome::Retry { .. }));
        let bad = ArchiveError::from(FormatError::Truncated {
            path: "f".into(),
            reason: "r".into(),
        });
        assert!(matches!(bad.outcome(), JobOutcome::Fail { .. }));
    }
}
