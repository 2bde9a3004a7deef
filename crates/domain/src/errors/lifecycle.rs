//! A group's lifecycle as pure functions: the store keeps a [`Lifecycle`] per group, reads the
//! [`Facts`] (counts, the iFlow's deployments) and asks what changes — after an occurrence
//! ([`after_occurrence`]), as time passes ([`on_tick`]) or by a manager's action ([`resolve`],
//! [`ignore`], [`reopen`]). Each change is a [`Transition`] the store records in the history.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::escalation::is_escalating;

/// A group is `new` while first seen less than this many days ago; `regressed` settles into
/// `ongoing` after the same time without being resolved again.
pub const NEW_DAYS: i64 = 7;
/// Longest window of an "N occurrences within W minutes" ignore: a week.
pub const MAX_IGNORE_WINDOW_MINUTES: u32 = 7 * 24 * 60;

/// The state of a group (`state` in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupState {
    /// First seen in the last 7 days.
    New,
    Ongoing,
    /// The last 60 minutes are above the group's hourly limit.
    Escalating,
    /// Seen again after it was resolved.
    Regressed,
    Resolved,
    Ignored,
}

impl GroupState {
    pub const ALL: [GroupState; 6] = [
        Self::New,
        Self::Ongoing,
        Self::Escalating,
        Self::Regressed,
        Self::Resolved,
        Self::Ignored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Ongoing => "ongoing",
            Self::Escalating => "escalating",
            Self::Regressed => "regressed",
            Self::Resolved => "resolved",
            Self::Ignored => "ignored",
        }
    }

    /// Unresolved and not ignored: what an operator should look at.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Resolved | Self::Ignored)
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LifecycleError {
    #[error(
        "unknown group state {0:?} (one of: new, ongoing, escalating, regressed, resolved, ignored)"
    )]
    UnknownState(String),
    #[error("unknown resolve mode {0:?} (one of: now, next_deployment)")]
    UnknownResolveMode(String),
    #[error("ignore until {0}: the date is not in the future")]
    DateInPast(DateTime<Utc>),
    #[error("ignore until N occurrences: N must be at least 1")]
    ZeroCount,
    #[error(
        "ignore until N occurrences within W minutes: W must be between 1 and {MAX_IGNORE_WINDOW_MINUTES}"
    )]
    BadWindow,
}

impl FromStr for GroupState {
    type Err = LifecycleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| LifecycleError::UnknownState(s.to_string()))
    }
}

/// How long an ignored group stays ignored; then it comes back as `ongoing` (or `escalating`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
/// Serialised as serde's default (`"forever"`, `{"date": "…"}`, `{"occurrences": 5}`,
/// `{"rate": {"count": 5, "window_minutes": 10}}`).
#[serde(rename_all = "snake_case")]
pub enum IgnoreUntil {
    Forever,
    /// Until this moment.
    Date(DateTime<Utc>),
    /// Until this many more occurrences.
    Occurrences(u64),
    /// Until `count` occurrences within `window_minutes`.
    Rate {
        count: u64,
        window_minutes: u32,
    },
}

impl IgnoreUntil {
    /// A clear error for a condition that can never or would at once end.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), LifecycleError> {
        match *self {
            Self::Forever => Ok(()),
            Self::Date(until) if until <= now => Err(LifecycleError::DateInPast(until)),
            Self::Date(_) => Ok(()),
            Self::Occurrences(0) | Self::Rate { count: 0, .. } => Err(LifecycleError::ZeroCount),
            Self::Occurrences(_) => Ok(()),
            Self::Rate { window_minutes, .. }
                if window_minutes == 0 || window_minutes > MAX_IGNORE_WINDOW_MINUTES =>
            {
                Err(LifecycleError::BadWindow)
            }
            Self::Rate { .. } => Ok(()),
        }
    }

    /// The window the store must count occurrences in for [`Facts::in_ignore_window`].
    pub fn window(&self) -> Option<Duration> {
        match self {
            Self::Rate { window_minutes, .. } => {
                Some(Duration::minutes(i64::from(*window_minutes)))
            }
            _ => None,
        }
    }
}

/// What "resolved" waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveMode {
    /// Fixed now: any later occurrence is a regression.
    Now,
    /// Fixed by the iFlow's next deployment: occurrences of messages started before it are
    /// expected; one from a message started after it is a regression.
    NextDeployment,
}

impl ResolveMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Now => "now",
            Self::NextDeployment => "next_deployment",
        }
    }
}

impl fmt::Display for ResolveMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResolveMode {
    type Err = LifecycleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "now" => Ok(Self::Now),
            "next_deployment" | "next-deployment" => Ok(Self::NextDeployment),
            _ => Err(LifecycleError::UnknownResolveMode(s.to_string())),
        }
    }
}

/// What the store keeps about a group's lifecycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    pub state: GroupState,
    pub first_seen: DateTime<Utc>,
    /// When `state` last changed.
    pub state_since: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolve_mode: Option<ResolveMode>,
    pub ignore: Option<IgnoreUntil>,
    pub ignored_at: Option<DateTime<Utc>>,
}

impl Lifecycle {
    /// A group seen for the first time.
    pub fn first(at: DateTime<Utc>) -> Self {
        Self {
            state: GroupState::New,
            first_seen: at,
            state_since: at,
            resolved_at: None,
            resolve_mode: None,
            ignore: None,
            ignored_at: None,
        }
    }

    fn moved(&self, to: GroupState, at: DateTime<Utc>) -> Self {
        Self {
            state: to,
            state_since: at,
            resolved_at: None,
            resolve_mode: None,
            ignore: None,
            ignored_at: None,
            ..self.clone()
        }
    }
}

/// An occurrence: a message of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// When it failed (the message's last update).
    pub occurred_at: DateTime<Utc>,
    /// When the message started (`log_start`): compared with the next deployment.
    pub log_start: DateTime<Utc>,
}

/// The counts and facts the store reads when deciding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Facts {
    pub now: DateTime<Utc>,
    /// For a group resolved with the next deployment: the iFlow's first deployment after
    /// `resolved_at` ([`next_deployment`]), if there has been one.
    pub next_deployment: Option<DateTime<Utc>>,
    /// Occurrences since `ignored_at`, the one being decided included.
    pub since_ignored: u64,
    /// Occurrences within the Rate ignore's window before `now`, the one being decided included.
    pub in_ignore_window: u64,
    /// Occurrences in the last 60 minutes.
    pub last_hour: u64,
    /// The group's escalation limit ([`super::hourly_limit`]).
    pub limit: f64,
}

/// Why a state changed (the history's `action` for automatic changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// An occurrence after a resolve.
    Regression,
    /// An occurrence of a message started after the deployment that was to fix it.
    RegressionAfterDeployment,
    IgnoreDateReached,
    IgnoreCountReached,
    IgnoreRateReached,
    Escalation,
    EscalationOver,
    /// Seven days after first seen.
    NoLongerNew,
    /// Seven days after a regression.
    RegressionSettled,
    Resolved,
    Ignored,
    Reopened,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regression => "regression",
            Self::RegressionAfterDeployment => "regression_after_deployment",
            Self::IgnoreDateReached => "ignore_date_reached",
            Self::IgnoreCountReached => "ignore_count_reached",
            Self::IgnoreRateReached => "ignore_rate_reached",
            Self::Escalation => "escalation",
            Self::EscalationOver => "escalation_over",
            Self::NoLongerNew => "no_longer_new",
            Self::RegressionSettled => "regression_settled",
            Self::Resolved => "resolve",
            Self::Ignored => "ignore",
            Self::Reopened => "reopen",
        }
    }
}

/// A change of state, and the group's lifecycle after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub from: GroupState,
    pub to: GroupState,
    pub reason: Reason,
    pub lifecycle: Lifecycle,
}

/// The first deployment after the resolve: the one that was to fix the group.
pub fn next_deployment(
    resolved_at: DateTime<Utc>,
    deployments: impl IntoIterator<Item = DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    deployments.into_iter().filter(|d| *d > resolved_at).min()
}

/// The state of a group that is neither resolved nor ignored: escalating above its limit, new in
/// its first 7 days, ongoing after.
pub fn active_state(first_seen: DateTime<Utc>, now: DateTime<Utc>, escalating: bool) -> GroupState {
    if escalating {
        GroupState::Escalating
    } else if now - first_seen < Duration::days(NEW_DAYS) {
        GroupState::New
    } else {
        GroupState::Ongoing
    }
}

/// Is this occurrence a regression of a resolved group?
pub fn is_regression(
    l: &Lifecycle,
    occ: &Occurrence,
    next_deployment: Option<DateTime<Utc>>,
) -> Option<Reason> {
    let resolved_at = l.resolved_at?;
    match l.resolve_mode.unwrap_or(ResolveMode::Now) {
        ResolveMode::Now => (occ.occurred_at > resolved_at).then_some(Reason::Regression),
        ResolveMode::NextDeployment => next_deployment
            .filter(|d| *d > resolved_at && occ.log_start > *d)
            .map(|_| Reason::RegressionAfterDeployment),
    }
}

/// Has the ignore condition been reached?
pub fn ignore_over(until: &IgnoreUntil, f: &Facts) -> Option<Reason> {
    match *until {
        IgnoreUntil::Forever => None,
        IgnoreUntil::Date(until) => (f.now >= until).then_some(Reason::IgnoreDateReached),
        IgnoreUntil::Occurrences(count) => {
            (f.since_ignored >= count).then_some(Reason::IgnoreCountReached)
        }
        IgnoreUntil::Rate { count, .. } => {
            (f.in_ignore_window >= count).then_some(Reason::IgnoreRateReached)
        }
    }
}

/// What changes when an occurrence arrives (its counts already in `f`).
pub fn after_occurrence(l: &Lifecycle, occ: &Occurrence, f: &Facts) -> Option<Transition> {
    let escalating = is_escalating(f.last_hour, f.limit);
    let (to, reason) = match l.state {
        GroupState::Resolved => {
            let reason = is_regression(l, occ, f.next_deployment)?;
            (GroupState::Regressed, reason)
        }
        GroupState::Ignored => {
            let reason = ignore_over(l.ignore.as_ref()?, f)?;
            (active_state(l.first_seen, f.now, escalating), reason)
        }
        GroupState::Escalating => return None,
        GroupState::New | GroupState::Ongoing | GroupState::Regressed => {
            if !escalating {
                return None;
            }
            (GroupState::Escalating, Reason::Escalation)
        }
    };
    Some(transition(l, to, reason, f.now))
}

/// What changes as time passes, without an occurrence: an ignore date reached, an escalation
/// over, a group no longer new, a regression settled.
pub fn on_tick(l: &Lifecycle, f: &Facts) -> Option<Transition> {
    let escalating = is_escalating(f.last_hour, f.limit);
    let week = Duration::days(NEW_DAYS);
    let (to, reason) = match l.state {
        GroupState::Ignored => match l.ignore? {
            IgnoreUntil::Date(until) if f.now >= until => (
                active_state(l.first_seen, f.now, escalating),
                Reason::IgnoreDateReached,
            ),
            _ => return None,
        },
        GroupState::Escalating if !escalating => (
            active_state(l.first_seen, f.now, false),
            Reason::EscalationOver,
        ),
        GroupState::New if f.now - l.first_seen >= week => {
            (GroupState::Ongoing, Reason::NoLongerNew)
        }
        GroupState::Regressed if f.now - l.state_since >= week => {
            (GroupState::Ongoing, Reason::RegressionSettled)
        }
        _ => return None,
    };
    (to != l.state).then(|| transition(l, to, reason, f.now))
}

/// A manager resolves the group.
pub fn resolve(l: &Lifecycle, mode: ResolveMode, now: DateTime<Utc>) -> Transition {
    let mut t = transition(l, GroupState::Resolved, Reason::Resolved, now);
    t.lifecycle.resolved_at = Some(now);
    t.lifecycle.resolve_mode = Some(mode);
    t
}

/// A manager ignores the group (validate `until` first: [`IgnoreUntil::validate`]).
pub fn ignore(l: &Lifecycle, until: IgnoreUntil, now: DateTime<Utc>) -> Transition {
    let mut t = transition(l, GroupState::Ignored, Reason::Ignored, now);
    t.lifecycle.ignore = Some(until);
    t.lifecycle.ignored_at = Some(now);
    t
}

/// A manager reopens a resolved or ignored group: it is active again.
pub fn reopen(l: &Lifecycle, f: &Facts) -> Transition {
    let to = active_state(l.first_seen, f.now, is_escalating(f.last_hour, f.limit));
    transition(l, to, Reason::Reopened, f.now)
}

fn transition(l: &Lifecycle, to: GroupState, reason: Reason, now: DateTime<Utc>) -> Transition {
    Transition {
        from: l.state,
        to,
        reason,
        lifecycle: l.moved(to, now),
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
