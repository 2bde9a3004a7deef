//! Durations as people write them in rules and documents: `30s`, `5m`, `1h30m`, `7d`, `2w`.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration like 5m, 1h30m or 7d (units s, m, h, d, w)")]
pub struct DurationError(pub String);

/// Parses one or more `<number><unit>` parts, units `s m h d w`, e.g. `1h30m`. Zero is allowed
/// (`0s`: "at once"); an empty string, a bare number or an unknown unit is an error.
pub fn parse_duration(raw: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(raw.to_string());
    let s = raw.trim();
    if s.is_empty() {
        return Err(err());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(err()),
        };
        let n: u64 = digits.parse().map_err(|_| err())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(err)?;
    }
    if !digits.is_empty() {
        return Err(err());
    }
    Ok(Duration::from_secs(total))
}

/// The shortest spelling `parse_duration` reads back: `90s` → `1m30s`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn anything_else_is_refused_with_the_example() {
        for bad in [
            "",
            "5",
            "5 minutes",
            "m",
            "5x",
            "-5m",
            "99999999999999999999w",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.to_string().contains("like 5m"), "{bad}: {e}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for s in ["0s", "30s", "1m30s", "1h", "1d2h", "2w"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
