//! Alert rules: the flat spec as written in the alerting document and the API ([`RuleSpec`],
//! unknown keys refused), and [`RuleSpec::validate`], which turns it into a typed [`Rule`] with
//! the defaults or lists every bad field with its path.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::defaults::default_rules;
use super::{Labels, Matcher, Severity, parse_duration};
use crate::MessageStatus;

/// Every rule kind the alerting document accepts.
pub const KINDS: [&str; 8] = [
    "message_failures",
    "error_rate",
    "error_group",
    "artifact_status",
    "certificate_expiry",
    "no_messages",
    "collection_health",
    "tenant_resources",
];

/// A rule as written: flat, every kind's parameters side by side; which ones apply depends on
/// `kind` (a parameter of another kind is refused by [`validate`](Self::validate)).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// One tenant by name; with neither `tenant` nor `tags` the rule covers every tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Matchers on the tenant's labels (`team=finance`): the tenants the rule covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Package id or name; `*` matches any run of characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// iFlow id or name; `*` matches any run of characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iflow: Option<String>,
    /// Matchers on the alert's own labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_messages: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ladder: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<String>,
    /// `no_messages`' schedule (evaluated by a later slice; kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<serde_json::Value>,
    /// `tenant_resources`' limits (evaluated by a later slice; kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<serde_json::Value>,
}

/// One bad field: its path (`window`, `tags[1]`; callers prefix `rules[2].`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every bad field of a rule, in field order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct RuleErrors(pub Vec<FieldError>);

impl RuleErrors {
    /// The same errors with `prefix` before every path (`rules[2].`).
    pub fn prefixed(self, prefix: &str) -> Self {
        Self(
            self.0
                .into_iter()
                .map(|e| FieldError {
                    path: format!("{prefix}{}", e.path),
                    message: e.message,
                })
                .collect(),
        )
    }
}

/// A package or iFlow filter: exact, or a glob with `*`.
#[derive(Debug, Clone)]
pub struct NamePattern {
    raw: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for NamePattern {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl NamePattern {
    pub fn new(raw: &str) -> Self {
        let raw = raw.trim().to_string();
        let regex = raw.contains('*').then(|| {
            let parts: Vec<String> = raw.split('*').map(regex::escape).collect();
            regex::Regex::new(&format!("^(?:{})$", parts.join(".*"))).expect("escaped glob")
        });
        Self { raw, regex }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    fn matches_one(&self, s: &str) -> bool {
        match &self.regex {
            Some(r) => r.is_match(s),
            None => s == self.raw,
        }
    }

    /// Matches the id or the display name.
    pub fn matches(&self, id: &str, name: Option<&str>) -> bool {
        self.matches_one(id) || name.is_some_and(|n| self.matches_one(n))
    }
}

/// Which tenants, packages and iFlows a rule looks at.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    pub tenant: Option<String>,
    pub tags: Vec<Matcher>,
    pub package: Option<NamePattern>,
    pub iflow: Option<NamePattern>,
    pub labels: Vec<Matcher>,
}

impl Scope {
    /// Whether the rule covers this tenant (its name and labels).
    pub fn covers_tenant(&self, name: &str, labels: &Labels) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == name) && Matcher::all_match(&self.tags, labels)
    }

    pub fn covers_package(&self, id: &str, name: Option<&str>) -> bool {
        self.package.as_ref().is_none_or(|p| p.matches(id, name))
    }

    pub fn covers_iflow(&self, id: &str, name: Option<&str>) -> bool {
        self.iflow.as_ref().is_none_or(|p| p.matches(id, name))
    }
}

/// One alert per iFlow, or one for the whole rule (per tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Iflow,
    Rule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupTrigger {
    New,
    Regressed,
    Escalating,
}

impl GroupTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Regressed => "regressed",
            Self::Escalating => "escalating",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactTrigger {
    Error,
    Undeployed,
    Redeployed,
}

impl ArtifactTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Undeployed => "undeployed",
            Self::Redeployed => "redeployed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthTrigger {
    Unreachable,
    Lag,
    DeadLetters,
    Stuck,
}

impl HealthTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Lag => "lag",
            Self::DeadLetters => "dead_letters",
            Self::Stuck => "stuck",
        }
    }
}

/// A kind with its parameters, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    MessageFailures {
        statuses: Vec<MessageStatus>,
        threshold: u64,
        window: Duration,
        per: Per,
    },
    ErrorRate {
        statuses: Vec<MessageStatus>,
        percent: f64,
        window: Duration,
        min_messages: u64,
        per: Per,
    },
    ErrorGroup {
        on: Vec<GroupTrigger>,
        resolve_after: Duration,
    },
    ArtifactStatus {
        on: Vec<ArtifactTrigger>,
        resolve_after: Duration,
    },
    CertificateExpiry {
        days: u32,
        /// Days left at which the severity rises one step each, descending.
        ladder: Vec<u32>,
    },
    CollectionHealth {
        on: Vec<HealthTrigger>,
        lag: Duration,
        /// How far back dead-lettered jobs count.
        window: Duration,
    },
    /// Accepted, not evaluated by this version: the kind's name.
    NotEvaluatedYet(String),
}

impl RuleKind {
    pub fn name(&self) -> &str {
        match self {
            Self::MessageFailures { .. } => "message_failures",
            Self::ErrorRate { .. } => "error_rate",
            Self::ErrorGroup { .. } => "error_group",
            Self::ArtifactStatus { .. } => "artifact_status",
            Self::CertificateExpiry { .. } => "certificate_expiry",
            Self::CollectionHealth { .. } => "collection_health",
            Self::NotEvaluatedYet(k) => k,
        }
    }
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub scope: Scope,
    pub severity: Severity,
    /// How long the condition holds before the alert fires (`pending` until then).
    pub for_: Duration,
    /// How long the condition must stay false before a firing alert resolves.
    pub keep_firing_for: Duration,
    pub enabled: bool,
    pub kind: RuleKind,
}

pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(900);
pub const DEFAULT_RESOLVE_AFTER: Duration = Duration::from_secs(86_400);
pub const DEFAULT_LAG: Duration = Duration::from_secs(900);
pub const DEFAULT_DEAD_LETTER_WINDOW: Duration = Duration::from_secs(3600);
pub const DEFAULT_DAYS: u32 = 30;
pub const DEFAULT_LADDER: [u32; 3] = [14, 7, 1];
/// Longest window a count may look back: the rollup is kept at least this long.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 86_400);

struct Check<'a> {
    spec: &'a RuleSpec,
    errors: Vec<FieldError>,
}

impl Check<'_> {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn duration(&mut self, path: &str, raw: Option<&String>, default: Duration) -> Duration {
        match raw {
            None => default,
            Some(raw) => match parse_duration(raw) {
                Ok(d) => d,
                Err(e) => {
                    self.err(path, e.to_string());
                    default
                }
            },
        }
    }

    fn matchers(&mut self, path: &str, raw: &[String]) -> Vec<Matcher> {
        raw.iter()
            .enumerate()
            .filter_map(|(i, m)| match Matcher::parse(m) {
                Ok(m) => Some(m),
                Err(e) => {
                    self.err(format!("{path}[{i}]"), e.to_string());
                    None
                }
            })
            .collect()
    }

    /// A parameter that `kind` does not take.
    fn refuse(&mut self, path: &str, present: bool, kind: &str) {
        if present {
            self.err(path, format!("is not a parameter of kind {kind}"));
        }
    }

    fn choices<T: Copy>(&mut self, path: &str, all: &[(&str, T)], default: &[T]) -> Vec<T> {
        if self.spec.on.is_empty() {
            return default.to_vec();
        }
        let mut out = Vec::new();
        for (i, raw) in self.spec.on.iter().enumerate() {
            match all.iter().find(|(n, _)| n.eq_ignore_ascii_case(raw.trim())) {
                Some((_, v)) => out.push(*v),
                None => self.err(
                    format!("{path}[{i}]"),
                    format!(
                        "{raw:?} is not one of {}",
                        all.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    ),
                ),
            }
        }
        out
    }

    fn statuses(&mut self) -> Vec<MessageStatus> {
        if self.spec.statuses.is_empty() {
            return vec![MessageStatus::Failed];
        }
        let mut out = Vec::new();
        for (i, raw) in self.spec.statuses.iter().enumerate() {
            match MessageStatus::parse(raw) {
                MessageStatus::Other(_) => self.err(
                    format!("statuses[{i}]"),
                    format!(
                        "{raw:?} is not a message status (FAILED, RETRY, ESCALATED, COMPLETED, \
                         PROCESSING, CANCELLED, DISCARDED, ABANDONED)"
                    ),
                ),
                s => out.push(s),
            }
        }
        out
    }

    fn per(&mut self) -> Per {
        match self.spec.per.as_deref().map(str::trim) {
            None | Some("iflow") => Per::Iflow,
            Some("rule") => Per::Rule,
            Some(other) => {
                self.err("per", format!("{other:?} is not one of iflow, rule"));
                Per::Iflow
            }
        }
    }

    fn window(&mut self, default: Duration) -> Duration {
        let w = self.duration("window", self.spec.window.as_ref(), default);
        if w.is_zero() || w > MAX_WINDOW {
            self.err("window", "must be longer than 0s and at most 7d");
        }
        w
    }
}

impl RuleSpec {
    /// The typed rule, or every bad field. Paths are relative to the rule.
    pub fn validate(&self) -> Result<Rule, RuleErrors> {
        let mut c = Check {
            spec: self,
            errors: Vec::new(),
        };
        let s = self;
        let name = s.name.trim();
        if name.is_empty() {
            c.err("name", "is required");
        } else if name.chars().count() > 128 {
            c.err("name", "must be at most 128 characters");
        } else if name.chars().any(char::is_control) {
            c.err("name", "must not contain control characters");
        }
        let kind = s.kind.trim();
        if !KINDS.contains(&kind) {
            c.err(
                "kind",
                format!("{kind:?} is not a rule kind (one of {})", KINDS.join(", ")),
            );
        }
        if s.tenant.as_deref().is_some_and(|t| t.trim().is_empty()) {
            c.err(
                "tenant",
                "must not be empty (leave it out for every tenant)",
            );
        }
        let tags = c.matchers("tags", &s.tags);
        let labels = c.matchers("labels", &s.labels);
        let severity = match s.severity.as_deref() {
            None if kind == "artifact_status" => Severity::Low,
            None => Severity::Medium,
            Some(raw) => Severity::parse(raw).unwrap_or_else(|| {
                c.err(
                    "severity",
                    format!("{raw:?} is not one of low, medium, high"),
                );
                Severity::Medium
            }),
        };
        let for_ = c.duration("for", s.for_.as_ref(), Duration::ZERO);
        let keep_firing_for = c.duration(
            "keep_firing_for",
            s.keep_firing_for.as_ref(),
            Duration::ZERO,
        );
        let kind = c.kind(kind);
        if !c.errors.is_empty() {
            return Err(RuleErrors(c.errors));
        }
        Ok(Rule {
            name: name.to_string(),
            scope: Scope {
                tenant: s.tenant.as_ref().map(|t| t.trim().to_string()),
                tags,
                package: s.package.as_deref().map(NamePattern::new),
                iflow: s.iflow.as_deref().map(NamePattern::new),
                labels,
            },
            severity,
            for_,
            keep_firing_for,
            enabled: s.enabled.unwrap_or(true),
            kind,
        })
    }
}

impl Check<'_> {
    fn kind(&mut self, kind: &str) -> RuleKind {
        let s = self.spec;
        // Which parameters each kind takes; any other present one is refused.
        let takes: &[&str] = match kind {
            "message_failures" => &["statuses", "threshold", "window", "per"],
            "error_rate" => &["statuses", "percent", "window", "min_messages", "per"],
            "error_group" => &["on", "resolve_after"],
            "artifact_status" => &["on", "resolve_after"],
            "certificate_expiry" => &["days", "ladder"],
            "collection_health" => &["on", "lag", "window"],
            "no_messages" => &["statuses", "threshold", "schedule"],
            "tenant_resources" => &["resources"],
            _ => return RuleKind::NotEvaluatedYet(kind.to_string()),
        };
        let present = [
            ("statuses", !s.statuses.is_empty()),
            ("threshold", s.threshold.is_some()),
            ("window", s.window.is_some()),
            ("per", s.per.is_some()),
            ("percent", s.percent.is_some()),
            ("min_messages", s.min_messages.is_some()),
            ("on", !s.on.is_empty()),
            ("resolve_after", s.resolve_after.is_some()),
            ("days", s.days.is_some()),
            ("ladder", !s.ladder.is_empty()),
            ("lag", s.lag.is_some()),
            ("schedule", s.schedule.is_some()),
            ("resources", s.resources.is_some()),
        ];
        for (field, there) in present {
            if !takes.contains(&field) {
                self.refuse(field, there, kind);
            }
        }
        let resolve_after = self.duration(
            "resolve_after",
            s.resolve_after.as_ref(),
            DEFAULT_RESOLVE_AFTER,
        );
        match kind {
            "message_failures" => {
                let threshold = s.threshold.unwrap_or(1);
                if threshold == 0 {
                    self.err("threshold", "must be at least 1");
                }
                RuleKind::MessageFailures {
                    statuses: self.statuses(),
                    threshold,
                    window: self.window(DEFAULT_WINDOW),
                    per: self.per(),
                }
            }
            "error_rate" => {
                let percent = s.percent.unwrap_or(10.0);
                if !(percent > 0.0 && percent <= 100.0) {
                    self.err("percent", "must be more than 0 and at most 100");
                }
                RuleKind::ErrorRate {
                    statuses: self.statuses(),
                    percent,
                    window: self.window(DEFAULT_RATE_WINDOW),
                    min_messages: s.min_messages.unwrap_or(10).max(1),
                    per: self.per(),
                }
            }
            "error_group" => RuleKind::ErrorGroup {
                on: self.choices(
                    "on",
                    &[
                        ("new", GroupTrigger::New),
                        ("regressed", GroupTrigger::Regressed),
                        ("escalating", GroupTrigger::Escalating),
                    ],
                    &[
                        GroupTrigger::New,
                        GroupTrigger::Regressed,
                        GroupTrigger::Escalating,
                    ],
                ),
                resolve_after,
            },
            "artifact_status" => RuleKind::ArtifactStatus {
                on: self.choices(
                    "on",
                    &[
                        ("error", ArtifactTrigger::Error),
                        ("undeployed", ArtifactTrigger::Undeployed),
                        ("redeployed", ArtifactTrigger::Redeployed),
                    ],
                    &[ArtifactTrigger::Error],
                ),
                resolve_after,
            },
            "certificate_expiry" => {
                let days = s.days.unwrap_or(DEFAULT_DAYS);
                if days == 0 || days > 3650 {
                    self.err("days", "must be between 1 and 3650");
                }
                let mut ladder = if s.ladder.is_empty() {
                    DEFAULT_LADDER.to_vec()
                } else {
                    s.ladder.clone()
                };
                if ladder.windows(2).any(|w| w[0] <= w[1]) {
                    self.err(
                        "ladder",
                        "must list days left in strictly descending order, like [14, 7, 1]",
                    );
                }
                ladder.retain(|d| *d < days);
                RuleKind::CertificateExpiry { days, ladder }
            }
            "collection_health" => RuleKind::CollectionHealth {
                on: self.choices(
                    "on",
                    &[
                        ("unreachable", HealthTrigger::Unreachable),
                        ("lag", HealthTrigger::Lag),
                        ("dead_letters", HealthTrigger::DeadLetters),
                        ("stuck", HealthTrigger::Stuck),
                    ],
                    &[
                        HealthTrigger::Unreachable,
                        HealthTrigger::Lag,
                        HealthTrigger::DeadLetters,
                        HealthTrigger::Stuck,
                    ],
                ),
                lag: self.duration("lag", s.lag.as_ref(), DEFAULT_LAG),
                window: self.window(DEFAULT_DEAD_LETTER_WINDOW),
            },
            other => RuleKind::NotEvaluatedYet(other.to_string()),
        }
    }
}

#[cfg(test)]
#[path = "rule_tests.rs"]
mod tests;
