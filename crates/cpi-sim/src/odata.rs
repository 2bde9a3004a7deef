//! Writes OData v2 JSON the way CPI does, straight into a byte buffer: the `{"d":…}` envelope,
//! `/Date(ms)/` dates, Int64 as strings, `__metadata`, deferred navigation links and the error
//! envelope. Hand-written because pages of 1000 records are the hot path.

use std::fmt::Write as _;

pub(crate) const JSON: &str = "application/json";

/// Appends `s` as a JSON string (with quotes).
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&b[start..i]);
                let _ = write!(Hex4(out), "\\u{:04x}", c);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

struct Hex4<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Hex4<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends the decimal digits of `n`.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

pub(crate) fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Percent-encodes a key value for use inside `('…')` in a URI, doubling single quotes like
/// OData does. Colons become `%3A` as in SAP's own links.
pub(crate) fn push_key_escaped(out: &mut Vec<u8>, key: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in key.as_bytes() {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(c),
            b'\'' => out.extend_from_slice(b"''"),
            _ => {
                out.push(b'%');
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0x0f)]);
            }
        }
    }
}

pub(crate) fn key_escaped(key: &str) -> String {
    let mut v = Vec::with_capacity(key.len() + 8);
    push_key_escaped(&mut v, key);
    String::from_utf8(v).unwrap_or_default()
}

/// Writes one JSON object's members, handling the commas.
pub(crate) struct Obj<'a> {
    pub out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    pub(crate) fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// Writes `"name":` and returns the buffer for the value.
    pub(crate) fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub(crate) fn str(&mut self, name: &str, v: &str) {
        let out = self.key(name);
        push_str(out, v);
    }

    pub(crate) fn opt_str(&mut self, name: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(name, v),
            None => self.null(name),
        }
    }

    /// An ASCII value known to need no escaping (ids, hex, base64url).
    pub(crate) fn ascii(&mut self, name: &str, v: &[u8]) {
        let out = self.key(name);
        out.push(b'"');
        out.extend_from_slice(v);
        out.push(b'"');
    }

    pub(crate) fn null(&mut self, name: &str) {
        self.key(name).extend_from_slice(b"null");
    }

    pub(crate) fn bool(&mut self, name: &str, v: bool) {
        let s: &[u8] = if v { b"true" } else { b"false" };
        self.key(name).extend_from_slice(s);
    }

    /// Edm.DateTime: `"/Date(<ms>)/"`.
    pub(crate) fn date(&mut self, name: &str, ms: i64) {
        let out = self.key(name);
        out.extend_from_slice(b"\"/Date(");
        push_i64(out, ms);
        out.extend_from_slice(b")/\"");
    }

    pub(crate) fn opt_date(&mut self, name: &str, ms: Option<i64>) {
        match ms {
            Some(ms) => self.date(name, ms),
            None => self.null(name),
        }
    }

    /// Edm.Int64: a JSON string.
    pub(crate) fn int64(&mut self, name: &str, v: i64) {
        let out = self.key(name);
        out.push(b'"');
        push_i64(out, v);
        out.push(b'"');
    }

    /// Edm.Int32: a JSON number.
    pub(crate) fn int32(&mut self, name: &str, v: i64) {
        let out = self.key(name);
        push_i64(out, v);
    }

    /// `__metadata` of an entity: `uri` is `<service root>/<Set>(<key>)`.
    pub(crate) fn metadata(&mut self, uri: &[u8], type_name: &str) {
        let out = self.key("__metadata");
        out.extend_from_slice(b"{\"id\":\"");
        out.extend_from_slice(uri);
        out.extend_from_slice(b"\",\"uri\":\"");
        out.extend_from_slice(uri);
        out.extend_from_slice(b"\",\"type\":\"");
        out.extend_from_slice(type_name.as_bytes());
        out.extend_from_slice(b"\"}");
    }

    /// `__metadata` of a media entity (`m:HasStream`), with its `$value` links.
    pub(crate) fn media_metadata(&mut self, uri: &[u8], type_name: &str, content_type: &str) {
        let out = self.key("__metadata");
        out.extend_from_slice(b"{\"id\":\"");
        out.extend_from_slice(uri);
        out.extend_from_slice(b"\",\"uri\":\"");
        out.extend_from_slice(uri);
        out.extend_from_slice(b"\",\"type\":\"");
        out.extend_from_slice(type_name.as_bytes());
        out.extend_from_slice(b"\",\"content_type\":");
        push_str(out, content_type);
        out.extend_from_slice(b",\"media_src\":\"");
        out.extend_from_slice(uri);
        out.extend_from_slice(b"/$value\",\"edit_media\":\"");
        out.extend_from_slice(uri);
        out.extend_from_slice(b"/$value\"}");
    }

    /// A navigation property that was not expanded: `{"__deferred":{"uri":"<uri>/<name>"}}`.
    pub(crate) fn deferred(&mut self, name: &str, uri: &[u8]) {
        let out = self.key(name);
        out.extend_from_slice(b"{\"__deferred\":{\"uri\":\"");
        out.extend_from_slice(uri);
        out.push(b'/');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\"}}");
    }

    pub(crate) fn close(self) {
        self.out.push(b'}');
    }
}

/// Builds `<root>/<Set>('<key>')` for `__metadata` and deferred links.
pub(crate) fn entity_uri(root: &str, set: &str, key: &str) -> Vec<u8> {
    let mut uri = Vec::with_capacity(root.len() + set.len() + key.len() + 8);
    uri.extend_from_slice(root.as_bytes());
    uri.push(b'/');
    uri.extend_from_slice(set.as_bytes());
    uri.extend_from_slice(b"('");
    push_key_escaped(&mut uri, key);
    uri.extend_from_slice(b"')");
    uri
}

/// The start of a collection page: `{"d":{["__count":"N",]"results":[`.
pub(crate) fn begin_collection(out: &mut Vec<u8>, count: Option<usize>) {
    out.extend_from_slice(b"{\"d\":{");
    if let Some(n) = count {
        out.extend_from_slice(b"\"__count\":\"");
        push_u64(out, n as u64);
        out.extend_from_slice(b"\",");
    }
    out.extend_from_slice(b"\"results\":[");
}

/// The end of a collection page, with the next link if there is one.
pub(crate) fn end_collection(out: &mut Vec<u8>, next: Option<&str>) {
    out.push(b']');
    if let Some(next) = next {
        out.extend_from_slice(b",\"__next\":");
        push_str(out, next);
    }
    out.extend_from_slice(b"}}");
}

/// The HTTP reason phrase, which CPI puts in the error envelope's `code`.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// `{"error":{"code":"<reason>","message":{"lang":"en","value":"<text>"}}}`
pub(crate) fn error_body(status: u16, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + message.len());
    out.extend_from_slice(b"{\"error\":{\"code\":");
    push_str(&mut out, reason(status));
    out.extend_from_slice(b",\"message\":{\"lang\":\"en\",\"value\":");
    push_str(&mut out, message);
    out.extend_from_slice(b"}}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = Vec::new();
        push_str(&mut out, "a\"b\\c\nd\u{1}é");
        let s = String::from_utf8(out).unwrap();
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn numbers_and_dates_have_the_tenant_encoding() {
        let mut out = Vec::new();
        let mut o = Obj::open(&mut out);
        o.date("LogStart", 1_611_846_759_005);
        o.int64("PayloadSize", 26);
        o.int32("KeySize", 2048);
        o.bool("HasAttachments", false);
        o.null("Sender");
        o.close();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["LogStart"], "/Date(1611846759005)/");
        assert_eq!(v["PayloadSize"], "26");
        assert_eq!(v["KeySize"], 2048);
        assert_eq!(v["HasAttachments"], false);
        assert!(v["Sender"].is_null());
        let mut n = Vec::new();
        push_i64(&mut n, -120);
        assert_eq!(n, b"-120");
    }

    #[test]
    fn keys_are_quoted_and_percent_encoded() {
        assert_eq!(
            key_escaped("sap-it-res:msg:ae15:623f"),
            "sap-it-res%3Amsg%3Aae15%3A623f"
        );
        assert_eq!(key_escaped("it's"), "it''s");
        let uri = entity_uri("http://h/api/v1", "MessageProcessingLogs", "AB_c-1");
        assert_eq!(uri, b"http://h/api/v1/MessageProcessingLogs('AB_c-1')");
    }

    #[test]
    fn error_envelope_matches_the_examples() {
        let v: serde_json::Value =
            serde_json::from_slice(&error_body(400, "Invalid order by expression")).unwrap();
        assert_eq!(v["error"]["code"], "Bad Request");
        assert_eq!(v["error"]["message"]["lang"], "en");
        assert_eq!(
            v["error"]["message"]["value"],
            "Invalid order by expression"
        );
    }
}
