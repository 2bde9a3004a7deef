//! Low-level HTTP helpers shared by the client and the token fetcher: mapping reqwest failures
//! and error statuses to [`CpiError`], and reading bodies under a size cap.

use std::error::Error as _;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use crate::error::{BadResponseKind, CpiError, sanitize_snippet};
use crate::limits::ApiFamily;
use crate::odata::{ParseError, parse_error_body, sniff};
use crate::outbound;
use crate::retry::parse_retry_after;

/// Classifies a reqwest failure as DNS, TLS, connect, timeout or broken transfer, as far as
/// reqwest's error chain lets us tell them apart.
pub(crate) fn transport_error(e: &reqwest::Error, url: &str, timeout: Duration) -> CpiError {
    let url = url.to_string();
    let detail = chain_text(e);
    let lower = detail.to_ascii_lowercase();
    // The outbound rules' refusals first: a refused name also reads like a DNS failure.
    if let Some(reason) = outbound_refusal(&detail) {
        return CpiError::Refused {
            url,
            detail: reason,
        };
    }
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

/// The refusal's own text out of reqwest's error chain ("error sending request: … : <ours>").
fn outbound_refusal(chain: &str) -> Option<String> {
    [outbound::REFUSED_MARKER, outbound::REDIRECT_MARKER]
        .iter()
        .find(|m| chain.contains(*m))?;
    chain
        .split(": ")
        .position(|part| {
            part.contains(outbound::REFUSED_MARKER) || part.starts_with(outbound::REDIRECT_MARKER)
        })
        .map(|at| chain.split(": ").skip(at).collect::<Vec<_>>().join(": "))
        .or_else(|| Some(chain.to_string()))
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

/// A body as read: decoded, and how many bytes came over the wire.
pub(crate) struct Body {
    pub bytes: Bytes,
    pub wire_len: u64,
}

/// Reads the whole body under `cap` and decodes it when it is gzip-compressed
/// (`Content-Encoding: gzip`, asked for with `Accept-Encoding: gzip`). The cap holds for the
/// compressed and for the decoded size alike, so a small body that inflates without end (a
/// "gzip bomb") stops at the cap instead of filling memory.
pub(crate) async fn read_body(
    resp: reqwest::Response,
    cap: u64,
    url: &str,
    timeout: Duration,
) -> Result<Body, CpiError> {
    let gzip = resp
        .headers()
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let status = resp.status().as_u16();
    let ct = content_type(resp.headers());
    let raw = read_capped(resp, cap, url, timeout).await?;
    let wire_len = raw.len() as u64;
    match gzip.as_deref() {
        None | Some("") | Some("identity") => Ok(Body {
            bytes: raw,
            wire_len,
        }),
        Some("gzip" | "x-gzip") => {
            let bytes = gunzip_capped(&raw, cap).map_err(|e| match e {
                Gunzip::TooLarge => CpiError::TooLarge {
                    url: url.to_string(),
                    limit: cap,
                    content_length: None,
                },
                Gunzip::Broken(kind, reason) => CpiError::BadResponse {
                    url: url.to_string(),
                    status,
                    content_type: ct.clone(),
                    kind,
                    detail: format!("the gzip-compressed body cannot be decoded: {reason}"),
                    length: wire_len,
                },
            })?;
            Ok(Body {
                bytes: Bytes::from(bytes),
                wire_len,
            })
        }
        Some(other) => Err(CpiError::BadResponse {
            url: url.to_string(),
            status,
            content_type: ct,
            kind: BadResponseKind::NotJson,
            detail: format!(
                "the body is encoded with {:?}, which was not asked for",
                other.chars().take(40).collect::<String>()
            ),
            length: wire_len,
        }),
    }
}

pub(crate) enum Gunzip {
    TooLarge,
    Broken(BadResponseKind, String),
}

/// Inflates `raw` (one or more gzip members), reading at most `cap` decoded bytes plus one to
/// tell "exactly at the cap" from "over it".
pub(crate) fn gunzip_capped(raw: &[u8], cap: u64) -> Result<Vec<u8>, Gunzip> {
    use std::io::Read as _;
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(cap as usize).min(8 << 20));
    let decoder = flate2::read::MultiGzDecoder::new(raw);
    match decoder.take(cap.saturating_add(1)).read_to_end(&mut out) {
        Ok(_) if out.len() as u64 > cap => Err(Gunzip::TooLarge),
        Ok(_) => Ok(out),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Gunzip::Broken(
            BadResponseKind::Truncated,
            "the compressed data ends early".into(),
        )),
        Err(e) => Err(Gunzip::Broken(BadResponseKind::Malformed, e.to_string())),
    }
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

/// The OData error message when the body is one; otherwise only what kind of body it was and
/// how long: an error page may be anything (another service's output after a redirect, an
/// internal page), so it is never quoted.
fn error_detail(body: &[u8], content_type: Option<&str>, secrets: &[&str]) -> Option<String> {
    if let Some(e) = parse_error_body(body) {
        return Some(sanitize_snippet(e.to_string().as_bytes(), secrets));
    }
    let described = describe_body(body, content_type);
    match sniff(body, content_type) {
        Err(ParseError {
            kind: BadResponseKind::Empty,
            ..
        }) => None,
        Err(ParseError {
            kind: BadResponseKind::HtmlPage,
            ..
        }) => Some(format!(
            "the answer was an HTML page (login page?): {described}"
        )),
        _ => Some(format!("the answer was not an OData error: {described}")),
    }
}

/// "content type text/plain, 1234 bytes": what came back, without its content.
pub(crate) fn describe_body(body: &[u8], content_type: Option<&str>) -> String {
    let ct: String = content_type
        .unwrap_or("none")
        .chars()
        .take(100)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("content type {ct}, {} bytes", body.len())
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
        length: body.len() as u64,
    }
}
