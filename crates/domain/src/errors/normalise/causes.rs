//! Cause chains: CPI and Camel repeat the same text as its own cause
//! (`X: boom, cause: X: boom, cause: X: boom`) or end the outer text with the inner one
//! (`A: B: boom, cause: B: boom`). The repeats collapse, so the depth of the chain does not split
//! a group.

use std::collections::HashSet;

/// Where a cause starts. Rejoined with [`JOIN`] whichever of them the text used.
const SEPARATORS: [&str; 4] = [", cause: ", "; cause: ", "\nCaused by: ", "\ncause: "];
const JOIN: &str = ", cause: ";

/// Drops each cause equal to one kept before it, or that the previous kept part ends with.
/// One pass over the text plus one comparison per cause: linear.
pub(super) fn collapse(text: String) -> String {
    let parts = split(&text);
    if parts.len() == 1 {
        return text;
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(parts.len());
    let mut kept: Vec<&str> = Vec::with_capacity(parts.len());
    for part in parts {
        let part = part.trim();
        if part.is_empty() || seen.contains(part) {
            continue;
        }
        if kept.last().is_some_and(|last| last.ends_with(part)) {
            continue;
        }
        seen.insert(part);
        kept.push(part);
    }
    kept.join(JOIN)
}

fn split(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if matches!(b[i], b',' | b';' | b'\n')
            && let Some(sep) = SEPARATORS.iter().find(|s| b[i..].starts_with(s.as_bytes()))
        {
            parts.push(&text[start..i]);
            i += sep.len();
            start = i;
            continue;
        }
        i += 1;
    }
    parts.push(&text[start..]);
    parts
}
