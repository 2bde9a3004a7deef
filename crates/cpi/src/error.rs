//! Typed errors. Callers (the poller, the connection test, the UI) branch on the variant, so each
//! one stands for something a person or a retry loop can act on. Messages never contain secrets:
//! response snippets are sanitized and credentials live only in `Secret`s.

use std::fmt;
use std::time::Duration;

use crate::limits::ApiFamily;

/// What was wrong with a response that had no error status but could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadResponseKind {
    /// No body at all where JSON was expected.
    Empty,
    /// An HTML page: almost always a login page (wrong credentials or the UI host instead of
    /// the API host).
    HtmlPage,
    /// XML (Atom) instead of JSON: the `Accept` header was ignored by something in between.
    Xml,
    /// Something that is neither JSON, HTML nor XML.
    NotJson,
    /// JSON that stops early (cut connection, proxy limit).
    Truncated,
    /// Invalid JSON.
    Malformed,
    /// Valid JSON, but not the OData envelope or entity shape that was asked for.
    UnexpectedShape,
    /// `__metadata.type` names another entity type than the one asked for.
    WrongEntityType,
    /// An OData error envelope (`{"error":…}`) delivered with a success status.
    ErrorEnvelope,
}

impl BadResponseKind {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Empty => "an empty body instead of OData JSON",
            Self::HtmlPage => "an HTML page (usually a login page) instead of OData JSON",
            Self::Xml => "XML (Atom) instead of OData JSON",
            Self::NotJson => "a body that is not JSON",
            Self::Truncated => "truncated JSON",
            Self::Malformed => "malformed JSON",
            Self::UnexpectedShape => "JSON that is not the expected OData shape",
            Self::WrongEntityType => "a different entity type than requested",
            Self::ErrorEnvelope => "an OData error message with a success status",
        }
    }
}

impl fmt::Display for BadResponseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Every failure of a CPI call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CpiError {
    #[error("invalid tenant configuration: {0}")]
    Config(String),

    #[error("{url}: 401 Unauthorized: the credentials were rejected{}", suffix(.detail))]
    Unauthorized { url: String, detail: Option<String> },

    #[error(
        "{url}: 403 Forbidden: the user or service key probably lacks the role {role} ({family} API){}",
        suffix(.detail)
    )]
    Forbidden {
        url: String,
        family: ApiFamily,
        role: &'static str,
        detail: Option<String>,
    },

    #[error("{url}: 404 Not Found{}", suffix(.detail))]
    NotFound { url: String, detail: Option<String> },

    #[error("{url}: 429 Too Many Requests (throttled){}", retry_after_text(.retry_after))]
    Throttled {
        url: String,
        retry_after: Option<Duration>,
    },

    #[error("{url}: server error {status}{}", suffix(.detail))]
    Server {
        url: String,
        status: u16,
        detail: Option<String>,
        /// `Retry-After` of a 503, if sent.
        retry_after: Option<Duration>,
    },

    /// Any other non-success status (400 bad filter, 405 not in the service plan, …).
    #[error("{url}: HTTP {status}{}", suffix(.detail))]
    Http {
        url: String,
        status: u16,
        detail: Option<String>,
    },

    #[error("{url}: no complete answer within {}s (timeout)", .after.as_secs_f64())]
    Timeout { url: String, after: Duration },

    #[error("{url}: DNS lookup failed: {detail}")]
    Dns { url: String, detail: String },

    #[error("{url}: TLS failed: {detail}")]
    Tls { url: String, detail: String },

    #[error("{url}: could not connect: {detail}")]
    Connect { url: String, detail: String },

    /// The connection broke after the answer had started (reset, early close).
    #[error("{url}: connection broke while reading the answer: {detail}")]
    Transport { url: String, detail: String },

    /// The body is never quoted (it may be anything the server chose to send, e.g. another
    /// service's page after a redirect); status, content type and length say what came back.
    #[error(
        "{url}: HTTP {status} with {kind} (content type {}, {length} bytes): {detail}",
        .content_type.as_deref().unwrap_or("none")
    )]
    BadResponse {
        url: String,
        status: u16,
        content_type: Option<String>,
        kind: BadResponseKind,
        detail: String,
        /// Length of the (decoded) body in bytes.
        length: u64,
    },

    /// The target was refused by the outbound rules (see [`crate::outbound`]): a private or
    /// loopback address under `OUTBOUND_DENY_PRIVATE`, or a redirect to another host.
    #[error("{url}: {detail}")]
    Refused { url: String, detail: String },

    /// Writing downloaded bytes to the caller's writer failed.
    #[error("{url}: writing the downloaded data failed: {detail}")]
    Write { url: String, detail: String },

    #[error("{url}: body larger than the limit of {limit} bytes{}", length_text(.content_length))]
    TooLarge {
        url: String,
        limit: u64,
        content_length: Option<u64>,
    },
}

fn suffix(detail: &Option<String>) -> String {
    match detail {
        Some(d) if !d.is_empty() => format!(": {d}"),
        _ => String::new(),
    }
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", Retry-After {}s", d.as_secs_f64()),
        None => String::new(),
    }
}

fn length_text(len: &Option<u64>) -> String {
    match len {
        Some(l) => format!(" (Content-Length {l})"),
        None => String::new(),
    }
}

impl CpiError {
    /// A short, fixed name of the variant: the `kind` label of `integramon_cpi_errors`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::Throttled { .. } => "throttled",
            Self::Server { .. } => "server",
            Self::Http { .. } => "http",
            Self::Timeout { .. } => "timeout",
            Self::Dns { .. } => "dns",
            Self::Tls { .. } => "tls",
            Self::Connect { .. } => "connect",
            Self::Transport { .. } => "transport",
            Self::BadResponse { .. } => "bad_response",
            Self::Write { .. } => "write",
            Self::Refused { .. } => "refused",
            Self::TooLarge { .. } => "too_large",
        }
    }

    /// True when the same request may succeed later without anyone changing anything:
    /// throttling, transient server errors, timeouts, broken connections and cut bodies.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Throttled { .. }
            | Self::Timeout { .. }
            | Self::Connect { .. }
            | Self::Transport { .. } => true,
            // 501 and 505 say "this will never work", the rest of 5xx are usually passing.
            Self::Server { status, .. } => !matches!(status, 501 | 505),
            Self::BadResponse { kind, .. } => *kind == BadResponseKind::Truncated,
            // 408: the server gave up waiting for our request (a busy proxy or server); sending
            // it again is what the status asks for.
            Self::Http { status: 408, .. } => true,
            _ => false,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } | Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when the failure came with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { .. } => Some(401),
            Self::Forbidden { .. } => Some(403),
            Self::NotFound { .. } => Some(404),
            Self::Throttled { .. } => Some(429),
            Self::Server { status, .. }
            | Self::Http { status, .. }
            | Self::BadResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The URL of the failed call, if any (never contains credentials).
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Config(_) => None,
            Self::Unauthorized { url, .. }
            | Self::Forbidden { url, .. }
            | Self::NotFound { url, .. }
            | Self::Throttled { url, .. }
            | Self::Server { url, .. }
            | Self::Http { url, .. }
            | Self::Timeout { url, .. }
            | Self::Dns { url, .. }
            | Self::Tls { url, .. }
            | Self::Connect { url, .. }
            | Self::Transport { url, .. }
            | Self::BadResponse { url, .. }
            | Self::Write { url, .. }
            | Self::Refused { url, .. }
            | Self::TooLarge { url, .. } => Some(url),
        }
    }
}

/// How many bytes of a bad body an error message shows.
pub const SNIPPET_LEN: usize = 200;

/// Turns the start of a body into a short, printable, secret-free text for error messages.
/// `secrets` are values this client knows (password, client secret, tokens); they are replaced
/// wherever they occur, and so is anything that looks like an `access_token` value.
pub fn sanitize_snippet(body: &[u8], secrets: &[&str]) -> String {
    // Redact on a generous prefix before cutting, so a secret straddling the cut is caught too.
    let prefix = &body[..body.len().min(SNIPPET_LEN * 16)];
    let mut text = String::from_utf8_lossy(prefix).into_owned();
    for secret in secrets {
        if secret.len() >= 4 {
            text = text.replace(secret, "***");
        }
    }
    text = redact_token_fields(&text);
    let mut out = String::with_capacity(SNIPPET_LEN + 3);
    let mut last_space = false;
    for ch in text.chars() {
        let ch = if ch.is_control() { ' ' } else { ch };
        if ch == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        if out.len() + ch.len_utf8() > SNIPPET_LEN {
            out.push('…');
            break;
        }
        out.push(ch);
    }
    out.trim().to_string()
}

/// Replaces the value of JSON-ish `"access_token": "…"` / `"refresh_token"` / `"client_secret"`
/// / `"password"` fields with `***`.
fn redact_token_fields(text: &str) -> String {
    const FIELDS: [&str; 5] = [
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "password",
    ];
    let mut out = text.to_string();
    for field in FIELDS {
        let mut search_from = 0;
        while let Some(pos) = out[search_from..].find(field) {
            let after_name = search_from + pos + field.len();
            // Skip `"`, whitespace, `:` or `=`, whitespace, an optional opening quote.
            let rest = &out[after_name..];
            let skipped = rest
                .char_indices()
                .find(|(_, c)| !matches!(c, '"' | ' ' | ':' | '='))
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            let value_start = after_name + skipped;
            let value_len = out[value_start..]
                .char_indices()
                .find(|(_, c)| matches!(c, '"' | ',' | '}' | '&' | ' ' | '\n'))
                .map(|(i, _)| i)
                .unwrap_or(out.len() - value_start);
            if value_len > 0 {
                out.replace_range(value_start..value_start + value_len, "***");
                search_from = value_start + 3;
            } else {
                search_from = value_start;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_is_short_printable_and_secret_free() {
        let body = b"<html>\n<body>\tLogin with password hunter22 please {\"access_token\":\"eyJabc.def\"}</body></html>";
        let s = sanitize_snippet(body, &["hunter22"]);
        assert!(!s.contains("hunter22"), "{s}");
        assert!(!s.contains("eyJabc"), "{s}");
        assert!(!s.contains('\n') && !s.contains('\t'));
        let long = vec![b'a'; 5000];
        assert!(sanitize_snippet(&long, &[]).chars().count() <= SNIPPET_LEN + 1);
    }

    #[test]
    fn secret_after_the_cut_is_still_redacted_when_it_straddles() {
        let mut body = vec![b'x'; SNIPPET_LEN - 3];
        body.extend_from_slice(b"topsecretvalue");
        let s = sanitize_snippet(&body, &["topsecretvalue"]);
        assert!(!s.contains("top"), "{s}");
    }

    #[test]
    fn retryability_follows_the_kind_of_failure() {
        let url = "u".to_string();
        let http = |status| CpiError::Http {
            url: "u".to_string(),
            status,
            detail: None,
        };
        assert!(http(408).is_retryable(), "request timeout is passing");
        assert!(!http(400).is_retryable(), "a bad request stays bad");
        assert!(
            CpiError::Throttled {
                url: url.clone(),
                retry_after: None
            }
            .is_retryable()
        );
        assert!(
            CpiError::Server {
                url: url.clone(),
                status: 503,
                detail: None,
                retry_after: None
            }
            .is_retryable()
        );
        assert!(
            !CpiError::Server {
                url: url.clone(),
                status: 501,
                detail: None,
                retry_after: None
            }
            .is_retryable()
        );
        assert!(
            !CpiError::Unauthorized {
                url: url.clone(),
                detail: None
            }
            .is_retryable()
        );
        assert!(
            !CpiError::BadResponse {
                url: url.clone(),
                status: 200,
                content_type: None,
                kind: BadResponseKind::HtmlPage,
                detail: String::new(),
                length: 0
            }
            .is_retryable()
        );
        assert!(
            CpiError::BadResponse {
                url,
                status: 200,
                content_type: None,
                kind: BadResponseKind::Truncated,
                detail: String::new(),
                length: 0
            }
            .is_retryable()
        );
    }
}
