//! Keystore entries (certificates and key pairs) of a tenant, watched for expiry.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// One `KeystoreEntries` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeystoreEntry {
    pub alias: String,
    /// `Hexalias`, CPI's key for the entry (upper-case hex of the alias).
    pub hex_alias: String,
    /// `Certificate`, `Key Pair`, …
    pub entry_type: Option<String>,
    /// `SAP` or `Tenant Administrator`.
    pub owner: Option<String>,
    pub key_type: Option<String>,
    pub key_size: Option<i32>,
    pub valid_not_before: Option<DateTime<Utc>>,
    pub valid_not_after: Option<DateTime<Utc>>,
    pub subject_dn: Option<String>,
    pub issuer_dn: Option<String>,
    pub serial_number: Option<String>,
    pub signature_algorithm: Option<String>,
    pub fingerprint_sha256: Option<String>,
    pub last_modified_by: Option<String>,
    pub last_modified_at: Option<DateTime<Utc>>,
}

impl KeystoreEntry {
    pub fn new(alias: impl Into<String>, hex_alias: impl Into<String>) -> Self {
        Self {
            alias: alias.into(),
            hex_alias: hex_alias.into(),
            entry_type: None,
            owner: None,
            key_type: None,
            key_size: None,
            valid_not_before: None,
            valid_not_after: None,
            subject_dn: None,
            issuer_dn: None,
            serial_number: None,
            signature_algorithm: None,
            fingerprint_sha256: None,
            last_modified_by: None,
            last_modified_at: None,
        }
    }

    /// Whether the entry's validity ends at or before `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.valid_not_after.is_some_and(|end| end <= now)
    }

    /// Whether the entry stops being valid within `days` days of `now`, including entries that
    /// already expired (the keystore alert must keep firing for those). An entry without an end
    /// date never expires.
    pub fn expires_within(&self, days: u32, now: DateTime<Utc>) -> bool {
        self.valid_not_after
            .is_some_and(|end| end <= now + Duration::days(i64::from(days)))
    }

    /// Whole days left until expiry (negative once expired), for display and sorting.
    pub fn days_left(&self, now: DateTime<Utc>) -> Option<i64> {
        self.valid_not_after.map(|end| (end - now).num_days())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn expiry_window() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        let mut e = KeystoreEntry::new("sap_cloud", "5341505F434C4F5544");
        assert!(!e.expires_within(30, now), "no end date never expires");
        e.valid_not_after = Some(now + Duration::days(10));
        assert!(e.expires_within(30, now));
        assert!(e.expires_within(10, now), "the boundary counts");
        assert!(!e.expires_within(9, now));
        assert!(!e.is_expired(now));
        assert_eq!(e.days_left(now), Some(10));
        e.valid_not_after = Some(now - Duration::hours(1));
        assert!(e.is_expired(now));
        assert!(e.expires_within(0, now), "already expired counts");
    }
}
