//! An alert instance's lifecycle as a pure function: what one evaluation does to an identity,
//! given its open alert (if any), whether the rule observed the condition now, and the rule's
//! `for` / `keep_firing_for`. Each state change carries the cause text stored in the transition
//! log.
//!
//! ```text
//!   (none) ──observed──► pending ──held for `for`──► firing ──ack──► acknowledged
//!                           │                        │  ▲              │  (until: expiry → firing)
//!              cleared before `for`        false ≥ keep_firing_for     │
//!                           ▼                        ▼  │ back within keep_firing_for: held
//!                        resolved ◄──────────────────┘──┘◄─────────────┘
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{AlertState, format_duration};

/// What the lifecycle needs of an open alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAlert {
    pub state: AlertState,
    pub started_at: DateTime<Utc>,
    /// Since when the condition is false while firing or acknowledged (held by
    /// `keep_firing_for`); `None` while it holds.
    pub recovering_since: Option<DateTime<Utc>>,
    /// An acknowledgement's end, after which the alert fires again.
    pub ack_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub for_: Duration,
    pub keep_firing_for: Duration,
}

/// A state change with its cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub to: AlertState,
    pub cause: String,
}

/// What one evaluation does to one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No open alert and nothing observed.
    Nothing,
    /// Open a new alert in `to` (pending or firing).
    Open(Move),
    /// Update the open alert: maybe a state change, and the `recovering_since` to store.
    Update {
        change: Option<Move>,
        recovering_since: Option<DateTime<Utc>>,
    },
}

fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or_default()
}

/// The step for one identity at `now`. `what` describes the observed condition for the cause
/// text (`3 failed messages in 5m`).
pub fn step(
    open: Option<&OpenAlert>,
    observed: bool,
    what: &str,
    now: DateTime<Utc>,
    t: Timing,
) -> Step {
    let Some(open) = open else {
        if !observed {
            return Step::Nothing;
        }
        return Step::Open(if t.for_.is_zero() {
            Move {
                to: AlertState::Firing,
                cause: format!("condition true: {what}"),
            }
        } else {
            Move {
                to: AlertState::Pending,
                cause: format!(
                    "condition true: {what}; fires if it holds for {}",
                    format_duration(t.for_)
                ),
            }
        });
    };
    let keep = |change| Step::Update {
        change,
        recovering_since: open.recovering_since,
    };
    match (open.state, observed) {
        (AlertState::Resolved, _) => Step::Nothing,
        (AlertState::Pending, true) => {
            if elapsed(open.started_at, now) >= t.for_ {
                keep(Some(Move {
                    to: AlertState::Firing,
                    cause: format!("condition held for {}: {what}", format_duration(t.for_)),
                }))
            } else {
                keep(None)
            }
        }
        (AlertState::Pending, false) => Step::Update {
            change: Some(Move {
                to: AlertState::Resolved,
                cause: format!(
                    "condition cleared before it held for {}",
                    format_duration(t.for_)
                ),
            }),
            recovering_since: None,
        },
        (state @ (AlertState::Firing | AlertState::Acknowledged), observed) => {
            let ack_expired = state == AlertState::Acknowledged
                && open.ack_until.is_some_and(|until| until <= now);
            let expiry = ack_expired.then(|| Move {
                to: AlertState::Firing,
                cause: "acknowledgement expired".to_string(),
            });
            if observed {
                // Back within keep_firing_for: the resolution is held off (no flapping).
                return Step::Update {
                    change: expiry,
                    recovering_since: None,
                };
            }
            let since = open.recovering_since.unwrap_or(now);
            if elapsed(since, now) >= t.keep_firing_for {
                let cause = if t.keep_firing_for.is_zero() {
                    "condition no longer true".to_string()
                } else {
                    format!("condition false for {}", format_duration(t.keep_firing_for))
                };
                Step::Update {
                    change: Some(Move {
                        to: AlertState::Resolved,
                        cause,
                    }),
                    recovering_since: None,
                }
            } else {
                Step::Update {
                    change: expiry,
                    recovering_since: Some(since),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("comment: an acknowledgement needs a comment")]
    NoComment,
    #[error("until: must be in the future")]
    UntilInPast,
    #[error("only a firing alert can be acknowledged (this one is {0})")]
    NotFiring(AlertState),
}

/// Acknowledge an open alert: the move, after checking the comment and `until`.
pub fn acknowledge(
    state: AlertState,
    by: &str,
    comment: &str,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Move, AckError> {
    if comment.trim().is_empty() {
        return Err(AckError::NoComment);
    }
    if until.is_some_and(|u| u <= now) {
        return Err(AckError::UntilInPast);
    }
    if state != AlertState::Firing {
        return Err(AckError::NotFiring(state));
    }
    let until = until
        .map(|u| format!(" until {}", u.to_rfc3339()))
        .unwrap_or_default();
    Ok(Move {
        to: AlertState::Acknowledged,
        cause: format!("acknowledged by {by}{until}: {}", comment.trim()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    const T: Timing = Timing {
        for_: Duration::from_secs(60),
        keep_firing_for: Duration::from_secs(120),
    };

    fn open(state: AlertState) -> OpenAlert {
        OpenAlert {
            state,
            started_at: at(0),
            recovering_since: None,
            ack_until: None,
        }
    }

    fn to(step: &Step) -> Option<AlertState> {
        match step {
            Step::Open(m) => Some(m.to),
            Step::Update { change, .. } => change.as_ref().map(|m| m.to),
            Step::Nothing => None,
        }
    }

    #[test]
    fn nothing_observed_nothing_opened() {
        assert_eq!(step(None, false, "x", at(0), T), Step::Nothing);
    }

    #[test]
    fn opens_pending_with_for_and_firing_without() {
        let s = step(None, true, "2 failed", at(0), T);
        assert_eq!(to(&s), Some(AlertState::Pending));
        let zero = Timing {
            for_: Duration::ZERO,
            ..T
        };
        match step(None, true, "2 failed", at(0), zero) {
            Step::Open(m) => {
                assert_eq!(m.to, AlertState::Firing);
                assert_eq!(m.cause, "condition true: 2 failed");
            }
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn pending_fires_once_for_has_elapsed() {
        let p = open(AlertState::Pending);
        assert_eq!(to(&step(Some(&p), true, "x", at(59), T)), None);
        let s = step(Some(&p), true, "x", at(60), T);
        assert_eq!(to(&s), Some(AlertState::Firing));
    }

    #[test]
    fn pending_that_clears_resolves_without_firing() {
        let s = step(Some(&open(AlertState::Pending)), false, "x", at(10), T);
        assert_eq!(to(&s), Some(AlertState::Resolved));
    }

    #[test]
    fn firing_holds_its_resolution_for_keep_firing_for() {
        let f = open(AlertState::Firing);
        // First false evaluation: recovering, still firing.
        let s = step(Some(&f), false, "x", at(100), T);
        assert_eq!(
            s,
            Step::Update {
                change: None,
                recovering_since: Some(at(100))
            }
        );
        let recovering = OpenAlert {
            recovering_since: Some(at(100)),
            ..f.clone()
        };
        assert_eq!(to(&step(Some(&recovering), false, "x", at(219), T)), None);
        assert_eq!(
            to(&step(Some(&recovering), false, "x", at(220), T)),
            Some(AlertState::Resolved)
        );
    }

    #[test]
    fn flapping_is_held_firing() {
        let recovering = OpenAlert {
            recovering_since: Some(at(100)),
            ..open(AlertState::Firing)
        };
        // Back within keep_firing_for: no transition, the recovery mark is cleared.
        assert_eq!(
            step(Some(&recovering), true, "x", at(150), T),
            Step::Update {
                change: None,
                recovering_since: None
            }
        );
        // Down, up, down, up…: never resolves, never a new alert.
        let mut cur = open(AlertState::Firing);
        for i in 0..10 {
            let observed = i % 2 == 0;
            match step(Some(&cur), observed, "x", at(200 + i * 30), T) {
                Step::Update {
                    change: None,
                    recovering_since,
                } => cur.recovering_since = recovering_since,
                s => panic!("flap {i}: {s:?}"),
            }
        }
        assert_eq!(cur.state, AlertState::Firing);
    }

    #[test]
    fn zero_keep_firing_for_resolves_at_once() {
        let t = Timing {
            keep_firing_for: Duration::ZERO,
            ..T
        };
        match step(Some(&open(AlertState::Firing)), false, "x", at(5), t) {
            Step::Update {
                change: Some(m), ..
            } => {
                assert_eq!(m.to, AlertState::Resolved);
                assert_eq!(m.cause, "condition no longer true");
            }
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn acknowledged_stays_until_resolved() {
        let a = open(AlertState::Acknowledged);
        assert_eq!(to(&step(Some(&a), true, "x", at(1000), T)), None);
        let recovering = OpenAlert {
            recovering_since: Some(at(1000)),
            ..a
        };
        assert_eq!(
            to(&step(Some(&recovering), false, "x", at(1120), T)),
            Some(AlertState::Resolved)
        );
    }

    #[test]
    fn ack_until_expiry_fires_again() {
        let a = OpenAlert {
            ack_until: Some(at(500)),
            ..open(AlertState::Acknowledged)
        };
        assert_eq!(to(&step(Some(&a), true, "x", at(499), T)), None);
        match step(Some(&a), true, "x", at(500), T) {
            Step::Update {
                change: Some(m), ..
            } => {
                assert_eq!(m.to, AlertState::Firing);
                assert_eq!(m.cause, "acknowledgement expired");
            }
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn resolved_is_never_touched() {
        assert_eq!(
            step(Some(&open(AlertState::Resolved)), true, "x", at(0), T),
            Step::Nothing
        );
    }

    #[test]
    fn acknowledging_needs_a_comment_and_a_firing_alert() {
        let now = at(0);
        assert_eq!(
            acknowledge(AlertState::Firing, "ann", " ", None, now),
            Err(AckError::NoComment)
        );
        assert_eq!(
            acknowledge(AlertState::Firing, "ann", "x", Some(at(-1)), now),
            Err(AckError::UntilInPast)
        );
        assert_eq!(
            acknowledge(AlertState::Resolved, "ann", "x", None, now),
            Err(AckError::NotFiring(AlertState::Resolved))
        );
        let m = acknowledge(AlertState::Firing, "ann", "on it", None, now).unwrap();
        assert_eq!(m.to, AlertState::Acknowledged);
        assert_eq!(m.cause, "acknowledged by ann: on it");
    }
}
