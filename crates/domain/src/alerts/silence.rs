//! Silences: one-off mutes by label matchers between a start and an end, with a creator and a
//! required comment; pending before the start, active until the end (or until its alerts
//! resolve, with `expire_on_resolve`), expired after. Silenced alerts stay listed, marked, and
//! are never notified.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rule::{FieldError, RuleErrors};
use super::{Labels, Matcher};

/// A silence as written in the alerting document and the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    /// Every object of the alerting document has a name.
    pub name: String,
    pub matchers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub expire_on_resolve: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub name: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    pub expire_on_resolve: bool,
    /// Set when it was ended early (by hand, or because its alerts resolved).
    pub expired_at: Option<DateTime<Utc>>,
}

impl SilenceSpec {
    /// The silence, created by `by` at `now`, or every bad field.
    pub fn validate(&self, by: &str, now: DateTime<Utc>) -> Result<Silence, RuleErrors> {
        let mut errors = Vec::new();
        let mut err = |path: String, message: String| errors.push(FieldError { path, message });
        if self.name.trim().is_empty() {
            err("name".into(), "is required".into());
        }
        if self.matchers.is_empty() {
            err(
                "matchers".into(),
                "at least one matcher is required (a silence of everything is refused)".into(),
            );
        }
        let mut matchers = Vec::new();
        for (i, raw) in self.matchers.iter().enumerate() {
            match Matcher::parse(raw) {
                Ok(m) => matchers.push(m),
                Err(e) => err(format!("matchers[{i}]"), e.to_string()),
            }
        }
        if self.comment.trim().is_empty() {
            err(
                "comment".into(),
                "is required: say why alerts are silenced".into(),
            );
        }
        let starts_at = self.starts_at.unwrap_or(now);
        if self.ends_at <= starts_at {
            err("ends_at".into(), "must be after starts_at".into());
        } else if self.ends_at <= now {
            err("ends_at".into(), "must be in the future".into());
        }
        if !errors.is_empty() {
            return Err(RuleErrors(errors));
        }
        Ok(Silence {
            name: self.name.trim().to_string(),
            matchers,
            starts_at,
            ends_at: self.ends_at,
            created_by: by.to_string(),
            comment: self.comment.trim().to_string(),
            expire_on_resolve: self.expire_on_resolve,
            expired_at: None,
        })
    }
}

impl Silence {
    pub fn state_at(&self, now: DateTime<Utc>) -> SilenceState {
        if self.expired_at.is_some_and(|t| t <= now) || self.ends_at <= now {
            SilenceState::Expired
        } else if now < self.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Active at `now` and every matcher matches.
    pub fn mutes(&self, labels: &Labels, now: DateTime<Utc>) -> bool {
        self.state_at(now) == SilenceState::Active && Matcher::all_match(&self.matchers, labels)
    }

    /// With `expire_on_resolve`: whether it should end now, given whether any alert it has
    /// muted is still open. A silence that never muted anything stays.
    pub fn ends_on_resolve(&self, muted_any: bool, any_still_open: bool) -> bool {
        self.expire_on_resolve && muted_any && !any_still_open
    }
}

/// The first active silence muting `labels`: "silenced by NAME".
pub fn silenced_by<'a>(
    silences: &'a [Silence],
    labels: &Labels,
    now: DateTime<Utc>,
) -> Option<&'a Silence> {
    silences.iter().find(|s| s.mutes(labels, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 8, h, 0, 0).unwrap()
    }

    fn spec() -> SilenceSpec {
        SilenceSpec {
            name: "maintenance".into(),
            matchers: vec!["tenant=demo".into(), "iflow=~\"Order.*\"".into()],
            starts_at: Some(at(10)),
            ends_at: at(12),
            comment: "upgrade".into(),
            expire_on_resolve: false,
        }
    }

    #[test]
    fn pending_active_expired() {
        let s = spec().validate("ann", at(9)).unwrap();
        assert_eq!(s.state_at(at(9)), SilenceState::Pending);
        assert_eq!(s.state_at(at(10)), SilenceState::Active);
        assert_eq!(s.state_at(at(12)), SilenceState::Expired);
        let ended = Silence {
            expired_at: Some(at(11)),
            ..s
        };
        assert_eq!(ended.state_at(at(11)), SilenceState::Expired);
    }

    #[test]
    fn mutes_only_matching_labels_while_active() {
        let s = spec().validate("ann", at(9)).unwrap();
        let hit = Labels::new()
            .with("tenant", "demo")
            .unwrap()
            .with("iflow", "Order_1")
            .unwrap();
        let miss = hit.clone().with("iflow", "Invoice").unwrap();
        assert!(s.mutes(&hit, at(11)));
        assert!(!s.mutes(&miss, at(11)));
        assert!(!s.mutes(&hit, at(9)));
        let list = [s];
        assert_eq!(
            silenced_by(&list, &hit, at(11)).unwrap().name,
            "maintenance"
        );
    }

    #[test]
    fn comment_matchers_and_times_are_required() {
        let bad = SilenceSpec {
            name: "".into(),
            matchers: vec!["x".into()],
            comment: " ".into(),
            ends_at: at(8),
            ..spec()
        };
        let e = bad.validate("ann", at(9)).unwrap_err().to_string();
        for want in [
            "name: is required",
            "matchers[0]:",
            "comment: is required",
            "ends_at: must be after starts_at",
        ] {
            assert!(e.contains(want), "{want} in {e}");
        }
        let none = SilenceSpec {
            matchers: vec![],
            ..spec()
        };
        assert!(
            none.validate("ann", at(9))
                .unwrap_err()
                .to_string()
                .contains("matchers: at least one")
        );
    }

    #[test]
    fn expire_on_resolve_needs_to_have_muted_something() {
        let s = Silence {
            expire_on_resolve: true,
            ..spec().validate("ann", at(9)).unwrap()
        };
        assert!(!s.ends_on_resolve(false, false));
        assert!(!s.ends_on_resolve(true, true));
        assert!(s.ends_on_resolve(true, false));
    }
}
