//! What both backends do with a decoded job before and around the handler, so the AMQP and the
//! in-process queues behave the same: expiry, interrupted tries, holding back until `not_before`,
//! running the handler (a panic is a failure), and where a held-back job waits.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use domain::job::{JobEnvelope, JobOutcome, RetryTiers};
use futures::FutureExt;

use crate::handler::{Delivery, JobHandler};

/// A job that is due within this margin runs now rather than taking another trip through a
/// delay queue.
pub(crate) const DUE_MARGIN: Duration = Duration::from_millis(250);

/// What to do with a decoded job before running it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Past `expires`: dead-letter with this reason, do not run.
    Expired(String),
    /// `not_before` or `expires` beyond the horizon: dead-letter with this reason, do not run
    /// (holding it back would circle through the retry queues for as long as it asks).
    Refused(String),
    /// A previous try was interrupted: count it as a failed try (so a job that kills its worker
    /// cannot loop forever) and retry through the tiers.
    Interrupted(JobOutcome),
    /// Not due yet: wait this long first.
    Hold(Duration),
    Run,
}

pub(crate) fn before_running(
    job: &JobEnvelope,
    broker_redelivered: bool,
    now: DateTime<Utc>,
) -> Step {
    if job.is_expired(now) {
        let expires = job.expires.unwrap_or(now);
        return Step::Expired(format!(
            "expired at {} (received {}); not run",
            expires.to_rfc3339_opts(SecondsFormat::Millis, true),
            now.to_rfc3339_opts(SecondsFormat::Millis, true)
        ));
    }
    if let Err(e) = job.check_horizon(now) {
        return Step::Refused(format!("refused: {e}"));
    }
    if broker_redelivered {
        return Step::Interrupted(JobOutcome::retry(format!(
            "try {} was interrupted (the worker stopped or lost its broker connection before \
             acknowledging)",
            job.attempt
        )));
    }
    match job.wait_before_running(now) {
        Some(wait) if wait > DUE_MARGIN => Step::Hold(wait),
        _ => Step::Run,
    }
}

/// What became of a job the handler ran.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ran {
    /// Settle it by its outcome (ack, retry or dead-letter).
    Settle(JobOutcome),
    /// It was stopped by shutdown before it succeeded: return it to its queue unsettled.
    Stopped,
}

/// Run the handler; a panic becomes [`JobOutcome::Fail`] (a bug does not get better by retrying,
/// and the dead letter keeps the job for a requeue after the fix). Both transports come here, so
/// this is where jobs are counted and timed for `/metrics`. `stop` is the job's
/// [`stop_requested`](crate::stop_requested) token; a job that ends without success once it is
/// cancelled was (or may have been) cut short by it, so it is not settled.
pub(crate) async fn run_handler(
    handler: &Arc<dyn JobHandler>,
    job: JobEnvelope,
    delivery: Delivery,
    stop: &tokio_util::sync::CancellationToken,
) -> Ran {
    let job_type = job.job_type.clone();
    let job_id = job.job_id.clone();
    let started = std::time::Instant::now();
    let outcome =
        crate::shutdown::with_stop(stop.clone(), run_catching(handler, job, delivery)).await;
    crate::metrics::record_job(&job_type, &outcome, started.elapsed());
    if stop.is_cancelled() && !matches!(outcome, JobOutcome::Done { .. }) {
        tracing::info!(
            job_id,
            job_type = %job_type,
            "job stopped by shutdown; it goes back to its queue"
        );
        return Ran::Stopped;
    }
    Ran::Settle(outcome)
}

async fn run_catching(
    handler: &Arc<dyn JobHandler>,
    job: JobEnvelope,
    delivery: Delivery,
) -> JobOutcome {
    let job_id = job.job_id.clone();
    match AssertUnwindSafe(handler.handle(job, delivery))
        .catch_unwind()
        .await
    {
        Ok(outcome) => outcome,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(job_id, "job handler panicked: {msg}");
            JobOutcome::fail(format!("handler panicked: {msg}"))
        }
    }
}

/// Where a job held back for `wait` goes: a delay shorter than the shortest tier waits in the
/// per-message-expiration queue (where a message can only be held up behind others by less than
/// that tier); a longer one hops through the longest fixed-TTL tier that fits and is held again
/// on arrival until due. Fixed-TTL queues expire in order, so nothing waits behind a longer delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HoldRoute {
    Eta(Duration),
    Tier(usize),
}

pub(crate) fn hold_route(wait: Duration, tiers: &RetryTiers) -> HoldRoute {
    let delays = tiers.delays();
    match delays.iter().rposition(|d| *d <= wait) {
        Some(tier) => HoldRoute::Tier(tier),
        None => HoldRoute::Eta(wait),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::job::{JobType, TenantRef};
    use serde_json::json;

    fn job(now: DateTime<Utc>) -> JobEnvelope {
        JobEnvelope::new(JobType::Keystore, TenantRef::Id(1), json!({}), now)
    }

    #[test]
    fn expiry_comes_first_then_interruption_then_holding() {
        let now = Utc::now();
        let mut j = job(now);
        assert_eq!(before_running(&j, false, now), Step::Run);
        j.not_before = Some(now + chrono::Duration::seconds(5));
        assert_eq!(
            before_running(&j, false, now),
            Step::Hold(Duration::from_secs(5))
        );
        assert!(matches!(
            before_running(&j, true, now),
            Step::Interrupted(JobOutcome::Retry { .. })
        ));
        j.expires = Some(now - chrono::Duration::seconds(1));
        j.not_before = None;
        assert!(
            matches!(before_running(&j, true, now), Step::Expired(r) if r.contains("expired at"))
        );
        // Held back beyond the horizon: refused, not held.
        let mut far = job(now);
        far.not_before = Some(now + chrono::Duration::days(3650));
        assert!(
            matches!(before_running(&far, false, now), Step::Refused(r) if r.contains("not_before"))
        );
        // Almost due: run now.
        let mut k = job(now);
        k.not_before = Some(now + chrono::Duration::milliseconds(100));
        assert_eq!(before_running(&k, false, now), Step::Run);
    }

    #[test]
    fn holds_use_the_eta_queue_below_the_shortest_tier_and_hop_tiers_above() {
        let tiers =
            RetryTiers::new(vec![Duration::from_secs(10), Duration::from_secs(60)]).unwrap();
        assert_eq!(
            hold_route(Duration::from_secs(3), &tiers),
            HoldRoute::Eta(Duration::from_secs(3))
        );
        assert_eq!(
            hold_route(Duration::from_secs(10), &tiers),
            HoldRoute::Tier(0)
        );
        assert_eq!(
            hold_route(Duration::from_secs(59), &tiers),
            HoldRoute::Tier(0)
        );
        assert_eq!(
            hold_route(Duration::from_secs(600), &tiers),
            HoldRoute::Tier(1)
        );
    }
}
