//! OData V2 as CPI speaks it: the `{"d": …}` envelope, `__count`/`__next`, the error envelope,
//! `/Date(ms)/` dates, Int64-as-string, booleans-as-string, key quoting and filter literals.
//!
//! Parsing is lenient about scalars (the schema grows and the wire forms vary) and strict about
//! the envelope: anything that is not the JSON we asked for becomes a [`ParseError`] that says
//! what came back, never a panic and never an empty result.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::BadResponseKind;

/// Why a body could not be parsed. The client adds URL, status and a sanitized snippet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct ParseError {
    pub kind: BadResponseKind,
    pub detail: String,
}

impl ParseError {
    fn new(kind: BadResponseKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

/// `__metadata` of an entity. Only `type` is checked; the rest is kept for callers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub uri: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_string")]
    pub type_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub media_src: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub edit_media: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub content_type: Option<String>,
}

/// An entity type of the `com.sap.hci.api` namespace.
pub trait Entity: DeserializeOwned {
    /// The EDM type name without namespace, e.g. `MessageProcessingLog`. Empty: not checked.
    const TYPE_NAME: &'static str;
    fn metadata(&self) -> Option<&Metadata>;
}

/// One page of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection<T> {
    pub results: Vec<T>,
    /// `__count`, present with `$inlinecount=allpages`.
    pub count: Option<u64>,
    /// `__next` as sent (absolute or relative); resolve with [`crate::client::resolve_next`].
    pub next: Option<String>,
}

/// An OData error envelope's content. Branch on the HTTP status, not on `code` (it is the
/// reason phrase, and sometimes the wrong one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ODataError {
    pub code: Option<String>,
    pub message: Option<String>,
}

impl fmt::Display for ODataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => write!(f, "{c}: {m}"),
            (None, Some(m)) => f.write_str(m),
            (Some(c), None) => f.write_str(c),
            (None, None) => f.write_str("(no message)"),
        }
    }
}

/// Looks at the first bytes and the content type to catch HTML login pages, Atom/XML and other
/// non-JSON answers before JSON parsing, so the error names what actually came back.
pub fn sniff(body: &[u8], content_type: Option<&str>) -> Result<(), ParseError> {
    let start = first_significant(body);
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    match start {
        None => Err(ParseError::new(BadResponseKind::Empty, "the body is empty")),
        Some(b'<') => {
            let head = &body[..body.len().min(2048)];
            let head = String::from_utf8_lossy(head).to_ascii_lowercase();
            if ct.contains("html") || head.contains("<html") || head.contains("<!doctype html") {
                Err(ParseError::new(
                    BadResponseKind::HtmlPage,
                    "got an HTML page; usually a login page: wrong credentials, or the URL points to the UI instead of the API host",
                ))
            } else {
                Err(ParseError::new(
                    BadResponseKind::Xml,
                    "got XML (Atom?) although JSON was requested with Accept: application/json",
                ))
            }
        }
        Some(b'{') | Some(b'[') => Ok(()),
        Some(_) if ct.contains("html") => Err(ParseError::new(
            BadResponseKind::HtmlPage,
            "got text/html instead of JSON",
        )),
        Some(_) => Err(ParseError::new(
            BadResponseKind::NotJson,
            "the body is not JSON",
        )),
    }
}

/// First byte that is not whitespace or a UTF-8 byte-order mark.
fn first_significant(body: &[u8]) -> Option<u8> {
    let body = body.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(body);
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

fn json_error(e: serde_json::Error) -> ParseError {
    use serde_json::error::Category;
    let kind = match e.classify() {
        Category::Eof => BadResponseKind::Truncated,
        Category::Syntax | Category::Io => BadResponseKind::Malformed,
        Category::Data => BadResponseKind::UnexpectedShape,
    };
    ParseError::new(kind, without_values(&e.to_string()))
}

/// serde's messages quote the values they choke on (`invalid type: string "…"`); the body is
/// not ours to echo, so quoted values become `…`; field names after "missing field" stay.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[open] as char;
        out.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(quote) else {
            out.push('…');
            return out;
        };
        let keep = quote == '`'
            && (out.ends_with("missing field `") || out.ends_with("duplicate field `"));
        if keep {
            out.push_str(&after[..close]);
        } else {
            out.push('…');
        }
        out.push(quote);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The top level: `{"d": …}`; an error envelope instead of `d` is reported as such.
#[derive(Deserialize)]
struct Envelope<D> {
    #[serde(default = "none")]
    d: Option<D>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

fn none<D>() -> Option<D> {
    None
}

fn missing_d(error: Option<serde_json::Value>) -> ParseError {
    match error {
        Some(err) => {
            let parsed = error_from_value(&err);
            ParseError::new(
                BadResponseKind::ErrorEnvelope,
                format!("error envelope instead of data: {parsed}"),
            )
        }
        None => ParseError::new(
            BadResponseKind::UnexpectedShape,
            "no \"d\" member: not an OData V2 JSON envelope",
        ),
    }
}

/// Parses a collection page: `{"d":{"results":[…],"__count":"n","__next":"…"}}` (or the older
/// `{"d":[…]}`), and checks `__metadata.type` of every record that carries one.
pub fn parse_collection<T: Entity>(body: &[u8]) -> Result<Collection<T>, ParseError> {
    sniff(body, None)?;
    let env: Envelope<CollectionBody<T>> = serde_json::from_slice(body).map_err(json_error)?;
    let Some(d) = env.d else {
        return Err(missing_d(env.error));
    };
    for r in &d.0.results {
        check_type(r)?;
    }
    Ok(d.0)
}

/// Parses a single entity: `{"d":{…}}`. A one-element collection is accepted too (some CPI
/// navigations by key answer that way).
pub fn parse_entity<T: Entity>(body: &[u8]) -> Result<T, ParseError> {
    sniff(body, None)?;
    let env: Envelope<serde_json::Value> = serde_json::from_slice(body).map_err(json_error)?;
    let Some(d) = env.d else {
        return Err(missing_d(env.error));
    };
    let entity_value = match d {
        serde_json::Value::Object(mut map) => match map.remove("results") {
            Some(serde_json::Value::Array(mut items)) if items.len() == 1 => items.remove(0),
            Some(serde_json::Value::Array(items)) => {
                return Err(ParseError::new(
                    BadResponseKind::UnexpectedShape,
                    format!("expected one entity, got a collection of {}", items.len()),
                ));
            }
            Some(other) => {
                map.insert("results".into(), other);
                serde_json::Value::Object(map)
            }
            None => serde_json::Value::Object(map),
        },
        serde_json::Value::Array(mut items) if items.len() == 1 => items.remove(0),
        other => {
            return Err(ParseError::new(
                BadResponseKind::UnexpectedShape,
                format!(
                    "expected an entity object in \"d\", got {}",
                    json_kind(&other)
                ),
            ));
        }
    };
    let entity: T = serde_json::from_value(entity_value).map_err(json_error)?;
    check_type(&entity)?;
    Ok(entity)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn check_type<T: Entity>(entity: &T) -> Result<(), ParseError> {
    if T::TYPE_NAME.is_empty() {
        return Ok(());
    }
    let Some(found) = entity.metadata().and_then(|m| m.type_name.as_deref()) else {
        return Ok(());
    };
    let short = found.rsplit('.').next().unwrap_or(found);
    if short == T::TYPE_NAME {
        Ok(())
    } else {
        Err(ParseError::new(
            BadResponseKind::WrongEntityType,
            format!("expected entity type {}, got {found}", T::TYPE_NAME),
        ))
    }
}

/// Reads an OData error body in any of the shapes seen: `{"error":{"code","message":{"lang",
/// "value"}}}`, the XML-converted `{"code","message":{"@lang","#text"}}`, or a plain string
/// message. `None` when the body is none of these.
pub fn parse_error_body(body: &[u8]) -> Option<ODataError> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let inner = value.get("error").unwrap_or(&value);
    if !inner.is_object() {
        return None;
    }
    let e = error_from_value(inner);
    if e.code.is_none() && e.message.is_none() {
        None
    } else {
        Some(e)
    }
}

fn error_from_value(v: &serde_json::Value) -> ODataError {
    let text = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(m) => ["value", "#text", "$"]
                .iter()
                .find_map(|k| m.get(*k).and_then(|x| x.as_str()).map(str::to_string)),
            _ => None,
        }
    };
    ODataError {
        code: v.get("code").and_then(text),
        message: v.get("message").and_then(text),
    }
}

/// The `d` content of a collection, parsed in one streaming pass (no intermediate `Value`):
/// pages of 1000 MPLs are the hot path.
struct CollectionBody<T>(Collection<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for CollectionBody<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
            type Value = CollectionBody<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an OData collection ({\"results\": [...]} or [...])")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut results = Vec::new();
                while let Some(item) = seq.next_element::<T>()? {
                    results.push(item);
                }
                Ok(CollectionBody(Collection {
                    results,
                    count: None,
                    next: None,
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut results: Option<Vec<T>> = None;
                let mut count = None;
                let mut next = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "results" => results = Some(map.next_value()?),
                        "__count" => count = map.next_value::<LenientU64>()?.0,
                        "__next" => next = map.next_value::<LenientString>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let results = results.ok_or_else(|| {
                    de::Error::custom(
                        "\"d\" has no \"results\": a single entity where a collection was expected",
                    )
                })?;
                Ok(CollectionBody(Collection {
                    results,
                    count,
                    next,
                }))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

struct LenientU64(Option<u64>);
impl<'de> Deserialize<'de> for LenientU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = lenient::opt_i64(d)?;
        match v {
            Some(n) if n < 0 => Err(de::Error::custom(format!("negative count {n}"))),
            Some(n) => Ok(LenientU64(Some(n as u64))),
            None => Ok(LenientU64(None)),
        }
    }
}

struct LenientString(Option<String>);
impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::opt_string(d).map(LenientString)
    }
}

/// Parses every date form CPI is known to send: `/Date(ms)/`, `\/Date(ms)\/`,
/// `/Date(ms+hhmm)/` and `-hhmm` (the milliseconds are UTC already; the offset is only a hint),
/// plain epoch milliseconds as text (IntegrationPackage dates), and ISO 8601 with or without a
/// zone (Atom, keystore). No zone means UTC, as CPI documents.
pub fn parse_odata_date(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    let inner = s
        .trim_start_matches('\\')
        .trim_start_matches('/')
        .trim_end_matches('/')
        .trim_end_matches('\\');
    if let Some(rest) = inner.strip_prefix("Date(")
        && let Some(body) = rest.strip_suffix(')')
    {
        // The offset sign is the first + or - after the first character.
        let cut = body
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '+' || *c == '-')
            .map(|(i, _)| i);
        let (ms, offset) = match cut {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        if let Some(off) = offset
            && (off.len() != 4 || !off.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let ms: i64 = ms.parse().ok()?;
        return DateTime::from_timestamp_millis(ms);
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return DateTime::from_timestamp_millis(s.parse().ok()?);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(naive.and_utc());
        }
    }
    None
}

/// A `$filter` date literal: UTC, no zone (CPI rejects zones), with milliseconds.
/// `datetime'2021-02-01T00:00:00.000'`
pub fn datetime_literal(t: DateTime<Utc>) -> String {
    let iso = t.to_rfc3339_opts(SecondsFormat::Millis, true);
    format!("datetime'{}'", iso.trim_end_matches('Z'))
}

/// A `$filter` string literal: single quotes, inner quotes doubled.
pub fn string_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Characters left as they are inside a key segment. Everything else is percent-encoded, so
/// ids like `sap-it-res:msg:…` become `sap-it-res%3Amsg%3A…` as SAP's own links show.
const KEY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'\'');

/// A string key for a resource path: `'…'` with inner quotes doubled and percent-encoded.
/// `quote_key("a:b'c")` gives `'a%3Ab''c'`.
pub fn quote_key(key: &str) -> String {
    format!(
        "'{}'",
        utf8_percent_encode(&key.replace('\'', "''"), KEY_SET)
    )
}

/// Characters left as they are in a query value; `&`, `=`, `+`, `#`, `%`, spaces and non-ASCII
/// are encoded.
const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b'*')
    .remove(b'$');

/// Builds `name=value&…` with OData-friendly percent-encoding (`%20` for spaces, never `+`).
pub fn encode_query(params: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(utf8_percent_encode(name, QUERY_SET));
        out.push('=');
        out.extend(utf8_percent_encode(value, QUERY_SET));
    }
    out
}

/// Keystore entries are keyed by the upper-case hex of the alias (`Hexalias`).
pub fn hex_alias(alias: &str) -> String {
    alias.bytes().map(|b| format!("{b:02X}")).collect()
}

/// serde helpers that accept every wire form seen for a scalar. All treat `null` as `None`.
pub mod lenient {
    use super::*;

    macro_rules! visit_null {
        () => {
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
        };
    }

    /// Strings; numbers and booleans are turned into their text.
    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            visit_null!();
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }

    /// A required key string (same leniency, but null or missing is an error).
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        opt_string(d)?.ok_or_else(|| de::Error::custom("key property is null"))
    }

    /// Int64 as JSON number or string (`"PayloadSize": "26"`).
    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<i64>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a string holding one")
            }
            visit_null!();
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(Some)
                    .map_err(|_| E::custom(format!("integer {v} out of range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(Some(v as i64))
                } else {
                    Err(E::custom(format!("{v} is not an integer")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let t = v.trim().trim_end_matches(['L', 'l']);
                if t.is_empty() {
                    return Ok(None);
                }
                t.parse()
                    .map(Some)
                    .map_err(|_| E::custom(format!("{v:?} is not an integer")))
            }
        }
        d.deserialize_any(V)
    }

    /// Int32 with the same leniency, range-checked.
    pub fn opt_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
        match opt_i64(d)? {
            None => Ok(None),
            Some(v) => i32::try_from(v)
                .map(Some)
                .map_err(|_| de::Error::custom(format!("{v} out of Int32 range"))),
        }
    }

    /// A required Int32 (composite keys such as `ChildCount`).
    pub fn i32_key<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        opt_i32(d)?.ok_or_else(|| de::Error::custom("key property is null"))
    }

    /// Booleans as JSON bools (real tenants) or `"true"`/`"false"` (SAP's older examples).
    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<bool>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean or \"true\"/\"false\"")
            }
            visit_null!();
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                match v {
                    0 => Ok(Some(false)),
                    1 => Ok(Some(true)),
                    _ => Err(E::custom(format!("{v} is not a boolean"))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let t = v.trim();
                if t.eq_ignore_ascii_case("true") || t == "1" {
                    Ok(Some(true))
                } else if t.eq_ignore_ascii_case("false") || t == "0" {
                    Ok(Some(false))
                } else if t.is_empty() {
                    Ok(None)
                } else {
                    Err(E::custom(format!("{v:?} is not a boolean")))
                }
            }
        }
        d.deserialize_any(V)
    }

    /// Edm.DateTime / DateTimeOffset in any form [`parse_odata_date`] knows; a JSON number is
    /// epoch milliseconds. An empty string is `None`; an unreadable one is an error, because a
    /// wrong LogEnd would silently corrupt windows.
    pub fn opt_datetime<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<DateTime<Utc>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an OData date (\"/Date(ms)/\", epoch ms or ISO 8601)")
            }
            visit_null!();
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                DateTime::from_timestamp_millis(v)
                    .map(Some)
                    .ok_or_else(|| E::custom(format!("date {v} out of range")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_i64(
                    i64::try_from(v).map_err(|_| E::custom(format!("date {v} out of range")))?,
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v.trim().is_empty() {
                    return Ok(None);
                }
                parse_odata_date(v)
                    .map(Some)
                    .ok_or_else(|| E::custom(format!("{v:?} is not a date")))
            }
        }
        d.deserialize_any(V)
    }

    /// Dates carried in Edm.String properties (package CreationDate, artifact CreatedAt): they
    /// are informational, so an unreadable value becomes `None` instead of failing the record.
    pub fn opt_loose_datetime<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(opt_string(d)?.and_then(|s| parse_odata_date(&s)))
    }

    /// A navigation property: `{"__deferred":…}` (not expanded) gives `None`; an expanded
    /// `{"results":[…]}` or bare array gives the items.
    pub fn nav_collection<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned,
    {
        d.deserialize_any(Nav::<T> {
            whole: false,
            item: std::marker::PhantomData,
        })
    }

    /// A navigation property that must come whole: like [`nav_collection`], but an expanded
    /// collection that carries its own `__next` (the server paged it inline) gives `None` too,
    /// so the caller reads that part through its own, paged, call instead of keeping a cut list.
    pub fn nav_collection_whole<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned,
    {
        d.deserialize_any(Nav::<T> {
            whole: true,
            item: std::marker::PhantomData,
        })
    }

    struct Nav<T> {
        whole: bool,
        item: std::marker::PhantomData<T>,
    }

    impl<'de, T: DeserializeOwned> Visitor<'de> for Nav<T> {
        type Value = Option<Vec<T>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a navigation property")
        }
        visit_null!();
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<T>()? {
                out.push(item);
            }
            Ok(Some(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = None;
            let mut paged = false;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "results" {
                    out = Some(map.next_value::<Vec<T>>()?);
                } else {
                    paged |= key == "__next";
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(if paged && self.whole { None } else { out })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ms(v: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(v).expect("valid")
    }

    #[test]
    fn all_date_forms_parse_to_the_same_instant() {
        for s in [
            "/Date(1522069440003)/",
            "\\/Date(1522069440003)\\/",
            "/Date(1522069440003+0000)/",
            "/Date(1522069440003-0130)/",
            "1522069440003",
            "2018-03-26T13:04:00.003",
            "2018-03-26T13:04:00.003Z",
            "2018-03-26T15:04:00.003+02:00",
        ] {
            assert_eq!(parse_odata_date(s), Some(ms(1522069440003)), "{s}");
        }
        assert_eq!(parse_odata_date("/Date(-1000)/"), Some(ms(-1000)));
        assert_eq!(
            parse_odata_date("2021-02-25T12:49:48.83"),
            Some(
                Utc.with_ymd_and_hms(2021, 2, 25, 12, 49, 48).unwrap()
                    + chrono::Duration::milliseconds(830)
            )
        );
        for bad in [
            "",
            "/Date()/",
            "/Date(abc)/",
            "/Date(1+00)/",
            "yesterday",
            "/Date(1",
        ] {
            assert_eq!(parse_odata_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn raw_wire_escape_of_slashes_is_decoded_by_json() {
        #[derive(Deserialize)]
        struct R {
            #[serde(deserialize_with = "lenient::opt_datetime")]
            t: Option<DateTime<Utc>>,
        }
        let r: R = serde_json::from_str(r#"{"t":"\/Date(1000)\/"}"#).unwrap();
        assert_eq!(r.t, Some(ms(1000)));
    }

    #[test]
    fn datetime_literal_is_utc_without_zone_with_millis() {
        let t = Utc.with_ymd_and_hms(2021, 2, 1, 0, 0, 0).unwrap();
        assert_eq!(datetime_literal(t), "datetime'2021-02-01T00:00:00.000'");
        assert_eq!(
            datetime_literal(ms(1522069440003)),
            "datetime'2018-03-26T13:04:00.003'"
        );
    }

    #[test]
    fn keys_are_quoted_doubled_and_percent_encoded() {
        assert_eq!(
            quote_key("sap-it-res:msg:ae15c0dda:623f"),
            "'sap-it-res%3Amsg%3Aae15c0dda%3A623f'"
        );
        assert_eq!(quote_key("O'Brien"), "'O''Brien'");
        assert_eq!(quote_key("a b/c?d#e%f"), "'a%20b%2Fc%3Fd%23e%25f'");
        assert_eq!(string_literal("it's"), "'it''s'");
    }

    #[test]
    fn query_encoding_uses_percent_20_and_escapes_separators() {
        let q = encode_query(&[
            ("$filter", "Status eq 'A&B' and X eq '1+1=2'".into()),
            ("$top", "1".into()),
        ]);
        assert_eq!(
            q,
            "$filter=Status%20eq%20'A%26B'%20and%20X%20eq%20'1%2B1%3D2'&$top=1"
        );
    }

    #[test]
    fn hex_alias_is_upper_case_hex_of_utf8() {
        assert_eq!(hex_alias("123"), "313233");
        assert_eq!(
            hex_alias("sap_test_certificate"),
            "7361705F746573745F6365727469666963617465"
        );
    }

    #[test]
    fn sniff_names_html_xml_and_empty_bodies() {
        let k = |b: &[u8], ct| sniff(b, ct).unwrap_err().kind;
        assert_eq!(k(b"", None), BadResponseKind::Empty);
        assert_eq!(k(b"  \n", None), BadResponseKind::Empty);
        assert_eq!(k(b"<!DOCTYPE html><html>", None), BadResponseKind::HtmlPage);
        assert_eq!(
            k(b"<?xml version='1.0'?><feed/>", None),
            BadResponseKind::Xml
        );
        assert_eq!(k(b"Login", Some("text/html")), BadResponseKind::HtmlPage);
        assert_eq!(k(b"hello", None), BadResponseKind::NotJson);
        assert!(sniff(b"\xEF\xBB\xBF {}", None).is_ok());
    }

    #[test]
    fn lenient_scalars() {
        #[derive(Deserialize, Debug)]
        struct R {
            #[serde(default, deserialize_with = "lenient::opt_i64")]
            i: Option<i64>,
            #[serde(default, deserialize_with = "lenient::opt_bool")]
            b: Option<bool>,
            #[serde(default, deserialize_with = "lenient::opt_string")]
            s: Option<String>,
        }
        let r: R = serde_json::from_str(r#"{"i":"26","b":"false","s":5}"#).unwrap();
        assert_eq!(
            (r.i, r.b, r.s.as_deref()),
            (Some(26), Some(false), Some("5"))
        );
        let r: R = serde_json::from_str(r#"{"i":26,"b":true,"s":null}"#).unwrap();
        assert_eq!((r.i, r.b, r.s), (Some(26), Some(true), None));
        let r: R = serde_json::from_str(r#"{"i":"7875L"}"#).unwrap();
        assert_eq!(r.i, Some(7875));
        let r: R = serde_json::from_str(r#"{}"#).unwrap();
        assert_eq!((r.i, r.b, r.s), (None, None, None));
        assert!(serde_json::from_str::<R>(r#"{"i":"abc"}"#).is_err());
        assert!(serde_json::from_str::<R>(r#"{"b":"maybe"}"#).is_err());
    }

    #[test]
    fn error_bodies_in_every_shape() {
        let e = parse_error_body(
            br#"{"error":{"code":"Not Found","message":{"lang":"en","value":"Alias 'x' not found"}}}"#,
        )
        .unwrap();
        assert_eq!(e.code.as_deref(), Some("Not Found"));
        assert_eq!(e.message.as_deref(), Some("Alias 'x' not found"));
        let e = parse_error_body(
            br##"{"code":"Bad Request","message":{"@lang":"en","#text":"Invalid order by expression"}}"##,
        )
        .unwrap();
        assert_eq!(e.message.as_deref(), Some("Invalid order by expression"));
        let e = parse_error_body(br#"{"error":{"message":"plain"}}"#).unwrap();
        assert_eq!(e.message.as_deref(), Some("plain"));
        assert_eq!(parse_error_body(b"<html>"), None);
        assert_eq!(parse_error_body(br#"{"d":{}}"#), None);
    }
}
