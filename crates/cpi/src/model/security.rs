//! Security content: keystore entries (certificate expiry monitoring).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::entity;
use crate::odata::{Metadata, hex_alias, lenient};

/// `com.sap.hci.api.KeystoreEntry`, key `Hexalias` (upper-case hex of the alias).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeystoreEntry {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub hexalias: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub alias: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub key_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i32")]
    pub key_size: Option<i32>,
    /// `/Date(ms)/` in JSON, ISO with `Z` in Atom: both accepted.
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub valid_not_before: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub valid_not_after: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub serial_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub signature_algorithm: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub elliptic_curve: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub validity: Option<String>,
    #[serde(
        default,
        rename = "SubjectDN",
        deserialize_with = "lenient::opt_string"
    )]
    pub subject_dn: Option<String>,
    #[serde(default, rename = "IssuerDN", deserialize_with = "lenient::opt_string")]
    pub issuer_dn: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i32")]
    pub version: Option<i32>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub fingerprint_sha1: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub fingerprint_sha256: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub fingerprint_sha512: Option<String>,
    /// `Certificate`, `Key Pair`, …
    #[serde(default, rename = "Type", deserialize_with = "lenient::opt_string")]
    pub entry_type: Option<String>,
    /// `SAP` or `Tenant Administrator`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_modified_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub last_modified_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub created_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
}
entity!(KeystoreEntry, "KeystoreEntry");

impl KeystoreEntry {
    /// The entity key: `Hexalias` as sent, else computed from the alias.
    pub fn key(&self) -> Option<String> {
        self.hexalias
            .clone()
            .or_else(|| self.alias.as_deref().map(hex_alias))
    }
}
