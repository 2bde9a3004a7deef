//! URLs and e-mail addresses. A URL keeps its scheme and host name (they tell endpoints apart);
//! credentials, IP hosts, ports, ids and numbers in its path, its query string and fragment are
//! replaced.

use super::scan::{self, Memo};

/// Longest scheme looked for before `://`.
pub(super) const MAX_SCHEME: usize = 16;

/// `https://user:pw@erp.example.com:44300/sap/opu/odata/sap/API_SRV/A_SalesOrder('4711')?$top=1`
/// → `https://<user>@erp.example.com:<port>/sap/opu/odata/sap/API_SRV/A_SalesOrder('<value>')?<query>`.
pub(super) fn url(input: &str, i: usize, out: &mut String) -> Option<usize> {
    let b = input.as_bytes();
    let mut j = i;
    while j < b.len()
        && j - i < MAX_SCHEME
        && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'+' | b'-' | b'.'))
    {
        j += 1;
    }
    if j == i || !b[j..].starts_with(b"://") {
        return None;
    }
    let scheme = &input[i..j];
    let auth_start = j + 3;
    let auth_end = auth_start
        + b[auth_start..]
            .iter()
            .position(|c| ends_authority(*c))
            .unwrap_or(b.len() - auth_start);
    let end = url_end(b, auth_end);
    // Trailing sentence punctuation belongs to the sentence: `see https://x/y.`
    let end = trim_punctuation(b, auth_end, end);
    let authority = &input[auth_start..auth_end];
    if authority.is_empty() {
        return None;
    }
    out.push_str(scheme);
    out.push_str("://");
    push_authority(authority, out);
    let rest = &input[auth_end..end];
    let (path, query) = match rest.find(['?', '#']) {
        Some(q) => (&rest[..q], Some(&rest[q..])),
        None => (rest, None),
    };
    // The path's ids, numbers and quoted keys go through the same rules, without looking for
    // URLs again (linear time whatever is nested).
    out.push_str(&scan::replace(path, false));
    if query.is_some_and(|q| q.starts_with('?')) {
        out.push_str("?<query>");
    }
    Some(end - i)
}

fn ends_authority(c: u8) -> bool {
    matches!(
        c,
        b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\' | b')' | b'('
    ) || c <= b' '
        || c == 0x7f
}

/// The end of the URL after its authority: whitespace, `"`, `<`, `>`, `` ` ``, a `'` or `)`
/// outside parentheses (OData keys `('4711')` stay inside).
fn url_end(b: &[u8], from: usize) -> usize {
    let mut depth = 0usize;
    let mut j = from;
    while j < b.len() {
        match b[j] {
            c if c <= b' ' || c == 0x7f => break,
            b'"' | b'<' | b'>' | b'`' => break,
            b'(' => depth += 1,
            b')' if depth == 0 => break,
            b')' => depth -= 1,
            b'\'' if depth == 0 => break,
            _ => {}
        }
        j += 1;
    }
    j
}

fn trim_punctuation(b: &[u8], min: usize, mut end: usize) -> usize {
    while end > min && matches!(b[end - 1], b'.' | b',' | b';' | b':' | b'!') {
        end -= 1;
    }
    end
}

/// `user:pw@host:port`: credentials never reach the template; an IP host and the port are
/// replaced, a host name is kept (lower case: DNS names are case-insensitive).
fn push_authority(authority: &str, out: &mut String) {
    let host_port = match authority.rfind('@') {
        Some(at) => {
            out.push_str("<user>@");
            &authority[at + 1..]
        }
        None => authority,
    };
    if host_port.starts_with('[') {
        out.push_str("<ip>");
        if let Some(close) = host_port.find(']')
            && host_port[close + 1..].starts_with(':')
        {
            out.push_str(":<port>");
        }
        return;
    }
    let (host, port) = match host_port.rfind(':') {
        Some(c) => (&host_port[..c], Some(&host_port[c + 1..])),
        None => (host_port, None),
    };
    if host.bytes().all(|c| c.is_ascii_digit() || c == b'.') && host.contains('.') {
        out.push_str("<ip>");
    } else {
        out.push_str(&host.to_ascii_lowercase());
    }
    if port.is_some() {
        out.push_str(":<port>");
    }
}

fn is_email_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// `jane.doe@example.com` → `<email>`: a local part, `@`, a domain with a dot.
pub(super) fn email(b: &[u8], i: usize, memo: &mut Memo, out: &mut String) -> Option<usize> {
    if i < memo.email_fail_until {
        return None;
    }
    let mut j = i;
    while j < b.len() && is_email_local(b[j]) {
        j += 1;
    }
    if b.get(j) != Some(&b'@') {
        // Any start inside this run reaches the same end: no need to scan it again.
        memo.email_fail_until = j;
        return None;
    }
    let d = j + 1;
    let mut e = d;
    while e < b.len() && (b[e].is_ascii_alphanumeric() || matches!(b[e], b'.' | b'-')) {
        e += 1;
    }
    let e = trim_punctuation(b, d, e);
    let domain = &b[d..e];
    let ok = domain.contains(&b'.')
        && domain.first().is_some_and(u8::is_ascii_alphanumeric)
        && domain
            .iter()
            .rev()
            .take_while(|c| **c != b'.')
            .all(u8::is_ascii_alphabetic);
    if !ok {
        return None;
    }
    out.push_str("<email>");
    Some(e - i)
}
