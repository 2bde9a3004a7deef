//! The service document and a `$metadata` describing what the simulator serves. Connection tests
//! commonly GET one of these first.

use crate::reply::Reply;

const ENTITY_SETS: [&str; 14] = [
    "MessageProcessingLogs",
    "MessageProcessingLogAttachments",
    "MessageProcessingLogErrorInformations",
    "MessageProcessingLogRuns",
    "MessageProcessingLogRunSteps",
    "MessageStoreEntries",
    "MessageStoreEntryProperties",
    "MessageProcessingLogCustomHeaderProperties",
    "MessageProcessingLogAdapterAttributes",
    "IntegrationPackages",
    "IntegrationDesigntimeArtifacts",
    "ValueMappingDesigntimeArtifacts",
    "IntegrationRuntimeArtifacts",
    "KeystoreEntries",
];

pub(crate) fn service_document() -> Reply {
    let body = serde_json::json!({ "d": { "EntitySets": ENTITY_SETS } });
    Reply::json(body.to_string().into_bytes())
}

/// (entity type, key properties, properties as (name, EDM type), navigation properties)
type TypeSpec = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

const TYPES: [TypeSpec; 9] = [
    (
        "MessageProcessingLog",
        &["MessageGuid"],
        &[
            ("MessageGuid", "Edm.String"),
            ("CorrelationId", "Edm.String"),
            ("ApplicationMessageId", "Edm.String"),
            ("PredecessorMessageGuid", "Edm.String"),
            ("ApplicationMessageType", "Edm.String"),
            ("LogStart", "Edm.DateTime"),
            ("LogEnd", "Edm.DateTime"),
            ("Sender", "Edm.String"),
            ("Receiver", "Edm.String"),
            ("IntegrationFlowName", "Edm.String"),
            ("Status", "Edm.String"),
            ("AlternateWebLink", "Edm.String"),
            ("IntegrationArtifact", "com.sap.hci.api.IntegrationArtifact"),
            ("LogLevel", "Edm.String"),
            ("CustomStatus", "Edm.String"),
            ("ArchivingStatus", "Edm.String"),
            ("ArchivingSenderChannelMessages", "Edm.Boolean"),
            ("ArchivingReceiverChannelMessages", "Edm.Boolean"),
            ("ArchivingLogAttachments", "Edm.Boolean"),
            ("ArchivingPersistedMessages", "Edm.Boolean"),
            ("TransactionId", "Edm.String"),
            ("PreviousComponentName", "Edm.String"),
            ("LocalComponentName", "Edm.String"),
            ("OriginComponentName", "Edm.String"),
        ],
        &[
            "CustomHeaderProperties",
            "MessageStoreEntries",
            "ErrorInformation",
            "AdapterAttributes",
            "Attachments",
            "Runs",
        ],
    ),
    (
        "MessageProcessingLogCustomHeaderProperty",
        &["Id"],
        &[
            ("Id", "Edm.String"),
            ("Name", "Edm.String"),
            ("Value", "Edm.String"),
        ],
        &["Log"],
    ),
    (
        "MessageProcessingLogAttachment",
        &["Id"],
        &[
            ("Id", "Edm.String"),
            ("MessageGuid", "Edm.String"),
            ("TimeStamp", "Edm.DateTime"),
            ("Name", "Edm.String"),
            ("ContentType", "Edm.String"),
            ("PayloadSize", "Edm.Int64"),
        ],
        &[],
    ),
    (
        "MessageProcessingLogErrorInformation",
        &["MessageGuid"],
        &[
            ("MessageGuid", "Edm.String"),
            ("Type", "Edm.String"),
            ("LastErrorModelStepId", "Edm.String"),
        ],
        &[],
    ),
    (
        "MessageProcessingLogAdapterAttribute",
        &["Id"],
        &[
            ("Id", "Edm.String"),
            ("AdapterId", "Edm.String"),
            ("AdapterMessageId", "Edm.String"),
            ("Name", "Edm.String"),
            ("Value", "Edm.String"),
        ],
        &["MessageProcessingLog"],
    ),
    (
        "MessageProcessingLogRun",
        &["Id"],
        &[
            ("Id", "Edm.String"),
            ("RunStart", "Edm.DateTime"),
            ("RunStop", "Edm.DateTime"),
            ("LogLevel", "Edm.String"),
            ("OverallState", "Edm.String"),
            ("ProcessId", "Edm.String"),
        ],
        &["RunSteps"],
    ),
    (
        "MessageProcessingLogRunStep",
        &["RunId", "ChildCount"],
        &[
            ("RunId", "Edm.String"),
            ("ChildCount", "Edm.Int32"),
            ("StepStart", "Edm.DateTime"),
            ("StepStop", "Edm.DateTime"),
            ("StepId", "Edm.String"),
            ("ModelStepId", "Edm.String"),
            ("BranchId", "Edm.String"),
            ("Status", "Edm.String"),
            ("Error", "Edm.String"),
            ("Activity", "Edm.String"),
        ],
        &["RunStepProperties", "TraceMessages"],
    ),
    (
        "MessageStoreEntry",
        &["Id"],
        &[
            ("Id", "Edm.String"),
            ("MessageGuid", "Edm.String"),
            ("MessageStoreId", "Edm.String"),
            ("TimeStamp", "Edm.DateTime"),
            ("HasAttachments", "Edm.Boolean"),
        ],
        &["Attachments", "Properties"],
    ),
    (
        "MessageStoreEntryProperty",
        &["MessageId", "Name"],
        &[
            ("MessageId", "Edm.String"),
            ("Name", "Edm.String"),
            ("Value", "Edm.String"),
        ],
        &[],
    ),
];

pub(crate) fn metadata() -> Reply {
    let mut x = String::with_capacity(8192);
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<edmx:Edmx xmlns:edmx=\"http://schemas.microsoft.com/ado/2007/06/edmx\" Version=\"1.0\">\n<edmx:DataServices xmlns:m=\"http://schemas.microsoft.com/ado/2007/08/dataservices/metadata\" m:DataServiceVersion=\"2.0\">\n<Schema xmlns=\"http://schemas.microsoft.com/ado/2008/09/edm\" Namespace=\"com.sap.hci.api\">\n");
    for (name, keys, props, navs) in TYPES {
        x.push_str(&format!("<EntityType Name=\"{name}\">\n<Key>"));
        for k in keys {
            x.push_str(&format!("<PropertyRef Name=\"{k}\"/>"));
        }
        x.push_str("</Key>\n");
        for (p, ty) in props {
            let nullable = !keys.contains(p);
            x.push_str(&format!(
                "<Property Name=\"{p}\" Type=\"{ty}\" Nullable=\"{nullable}\"/>\n"
            ));
        }
        for n in navs {
            x.push_str(&format!("<NavigationProperty Name=\"{n}\"/>\n"));
        }
        x.push_str("</EntityType>\n");
    }
    x.push_str("<ComplexType Name=\"IntegrationArtifact\">");
    for p in ["Id", "Name", "Type", "PackageId", "PackageName"] {
        x.push_str(&format!(
            "<Property Name=\"{p}\" Type=\"Edm.String\" Nullable=\"true\"/>"
        ));
    }
    x.push_str("</ComplexType>\n<EntityContainer Name=\"DefaultContainer\" m:IsDefaultEntityContainer=\"true\">\n");
    for set in ENTITY_SETS {
        x.push_str(&format!("<EntitySet Name=\"{set}\"/>\n"));
    }
    x.push_str("</EntityContainer>\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n");
    Reply::bytes("application/xml", x.into_bytes())
}
