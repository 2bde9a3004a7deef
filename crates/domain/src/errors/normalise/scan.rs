//! The one left-to-right pass that replaces variable parts. At the start of each word the
//! recognisers of [`tokens`] and [`url`] are tried in the documented order; the first that matches
//! writes its placeholder and says how many bytes it consumed. Every recogniser looks ahead a
//! bounded distance or consumes what it scanned, so the pass is linear.

use super::{tokens, url};

/// Per-pass memory that keeps look-aheads from being repeated (linear time).
#[derive(Default)]
pub(super) struct Memo {
    /// No e-mail address starts before this byte: the run scanned from an earlier start had no `@`.
    pub email_fail_until: usize,
    /// The next `@` and `://` at or after the last position asked about (`usize::MAX`: none).
    /// Starts are asked about in increasing order, so each search continues the previous one.
    next_at: Option<usize>,
    next_scheme_sep: Option<usize>,
}

impl Memo {
    fn next(cache: &mut Option<usize>, i: usize, find: impl FnOnce() -> Option<usize>) -> usize {
        match *cache {
            Some(p) if p >= i => p,
            _ => {
                let p = find().map_or(usize::MAX, |k| i + k);
                *cache = Some(p);
                p
            }
        }
    }

    /// Could a URL start at `i`: is there a `://` right after a short enough scheme?
    fn url_possible(&mut self, input: &str, i: usize) -> bool {
        let p = Self::next(&mut self.next_scheme_sep, i, || {
            find_scheme_sep(&input[i..])
        });
        p != usize::MAX && p - i <= url::MAX_SCHEME
    }

    /// Could an e-mail address start at `i`: is there an `@` ahead and no failed run over `i`?
    fn email_possible(&mut self, input: &str, i: usize) -> bool {
        i >= self.email_fail_until
            && Self::next(&mut self.next_at, i, || input[i..].find('@')) != usize::MAX
    }
}

/// The next `://`: found by its `:` (a byte search) rather than a substring search.
fn find_scheme_sep(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(k) = s[from..].find(':') {
        let p = from + k;
        if s[p..].starts_with("://") {
            return Some(p);
        }
        from = p + 1;
    }
    None
}

/// The recognisers in their documented order (URL, e-mail, message id, UUID, date/time, IPv4,
/// IPv6, ISO duration, hex, number), skipping those that cannot start with the byte at `i`.
fn recognise(
    input: &str,
    i: usize,
    urls: bool,
    memo: &mut Memo,
    out: &mut String,
) -> Option<usize> {
    let b = input.as_bytes();
    let c = b[i];
    let (digit, hex) = (c.is_ascii_digit(), c.is_ascii_hexdigit());
    if urls
        && c.is_ascii_alphabetic()
        && memo.url_possible(input, i)
        && let Some(n) = url::url(input, i, out)
    {
        return Some(n);
    }
    if memo.email_possible(input, i)
        && let Some(n) = url::email(b, i, memo, out)
    {
        return Some(n);
    }
    let weekday = matches!(c, b'M' | b'T' | b'W' | b'F' | b'S');
    let tries: [(bool, Recogniser); 8] = [
        (c == b'A', tokens::message_id),
        (hex, tokens::uuid),
        (digit || weekday, tokens::datetime),
        (digit, tokens::ipv4),
        (hex, tokens::ipv6),
        (c == b'P', tokens::iso_duration),
        (hex, tokens::hex),
        (digit, tokens::number),
    ];
    tries
        .into_iter()
        .filter(|(possible, _)| *possible)
        .find_map(|(_, recognise)| recognise(b, i, out))
}

type Recogniser = fn(&[u8], usize, &mut String) -> Option<usize>;

/// Replaces the variable parts of `input`; whitespace runs become one space (or one newline when
/// they hold a line break), control characters and U+FFFD (binary junk) count as whitespace.
pub(super) fn replace_variables(input: &str) -> String {
    replace(input, true)
}

/// The same pass, with URLs recognised or not (a URL's path is normalised without looking for
/// URLs inside it, so crafted nested URLs cannot make the pass quadratic).
pub(super) fn replace(input: &str, urls: bool) -> String {
    let b = input.as_bytes();
    let mut out = String::with_capacity(input.len() + 16);
    let mut memo = Memo::default();
    let mut i = 0;
    while i < b.len() {
        if let Some((end, newline)) = junk_run(b, i) {
            if !out.is_empty() {
                trim_trailing_spaces(&mut out);
                if newline {
                    if !out.ends_with('\n') {
                        out.push('\n');
                    }
                } else if !out.ends_with('\n') {
                    out.push(' ');
                }
            }
            i = end;
            continue;
        }
        let c = b[i];
        let boundary = i == 0 || !tokens::is_word(b[i - 1]);
        if boundary && c.is_ascii_alphanumeric() {
            i += match recognise(input, i, urls, &mut memo, &mut out) {
                Some(n) => n,
                None => tokens::word(input, i, &mut out),
            };
            continue;
        }
        let matched = match c {
            b'\'' | b'"' if boundary => tokens::quoted(b, i, &mut out),
            b'[' => tokens::index(b, i, &mut out),
            _ => None,
        };
        if let Some(n) = matched {
            i += n;
            continue;
        }
        // Anything else is copied as it is, one whole character.
        if c.is_ascii() {
            out.push(c as char);
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while !input.is_char_boundary(end) {
            end += 1;
        }
        out.push_str(&input[i..end]);
        i = end;
    }
    trim_trailing_spaces(&mut out);
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

/// A run of whitespace, control characters and U+FFFD starting at `i`: its end and whether it
/// holds a line break.
fn junk_run(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut j = i;
    let mut newline = false;
    while j < b.len() {
        match b[j] {
            b'\n' | b'\r' => {
                newline = true;
                j += 1;
            }
            c if c < 0x20 || c == 0x7f || c == b' ' => j += 1,
            // U+FFFD, what a lossy UTF-8 decoding of binary bytes leaves behind.
            0xEF if b.get(j + 1) == Some(&0xBF) && b.get(j + 2) == Some(&0xBD) => j += 3,
            // C1 control characters (U+0080..U+009F).
            0xC2 if b.get(j + 1).is_some_and(|n| (0x80..=0x9F).contains(n)) => j += 2,
            _ => break,
        }
    }
    (j > i).then_some((j, newline))
}

fn trim_trailing_spaces(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
}
