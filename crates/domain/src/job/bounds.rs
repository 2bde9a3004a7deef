//! Bounds on what a job may ask for, so one submission cannot occupy a worker for ever: a
//! collection window lies within the tenant's collection (its start up to now), and `not_before`
//! and `expires` lie at most [`HORIZON_DAYS`] ahead. Both are documented in `docs/jobs.md`.

use chrono::{DateTime, Utc};

use super::{JobEnvelope, JobError, MessagesSync, rfc3339};

/// How far ahead `not_before` and `expires` may lie when a job is published or taken. Longer
/// holds would circle through the retry queues for weeks; schedule such work later instead.
pub const HORIZON_DAYS: i64 = 7;

/// How far back collection reaches when a tenant sets no `collect_from`: what CPI keeps of its
/// message processing logs.
pub const DEFAULT_LOOKBACK_DAYS: i64 = 30;

/// Slack on both ends of a window's bounds, so a job retried later (its window fixed, the
/// 30-day start moving on) or sent from a host whose clock is a little ahead is not refused.
pub const WINDOW_SLACK_SECS: i64 = 3600;

/// Where a tenant's collection starts at `now`: its `collect_from`, else the 30 days CPI keeps.
pub fn collection_start(collect_from: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    collect_from.unwrap_or(now - chrono::Duration::days(DEFAULT_LOOKBACK_DAYS))
}

impl JobEnvelope {
    /// `not_before` and `expires` no further ahead of `now` than [`HORIZON_DAYS`].
    pub fn check_horizon(&self, now: DateTime<Utc>) -> Result<(), JobError> {
        let limit = now + chrono::Duration::days(HORIZON_DAYS);
        for (field, at) in [("not_before", self.not_before), ("expires", self.expires)] {
            if let Some(at) = at
                && at > limit
            {
                return Err(JobError::invalid(
                    field,
                    format!(
                        "{} is more than {HORIZON_DAYS} days ahead (at most {}); jobs are not \
                         held back or kept longer than that",
                        rfc3339(at),
                        rfc3339(limit)
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl MessagesSync {
    /// The window lies within the tenant's collection: from `start` (see [`collection_start`])
    /// up to `now`, give or take [`WINDOW_SLACK_SECS`].
    pub fn check_bounds(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), JobError> {
        let slack = chrono::Duration::seconds(WINDOW_SLACK_SECS);
        let (earliest, latest) = (start - slack, now + slack);
        let too_early = |field: &str, at: DateTime<Utc>| {
            JobError::invalid(
                field,
                format!(
                    "{} is before the tenant's collection starts ({}: its collect_from, or \
                     {DEFAULT_LOOKBACK_DAYS} days back)",
                    rfc3339(at),
                    rfc3339(start)
                ),
            )
        };
        let too_late = |field: &str, at: DateTime<Utc>| {
            JobError::invalid(
                field,
                format!(
                    "{} is in the future (now is {}); a window ends at the latest now",
                    rfc3339(at),
                    rfc3339(now)
                ),
            )
        };
        if let Some(from) = self.from {
            if from < earliest {
                return Err(too_early("params.from", from));
            }
            if from > latest {
                return Err(too_late("params.from", from));
            }
        }
        if let Some(to) = self.to {
            if to < earliest {
                return Err(too_early("params.to", to));
            }
            if to > latest {
                return Err(too_late("params.to", to));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobType, TenantRef};
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
    }

    fn window(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> MessagesSync {
        MessagesSync { from, to }
    }

    #[test]
    fn windows_stay_within_the_collection() {
        let now = now();
        let start = collection_start(None, now);
        assert_eq!(start, now - chrono::Duration::days(30));
        let hour = chrono::Duration::hours(1);
        window(Some(start), Some(now))
            .check_bounds(start, now)
            .unwrap();
        window(None, None).check_bounds(start, now).unwrap();
        // Within the slack: a retried job, a clock a little ahead.
        window(
            Some(start - hour + chrono::Duration::seconds(1)),
            Some(now + hour),
        )
        .check_bounds(start, now)
        .unwrap();
        let year1 = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap();
        let year9999 = Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap();
        for (w, field, words) in [
            (
                window(Some(year1), Some(year9999)),
                "params.from",
                "collection starts",
            ),
            (
                window(Some(start - hour * 2), None),
                "params.from",
                "collection starts",
            ),
            (
                window(Some(now - hour), Some(year9999)),
                "params.to",
                "in the future",
            ),
            (window(Some(year9999), None), "params.from", "in the future"),
            (window(None, Some(year1)), "params.to", "collection starts"),
        ] {
            let e = w.check_bounds(start, now).unwrap_err();
            assert_eq!(e.field(), Some(field), "{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
        // An explicit collect_from moves the start either way.
        let from = now - chrono::Duration::days(90);
        assert_eq!(collection_start(Some(from), now), from);
        window(Some(from), None).check_bounds(from, now).unwrap();
    }

    #[test]
    fn not_before_and_expires_are_bounded_by_the_horizon() {
        let now = now();
        let mut job = JobEnvelope::new(JobType::Keystore, TenantRef::Id(1), json!({}), now);
        job.check_horizon(now).unwrap();
        job.not_before = Some(now + chrono::Duration::days(7));
        job.expires = Some(now + chrono::Duration::days(7));
        job.check_horizon(now).unwrap();
        job.not_before = Some(Utc.with_ymd_and_hms(9999, 1, 1, 0, 0, 0).unwrap());
        let e = job.check_horizon(now).unwrap_err();
        assert_eq!(e.field(), Some("not_before"));
        assert!(e.to_string().contains("7 days"), "{e}");
        job.not_before = None;
        job.expires = Some(now + chrono::Duration::days(8));
        assert_eq!(job.check_horizon(now).unwrap_err().field(), Some("expires"));
        // The past is no concern of the horizon (expiry handles it).
        job.expires = Some(now - chrono::Duration::days(800));
        job.check_horizon(now).unwrap();
    }
}
