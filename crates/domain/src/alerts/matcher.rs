//! Label matchers as Alertmanager writes them: `name=value`, `name!=value`, `name=~regex`,
//! `name!~regex`. Regexes are anchored (they must match the whole value) and linear-time.

use super::labels::{Labels, check_label_name};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Re => "=~",
            Self::NotRe => "!~",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error(
        "{0:?} is not a matcher like team=finance, team!=x, iflow=~\"Order.*\" or iflow!~\"Test.*\""
    )]
    Syntax(String),
    #[error("{0}")]
    Name(String),
    #[error("{name}=~{pattern:?}: not a regular expression: {reason}")]
    Regex {
        name: String,
        pattern: String,
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (self.name.as_str(), self.op, self.value.as_str())
            == (other.name.as_str(), other.op, other.value.as_str())
    }
}

impl Eq for Matcher {}

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, MatcherError> {
        check_label_name(name).map_err(|e| MatcherError::Name(e.to_string()))?;
        let regex = match op {
            MatchOp::Re | MatchOp::NotRe => Some(Regex::new(&format!("^(?:{value})$")).map_err(
                |e| MatcherError::Regex {
                    name: name.to_string(),
                    pattern: value.to_string(),
                    reason: e.to_string(),
                },
            )?),
            MatchOp::Eq | MatchOp::Ne => None,
        };
        Ok(Self {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Parses `name<op>value`; the value may be double-quoted (JSON string escapes).
    pub fn parse(raw: &str) -> Result<Self, MatcherError> {
        let s = raw.trim();
        let syntax = || MatcherError::Syntax(raw.to_string());
        let at = s.find(['=', '!']).ok_or_else(syntax)?;
        let (name, rest) = (s[..at].trim(), &s[at..]);
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::Ne, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Eq, v)
        } else {
            return Err(syntax());
        };
        let value = value.trim();
        let value = if value.starts_with('"') {
            serde_json::from_str::<String>(value).map_err(|_| syntax())?
        } else {
            value.to_string()
        };
        Self::new(name, op, &value)
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.value_of(&self.name);
        match (self.op, &self.regex) {
            (MatchOp::Eq, _) => v == self.value,
            (MatchOp::Ne, _) => v != self.value,
            (MatchOp::Re, Some(r)) => r.is_match(v),
            (MatchOp::NotRe, Some(r)) => !r.is_match(v),
            (MatchOp::Re | MatchOp::NotRe, None) => unreachable!("built with its regex"),
        }
    }

    /// All of `matchers` match (an empty list matches everything).
    pub fn all_match(matchers: &[Matcher], labels: &Labels) -> bool {
        matchers.iter().all(|m| m.matches(labels))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.value.is_empty()
            && self
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.:/@".contains(c));
        if plain {
            write!(f, "{}{}{}", self.name, self.op.as_str(), self.value)
        } else {
            let quoted = serde_json::Value::String(self.value.clone());
            write!(f, "{}{}{quoted}", self.name, self.op.as_str())
        }
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels::new()
            .with("tenant", "prod")
            .unwrap()
            .with("iflow", "Order_Create")
            .unwrap()
    }

    #[test]
    fn the_four_operators() {
        let l = labels();
        assert!(Matcher::parse("tenant=prod").unwrap().matches(&l));
        assert!(Matcher::parse("tenant!=dev").unwrap().matches(&l));
        assert!(Matcher::parse("iflow=~\"Order.*\"").unwrap().matches(&l));
        assert!(!Matcher::parse("iflow!~Order.*").unwrap().matches(&l));
        // Anchored: a part of the value is not a match.
        assert!(!Matcher::parse("iflow=~Order").unwrap().matches(&l));
        // A missing label is the empty string.
        assert!(Matcher::parse("team=").unwrap().matches(&l));
        assert!(Matcher::parse("team!=finance").unwrap().matches(&l));
    }

    #[test]
    fn bad_matchers_say_why() {
        assert!(matches!(
            Matcher::parse("tenant"),
            Err(MatcherError::Syntax(_))
        ));
        assert!(matches!(Matcher::parse("2x=1"), Err(MatcherError::Name(_))));
        assert!(matches!(
            Matcher::parse("a=~("),
            Err(MatcherError::Regex { .. })
        ));
    }

    #[test]
    fn display_parses_back() {
        for raw in [
            "tenant=prod",
            "iflow=~\"Order.*|X\"",
            "team!=\"a b\"",
            "x!~y",
        ] {
            let m = Matcher::parse(raw).unwrap();
            assert_eq!(Matcher::parse(&m.to_string()).unwrap(), m, "{raw}");
        }
    }
}
