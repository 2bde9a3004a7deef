//! Whether a tenant's message collection is stuck. A tenant can be reachable (its packages
//! sync fine) while no message has been collected for an hour: a page that cannot be stored, a
//! job that keeps dead-lettering. The tenant's status says so, with the reason, instead of "ok".

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Collection counts as stuck once it has not succeeded for this many of its intervals.
pub const STUCK_AFTER_INTERVALS: u32 = 5;

/// What is known about one collecting job of a tenant (`messages_hot`, `messages_cold`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionState<'a> {
    pub job_type: &'a str,
    /// How often the job is scheduled.
    pub interval: Duration,
    pub last_success_at: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub last_error: Option<&'a str>,
}

/// Why the collection is stuck, or `None` when it is not: a job that failed at least
/// `max_attempts` times in a row (every try of a job, so it was dead-lettered), or one that
/// keeps failing and has not succeeded for [`STUCK_AFTER_INTERVALS`] intervals (since `since`,
/// the tenant's creation, when it never has).
pub fn stuck_reason(
    states: &[CollectionState<'_>],
    max_attempts: u32,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<String> {
    states.iter().find_map(|s| {
        if s.consecutive_failures == 0 {
            return None;
        }
        let last = s.last_success_at.unwrap_or(since);
        let window = s.interval.saturating_mul(STUCK_AFTER_INTERVALS);
        let idle = (now - last).to_std().unwrap_or_default();
        let dead = s.consecutive_failures >= max_attempts.max(1);
        if !dead && idle < window {
            return None;
        }
        let when = match s.last_success_at {
            Some(t) => format!("since {}", t.format("%Y-%m-%d %H:%M:%S UTC")),
            None => "ever".to_string(),
        };
        let mut reason = format!(
            "collection stuck: {} has not succeeded {when}; {} tries failed in a row",
            s.job_type, s.consecutive_failures
        );
        if let Some(e) = s.last_error {
            reason.push_str("; last error: ");
            reason.push_str(e);
        }
        Some(reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn at(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap() + chrono::Duration::minutes(min)
    }

    fn hot(last_ok: Option<i64>, failures: u32) -> CollectionState<'static> {
        CollectionState {
            job_type: "messages_hot",
            interval: Duration::from_secs(60),
            last_success_at: last_ok.map(at),
            consecutive_failures: failures,
            last_error: Some("database: boom"),
        }
    }

    #[test]
    fn a_passing_failure_is_not_stuck() {
        assert_eq!(stuck_reason(&[hot(Some(0), 2)], 5, at(-60), at(3)), None);
        assert_eq!(stuck_reason(&[hot(Some(0), 0)], 5, at(-60), at(300)), None);
    }

    #[test]
    fn failing_for_five_intervals_is_stuck_with_the_reason() {
        let r = stuck_reason(&[hot(Some(0), 2)], 5, at(-60), at(5)).unwrap();
        assert!(
            r.contains("messages_hot has not succeeded since 2026-12-07 12:00:00 UTC"),
            "{r}"
        );
        assert!(
            r.contains("2 tries failed") && r.ends_with("last error: database: boom"),
            "{r}"
        );
    }

    #[test]
    fn a_dead_lettered_job_is_stuck_at_once() {
        let r = stuck_reason(&[hot(Some(0), 5)], 5, at(-60), at(1)).unwrap();
        assert!(r.contains("5 tries failed"), "{r}");
        let never = stuck_reason(&[hot(None, 5)], 5, at(0), at(1)).unwrap();
        assert!(never.contains("has not succeeded ever"), "{never}");
    }
}
