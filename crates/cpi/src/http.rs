//! Low-level HTTP helpers shared by the client and the token fetcher: mapping reqwest failures
//! and error statuses to [`CpiError`], and reading bodies under a size cap.

use std::error::Error as _;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use crate::error::{BadResponseKind, CpiError, sanitize_snippet};
use crate::limits::ApiFamily;
use crate::odata::{ParseError, parse_error_body, sniff};
use crate::retry::parse_retry_after;

/// Classifies a reqwest failure as DNS, TLS, connect, timeout or broken transfer, as far as
/// reqwest's error chain lets us tell them apart.
pub(crate) fn transport_error(e: &reqwest::Error, url: &str, timeout: Duration) -> CpiError {
    let url = url.to_string();
    let detail = chain_text(e);
    let lower = detail.to_ascii_lowercase();
    if e.is_timeout() || lower.contains("timed out") {
        return CpiError::Timeout {
            url,
            after: timeout,
        };
    }
    if e.is_dns() || DNS_MARKERS.iter().any(|m| lower.contains(m)) {
        return CpiError::Dns { url, detail };
    }
    if TLS_MARKERS.iter().any(|m| lower.contains(m)) {
        return CpiError::Tls { url, detail };
    }
    if e.is_body() || e.is_decode() {
        return CpiError::Transport { url, detail };
    }
    CpiError::Connect { url, detail }
}

const DNS_MARKERS: [&str; 5] = [
    "dns error",
    "failed to lookup address",
    "name or service not known",
    "no such host",
    "temporary failure in name resolution",
];

const TLS_MARKERS: [&str; 7] = [
    "certificate",
    "tls handshake",
    "invalid peer",
    "unknownissuer",
    "handshake failure",
    "received corrupt message",
    "invalidcontenttype",
];

/// The error and all its sources, joined, so the detail says more than "error sending request".
fn chain_text(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        source = s.source();
    }
    parts.join(": ")
}

pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()))
}

/// Reads the whole body, failing with `TooLarge` as soon as it is known to exceed `cap`
/// (by Content-Length before reading, or while reading).
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    cap: u64,
    url: &str,
    timeout: Duration,
) -> Result<Bytes, CpiError> {
    let declared = resp.content_length();
    if let Some(len) = declared
        && len > cap
    {
        return Err(CpiError::TooLarge {
            url: url.to_string(),
            limit: cap,
            content_length: Some(len),
        });
    }
    let initial = declared.unwrap_or(16 * 1024).min(cap).min(8 * 1024 * 1024) as usize;
    let mut buf = BytesMut::with_capacity(initial);
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transport_error(&e, url, timeout))?
    {
        if buf.len() as u64 + chunk.len() as u64 > cap {
            return Err(CpiError::TooLarge {
                url: url.to_string(),
                limit: cap,
                content_length: declared,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Maps a non-success status to its typed error, with the OData error message (or a short
/// sanitized description of the body) as detail.
pub(crate) fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    family: ApiFamily,
    url: &str,
    secrets: &[&str],
) -> CpiError {
    let url = url.to_string();
    let detail = error_detail(body, content_type(headers).as_deref(), secrets);
    match status.as_u16() {
        401 => CpiError::Unauthorized { url, detail },
        403 => {
            let csrf = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("required"));
            let detail = if csrf {
                Some("X-CSRF-Token required (unexpected for a read)".to_string())
            } else {
                detail
            };
            CpiError::Forbidden {
                url,
                family,
                role: family.required_role(),
                detail,
            }
        }
        404 => CpiError::NotFound { url, detail },
        429 => CpiError::Throttled {
            url,
            retry_after: retry_after(headers),
        },
        s @ 500..=599 => CpiError::Server {
            url,
            status: s,
            detail,
            retry_after: retry_after(headers),
        },
        s => CpiError::Http {
            url,
            status: s,
            detail,
        },
    }
}

fn error_detail(body: &[u8], content_type: Option<&str>, secrets: &[&str]) -> Option<String> {
    if let Some(e) = parse_error_body(body) {
        return Some(sanitize_snippet(e.to_string().as_bytes(), secrets));
    }
    match sniff(body, content_type) {
        Err(ParseError {
            kind: BadResponseKind::Empty,
            ..
        }) => None,
        Err(ParseError {
            kind: BadResponseKind::HtmlPage,
            ..
        }) => Some("the answer was an HTML page (login page?)".into()),
        _ => Some(format!("body: {}", sanitize_snippet(body, secrets))),
    }
}

/// A parse failure of a success response, with what came back.
pub(crate) fn bad_response(
    err: ParseError,
    status: StatusCode,
    content_type: Option<String>,
    body: &[u8],
    url: &str,
    secrets: &[&str],
) -> CpiError {
    CpiError::BadResponse {
        url: url.to_string(),
        status: status.as_u16(),
        content_type,
        kind: err.kind,
        detail: sanitize_snippet(err.detail.as_bytes(), secrets),
        snippet: sanitize_snippet(body, secrets),
    }
}
