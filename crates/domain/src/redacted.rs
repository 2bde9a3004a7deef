//! A password, client secret or token on its way through the program: from the form or JSON body
//! that brings it, through the store that seals it, to the CPI client that sends it. `Debug` and
//! `Display` print `***`, so a struct holding one can derive `Debug` and a stray `{:?}` in a log
//! line or an error leaks nothing. It deserializes from a plain string but never serializes:
//! nothing sends a secret back.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for sealing it or building a request. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(v: String) -> Self {
        Self(v)
    }
}

impl From<&str> for Secret {
    fn from(v: &str) -> Self {
        Self(v.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Form {
        user: String,
        password: Secret,
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let form: Form = serde_json::from_str(r#"{"user":"amy","password":"hunter2hunter2"}"#)
            .expect("a plain string deserializes");
        let shown = format!("{form:?} {} {:?}", form.password, form.password);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        assert_eq!(form.password.expose(), "hunter2hunter2");
    }
}
