//! Normalisation of an error text: only its first [`MAX_INPUT_BYTES`] are read, the variable
//! parts are replaced by readable placeholders in one left-to-right pass ([`scan`]), repeated
//! cause chains collapse ([`causes`]), and the result is cut to [`MAX_TEMPLATE_BYTES`].
//! Every step is linear in the input: hand-written scanners with bounded look-ahead, no regex.

mod causes;
mod lookback;
mod scan;
mod tokens;
mod url;

/// Only this much of an error text is read: a 1 MB HTTP body costs what 4 KB cost.
pub const MAX_INPUT_BYTES: usize = 4096;
/// The template is cut here. It is shorter than the input window so that two texts of one problem
/// whose variable parts differ in length still cut at the same place of the template.
pub const MAX_TEMPLATE_BYTES: usize = 2048;
/// A group's title: the normalised first line, at most this many characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Title of an error text that is empty once normalised (only spaces or binary junk).
pub const EMPTY_TITLE: &str = "(empty error text)";

/// The normalised text of an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    /// The whole normalised text of the first few KB, causes collapsed: what is fingerprinted.
    pub template: String,
    /// The normalised first line with readable placeholders (`<id>`, `<number>`, …), ≤ 200 chars.
    pub title: String,
}

/// Normalises any text, in time linear in `min(text.len(), MAX_INPUT_BYTES)`.
pub fn normalise(text: &str) -> Normalised {
    let input = prefix(text, MAX_INPUT_BYTES);
    let mut template = causes::collapse(scan::replace_variables(input));
    let cut = prefix(&template, MAX_TEMPLATE_BYTES).trim_end().len();
    template.truncate(cut);
    let title = title_of(&template);
    Normalised { template, title }
}

/// The normalised first non-empty line, cut to [`MAX_TITLE_CHARS`] characters (with `…`). A
/// line too long keeps its URLs' scheme and host only (`https://erp.example.com/…`), so what
/// follows the URL (`with statusCode: 401`) stays in the title.
fn title_of(template: &str) -> String {
    let Some(line) = template.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return EMPTY_TITLE.to_string();
    };
    if line.chars().count() <= MAX_TITLE_CHARS {
        return line.to_string();
    }
    let line = shorten_urls(line);
    if line.chars().count() <= MAX_TITLE_CHARS {
        return line;
    }
    let mut t: String = line.chars().take(MAX_TITLE_CHARS - 1).collect();
    t.push('…');
    t
}

/// Every `scheme://host/path?query` of a template line → `scheme://host/…`. One pass.
fn shorten_urls(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(p) = rest.find("://") {
        let host_start = p + 3;
        let host_end = rest[host_start..]
            .find(|c: char| c == '/' || c.is_whitespace())
            .map_or(rest.len(), |k| host_start + k);
        out.push_str(&rest[..host_end]);
        rest = &rest[host_end..];
        if rest.starts_with('/') {
            let path_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push_str("/…");
            rest = &rest[path_end..];
        }
    }
    out.push_str(rest);
    out
}

/// The longest prefix of `s` of at most `max` bytes ending on a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests;
