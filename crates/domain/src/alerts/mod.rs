//! Alerting's shared vocabulary: severities, states, labels, matchers and durations. Rule
//! evaluation, silences, maintenance windows and the alerting document build on these.
//! Semantics follow Prometheus/Alertmanager/Grafana (see docs/alerts.md).

mod artifact_memory;
mod defaults;
mod duration;
pub mod eval;
pub mod inhibit;
mod labels;
pub mod lifecycle;
mod matcher;
pub mod rule;
pub mod schedule;
pub mod silence;

pub use duration::{DurationError, format_duration, parse_duration};
pub use labels::{LabelError, Labels, check_label_name};
pub use matcher::{MatchOp, Matcher, MatcherError};

use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad an alert is. Ordered: `Low < Medium < High`, so a ladder can only raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Low, Severity::Medium, Severity::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alert instance's state. `Pending`: the condition holds for less than the rule's `for`;
/// `Firing`; `Acknowledged`: someone owns it (stops repeat notifications, resolving still
/// notifies); `Resolved`: the condition was false for the rule's `keep_firing_for`. The original
/// product's `alerted` is `Firing`, `acknowledged` is `Acknowledged`, `outdated` is `Resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Pending,
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub const ALL: [AlertState; 4] = [
        AlertState::Pending,
        AlertState::Firing,
        AlertState::Acknowledged,
        AlertState::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Firing => "firing",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw.trim()))
    }

    /// Open alerts are the ones an identity may have at most one of.
    pub fn is_open(self) -> bool {
        self != Self::Resolved
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Low < Severity::Medium && Severity::Medium < Severity::High);
        assert_eq!(Severity::parse(" HIGH "), Some(Severity::High));
        assert_eq!(Severity::parse("critical"), None);
    }

    #[test]
    fn only_resolved_is_closed() {
        assert!(AlertState::Pending.is_open() && AlertState::Acknowledged.is_open());
        assert!(!AlertState::Resolved.is_open());
        assert_eq!(AlertState::parse("firing"), Some(AlertState::Firing));
    }
}
