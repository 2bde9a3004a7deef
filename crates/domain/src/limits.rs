//! What the tenant's text may look like once IntegraMon keeps it. A tenant's data is not
//! trusted to be sane: one message with a NUL in its GUID, a 3,000-character id or a 1 MB
//! header value must not fail the page it came in. Every value is made storable once, where
//! CPI records become domain types, and every later comparison (the page upsert, the monitor's
//! filters, look-ups by GUID) uses the same functions, so a search with the tenant's original
//! value still finds the message.
//!
//! - NUL (PostgreSQL text cannot hold it) becomes U+FFFD everywhere.
//! - Keys — the text the database indexes (GUID, correlation and application ids, iFlow and
//!   package ids, status, sender, receiver, run/attachment/entry ids) — longer than
//!   [`KEY_MAX_BYTES`] keep their start and end in a SHA-256 of the whole value:
//!   `<start>…[sha256:<32 hex>]`. A PostgreSQL btree entry must stay under ~2.7 kB, and
//!   `message_counts` indexes three such keys in one entry.
//! - Custom header values longer than [`HEADER_VALUE_MAX_BYTES`] and other message fields
//!   longer than [`TEXT_MAX_BYTES`] are cut, with a marker that says so and how long the value
//!   was: `<start>…[cut: 1048576 bytes]`.
//!
//! Each function is idempotent (its result passes through unchanged), so a value already made
//! storable, shown in the UI and searched for again, finds itself.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::MessageStatus;
use crate::message::{AdapterAttribute, AttachmentMeta, CustomHeader, Message, PayloadEntry, Run};

/// Longest key kept as it is, in bytes of UTF-8.
pub const KEY_MAX_BYTES: usize = 512;
/// Longest custom header value kept whole, in bytes of UTF-8.
pub const HEADER_VALUE_MAX_BYTES: usize = 4096;
/// Longest custom header name, in characters (a header's name and value prefix share an index
/// entry).
pub const HEADER_NAME_MAX_CHARS: usize = 255;
/// Longest other message field (names, links, component names), in bytes of UTF-8.
pub const TEXT_MAX_BYTES: usize = 4096;

/// NUL replaced by U+FFFD; no copy when there is none.
pub fn clean(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// The longest start of `s` of at most `max` bytes that ends on a character boundary.
fn head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A key as it is stored and compared: cleaned, and when longer than [`KEY_MAX_BYTES`] its
/// start plus a hash of the whole (cleaned) value, at most [`KEY_MAX_BYTES`] long.
pub fn key(s: &str) -> Cow<'_, str> {
    let cleaned = clean(s);
    if cleaned.len() <= KEY_MAX_BYTES {
        return cleaned;
    }
    let digest = hex(&Sha256::digest(cleaned.as_bytes())[..16]);
    let tail = format!("…[sha256:{digest}]");
    Cow::Owned(format!(
        "{}{tail}",
        head(&cleaned, KEY_MAX_BYTES - tail.len())
    ))
}

/// A value cut to at most `max` bytes with a marker naming its original length.
fn cut(s: &str, max: usize) -> Cow<'_, str> {
    let cleaned = clean(s);
    if cleaned.len() <= max {
        return cleaned;
    }
    let tail = format!("…[cut: {} bytes]", cleaned.len());
    Cow::Owned(format!("{}{tail}", head(&cleaned, max - tail.len())))
}

/// A custom header value as stored and compared (see the module doc).
pub fn header_value(s: &str) -> Cow<'_, str> {
    cut(s, HEADER_VALUE_MAX_BYTES)
}

/// A custom header name as stored and compared: cleaned, trimmed, at most
/// [`HEADER_NAME_MAX_CHARS`] characters.
pub fn header_name(s: &str) -> Cow<'_, str> {
    let trimmed = s.trim();
    if trimmed.len() == s.len()
        && !s.contains('\0')
        && s.chars().nth(HEADER_NAME_MAX_CHARS).is_none()
    {
        return Cow::Borrowed(s);
    }
    let kept: String = trimmed.chars().take(HEADER_NAME_MAX_CHARS).collect();
    Cow::Owned(clean(&kept).into_owned())
}

/// Other text (a name, a link) as stored: cleaned, cut at [`TEXT_MAX_BYTES`].
pub fn text(s: &str) -> Cow<'_, str> {
    cut(s, TEXT_MAX_BYTES)
}

/// A message status as stored (it is indexed, and an unknown one is kept as sent).
pub fn status(s: &MessageStatus) -> MessageStatus {
    match s {
        MessageStatus::Other(raw) => MessageStatus::Other(key(raw).into_owned()),
        known => known.clone(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fix(v: &mut String, f: fn(&str) -> Cow<'_, str>) {
    if let Cow::Owned(s) = f(v) {
        *v = s;
    }
}

fn fix_opt(v: &mut Option<String>, f: fn(&str) -> Cow<'_, str>) {
    if let Some(s) = v {
        fix(s, f);
    }
}

impl Message {
    /// This message with every field made storable (see the module doc). Cheap when nothing
    /// needs changing: no field is copied.
    pub fn sanitized(mut self) -> Self {
        self.sanitize();
        self
    }

    /// [`Message::sanitized`] in place.
    pub fn sanitize(&mut self) {
        fix(&mut self.guid, key);
        for k in [
            &mut self.correlation_id,
            &mut self.application_message_id,
            &mut self.predecessor_guid,
            &mut self.sender,
            &mut self.receiver,
            &mut self.iflow_id,
            &mut self.package_id,
        ] {
            fix_opt(k, key);
        }
        for t in [
            &mut self.application_message_type,
            &mut self.iflow_name,
            &mut self.artifact_type,
            &mut self.package_name,
            &mut self.custom_status,
            &mut self.log_level,
            &mut self.alternate_web_link,
            &mut self.transaction_id,
            &mut self.archiving_status,
            &mut self.origin_component_name,
            &mut self.local_component_name,
            &mut self.previous_component_name,
        ] {
            fix_opt(t, text);
        }
        if let MessageStatus::Other(s) = &self.status
            && unfit(s, KEY_MAX_BYTES)
        {
            self.status = status(&self.status);
        }
    }

    /// Whether [`Message::sanitize`] would change anything (without copying the message).
    pub fn needs_sanitizing(&self) -> bool {
        let keys = [
            &self.correlation_id,
            &self.application_message_id,
            &self.predecessor_guid,
            &self.sender,
            &self.receiver,
            &self.iflow_id,
            &self.package_id,
        ];
        let texts = [
            &self.application_message_type,
            &self.iflow_name,
            &self.artifact_type,
            &self.package_name,
            &self.custom_status,
            &self.log_level,
            &self.alternate_web_link,
            &self.transaction_id,
            &self.archiving_status,
            &self.origin_component_name,
            &self.local_component_name,
            &self.previous_component_name,
        ];
        unfit(&self.guid, KEY_MAX_BYTES)
            || unfit(self.status.as_str(), KEY_MAX_BYTES)
            || keys
                .iter()
                .any(|v| v.as_deref().is_some_and(|s| unfit(s, KEY_MAX_BYTES)))
            || texts
                .iter()
                .any(|v| v.as_deref().is_some_and(|s| unfit(s, TEXT_MAX_BYTES)))
    }
}

/// Whether a value needs cleaning or capping at `max` bytes.
fn unfit(s: &str, max: usize) -> bool {
    s.len() > max || s.contains('\0')
}

impl CustomHeader {
    /// This header with its name and value made storable, or `None` when the name is empty.
    pub fn sanitized(self) -> Option<Self> {
        let name = match header_name(&self.name) {
            Cow::Borrowed(_) => self.name,
            Cow::Owned(s) => s,
        };
        if name.is_empty() {
            return None;
        }
        let mut value = self.value;
        fix_opt(&mut value, header_value);
        Some(Self { name, value })
    }
}

impl Run {
    /// The run's key made storable (its steps' texts are cleaned by the store).
    pub fn sanitize(&mut self) {
        fix(&mut self.run_id, key);
    }
}

impl AttachmentMeta {
    pub fn sanitize(&mut self) {
        fix(&mut self.attachment_id, key);
    }
}

impl PayloadEntry {
    pub fn sanitize(&mut self) {
        fix(&mut self.entry_id, key);
    }
}

impl AdapterAttribute {
    pub fn sanitize(&mut self) {
        fix_opt(&mut self.value, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_pass_unchanged_and_nul_is_replaced() {
        assert!(matches!(key("AGk1x_abc"), Cow::Borrowed("AGk1x_abc")));
        assert_eq!(key("a\0b"), "a\u{FFFD}b");
    }

    #[test]
    fn long_keys_are_capped_distinct_and_idempotent() {
        let a = "é".repeat(1500);
        let mut b = a.clone();
        b.push('x');
        let (ka, kb) = (key(&a).into_owned(), key(&b).into_owned());
        assert!(ka.len() <= KEY_MAX_BYTES, "{}", ka.len());
        assert!(ka.starts_with("éé") && ka.contains("…[sha256:"), "{ka}");
        assert_ne!(ka, kb, "different values keep different keys");
        assert_eq!(key(&ka), ka, "idempotent");
        assert_eq!(key(&a), ka, "deterministic");
    }

    #[test]
    fn long_header_values_are_cut_with_a_marker() {
        let v = "v".repeat(1 << 20);
        let cut = header_value(&v).into_owned();
        assert!(cut.len() <= HEADER_VALUE_MAX_BYTES);
        assert!(
            cut.ends_with("…[cut: 1048576 bytes]"),
            "{}",
            &cut[cut.len() - 40..]
        );
        assert_eq!(header_value(&cut), cut, "idempotent");
        assert_eq!(header_value("short"), "short");
    }

    #[test]
    fn a_message_is_sanitized_field_by_field() {
        let mut m = Message::new("g\0uid", MessageStatus::Other("X".repeat(3000)));
        m.application_message_id = Some("A".repeat(3000));
        m.iflow_name = Some("n".repeat(10_000));
        m.sender = Some("ok".into());
        assert!(m.needs_sanitizing());
        let s = m.clone().sanitized();
        assert_eq!(s.guid, "g\u{FFFD}uid");
        assert!(s.application_message_id.as_ref().unwrap().len() <= KEY_MAX_BYTES);
        assert!(s.status.as_str().len() <= KEY_MAX_BYTES);
        assert!(s.iflow_name.as_ref().unwrap().len() <= TEXT_MAX_BYTES);
        assert_eq!(s.sender.as_deref(), Some("ok"));
        assert!(!s.needs_sanitizing());
        assert_eq!(s.clone().sanitized(), s);
    }

    #[test]
    fn header_names_are_trimmed_and_capped() {
        let h = CustomHeader::new(format!("  {}  ", "n".repeat(300)), "v");
        let s = h.sanitized().unwrap();
        assert_eq!(s.name.chars().count(), HEADER_NAME_MAX_CHARS);
        assert!(CustomHeader::new("   ", "v").sanitized().is_none());
    }
}
