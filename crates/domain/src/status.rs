//! Message processing status as CPI reports it. The set is open: SAP adds values over time, so an
//! unknown value is kept verbatim instead of being rejected.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    Processing,
    Retry,
    Escalated,
    Failed,
    Completed,
    Cancelled,
    Discarded,
    Abandoned,
    /// Any value not listed above, kept as the tenant sent it.
    Other(String),
}

impl MessageStatus {
    pub fn parse(raw: &str) -> Self {
        match raw.trim().to_ascii_uppercase().as_str() {
            "PROCESSING" => Self::Processing,
            "RETRY" => Self::Retry,
            "ESCALATED" => Self::Escalated,
            "FAILED" => Self::Failed,
            "COMPLETED" => Self::Completed,
            "CANCELLED" => Self::Cancelled,
            "DISCARDED" => Self::Discarded,
            "ABANDONED" => Self::Abandoned,
            _ => Self::Other(raw.trim().to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Processing => "PROCESSING",
            Self::Retry => "RETRY",
            Self::Escalated => "ESCALATED",
            Self::Failed => "FAILED",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Discarded => "DISCARDED",
            Self::Abandoned => "ABANDONED",
            Self::Other(s) => s,
        }
    }

    /// A status after which the message will not change any more (ABANDONED can resume, RETRY
    /// and PROCESSING are still moving).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Discarded | Self::Escalated | Self::Cancelled
        )
    }

    /// A status whose details (error text, attachments, payloads) are worth fetching again when
    /// a message moves into it.
    pub fn wants_details(&self) -> bool {
        matches!(self, Self::Failed | Self::Escalated | Self::Retry)
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MessageStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MessageStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Self::parse(&raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_round_trip_and_unknown_values_are_kept() {
        for s in [
            "PROCESSING",
            "RETRY",
            "ESCALATED",
            "FAILED",
            "COMPLETED",
            "CANCELLED",
            "DISCARDED",
            "ABANDONED",
        ] {
            let parsed = MessageStatus::parse(s);
            assert!(!matches!(parsed, MessageStatus::Other(_)), "{s}");
            assert_eq!(parsed.as_str(), s);
        }
        assert_eq!(MessageStatus::parse("failed"), MessageStatus::Failed);
        assert_eq!(
            MessageStatus::parse("ERROR"),
            MessageStatus::Other("ERROR".into())
        );
        assert_eq!(MessageStatus::parse("ERROR").as_str(), "ERROR");
    }

    #[test]
    fn finality_follows_the_cpi_status_table() {
        assert!(MessageStatus::Completed.is_final());
        assert!(MessageStatus::Failed.is_final());
        assert!(!MessageStatus::Retry.is_final());
        assert!(!MessageStatus::Abandoned.is_final());
        assert!(!MessageStatus::Processing.is_final());
        assert!(MessageStatus::Retry.wants_details());
        assert!(!MessageStatus::Completed.wants_details());
    }
}
