//! Context before a number, read backwards a bounded distance: is this 3-digit number an HTTP
//! status code (kept: a 401 and a 500 from one endpoint are two problems)?

/// Separators skipped between the keyword and the code: `statusCode: 500`, `HTTP 404`,
/// `status=503`, `(code "400")`.
const SEPARATORS: &[u8] = b" \t:=#\"'(";
/// Keywords whose last word announces a status code.
const ENDINGS: [&str; 5] = ["status", "code", "error", "returned", "response"];

/// True when the number `b[i..end]` is a status code: 100..=599 and either after a keyword
/// (`statusCode`, `status code`, `HTTP`, `HTTP/1.1`, `response code`, `error`, `returned`) or
/// between colons as OData adapters write it (`Bad Request : 400 : HTTP/1.1 400`).
pub(super) fn is_http_status(b: &[u8], i: usize, end: usize) -> bool {
    if end - i != 3 || !(b'1'..=b'5').contains(&b[i]) || !b[i..end].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let before = skip_back(b, i);
    if between_colons(b, before, i, end) {
        return true;
    }
    let word = word_before(b, before);
    let word = word.to_ascii_lowercase();
    // `HTTP 404`, `HTTP/1.1 404`; not `HttpResponseHandler.java:135` (a line number).
    word == b"http"
        || word.starts_with(b"http/")
        || ENDINGS.iter().any(|e| word.ends_with(e.as_bytes()))
}

/// True when the number at `i` follows `HTTP/` (the protocol version `1.1` is kept).
pub(super) fn is_http_version(b: &[u8], i: usize) -> bool {
    i >= 5 && b[i - 5..i].eq_ignore_ascii_case(b"http/")
}

/// Position just after the word before `i`, skipping at most 6 separator bytes.
fn skip_back(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j > 0 && i - j < 6 && SEPARATORS.contains(&b[j - 1]) {
        j -= 1;
    }
    j
}

/// The word ending at `end` (letters, digits, `/`, `.`, `_`, `-`), at most 24 bytes.
fn word_before(b: &[u8], end: usize) -> &[u8] {
    let mut j = end;
    while j > 0
        && end - j < 24
        && (b[j - 1].is_ascii_alphanumeric() || matches!(b[j - 1], b'/' | b'.' | b'_' | b'-'))
    {
        j -= 1;
    }
    &b[j..end]
}

/// `… : 400 : …`: a colon before (separators skipped) and after (spaces skipped).
fn between_colons(b: &[u8], before: usize, i: usize, end: usize) -> bool {
    let colon_before = b[before..i].contains(&b':');
    let mut k = end;
    while k < b.len() && k - end < 4 && b[k] == b' ' {
        k += 1;
    }
    colon_before && b.get(k) == Some(&b':')
}
