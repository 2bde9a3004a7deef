//! Integration content: packages, design-time artifacts (for artifact sync) and runtime
//! (deployed) artifacts.

use chrono::{DateTime, Utc};
use domain::artifact::RuntimeStatus;
use serde::{Deserialize, Deserializer};

use super::entity;
use crate::odata::{Metadata, lenient};

/// `com.sap.hci.api.IntegrationPackage`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IntegrationPackage {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub resource_id: Option<String>,
    /// HTML, as SAP stores it.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub short_text: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub vendor: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub partner_content: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub update_available: Option<bool>,
    /// `EDIT_ALLOWED`, `READ_ONLY`, …
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mode: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub supported_platform: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub modified_by: Option<String>,
    /// Edm.String holding epoch milliseconds.
    #[serde(default, deserialize_with = "lenient::opt_loose_datetime")]
    pub creation_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_loose_datetime")]
    pub modified_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_by: Option<String>,
    /// List-like strings such as `"[SAP ERP, SAP S/4HANA]"`, kept verbatim.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub products: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub keywords: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub countries: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub industries: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub line_of_business: Option<String>,
}
entity!(IntegrationPackage, "IntegrationPackage");

/// `com.sap.hci.api.IntegrationDesigntimeArtifact` (an iFlow in the workspace). Message
/// mapping and script collection artifacts have the same shape and parse into this too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IntegrationDesigntimeArtifact {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub package_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub sender: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub receiver: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_loose_datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub modified_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_loose_datetime")]
    pub modified_at: Option<DateTime<Utc>>,
    /// Base64 zip; null in lists (download `$value` instead).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub artifact_content: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub comment: Option<String>,
}
entity!(
    IntegrationDesigntimeArtifact,
    "IntegrationDesigntimeArtifact"
);

/// `com.sap.hci.api.ValueMappingDesigntimeArtifact`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValueMappingDesigntimeArtifact {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub package_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub artifact_content: Option<String>,
}
entity!(
    ValueMappingDesigntimeArtifact,
    "ValueMappingDesigntimeArtifact"
);

fn opt_runtime_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RuntimeStatus>, D::Error> {
    Ok(lenient::opt_string(d)?.map(|s| RuntimeStatus::parse(&s)))
}

/// `com.sap.hci.api.IntegrationRuntimeArtifact`: a deployed artifact.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IntegrationRuntimeArtifact {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// `INTEGRATION_FLOW`, …
    #[serde(default, rename = "Type", deserialize_with = "lenient::opt_string")]
    pub artifact_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub deployed_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub deployed_on: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "opt_runtime_status")]
    pub status: Option<RuntimeStatus>,
}
entity!(IntegrationRuntimeArtifact, "IntegrationRuntimeArtifact");

/// `IntegrationRuntimeArtifacts('{id}')/ErrorInformation/$value`: a JSON text such as
/// `{"message": "java.lang.IllegalStateException: …"}`. Its shape is not specified, so the raw
/// text is kept and the message is extracted when one can be found.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeArtifactErrorInfo {
    pub raw: String,
    /// The `message` member (or a bare JSON string, or the raw text when it is not JSON).
    pub message: Option<String>,
    /// The parsed JSON, when the text is JSON.
    pub json: Option<serde_json::Value>,
}

impl RuntimeArtifactErrorInfo {
    /// Never fails: whatever the body is, it is kept.
    pub fn parse(raw: &[u8]) -> Self {
        let raw = String::from_utf8_lossy(raw).into_owned();
        let json: Option<serde_json::Value> = serde_json::from_str(&raw).ok();
        let message = match &json {
            Some(serde_json::Value::Object(map)) => ["message", "Message", "error", "text"]
                .iter()
                .find_map(|k| match map.get(*k) {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Object(inner)) => inner
                        .get("value")
                        .or_else(|| inner.get("message"))
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    _ => None,
                }),
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(_) => None,
            None => {
                let t = raw.trim();
                (!t.is_empty()).then(|| t.to_string())
            }
        };
        Self { raw, message, json }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_error_info_keeps_raw_and_extracts_message() {
        let e = RuntimeArtifactErrorInfo::parse(br#"{"message": "boom", "parameter": []}"#);
        assert_eq!(e.message.as_deref(), Some("boom"));
        assert!(e.raw.contains("parameter"));
        let e = RuntimeArtifactErrorInfo::parse(b"plain text failure");
        assert_eq!(e.message.as_deref(), Some("plain text failure"));
        assert!(e.json.is_none());
        let e = RuntimeArtifactErrorInfo::parse(b"[1,2]");
        assert_eq!(e.message, None);
        assert_eq!(e.raw, "[1,2]");
    }
}
