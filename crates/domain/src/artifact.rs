//! Integration packages, design-time artifacts and runtime (deployed) artifacts of a tenant.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An integration package (`IntegrationPackages`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// CPI's package `Id`.
    pub package_id: String,
    pub name: Option<String>,
    /// HTML, as SAP stores it.
    pub description: Option<String>,
    pub short_text: Option<String>,
    pub version: Option<String>,
    pub vendor: Option<String>,
    /// `EDIT_ALLOWED`, `READ_ONLY`, …
    pub mode: Option<String>,
    pub supported_platform: Option<String>,
    pub created_by: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_by: Option<String>,
    pub modified_at: Option<DateTime<Utc>>,
}

impl Package {
    pub fn new(package_id: impl Into<String>) -> Self {
        Self {
            package_id: package_id.into(),
            name: None,
            description: None,
            short_text: None,
            version: None,
            vendor: None,
            mode: None,
            supported_platform: None,
            created_by: None,
            created_at: None,
            modified_by: None,
            modified_at: None,
        }
    }
}

/// Kind of a design-time artifact. Open: CPI keeps adding artifact kinds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DesignArtifactKind {
    IntegrationFlow,
    ValueMapping,
    MessageMapping,
    ScriptCollection,
    Other(String),
}

impl DesignArtifactKind {
    pub fn parse(raw: &str) -> Self {
        match raw.trim() {
            "IntegrationFlow" => Self::IntegrationFlow,
            "ValueMapping" => Self::ValueMapping,
            "MessageMapping" => Self::MessageMapping,
            "ScriptCollection" => Self::ScriptCollection,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::IntegrationFlow => "IntegrationFlow",
            Self::ValueMapping => "ValueMapping",
            Self::MessageMapping => "MessageMapping",
            Self::ScriptCollection => "ScriptCollection",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for DesignArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DesignArtifactKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DesignArtifactKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// A design-time artifact (iFlow, value mapping, …) in a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesignArtifact {
    pub artifact_id: String,
    pub kind: DesignArtifactKind,
    /// CPI package id.
    pub package_id: Option<String>,
    pub version: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub created_by: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_by: Option<String>,
    pub modified_at: Option<DateTime<Utc>>,
}

impl DesignArtifact {
    pub fn new(artifact_id: impl Into<String>, kind: DesignArtifactKind) -> Self {
        Self {
            artifact_id: artifact_id.into(),
            kind,
            package_id: None,
            version: None,
            name: None,
            description: None,
            created_by: None,
            created_at: None,
            modified_by: None,
            modified_at: None,
        }
    }
}

/// The content of one artifact version as the deep sync downloaded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactVersion {
    pub artifact_id: String,
    pub kind: DesignArtifactKind,
    /// The artifact's version (`1.0.3`, or `active` when CPI gives no number).
    pub version: String,
    /// Hex SHA-256 of the downloaded content.
    pub content_hash: String,
    pub content_size: Option<i64>,
}

/// Deployment state of a runtime artifact. Open: SAP adds values (`STARTING` was seen).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuntimeStatus {
    Started,
    Starting,
    Stopping,
    Error,
    Other(String),
}

impl RuntimeStatus {
    pub fn parse(raw: &str) -> Self {
        match raw.trim().to_ascii_uppercase().as_str() {
            "STARTED" => Self::Started,
            "STARTING" => Self::Starting,
            "STOPPING" => Self::Stopping,
            "ERROR" => Self::Error,
            _ => Self::Other(raw.trim().to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Started => "STARTED",
            Self::Starting => "STARTING",
            Self::Stopping => "STOPPING",
            Self::Error => "ERROR",
            Self::Other(s) => s,
        }
    }

    /// What the iFlow alert fires on.
    pub fn is_error(&self) -> bool {
        matches!(self, Self::Error)
    }
}

impl fmt::Display for RuntimeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RuntimeStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RuntimeStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// A deployed artifact (`IntegrationRuntimeArtifacts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeArtifact {
    pub artifact_id: String,
    pub version: Option<String>,
    pub name: Option<String>,
    /// `INTEGRATION_FLOW`, …
    pub artifact_type: Option<String>,
    pub deployed_by: Option<String>,
    pub deployed_at: Option<DateTime<Utc>>,
    pub status: Option<RuntimeStatus>,
    /// `ErrorInformation/$value` (JSON text from CPI) when the status is an error.
    pub error_text: Option<String>,
}

impl RuntimeArtifact {
    pub fn new(artifact_id: impl Into<String>) -> Self {
        Self {
            artifact_id: artifact_id.into(),
            version: None,
            name: None,
            artifact_type: None,
            deployed_by: None,
            deployed_at: None,
            status: None,
            error_text: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_enums_keep_unknown_values() {
        assert_eq!(RuntimeStatus::parse("started"), RuntimeStatus::Started);
        assert_eq!(
            RuntimeStatus::parse("PAUSED"),
            RuntimeStatus::Other("PAUSED".into())
        );
        assert!(RuntimeStatus::Error.is_error());
        for k in [
            "IntegrationFlow",
            "ValueMapping",
            "MessageMapping",
            "ScriptCollection",
            "DataType",
        ] {
            assert_eq!(DesignArtifactKind::parse(k).as_str(), k);
        }
        assert_eq!(
            DesignArtifactKind::parse("DataType"),
            DesignArtifactKind::Other("DataType".into())
        );
    }
}
