//! A job's outcome and the one rule that maps it to ack / retry / dead-letter.

use std::time::Duration;

use serde_json::Value;

/// What a handler reports after running a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Done and committed; `summary` is the job's result (what a Celery caller gets back).
    Done { summary: Value },
    /// Failed in a way another try may fix (tenant unreachable, rate limited, database busy).
    /// `after` asks for at least that delay.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Failed for good (bad parameters, unknown tenant): retrying cannot help.
    Fail { reason: String },
    /// Not run: the worker is busy with this job's tenant, so it hands the job back to wait
    /// `after` instead of holding one of its slots (fair scheduling). Like holding back for
    /// `not_before`, this is not a try.
    Defer { reason: String, after: Duration },
}

impl JobOutcome {
    pub fn done(summary: Value) -> Self {
        Self::Done { summary }
    }

    pub fn retry(reason: impl Into<String>) -> Self {
        Self::Retry {
            reason: reason.into(),
            after: None,
        }
    }

    pub fn retry_after(reason: impl Into<String>, after: Duration) -> Self {
        Self::Retry {
            reason: reason.into(),
            after: Some(after),
        }
    }

    pub fn fail(reason: impl Into<String>) -> Self {
        Self::Fail {
            reason: reason.into(),
        }
    }

    pub fn defer(reason: impl Into<String>, after: Duration) -> Self {
        Self::Defer {
            reason: reason.into(),
            after,
        }
    }
}

/// The retry delays, ascending and distinct (one retry queue each). Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTiers(Vec<Duration>);

impl RetryTiers {
    pub fn new(mut tiers: Vec<Duration>) -> Result<Self, String> {
        if tiers.is_empty() {
            return Err("at least one retry delay is needed".into());
        }
        if tiers.iter().any(|d| d.as_millis() == 0) {
            return Err("retry delays must be longer than zero".into());
        }
        tiers.sort();
        tiers.dedup();
        Ok(Self(tiers))
    }

    pub fn delays(&self) -> &[Duration] {
        &self.0
    }

    /// The tier used for an escalating retry after try number `attempt` (1 → the shortest).
    fn escalating(&self, attempt: u32) -> usize {
        let i = usize::try_from(attempt.max(1) - 1).unwrap_or(usize::MAX);
        i.min(self.0.len() - 1)
    }

    /// The shortest tier of at least `wanted`, or the longest.
    fn at_least(&self, wanted: Duration) -> usize {
        self.0
            .iter()
            .position(|d| *d >= wanted)
            .unwrap_or(self.0.len() - 1)
    }
}

impl Default for RetryTiers {
    /// 10 s, 1 min, 5 min, 30 min.
    fn default() -> Self {
        Self(vec![
            Duration::from_secs(10),
            Duration::from_secs(60),
            Duration::from_secs(300),
            Duration::from_secs(1800),
        ])
    }
}

/// What the queue does with a delivered job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Acknowledge: the job is finished.
    Ack,
    /// Publish the job to retry tier `tier` (waiting `delay`) as try `next_attempt`, then ack.
    Retry {
        tier: usize,
        delay: Duration,
        next_attempt: u32,
    },
    /// Publish the job to the dead-letter queue with `reason`, then ack.
    DeadLetter { reason: String },
    /// Hold the job back for `delay` (the same try, not counted), then ack.
    Hold { delay: Duration },
}

/// The one rule mapping a job's outcome to what the queue does with it. `attempt` is the try that
/// just ran (1-based), `max_attempts` the tries allowed in all (0 counts as 1).
///
/// Escalating retries use tier `attempt - 1` (capped at the longest); a retry that asks for a
/// delay gets the shortest tier at least that long (or the longest). The last allowed try that
/// fails is dead-lettered, with the last reason.
pub fn disposition(
    outcome: &JobOutcome,
    attempt: u32,
    max_attempts: u32,
    tiers: &RetryTiers,
) -> Disposition {
    let attempt = attempt.max(1);
    let max_attempts = max_attempts.max(1);
    match outcome {
        JobOutcome::Done { .. } => Disposition::Ack,
        JobOutcome::Defer { after, .. } => Disposition::Hold { delay: *after },
        JobOutcome::Fail { reason } => Disposition::DeadLetter {
            reason: format!("failed on attempt {attempt}: {reason}"),
        },
        JobOutcome::Retry { reason, .. } if attempt >= max_attempts => Disposition::DeadLetter {
            reason: format!("gave up after {attempt} of {max_attempts} attempts: {reason}"),
        },
        JobOutcome::Retry { after, .. } => {
            let tier = match after {
                Some(wanted) => tiers.at_least(*wanted),
                None => tiers.escalating(attempt),
            };
            Disposition::Retry {
                tier,
                delay: tiers.0[tier],
                next_attempt: attempt + 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tiers() -> RetryTiers {
        RetryTiers::new(vec![
            Duration::from_secs(60),
            Duration::from_secs(10),
            Duration::from_secs(300),
        ])
        .unwrap()
    }

    #[test]
    fn retry_tiers_are_sorted_distinct_and_never_empty() {
        assert_eq!(
            tiers().delays(),
            [
                Duration::from_secs(10),
                Duration::from_secs(60),
                Duration::from_secs(300)
            ]
        );
        assert!(RetryTiers::new(vec![]).is_err());
        assert!(RetryTiers::new(vec![Duration::ZERO]).is_err());
        assert_eq!(
            RetryTiers::new(vec![Duration::from_secs(5), Duration::from_secs(5)])
                .unwrap()
                .delays()
                .len(),
            1
        );
        assert_eq!(RetryTiers::default().delays().len(), 4);
    }

    #[test]
    fn done_is_acked_whatever_the_attempt() {
        for attempt in [0, 1, 2, 5, 6, u32::MAX] {
            for max in [0, 1, 5] {
                assert_eq!(
                    disposition(&JobOutcome::done(json!({})), attempt, max, &tiers()),
                    Disposition::Ack
                );
            }
        }
    }

    #[test]
    fn defer_holds_back_without_counting_a_try_even_on_the_last_one() {
        let d = JobOutcome::defer("tenant busy", Duration::from_secs(5));
        for attempt in [1, 5, 9] {
            assert_eq!(
                disposition(&d, attempt, 5, &tiers()),
                Disposition::Hold {
                    delay: Duration::from_secs(5)
                }
            );
        }
    }

    #[test]
    fn fail_is_dead_lettered_at_once_with_the_reason() {
        for attempt in [1, 3, 9] {
            match disposition(&JobOutcome::fail("no such tenant"), attempt, 5, &tiers()) {
                Disposition::DeadLetter { reason } => {
                    assert!(reason.contains("no such tenant"), "{reason}");
                    assert!(reason.contains(&format!("attempt {attempt}")), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn retries_escalate_through_the_tiers_then_stay_on_the_longest() {
        let r = JobOutcome::retry("tenant unreachable");
        let expect = |attempt: u32, tier, secs| Disposition::Retry {
            tier,
            delay: Duration::from_secs(secs),
            next_attempt: attempt + 1,
        };
        assert_eq!(disposition(&r, 1, 10, &tiers()), expect(1, 0, 10));
        assert_eq!(disposition(&r, 2, 10, &tiers()), expect(2, 1, 60));
        assert_eq!(disposition(&r, 3, 10, &tiers()), expect(3, 2, 300));
        assert_eq!(disposition(&r, 4, 10, &tiers()), expect(4, 2, 300));
        assert_eq!(disposition(&r, 9, 10, &tiers()), expect(9, 2, 300));
        // Attempt 0 (never sent by us) counts as the first.
        assert_eq!(disposition(&r, 0, 10, &tiers()), expect(1, 0, 10));
    }

    #[test]
    fn a_requested_delay_picks_the_shortest_tier_that_covers_it() {
        let at = |secs| JobOutcome::retry_after("429", Duration::from_secs(secs));
        let tier_of = |o: &JobOutcome| match disposition(o, 1, 5, &tiers()) {
            Disposition::Retry {
                tier, next_attempt, ..
            } => {
                assert_eq!(next_attempt, 2);
                tier
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(tier_of(&at(0)), 0);
        assert_eq!(tier_of(&at(10)), 0);
        assert_eq!(tier_of(&at(11)), 1);
        assert_eq!(tier_of(&at(60)), 1);
        assert_eq!(tier_of(&at(61)), 2);
        assert_eq!(tier_of(&at(100_000)), 2);
        // The requested delay wins over escalation, even on a late attempt.
        assert_eq!(
            disposition(&at(5), 4, 5, &tiers()),
            Disposition::Retry {
                tier: 0,
                delay: Duration::from_secs(10),
                next_attempt: 5
            }
        );
    }

    #[test]
    fn the_last_allowed_attempt_is_dead_lettered() {
        let r = JobOutcome::retry("tenant unreachable");
        for (attempt, max) in [(5, 5), (6, 5), (1, 1), (1, 0), (u32::MAX, 5)] {
            match disposition(&r, attempt, max, &tiers()) {
                Disposition::DeadLetter { reason } => {
                    assert!(reason.contains("tenant unreachable"), "{reason}");
                    assert!(reason.contains("gave up after"), "{reason}");
                }
                other => panic!("attempt {attempt} of {max}: {other:?}"),
            }
        }
        assert!(matches!(
            disposition(&r, 4, 5, &tiers()),
            Disposition::Retry {
                next_attempt: 5,
                ..
            }
        ));
        let delayed = JobOutcome::retry_after("429", Duration::from_secs(1));
        assert!(matches!(
            disposition(&delayed, 5, 5, &tiers()),
            Disposition::DeadLetter { .. }
        ));
    }

    #[test]
    fn a_single_tier_serves_every_retry() {
        let one = RetryTiers::new(vec![Duration::from_millis(500)]).unwrap();
        for attempt in 1..4 {
            assert_eq!(
                disposition(&JobOutcome::retry("x"), attempt, 4, &one),
                Disposition::Retry {
                    tier: 0,
                    delay: Duration::from_millis(500),
                    next_attempt: attempt + 1
                }
            );
        }
        assert_eq!(
            disposition(
                &JobOutcome::retry_after("x", Duration::from_secs(60)),
                1,
                4,
                &one
            ),
            Disposition::Retry {
                tier: 0,
                delay: Duration::from_millis(500),
                next_attempt: 2
            }
        );
    }
}
