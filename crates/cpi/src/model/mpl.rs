//! Message processing logs and their children (MessageProcessingLogs API and MessageStore API).

use chrono::{DateTime, Utc};
use domain::MessageStatus;
use serde::{Deserialize, Deserializer};

use super::entity;
use crate::odata::{Metadata, lenient};

fn opt_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MessageStatus>, D::Error> {
    Ok(lenient::opt_string(d)?.map(|s| MessageStatus::parse(&s)))
}

/// `com.sap.hci.api.MessageProcessingLog`: one message's processing log.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageProcessingLog {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub message_guid: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub correlation_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub application_message_id: Option<String>,
    /// Newer tenants only.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub predecessor_message_guid: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub application_message_type: Option<String>,
    /// Null for some hanging RETRY messages.
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub log_start: Option<DateTime<Utc>>,
    /// Last update; moves while PROCESSING/RETRY. Null for some hanging RETRY messages.
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub log_end: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub sender: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub receiver: Option<String>,
    /// Deprecated by SAP (rewritten to the artifact id); kept for display.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub integration_flow_name: Option<String>,
    #[serde(default, deserialize_with = "opt_status")]
    pub status: Option<MessageStatus>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub alternate_web_link: Option<String>,
    #[serde(default)]
    pub integration_artifact: Option<IntegrationArtifactRef>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub log_level: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub custom_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub archiving_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub archiving_sender_channel_messages: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub archiving_receiver_channel_messages: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub archiving_log_attachments: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub archiving_persisted_messages: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub transaction_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub previous_component_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub local_component_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub origin_component_name: Option<String>,
    /// Present only with `$expand=CustomHeaderProperties`.
    #[serde(default, deserialize_with = "lenient::nav_collection")]
    pub custom_header_properties: Option<Vec<CustomHeaderProperty>>,
}
entity!(MessageProcessingLog, "MessageProcessingLog");

impl MessageProcessingLog {
    /// Every scalar and complex property of the entity, for `$select`.
    pub const ALL_COLUMNS: &'static [&'static str] = &[
        "MessageGuid",
        "CorrelationId",
        "ApplicationMessageId",
        "PredecessorMessageGuid",
        "ApplicationMessageType",
        "LogStart",
        "LogEnd",
        "Sender",
        "Receiver",
        "IntegrationFlowName",
        "Status",
        "AlternateWebLink",
        "IntegrationArtifact",
        "LogLevel",
        "CustomStatus",
        "ArchivingStatus",
        "ArchivingSenderChannelMessages",
        "ArchivingReceiverChannelMessages",
        "ArchivingLogAttachments",
        "ArchivingPersistedMessages",
        "TransactionId",
        "PreviousComponentName",
        "LocalComponentName",
        "OriginComponentName",
    ];

    /// The columns valid on every tenant, old or new: `PredecessorMessageGuid` and the
    /// Archiving* fields are missing on older tenants, and selecting an unknown property fails
    /// the whole call with 400.
    pub const PORTABLE_COLUMNS: &'static [&'static str] = &[
        "MessageGuid",
        "CorrelationId",
        "ApplicationMessageId",
        "ApplicationMessageType",
        "LogStart",
        "LogEnd",
        "Sender",
        "Receiver",
        "IntegrationFlowName",
        "Status",
        "AlternateWebLink",
        "IntegrationArtifact",
        "LogLevel",
        "CustomStatus",
        "TransactionId",
        "PreviousComponentName",
        "LocalComponentName",
        "OriginComponentName",
    ];

    /// The artifact id, preferring `IntegrationArtifact/Id` over the deprecated flow name.
    pub fn artifact_id(&self) -> Option<&str> {
        self.integration_artifact
            .as_ref()
            .and_then(|a| a.id.as_deref())
            .or(self.integration_flow_name.as_deref())
    }
}

/// The parts of one message that come with it through `$expand` (see
/// [`crate::CpiClient::mpl_parts_by_guid`]): custom headers, adapter attributes, attachment list
/// and runs. A part is `None` when the tenant left it deferred or paged it inline; read it with
/// its own call then.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MplParts {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub message_guid: String,
    #[serde(default, deserialize_with = "lenient::nav_collection_whole")]
    pub custom_header_properties: Option<Vec<CustomHeaderProperty>>,
    #[serde(default, deserialize_with = "lenient::nav_collection_whole")]
    pub adapter_attributes: Option<Vec<AdapterAttribute>>,
    #[serde(default, deserialize_with = "lenient::nav_collection_whole")]
    pub attachments: Option<Vec<MplAttachment>>,
    #[serde(default, deserialize_with = "lenient::nav_collection_whole")]
    pub runs: Option<Vec<MplRun>>,
}
entity!(MplParts, "MessageProcessingLog");

impl MplParts {
    /// The navigation properties expanded, in the order of the tenant's `$metadata`.
    pub const EXPANDED: &'static [&'static str] = &[
        "CustomHeaderProperties",
        "AdapterAttributes",
        "Attachments",
        "Runs",
    ];
}

/// Complex type `com.sap.hci.api.IntegrationArtifact` inside an MPL. `PackageId`/`PackageName`
/// are missing on older tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IntegrationArtifactRef {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, rename = "Type", deserialize_with = "lenient::opt_string")]
    pub artifact_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub package_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub package_name: Option<String>,
}

/// `…/CustomHeaderProperties` entry (set by the iFlow for searching).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomHeaderProperty {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub value: Option<String>,
}
entity!(
    CustomHeaderProperty,
    "MessageProcessingLogCustomHeaderProperty"
);

/// `…/AdapterAttributes` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdapterAttribute {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub adapter_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub adapter_message_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub value: Option<String>,
}
entity!(AdapterAttribute, "MessageProcessingLogAdapterAttribute");

/// `…/Attachments` entry; the bytes are at `MessageProcessingLogAttachments('{id}')/$value`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MplAttachment {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub message_guid: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub time_stamp: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub content_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub payload_size: Option<i64>,
}
entity!(MplAttachment, "MessageProcessingLogAttachment");

/// `…/ErrorInformation`; the text itself is at `…/ErrorInformation/$value`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MplErrorInformation {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub message_guid: String,
    /// MIME type of the `$value` text, e.g. `text/plain`.
    #[serde(default, rename = "Type", deserialize_with = "lenient::opt_string")]
    pub mime_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_error_model_step_id: Option<String>,
}
entity!(MplErrorInformation, "MessageProcessingLogErrorInformation");

/// A persisted payload (`…/MessageStoreEntries`); bytes at `MessageStoreEntries('{id}')/$value`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageStoreEntry {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub message_guid: Option<String>,
    /// The Persist step's id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub message_store_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub time_stamp: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub has_attachments: Option<bool>,
}
entity!(MessageStoreEntry, "MessageStoreEntry");

/// `…/Runs`: one run per (re)try.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MplRun {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub run_start: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub run_stop: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub log_level: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub overall_state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub process_id: Option<String>,
}
entity!(MplRun, "MessageProcessingLogRun");

/// `MessageProcessingLogRuns('{id}')/RunSteps` entry, key `(RunId, ChildCount)`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MplRunStep {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(deserialize_with = "lenient::string")]
    pub run_id: String,
    #[serde(deserialize_with = "lenient::i32_key")]
    pub child_count: i32,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub step_start: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub step_stop: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub step_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub model_step_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub branch_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub error: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub activity: Option<String>,
    /// Present with `$expand=RunStepProperties`.
    #[serde(default, deserialize_with = "lenient::nav_collection")]
    pub run_step_properties: Option<Vec<RunStepProperty>>,
}
entity!(MplRunStep, "MessageProcessingLogRunStep");

impl MplRunStep {
    /// Trace ids from the `TraceIds` property (value like `[7875]`), if any.
    pub fn trace_ids(&self) -> Vec<i64> {
        self.run_step_properties
            .iter()
            .flatten()
            .filter(|p| p.name.as_deref() == Some("TraceIds"))
            .filter_map(|p| p.value.as_deref())
            .flat_map(|v| {
                v.trim_matches(|c| c == '[' || c == ']')
                    .split(',')
                    .filter_map(|x| x.trim().parse::<i64>().ok())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// A run step's property, key `(RunId, ChildCount, Name)`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunStepProperty {
    #[serde(default, rename = "__metadata")]
    pub metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub run_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i32")]
    pub child_count: Option<i32>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub value: Option<String>,
}
entity!(RunStepProperty, "MessageProcessingLogRunStepProperty");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::{parse_collection, parse_entity};

    #[test]
    fn null_dates_booleans_as_strings_and_unknown_fields() {
        let body = br#"{"d":{"results":[{"MessageGuid":"G","LogStart":null,"LogEnd":null,
            "Status":"RETRY","ArchivingLogAttachments":"true","Brand":"new field",
            "IntegrationArtifact":{"Id":"flow","Extra":1}}]}}"#;
        let page = parse_collection::<MessageProcessingLog>(body).unwrap();
        let m = &page.results[0];
        assert_eq!(m.log_start, None);
        assert_eq!(m.log_end, None);
        assert_eq!(m.status, Some(MessageStatus::Retry));
        assert_eq!(m.archiving_log_attachments, Some(true));
        assert_eq!(m.artifact_id(), Some("flow"));
    }

    #[test]
    fn unknown_status_is_kept() {
        let m: MessageProcessingLog =
            parse_entity(br#"{"d":{"MessageGuid":"G","Status":"ERROR"}}"#).unwrap();
        assert_eq!(m.status, Some(MessageStatus::Other("ERROR".into())));
    }

    #[test]
    fn expanded_custom_headers_are_read_and_deferred_ones_are_none() {
        let m: MessageProcessingLog = parse_entity(
            br#"{"d":{"MessageGuid":"G","CustomHeaderProperties":{"results":[{"Id":"1","Name":"po","Value":"42"}]}}}"#,
        )
        .unwrap();
        let h = m.custom_header_properties.unwrap();
        assert_eq!(h[0].value.as_deref(), Some("42"));
        let m: MessageProcessingLog = parse_entity(
            br#"{"d":{"MessageGuid":"G","CustomHeaderProperties":{"__deferred":{"uri":"x"}}}}"#,
        )
        .unwrap();
        assert_eq!(m.custom_header_properties, None);
    }

    #[test]
    fn trace_ids_come_from_the_traceids_property() {
        let s: MplRunStep = parse_entity(
            br#"{"d":{"RunId":"R","ChildCount":"4","RunStepProperties":{"results":[
                {"RunId":"R","ChildCount":4,"Name":"TraceIds","Value":"[7875, 7876]"}]}}}"#,
        )
        .unwrap();
        assert_eq!(s.child_count, 4);
        assert_eq!(s.trace_ids(), vec![7875, 7876]);
    }
}
