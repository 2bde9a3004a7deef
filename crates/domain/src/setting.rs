//! The one parser of setting values: booleans, whole numbers in a range, durations, sizes and
//! time zones. Every error names the variable, the bad value and the expected form, so the
//! process can stop at start with one line that says what to fix. Lookup by name and layering
//! (defaults < file < environment) live in `runtime::settings`; this module only reads text,
//! so the queue crate (below runtime) parses with it too.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// A value that does not parse: `KEY="value" is not valid; expected …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}={value:?} is not valid; expected {expected}")]
pub struct Invalid {
    pub key: String,
    pub value: String,
    pub expected: String,
}

impl Invalid {
    pub fn new(key: &str, value: &str, expected: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

/// `true/1/yes/on` or `false/0/no/off`, any case.
pub fn flag(key: &str, raw: &str) -> Result<bool, Invalid> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Invalid::new(key, raw, "true or false")),
    }
}

/// A whole number (any integer type).
pub fn whole<T: FromStr>(key: &str, raw: &str, expected: &str) -> Result<T, Invalid> {
    raw.trim()
        .parse()
        .map_err(|_| Invalid::new(key, raw, expected))
}

/// A whole number from `min` to `max`.
pub fn whole_in<T>(key: &str, raw: &str, min: T, max: T) -> Result<T, Invalid>
where
    T: FromStr + PartialOrd + Display + Copy,
{
    let expected = || format!("a whole number from {min} to {max}");
    let n: T = whole(key, raw, &expected())?;
    if n < min || n > max {
        return Err(Invalid::new(key, raw, expected()));
    }
    Ok(n)
}

/// A whole number of seconds from `min` to `max`.
pub fn seconds_in(key: &str, raw: &str, min: u64, max: u64) -> Result<Duration, Invalid> {
    let n: u64 = whole(key, raw, &seconds_expected(min, max))?;
    if n < min || n > max {
        return Err(Invalid::new(key, raw, seconds_expected(min, max)));
    }
    Ok(Duration::from_secs(n))
}

fn seconds_expected(min: u64, max: u64) -> String {
    match (min, max) {
        (0, u64::MAX) => "a whole number of seconds".into(),
        (min, u64::MAX) => format!("a whole number of seconds, at least {min}"),
        (min, max) => format!("a whole number of seconds from {min} to {max}"),
    }
}

/// `500ms`, `10s`, `5m`, `1h`, or a plain number of seconds.
pub fn duration(key: &str, raw: &str) -> Result<Duration, Invalid> {
    parse_duration(raw)
        .ok_or_else(|| Invalid::new(key, raw, "a duration such as 500ms, 10s, 5m or 1h"))
}

/// The duration grammar of [`duration`] without a variable name (lists of durations).
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (num, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, ""), |i| raw.split_at(i));
    let n: u64 = num.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" | "min" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

/// A size in bytes from `min` to `max`: a plain number of bytes, or with `KiB`, `MiB`, `GiB`.
pub fn bytes_in(key: &str, raw: &str, min: u64, max: u64) -> Result<u64, Invalid> {
    let expected = || format!("a size in bytes from {min} to {max} (or with KiB, MiB, GiB)");
    let text = raw.trim();
    let (num, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let n: u64 = num
        .parse()
        .map_err(|_| Invalid::new(key, raw, expected()))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        _ => return Err(Invalid::new(key, raw, expected())),
    };
    match n.checked_mul(factor) {
        Some(b) if (min..=max).contains(&b) => Ok(b),
        _ => Err(Invalid::new(key, raw, expected())),
    }
}

/// An IANA time zone name (`UTC`, `Europe/Berlin`).
pub fn time_zone(key: &str, raw: &str) -> Result<chrono_tz::Tz, Invalid> {
    raw.trim()
        .parse()
        .map_err(|_| Invalid::new(key, raw, "an IANA time zone name (e.g. UTC, Europe/Berlin)"))
}

/// One of the listed words (any case), returned in lower case.
pub fn one_of<'a>(key: &str, raw: &str, words: &[&'a str]) -> Result<&'a str, Invalid> {
    let lower = raw.trim().to_ascii_lowercase();
    words.iter().copied().find(|w| *w == lower).ok_or_else(|| {
        let expected = match words {
            [] => String::new(),
            [one] => (*one).to_string(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
        };
        Invalid::new(key, raw, expected)
    })
}

/// One resolved setting as `integramon config` shows it: the variable and its typed value in
/// words. Secrets are never put in an entry, only whether they are set ([`Entry::secret`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: &'static str,
    pub value: String,
}

impl Entry {
    pub fn new(key: &'static str, value: impl Display) -> Self {
        Self {
            key,
            value: value.to_string(),
        }
    }

    /// `(unset)` for `None`.
    pub fn optional(key: &'static str, value: Option<impl Display>) -> Self {
        Self {
            key,
            value: value.map_or_else(|| UNSET.to_string(), |v| v.to_string()),
        }
    }

    /// `***` when set, `(unset)` when not: a secret's value is never shown.
    pub fn secret(key: &'static str, set: bool) -> Self {
        Self {
            key,
            value: if set { MASK } else { UNSET }.to_string(),
        }
    }

    /// Seconds, as they are written (`20s`).
    pub fn secs(key: &'static str, d: Duration) -> Self {
        Self::new(key, format_args!("{}s", d.as_secs()))
    }
}

/// What a masked secret shows.
pub const MASK: &str = "***";
/// What an unset optional setting shows.
pub const UNSET: &str = "(unset)";

/// `scheme://user:secret@host/…` → `scheme://user:***@host/…` (a URL without a password as is).
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:{MASK}@{host}{tail}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_accept_the_usual_words_and_name_a_bad_one() {
        for t in ["1", "true", "YES", " on "] {
            assert_eq!(flag("F", t), Ok(true), "{t}");
        }
        for f in ["0", "False", "no", "off"] {
            assert_eq!(flag("F", f), Ok(false), "{f}");
        }
        assert_eq!(
            flag("DEMO", "maybe").unwrap_err().to_string(),
            "DEMO=\"maybe\" is not valid; expected true or false"
        );
    }

    #[test]
    fn numbers_and_seconds_keep_their_range() {
        assert_eq!(whole_in("N", "5", 1u32, 10), Ok(5));
        let e = whole_in("N", "0", 1u32, 10).unwrap_err().to_string();
        assert_eq!(
            e,
            "N=\"0\" is not valid; expected a whole number from 1 to 10"
        );
        assert!(whole_in("N", "x", 1u32, 10).is_err());
        assert_eq!(
            seconds_in("S", "7", 1, u64::MAX),
            Ok(Duration::from_secs(7))
        );
        let e = seconds_in("S", "0", 1, u64::MAX).unwrap_err().to_string();
        assert!(
            e.ends_with("expected a whole number of seconds, at least 1"),
            "{e}"
        );
        assert!(seconds_in("S", "-1", 0, u64::MAX).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("1d"), None);
        let e = duration("D", "soon").unwrap_err();
        assert_eq!((e.key.as_str(), e.value.as_str()), ("D", "soon"));
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(bytes_in("B", "1024", 1, u64::MAX), Ok(1024));
        assert_eq!(bytes_in("B", "256KiB", 1, u64::MAX), Ok(256 * 1024));
        assert_eq!(bytes_in("B", "2 MiB", 1, u64::MAX), Ok(2 << 20));
        assert!(bytes_in("B", "10", 1024, 2048).is_err());
        assert!(bytes_in("B", "1 TB", 1, u64::MAX).is_err());
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(
            time_zone("TZ", "Europe/Berlin"),
            Ok(chrono_tz::Europe::Berlin)
        );
        let e = time_zone("TZ", "Mars/Olympus").unwrap_err().to_string();
        assert!(
            e.contains("TZ=\"Mars/Olympus\"") && e.contains("IANA"),
            "{e}"
        );
    }

    #[test]
    fn urls_lose_their_password_only() {
        assert_eq!(
            mask_url("amqp://im:p%40ss@rabbit:5672/%2f"),
            "amqp://im:***@rabbit:5672/%2f"
        );
        assert_eq!(
            mask_url("postgres://u:pw@h/db?x=@"),
            "postgres://u:***@h/db?x=@"
        );
        assert_eq!(mask_url("amqp://u@h/v"), "amqp://u@h/v");
        assert_eq!(
            mask_url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(mask_url("amqp://host/"), "amqp://host/");
        assert_eq!(mask_url("not a url"), "not a url");
        assert_eq!(Entry::secret("K", true).value, "***");
        assert_eq!(Entry::optional("K", None::<u8>).value, "(unset)");
    }

    #[test]
    fn words() {
        assert_eq!(one_of("W", "ALL", &["problems", "all"]), Ok("all"));
        let e = one_of("W", "x", &["text", "json"]).unwrap_err().to_string();
        assert!(e.ends_with("expected text or json"), "{e}");
    }
}
