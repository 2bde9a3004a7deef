//! How an error reaches the operator: one line, outermost context first.

use std::error::Error;

/// `e` and its causes on one line, `": "` between them, leaving out a cause whose text the line
/// already holds. Many errors show their source in their own message (`"creating /x: File
/// exists (os error 17)"`) and also return it as their source; anyhow's `{:#}` then prints it
/// twice.
pub fn one_line(e: &(dyn Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

/// [`one_line`] of an `anyhow::Error`.
pub fn anyhow_line(e: &anyhow::Error) -> String {
    one_line(e.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{what}: {source}")]
    struct Io {
        what: String,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::from_raw_os_error(17);
        let e = anyhow::Error::new(Io {
            what: "creating /data".into(),
            source: io,
        })
        .context("cannot open the database");
        // What the daemons printed before: the OS error twice.
        let before = format!("{e:#}");
        assert_eq!(before.matches("os error 17").count(), 2, "{before}");
        let line = anyhow_line(&e);
        assert_eq!(
            line,
            "cannot open the database: creating /data: File exists (os error 17)"
        );
        // Causes that add something are kept.
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(anyhow_line(&e), "outer: inner");
    }
}
