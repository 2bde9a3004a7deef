//! The archive file format (`integramon-archive`, version 1): gzip-compressed JSON Lines, one
//! file per tenant-day. Line 1 is a [`Header`], then one [`ArchivedMessage`] per line, then a
//! [`Trailer`]; every line is a JSON object whose `kind` says which. A file without its trailer
//! is incomplete, whatever its gzip stream says. Documented for operators in
//! `docs/operations/archive.md`; the reading and writing (I/O) live in the archiver.
//!
//! The message lines mirror the database rows (minus surrogate keys), so a restore writes back
//! exactly what was archived, payload and attachment bodies included (base64).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::message::AdapterAttribute;

/// The `format` of every header.
pub const FORMAT: &str = "integramon-archive";
/// The version this code writes and the newest it reads.
pub const VERSION: u32 = 1;

/// One line of an archive file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    Header(Header),
    Message(Box<ArchivedMessage>),
    Trailer(Trailer),
}

/// First line: what the file is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    pub version: u32,
    /// Tenant name and its id in the database the file was written from.
    pub tenant: String,
    pub tenant_id: i64,
    /// The day in `time_zone` whose messages the file holds: those whose `log_end` (or
    /// `log_start` when there is no `log_end`) is in `[from, to)`.
    pub day: NaiveDate,
    pub time_zone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Message lines that follow.
    pub message_count: u64,
    pub created_at: DateTime<Utc>,
    /// `integramon <version>`.
    pub writer: String,
    /// Hex SHA-256 of the file this one replaced when late messages were merged into the day:
    /// how the archiver recognises its own merged file after a crash between putting it in
    /// place and recording it (any other file that differs from its row is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

/// Last line: proves the file is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    pub message_count: u64,
    /// Hex SHA-256 of the uncompressed message lines, newlines included (everything between
    /// the header line and the trailer line).
    pub content_sha256: String,
}

/// One message with everything stored about it. Its fields mirror the `message_logs` row on
/// purpose but it is not that type: this is the archive file's format, which files already
/// written depend on, so it must not change when a column is added or renamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedMessage {
    /// The message's id in the database it was archived from (links and logs refer to it).
    pub id: i64,
    pub guid: String,
    pub correlation_id: Option<String>,
    pub application_message_id: Option<String>,
    pub application_message_type: Option<String>,
    pub predecessor_guid: Option<String>,
    pub log_start: Option<DateTime<Utc>>,
    pub log_end: Option<DateTime<Utc>>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    pub iflow_id: Option<String>,
    pub iflow_name: Option<String>,
    pub artifact_type: Option<String>,
    pub package_id: Option<String>,
    pub package_name: Option<String>,
    pub status: Option<String>,
    pub custom_status: Option<String>,
    pub log_level: Option<String>,
    pub alternate_web_link: Option<String>,
    pub transaction_id: Option<String>,
    pub archiving_status: Option<String>,
    pub origin_component_name: Option<String>,
    pub local_component_name: Option<String>,
    pub previous_component_name: Option<String>,
    pub duration_ms: Option<i64>,
    pub details_status: Option<String>,
    pub details_fetched_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub headers: Vec<ArchivedHeader>,
    pub error: Option<ArchivedError>,
    pub runs: Vec<ArchivedRun>,
    pub adapter_attributes: Vec<AdapterAttribute>,
    pub payloads: Vec<ArchivedPayload>,
    pub attachments: Vec<ArchivedAttachment>,
}

impl ArchivedMessage {
    /// The version of a message the archive holds: a row whose `updated_at` or
    /// `details_fetched_at` differs was changed after it was archived.
    pub fn version(&self) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
        (self.updated_at, self.details_fetched_at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedHeader {
    pub cpi_id: Option<String>,
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedError {
    pub error_type: Option<String>,
    pub last_error_model_step_id: Option<String>,
    pub text: Option<String>,
    pub fetched_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedRun {
    pub run_id: String,
    pub run_start: Option<DateTime<Utc>>,
    pub run_stop: Option<DateTime<Utc>>,
    pub log_level: Option<String>,
    pub overall_state: Option<String>,
    pub process_id: Option<String>,
    pub steps: Vec<ArchivedStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedStep {
    pub child_count: i32,
    pub step_start: Option<DateTime<Utc>>,
    pub step_stop: Option<DateTime<Utc>>,
    pub step_id: Option<String>,
    pub model_step_id: Option<String>,
    pub branch_id: Option<String>,
    pub status: Option<String>,
    pub error: Option<String>,
    pub activity: Option<String>,
    /// `RunStepProperties` (name → value) as stored.
    pub properties: Option<BTreeMap<String, Option<String>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedPayload {
    pub entry_id: String,
    pub message_store_id: Option<String>,
    pub entry_timestamp: Option<DateTime<Utc>>,
    pub has_attachments: Option<bool>,
    pub content_type: Option<String>,
    pub size: Option<i64>,
    /// The body, base64 (standard alphabet, padded); `null` when it was not downloaded.
    #[serde(with = "base64_bytes")]
    pub content: Option<Vec<u8>>,
    pub sha256: Option<String>,
    pub retain_until: Option<DateTime<Utc>>,
    pub status: String,
    pub error: Option<String>,
    pub downloaded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedAttachment {
    pub attachment_id: String,
    pub name: Option<String>,
    pub content_type: Option<String>,
    pub size: Option<i64>,
    pub timestamp: Option<DateTime<Utc>>,
    /// The body, base64; `null` when it was not downloaded.
    #[serde(with = "base64_bytes")]
    pub content: Option<Vec<u8>>,
    pub sha256: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub downloaded_at: Option<DateTime<Utc>>,
}

/// Where archive files live: `DATA_DIR/archives/`.
pub const ARCHIVES_DIR: &str = "archives";

/// File name of a tenant-day's archive: `<tenant id>_<name>_YYYY_MM_DD.archive`. The id makes
/// it unique (two names can be the same once made file-safe: "col lide" and "col_lide"); the
/// name (as it was when the file was written) keeps it readable.
pub fn file_name(tenant_id: i64, tenant: &str, day: NaiveDate) -> String {
    format!(
        "{tenant_id}_{}_{}.archive",
        safe_name(tenant),
        day.format("%Y_%m_%d")
    )
}

/// The tenant's archive directory, `DATA_DIR/archives/<tenant id>`: where the archiver writes
/// and what the metrics daemon measures (the one rule both use). By id, so it is unique and a
/// renamed tenant keeps its directory.
pub fn dir(data_dir: &std::path::Path, tenant_id: i64) -> std::path::PathBuf {
    data_dir.join(ARCHIVES_DIR).join(tenant_id.to_string())
}

/// Where versions before the tenant-id layout wrote a tenant's files,
/// `DATA_DIR/<safe name>/archive`, named `<safe name>_YYYY_MM_DD.archive`: names that collide
/// once made file-safe shared them. The archiver moves such files into [`dir`].
pub fn legacy_dir(data_dir: &std::path::Path, tenant: &str) -> std::path::PathBuf {
    data_dir.join(safe_name(tenant)).join("archive")
}

/// A tenant name as a path segment: letters, digits, `-`, `_` and `.` are kept, anything else
/// (separators, spaces, control characters) becomes `_`; never empty, never `.` or `..`.
pub fn safe_name(tenant: &str) -> String {
    let s: String = tenant
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        format!("_{s}")
    } else {
        s
    }
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => STANDARD
                .decode(text.as_bytes())
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_unique_per_tenant_and_stay_in_their_directory() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        assert_eq!(
            file_name(7, "acme-prod", d),
            "7_acme-prod_2026_03_09.archive"
        );
        assert_eq!(file_name(3, "../etc", d), "3_.._etc_2026_03_09.archive");
        // Names that are the same once file-safe get different files and directories.
        assert_ne!(file_name(1, "col lide", d), file_name(2, "col_lide", d));
        let data = std::path::Path::new("/data");
        assert_eq!(dir(data, 2), std::path::PathBuf::from("/data/archives/2"));
        assert_eq!(
            legacy_dir(data, "col lide"),
            legacy_dir(data, "col_lide"),
            "the old layout collided"
        );
        assert_eq!(safe_name(".."), "_..");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("a/b c"), "a_b_c");
    }

    #[test]
    fn lines_are_tagged_and_bodies_are_base64() {
        let p = ArchivedPayload {
            entry_id: "e1".into(),
            message_store_id: None,
            entry_timestamp: None,
            has_attachments: Some(false),
            content_type: Some("text/xml".into()),
            size: Some(3),
            content: Some(vec![0, 1, 255]),
            sha256: None,
            retain_until: None,
            status: "downloaded".into(),
            error: None,
            downloaded_at: None,
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["content"], "AAH/");
        let back: ArchivedPayload = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
        let t = Line::Trailer(Trailer {
            message_count: 2,
            content_sha256: "ab".into(),
        });
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"trailer","message_count":2,"content_sha256":"ab"}"#
        );
        assert_eq!(serde_json::from_str::<Line>(&text).unwrap(), t);
        assert!(serde_json::from_str::<Line>(r#"{"kind":"nope"}"#).is_err());
    }
}
