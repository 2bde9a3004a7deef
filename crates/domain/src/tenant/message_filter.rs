//! The tenant's OData `$filter`: checked so that it stays one expression inside the time window.

use super::MAX_MESSAGE_FILTER_CHARS;

/// Checks a tenant's own OData `$filter` before it is ANDed to the collector's time window:
/// string literals closed, parentheses balanced (so `Status eq 'FAILED') or (1 eq 1` cannot
/// close the window's group and widen the query), and outside literals only what a filter
/// expression needs (names, numbers, operators as words, `( ) / , . - _ : +`): no `&`, `?`,
/// `#`, `=` or `$` that could start another query option.
pub fn check_message_filter(filter: &str) -> Result<(), String> {
    let n = filter.chars().count();
    if n > MAX_MESSAGE_FILTER_CHARS {
        return Err(format!(
            "must be at most {MAX_MESSAGE_FILTER_CHARS} characters (has {n})"
        ));
    }
    let mut depth: usize = 0;
    let mut chars = filter.chars().peekable();
    let mut in_literal = false;
    while let Some(c) = chars.next() {
        if c.is_control() {
            return Err("must not contain control characters (line breaks, tabs, NUL)".into());
        }
        if in_literal {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next(); // '' is a quote inside the literal
                } else {
                    in_literal = false;
                }
            }
            continue;
        }
        match c {
            '\'' => in_literal = true,
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    "has a closing parenthesis without an opening one".to_string()
                })?;
            }
            c if c.is_ascii_alphanumeric() || " /,.-_:+".contains(c) => {}
            c => {
                return Err(format!(
                    "must not contain {c:?} outside a quoted value (allowed: names, numbers, \
                     'quoted values', spaces and ( ) / , . - _ : +)"
                ));
            }
        }
    }
    if in_literal {
        return Err("has a quoted value that is not closed (quote a ' inside one as '')".into());
    }
    if depth > 0 {
        return Err("has an opening parenthesis that is not closed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_filters_cannot_escape_their_parentheses_or_add_query_options() {
        for ok in [
            "Status eq 'FAILED'",
            "Status eq 'FAILED' or Status eq 'RETRY'",
            "(IntegrationArtifact/Name eq 'Orders (EU)') and Status ne 'COMPLETED'",
            "substringof('R&D ''x''', IntegrationArtifact/Name)",
            "LogStart gt datetime'2024-01-01T00:00:00.000'",
        ] {
            assert_eq!(check_message_filter(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("Status eq 'FAILED') or (1 eq 1", "closing parenthesis"),
            ("(Status eq 'FAILED'", "not closed"),
            ("Status eq 'FAILED", "quoted value"),
            ("Status eq 'FAILED'&$top=1", "'&'"),
            ("Status eq 'FAILED'#x", "'#'"),
            ("Status eq 'FAILED'?x=1", "'?'"),
            ("Status = 'FAILED'", "'='"),
            ("Status eq 'FAILED'\nor 1 eq 1", "control"),
        ] {
            let e = check_message_filter(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let long = format!("Status eq '{}'", "x".repeat(MAX_MESSAGE_FILTER_CHARS));
        assert!(check_message_filter(&long).unwrap_err().contains("at most"));
        let mut s = crate::tenant::tests::settings();
        s.collection.message_filter = Some("Status eq 'FAILED') or (1 eq 1".into());
        let err = s.validate().unwrap_err();
        assert!(err.field("collection.message_filter").is_some(), "{err}");
    }
}
