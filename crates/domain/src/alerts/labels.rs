//! Labels: the name/value pairs that identify an alert and that rules, silences and routing
//! match. Every alert carries at least `tenant`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("{0:?} is not a label name (letters, digits and _, not starting with a digit)")]
    BadName(String),
    #[error("the value of {0} is longer than 1024 characters")]
    TooLong(String),
}

/// A label name as Prometheus allows it: `[a-zA-Z_][a-zA-Z0-9_]*`, at most 128 characters.
pub fn check_label_name(name: &str) -> Result<(), LabelError> {
    let mut chars = name.chars();
    let ok = name.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(LabelError::BadName(name.to_string()))
    }
}

/// Sorted by name, so the same set always has the same identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(pub BTreeMap<String, String>);

impl Labels {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a label, checking its name and length.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> Result<(), LabelError> {
        check_label_name(name)?;
        let value = value.into();
        if value.chars().count() > 1024 {
            return Err(LabelError::TooLong(name.to_string()));
        }
        self.0.insert(name.to_string(), value);
        Ok(())
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Result<Self, LabelError> {
        self.set(name, value)?;
        Ok(self)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A missing label matches as the empty string, as in Alertmanager.
    pub fn value_of(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Labels of `other` that `self` lacks are added; `self` wins on conflicts.
    pub fn merged_under(mut self, other: &Labels) -> Self {
        for (k, v) in other.iter() {
            self.0.entry(k.to_string()).or_insert_with(|| v.to_string());
        }
        self
    }

    /// The canonical text of the set (`a="1",b="2"`, values JSON-escaped): an alert's identity
    /// within its rule, stored and compared as is.
    pub fn identity(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus() {
        for good in ["tenant", "_x", "team_2"] {
            assert!(check_label_name(good).is_ok(), "{good}");
        }
        for bad in ["", "2x", "a-b", "a b", "é"] {
            assert!(check_label_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identity_is_order_free_and_escapes_values() {
        let a = Labels::new()
            .with("tenant", "t1")
            .unwrap()
            .with("iflow", "a\",b=\"x")
            .unwrap();
        let b = Labels::new()
            .with("iflow", "a\",b=\"x")
            .unwrap()
            .with("tenant", "t1")
            .unwrap();
        assert_eq!(a.identity(), b.identity());
        assert_eq!(a.identity(), r#"iflow="a\",b=\"x",tenant="t1""#);
    }
}
