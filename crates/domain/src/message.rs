//! A message processing log (MPL) as IntegraMon keeps it, and the details collected per message:
//! custom headers, runs and run steps, error information, attachments, adapter attributes and
//! message store (payload) entries. The ingest worker maps the CPI client's types to these; the
//! store writes and reads them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::MessageStatus;

/// One MPL. Every CPI field is optional except the key and the status, because the API omits
/// fields freely and adds new ones over time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `MessageGuid`, unique per tenant.
    pub guid: String,
    pub correlation_id: Option<String>,
    pub application_message_id: Option<String>,
    pub application_message_type: Option<String>,
    /// `PredecessorMessageGuid` (newer tenants only).
    pub predecessor_guid: Option<String>,
    pub log_start: Option<DateTime<Utc>>,
    /// Last update; moves while the message is PROCESSING or RETRY.
    pub log_end: Option<DateTime<Utc>>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    /// `IntegrationArtifact.Id` (falling back to `IntegrationFlowName`).
    pub iflow_id: Option<String>,
    /// `IntegrationArtifact.Name`
    pub iflow_name: Option<String>,
    /// `IntegrationArtifact.Type`, e.g. `INTEGRATION_FLOW`.
    pub artifact_type: Option<String>,
    pub package_id: Option<String>,
    pub package_name: Option<String>,
    /// A message without a status in the API maps to `MessageStatus::Other("")`, which the store
    /// keeps as NULL.
    pub status: MessageStatus,
    pub custom_status: Option<String>,
    pub log_level: Option<String>,
    pub alternate_web_link: Option<String>,
    pub transaction_id: Option<String>,
    pub archiving_status: Option<String>,
    pub origin_component_name: Option<String>,
    pub local_component_name: Option<String>,
    pub previous_component_name: Option<String>,
}

impl Message {
    /// A message with only its key and status set.
    pub fn new(guid: impl Into<String>, status: MessageStatus) -> Self {
        Self {
            guid: guid.into(),
            correlation_id: None,
            application_message_id: None,
            application_message_type: None,
            predecessor_guid: None,
            log_start: None,
            log_end: None,
            sender: None,
            receiver: None,
            iflow_id: None,
            iflow_name: None,
            artifact_type: None,
            package_id: None,
            package_name: None,
            status,
            custom_status: None,
            log_level: None,
            alternate_web_link: None,
            transaction_id: None,
            archiving_status: None,
            origin_component_name: None,
            local_component_name: None,
            previous_component_name: None,
        }
    }

    /// Processing time so far, `LogEnd - LogStart`, when both are known. Never negative: clocks
    /// of different worker nodes can disagree by a few milliseconds.
    pub fn duration_ms(&self) -> Option<i64> {
        match (self.log_start, self.log_end) {
            (Some(start), Some(end)) => Some((end - start).num_milliseconds().max(0)),
            _ => None,
        }
    }
}

/// A custom header property (`CustomHeaderProperties`), set by the iFlow for searching.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CustomHeader {
    pub name: String,
    pub value: Option<String>,
}

impl CustomHeader {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// One run of a message (`Runs`): one per (re)try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// CPI's `Id` of the run.
    pub run_id: String,
    pub run_start: Option<DateTime<Utc>>,
    pub run_stop: Option<DateTime<Utc>>,
    pub log_level: Option<String>,
    pub overall_state: Option<String>,
    pub process_id: Option<String>,
    pub steps: Vec<RunStep>,
}

/// A step of a run (`RunSteps`), keyed by `ChildCount` within its run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStep {
    pub child_count: i32,
    pub step_start: Option<DateTime<Utc>>,
    pub step_stop: Option<DateTime<Utc>>,
    pub step_id: Option<String>,
    pub model_step_id: Option<String>,
    pub branch_id: Option<String>,
    pub status: Option<String>,
    pub error: Option<String>,
    pub activity: Option<String>,
    /// `RunStepProperties`, name to value (e.g. `TraceIds` -> `[7875]`).
    pub properties: BTreeMap<String, Option<String>>,
}

impl RunStep {
    pub fn new(child_count: i32) -> Self {
        Self {
            child_count,
            step_start: None,
            step_stop: None,
            step_id: None,
            model_step_id: None,
            branch_id: None,
            status: None,
            error: None,
            activity: None,
            properties: BTreeMap::new(),
        }
    }
}

/// `ErrorInformation` with its `$value` text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// MIME type of the text, e.g. `text/plain`.
    pub error_type: Option<String>,
    pub last_error_model_step_id: Option<String>,
    pub text: Option<String>,
}

/// An MPL attachment's metadata (`Attachments`); the bytes are downloaded separately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    /// `sap-it-res:msg:<node>:<uuid>`
    pub attachment_id: String,
    pub name: Option<String>,
    pub content_type: Option<String>,
    pub size: Option<i64>,
    pub timestamp: Option<DateTime<Utc>>,
}

/// An adapter attribute (`AdapterAttributes`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AdapterAttribute {
    pub cpi_id: Option<String>,
    pub adapter_id: Option<String>,
    pub adapter_message_id: Option<String>,
    pub name: String,
    pub value: Option<String>,
}

/// A message store entry (`MessageStoreEntries`): a persisted payload's metadata. The content is
/// downloaded separately according to the tenant's payload strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadEntry {
    /// `MessageStoreEntry.Id`
    pub entry_id: String,
    /// The Persist step's id.
    pub message_store_id: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
    pub has_attachments: Option<bool>,
    /// Until when CPI keeps the entry (30 days after it was written, by default).
    pub retain_until: Option<DateTime<Utc>>,
}

/// Everything fetched about one message besides its MPL row. A part left `None` was not fetched
/// this time (for example, the payload role is missing) and the store keeps what it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDetails {
    /// The message's status when these details were fetched: details are fetched again when the
    /// status moves on (see [`MessageStatus::wants_details`]).
    pub status: MessageStatus,
    pub headers: Option<Vec<CustomHeader>>,
    pub runs: Option<Vec<Run>>,
    /// `None` keeps a stored error: a message that recovers keeps the text of its last failure.
    pub error: Option<ErrorInfo>,
    pub attachments: Option<Vec<AttachmentMeta>>,
    pub adapter_attributes: Option<Vec<AdapterAttribute>>,
    pub payloads: Option<Vec<PayloadEntry>>,
}

impl MessageDetails {
    /// Details with nothing fetched yet.
    pub fn empty(status: MessageStatus) -> Self {
        Self {
            status,
            headers: None,
            runs: None,
            error: None,
            attachments: None,
            adapter_attributes: None,
            payloads: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn duration_needs_both_ends_and_is_never_negative() {
        let mut m = Message::new("G", MessageStatus::Completed);
        assert_eq!(m.duration_ms(), None);
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        m.log_start = Some(start);
        assert_eq!(m.duration_ms(), None);
        m.log_end = Some(start + chrono::Duration::milliseconds(1234));
        assert_eq!(m.duration_ms(), Some(1234));
        m.log_end = Some(start - chrono::Duration::milliseconds(3));
        assert_eq!(m.duration_ms(), Some(0));
    }
}
