//! Recognisers of the variable parts that start a word. Each takes the bytes and a start, writes
//! its placeholder to `out` and returns the bytes consumed, or returns `None` and writes nothing.
//! Look-ahead is bounded (a few dozen bytes) or the scanned bytes are consumed.

use super::lookback;

/// Quoted values longer than this are sentences, not values: they are normalised like the rest.
pub(super) const MAX_QUOTED: usize = 64;

pub(super) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// True when no word character follows position `j`.
fn ends_word(b: &[u8], j: usize) -> bool {
    j >= b.len() || !is_word(b[j])
}

/// End of the run of bytes satisfying `f` from `i`, scanning at most `max` bytes.
fn run(b: &[u8], i: usize, max: usize, f: impl Fn(u8) -> bool) -> usize {
    let mut j = i;
    while j < b.len() && j - i < max && f(b[j]) {
        j += 1;
    }
    j
}

/// `n` ASCII digits exactly at `i` (not more): the end.
fn digits(b: &[u8], i: usize, min: usize, max: usize) -> Option<usize> {
    let end = run(b, i, max + 1, |c| c.is_ascii_digit());
    (end - i >= min && end - i <= max).then_some(end)
}

fn byte(b: &[u8], i: usize, want: u8) -> Option<usize> {
    (b.get(i) == Some(&want)).then_some(i + 1)
}

/// A CPI message id: `AG` and 26 more characters of `[A-Za-z0-9_-]` (28 in all).
pub(super) fn message_id(b: &[u8], i: usize, out: &mut String) -> Option<usize> {
    if !b[i..].starts_with(b"AG") {
        return None;
    }
    let end = run(b, i, 29, |c| {
        c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
    });
    // An all-capitals word of 28 letters is a word; an id has lower case or digits.
    let varied = b[i + 2..end]
        .iter()
        .any(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (end - i == 28 && varied).then(|| {
        out.push_str("<message-id>");
        28
    })
}

/// A UUID/GUID `8-4-4-4-12` hex digits.
pub(super) fn uuid(b: &[u8], i: usize, out: &mut String) -> Option<usize> {
    let mut j = i;
    for (k, len) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if k > 0 {
            j = byte(b, j, b'-')?;
        }
        let end = run(b, j, len + 1, |c| c.is_ascii_hexdigit());
        if end - j != len {
            return None;
        }
        j = end;
    }
    if !ends_word(b, j) || b.get(j) == Some(&b'-') {
        return None;
    }
    out.push_str("<uuid>");
    Some(j - i)
}

const WEEKDAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Dates and times: ISO 8601 (`2026-12-08`, `2026-12-08T09:12:00.123+01:00`), times
/// (`09:12:00,123`), dotted dates (`08.12.2026`), RFC 822 (`Tue, 08 Dec 2026 09:12:00 GMT`) and
/// Java's `Date.toString()` (`Tue Dec 08 09:12:00 UTC 2026`).
pub(super) fn datetime(b: &[u8], i: usize, out: &mut String) -> Option<usize> {
    let (end, placeholder) = iso(b, i)
        .or_else(|| time(b, i).map(|e| (e, "<time>")))
        .or_else(|| dotted_date(b, i).map(|e| (e, "<date>")))
        .or_else(|| rfc822(b, i).map(|e| (e, "<datetime>")))
        .or_else(|| java_date(b, i).map(|e| (e, "<datetime>")))?;
    if !ends_word(b, end) {
        return None;
    }
    out.push_str(placeholder);
    Some(end - i)
}

fn iso(b: &[u8], i: usize) -> Option<(usize, &'static str)> {
    let j = digits(b, i, 4, 4)?;
    let j = byte(b, j, b'-')?;
    let j = digits(b, j, 2, 2)?;
    let j = byte(b, j, b'-')?;
    let date_end = digits(b, j, 2, 2)?;
    let with_time = match b.get(date_end) {
        Some(b'T') | Some(b' ') => time(b, date_end + 1),
        _ => None,
    };
    match with_time {
        Some(end) => Some((zone(b, end), "<datetime>")),
        None => Some((date_end, "<date>")),
    }
}

/// `H:MM` with seconds (`HH:MM:SS`, fractions with `.` or `,`), or `HH:MM` right after a date.
fn time(b: &[u8], i: usize) -> Option<usize> {
    let j = digits(b, i, 1, 2)?;
    let j = byte(b, j, b':')?;
    let j = digits(b, j, 2, 2)?;
    let Some(j) = byte(b, j, b':').and_then(|j| digits(b, j, 2, 2)) else {
        // `HH:MM` alone is too often something else (a ratio, a port); only after a date.
        return (i > 0 && matches!(b[i - 1], b'T' | b' ') && i >= 11 && b[i - 4] == b'-')
            .then_some(j);
    };
    match b.get(j) {
        Some(b'.') | Some(b',') => Some(digits(b, j + 1, 1, 9).unwrap_or(j)),
        _ => Some(j),
    }
}

/// `Z`, `+01:00`, `+0100` after an ISO time.
fn zone(b: &[u8], j: usize) -> usize {
    match b.get(j) {
        Some(b'Z') => j + 1,
        Some(b'+') | Some(b'-') => {
            let Some(h) = digits(b, j + 1, 2, 2) else {
                return j;
            };
            match byte(b, h, b':').and_then(|m| digits(b, m, 2, 2)) {
                Some(end) => end,
                None => digits(b, h, 2, 2).unwrap_or(h),
            }
        }
        _ => j,
    }
}

fn dotted_date(b: &[u8], i: usize) -> Option<usize> {
    let j = digits(b, i, 1, 2)?;
    let j = byte(b, j, b'.')?;
    let j = digits(b, j, 1, 2)?;
    let j = byte(b, j, b'.')?;
    digits(b, j, 4, 4)
}

fn one_of(b: &[u8], i: usize, words: &[&[u8]]) -> Option<usize> {
    words.iter().any(|w| b[i..].starts_with(w)).then_some(i + 3)
}

/// A time-zone word (`GMT`, `UTC`, `CET`) or an offset (`+0000`).
fn zone_word(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i) {
        Some(b'+') | Some(b'-') => digits(b, i + 1, 4, 4),
        _ => {
            let end = run(b, i, 6, |c| c.is_ascii_uppercase());
            (end - i >= 1 && end - i <= 5).then_some(end)
        }
    }
}

fn rfc822(b: &[u8], i: usize) -> Option<usize> {
    let j = one_of(b, i, &WEEKDAYS)?;
    let j = byte(b, j, b',')?;
    let j = byte(b, j, b' ')?;
    let j = digits(b, j, 1, 2)?;
    let j = byte(b, j, b' ')?;
    let j = one_of(b, j, &MONTHS)?;
    let j = byte(b, j, b' ')?;
    let j = digits(b, j, 4, 4)?;
    let j = byte(b, j, b' ')?;
    let j = time(b, j)?;
    Some(byte(b, j, b' ').and_then(|z| zone_word(b, z)).unwrap_or(j))
}

fn java_date(b: &[u8], i: usize) -> Option<usize> {
    let j = one_of(b, i, &WEEKDAYS)?;
    let j = byte(b, j, b' ')?;
    let j = one_of(b, j, &MONTHS)?;
    let j = byte(b, j, b' ')?;
    let j = digits(b, j, 1, 2)?;
    let j = byte(b, j, b' ')?;
    let j = time(b, j)?;
    let j = byte(b, j, b' ')?;
    let j = zone_word(b, j)?;
    let j = byte(b, j, b' ')?;
    digits(b, j, 4, 4)
}

/// An IPv4 address, with its port: `10.0.3.17` → `<ip>`, `10.0.3.17:8443` → `<ip>:<port>`.
pub(super) fn ipv4(b: &[u8], i: usize, out: &mut String) -> Option<usize> {
    let mut j = i;
    for k in 0..4 {
        if k > 0 {
            j = byte(b, j, b'.')?;
        }
        let end = digits(b, j, 1, 3)?;
        let octet: u32 = std::str::from_utf8(&b[j..end]).ok()?.parse().ok()?;
        if octet > 255 {
            return None;
        }
        j = end;
    }
    // `1.2.3.4.5` is a version or an OID, not an address.
    if b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(u8::is_ascii_digit) || !ends_word(b, j) {
        return None;
    }
    out.push_str("<ip>");
    if let Some(end) = byte(b, j, b':').and_then(|p| digits(b, p, 1, 5))
        && ends_word(b, end)
    {
        out.push_str(":<port>");
        return Some(end - i);
    }
    Some(j - i)
}

/// An IPv6 address: hex groups of at most 4 digits separated by `:`, eight of them or fewer with
/// one `::`.
pub(super) fn ipv6(b: &[u8], i: usize, out: &mut String) -> Option<usize> {
    // The first group (at most 4 hex digits) must end at a colon.
    let first = run(b, i, 5, |c| c.is_ascii_hexdigit());
    if b.get(first) != Some(&b':') {
        return None;
    }
    let end = run(b, i, 46, |c| c.is_ascii_hexdigit() || c == b':');
    if end - i > 45 || !ends_word(b, end) {
        return None;
    }
    let text = &b[i..end];
    let doubles = text.windows(2).filter(|w| w == b"::").count();
    let groups: Vec<&[u8]> = text.split(|c| *c == b':').collect();
    let filled = groups.iter().filter(|g| !g.is_empty()).count();
    let shape_ok = groups.iter().all(|g| g.len() <= 4)
        && !text.windows(3).any(|w| w == b":::")
        && (!text.ends_with(b":") || text.ends_with(b"::"));
    let count_ok = match doubles {
        0 => groups.len() == 8,
        1 => (1..=7).contains(&filled),
        _ => false,
    };
    (shape_ok && count_ok).then(|| {
        out.push_str("<ip>");
        end - i
    })
}

/// An ISO 8601 duration: `PT30S`, `P1DT2H`, `PT0.5S`.
pub(super) fn iso_duration(b: &[u8], i: usize, out: &mut String) -> Option<usize> {
    if b[i] != b'P' {
        return None;
    }
    let mut j = i + 1;
    let mut parts = 0;
    let mut in_time = false;
    while j < b.len() && j - i < 32 {
        if b[j] == b'T' && !in_time {
            in_time = true;
            j += 1;
            continue;
        }
        let end = run(b, j, 12, |c| c.is_ascii_digit() || c == b'.');
        if end == j {
            break;
        }
        let unit_ok = match b.get(end) {
            Some(b'Y') | Some(b'W') | Some(b'D') => !in_time,
            Some(b'H') | Some(b'S') => in_time,
            Some(b'M') => true,
            _ => false,
        };
        if !unit_ok {
            return None;
        }
        parts += 1;
        j = end + 1;
    }
    (parts > 0 && ends_word(b, j)).then(|| {
        out.push_str("<duration>");
        j - i
    })
}

/// Hex ids, hashes and addresses: `0x1F`, a word of 8 or more hex digits with a digit and a
/// letter (`5e2de80c`, SHA-1, MD5), or any hex word after `@`. Other all-digit words are numbers.
pub(super) fn hex(b: &[u8], i: usize, out: &mut String) -> Option<usize> {
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x') | Some(b'X')) {
        let end = run(b, i + 2, usize::MAX, |c| c.is_ascii_hexdigit());
        if end > i + 2 && ends_word(b, end) {
            out.push_str("<hex>");
            return Some(end - i);
        }
        return None;
    }
    let end = run(b, i, usize::MAX, |c| c.is_ascii_hexdigit());
    let word = &b[i..end];
    // After `@` (a Java object reference, `MyBean@5e2de80c`) any hex word is an address, even
    // one that happens to have no letter: otherwise 2 % of such texts would say `<number>`.
    let after_at = i > 0 && b[i - 1] == b'@' && word.len() >= 4;
    let ok = ends_word(b, end)
        && (after_at
            || word.len() >= 8
                && word.iter().any(u8::is_ascii_digit)
                && word.iter().any(u8::is_ascii_alphabetic));
    ok.then(|| {
        out.push_str("<hex>");
        end - i
    })
}

const DURATION_UNITS: [&str; 20] = [
    "ms",
    "millis",
    "msec",
    "millisecond",
    "milliseconds",
    "s",
    "sec",
    "secs",
    "second",
    "seconds",
    "min",
    "mins",
    "minute",
    "minutes",
    "h",
    "hr",
    "hrs",
    "hour",
    "hours",
    "days",
];

/// A number (any length, decimals too): `<number>`; with a time unit after it a `<duration>`
/// (`30000 ms`, `5 minutes`); an HTTP status code in its context (see [`lookback`]) is kept, and
/// so is the version of `HTTP/1.1`.
pub(super) fn number(b: &[u8], i: usize, out: &mut String) -> Option<usize> {
    let mut end = run(b, i, usize::MAX, |c| c.is_ascii_digit());
    if end == i {
        return None;
    }
    let integer_end = end;
    while b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end = run(b, end + 1, usize::MAX, |c| c.is_ascii_digit());
    }
    if !ends_word(b, end) {
        // `30s`, `500ms`: a unit glued to the number.
        let unit_end = duration_unit(b, end)?;
        out.push_str("<duration>");
        return Some(unit_end - i);
    }
    if lookback::is_http_version(b, i) {
        push_bytes(out, &b[i..end]);
        return Some(end - i);
    }
    if let Some(unit_end) = duration_unit(b, end) {
        out.push_str("<duration>");
        return Some(unit_end - i);
    }
    if integer_end == end && lookback::is_http_status(b, i, end) {
        push_bytes(out, &b[i..end]);
        return Some(end - i);
    }
    out.push_str("<number>");
    Some(end - i)
}

/// The end of a time unit after a number (`30 s`, `30s`, `5 minutes`), if there is one.
fn duration_unit(b: &[u8], end: usize) -> Option<usize> {
    let start = if b.get(end) == Some(&b' ') {
        end + 1
    } else {
        end
    };
    let unit_end = run(b, start, 13, |c| c.is_ascii_alphabetic());
    if unit_end == start || !ends_word(b, unit_end) {
        return None;
    }
    let unit = std::str::from_utf8(&b[start..unit_end]).ok()?;
    DURATION_UNITS
        .iter()
        .any(|u| u.eq_ignore_ascii_case(unit))
        .then_some(unit_end)
}

/// A word that no recogniser took: copied, except opaque ids (letters and digits interleaved,
/// 10+ characters: `x7Kp2Q9zL0`, or 16+ characters with two digits) → `<id>` and digit runs inside it that are long (4+: `PO4500012345`
/// → `PO<number>`) or stand alone between underscores (`file_2` → `file_<number>`). Short digit
/// runs next to letters are kept: `ORDERS05`, `E1EDK01`, `S4HANA`, `Script1` name things.
pub(super) fn word(input: &str, i: usize, out: &mut String) -> usize {
    let b = input.as_bytes();
    let mut end = i;
    let mut has_digit = false;
    while end < b.len() && is_word(b[end]) {
        has_digit |= b[end].is_ascii_digit();
        end += 1;
    }
    let end = end.max(i + 1);
    // Most words have no digit: copied whole.
    if !has_digit {
        out.push_str(&input[i..end]);
        return end - i;
    }
    let w = &b[i..end];
    if is_opaque_id(w) {
        out.push_str("<id>");
        return end - i;
    }
    let mut k = 0;
    while k < w.len() {
        if !w[k].is_ascii_digit() {
            let next = w[k..]
                .iter()
                .position(u8::is_ascii_digit)
                .map_or(w.len(), |p| k + p);
            out.push_str(&input[i + k..i + next]);
            k = next;
            continue;
        }
        let d_end = w[k..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(w.len(), |p| k + p);
        let alone = (k == 0 || w[k - 1] == b'_') && (d_end == w.len() || w[d_end] == b'_');
        if d_end - k >= 4 || alone {
            out.push_str("<number>");
        } else {
            out.push_str(&input[i + k..i + d_end]);
        }
        k = d_end;
    }
    end - i
}

fn is_opaque_id(w: &[u8]) -> bool {
    if w.len() < 10 || w.contains(&b'_') {
        return false;
    }
    let digits = w.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = w.iter().filter(|c| c.is_ascii_alphabetic()).count();
    // Runs of digits: 3 or more separate runs means letters and digits interleave.
    let digit_runs = w
        .iter()
        .enumerate()
        .filter(|(k, c)| c.is_ascii_digit() && (*k == 0 || !w[k - 1].is_ascii_digit()))
        .count();
    // Long tokens with digits (session ids, base64) are ids however their digits fall.
    digits >= 1 && letters >= 2 && (digit_runs >= 3 || w.len() >= 16 && digits >= 2)
}

/// A quoted value `'…'` / `"…"` of at most [`MAX_QUOTED`] bytes on one line → `'<value>'`.
/// A quoted JSON key (followed by `:`) and a quoted status code are left to the other rules, and
/// so is longer quoted text.
pub(super) fn quoted(b: &[u8], i: usize, out: &mut String) -> Option<usize> {
    let q = b[i];
    let close = b[i + 1..]
        .iter()
        .take(MAX_QUOTED + 1)
        .position(|c| *c == q || *c == b'\n')
        .map(|p| i + 1 + p)?;
    if b[close] != q || close == i + 1 {
        return None;
    }
    let after = run(b, close + 1, 4, |c| c == b' ');
    if b.get(after) == Some(&b':') {
        return None;
    }
    // `response code "403"`: the status code rule decides about what is inside.
    if lookback::is_http_status(b, i + 1, close) {
        return None;
    }
    out.push(q as char);
    out.push_str("<value>");
    out.push(q as char);
    Some(close + 1 - i)
}

/// An XPath or array index: `Item[3]` → `Item[<index>]`.
pub(super) fn index(b: &[u8], i: usize, out: &mut String) -> Option<usize> {
    let end = digits(b, i + 1, 1, 9)?;
    byte(b, end, b']')?;
    out.push_str("[<index>]");
    Some(end + 1 - i)
}

/// Pushes bytes of the input that are ASCII (digits, word characters): always valid UTF-8.
fn push_bytes(out: &mut String, bytes: &[u8]) {
    out.push_str(std::str::from_utf8(bytes).unwrap_or_default());
}
