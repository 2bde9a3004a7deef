//! CPI records (the client's types) into domain types (what the store writes). The store never
//! sees the CPI API's shapes, and the client never sees the database's.

use cpi::model::{
    AdapterAttribute as CpiAdapterAttribute, CustomHeaderProperty, IntegrationDesigntimeArtifact,
    IntegrationPackage, IntegrationRuntimeArtifact, KeystoreEntry as CpiKeystoreEntry,
    MessageProcessingLog, MessageStoreEntry, MplAttachment, MplRun, MplRunStep,
    ValueMappingDesigntimeArtifact,
};
use domain::MessageStatus;
use domain::artifact::{DesignArtifact, DesignArtifactKind, Package, RuntimeArtifact};
use domain::keystore::KeystoreEntry;
use domain::message::{
    AdapterAttribute, AttachmentMeta, CustomHeader, Message, PayloadEntry, Run, RunStep,
};

/// Takes the record by value: a page's records are moved into messages, not copied. The result
/// is made storable here, once (`domain::limits`: NUL replaced, long keys capped with a hash,
/// long texts cut), so every later comparison — the page upsert, detail look-ups, the
/// monitor's filters — uses the same value.
pub fn message(r: MessageProcessingLog) -> Message {
    let (artifact_id, artifact_name, artifact_type, package_id, package_name) =
        match r.integration_artifact {
            Some(a) => (a.id, a.name, a.artifact_type, a.package_id, a.package_name),
            None => (None, None, None, None, None),
        };
    Message {
        guid: r.message_guid,
        correlation_id: r.correlation_id,
        application_message_id: r.application_message_id,
        application_message_type: r.application_message_type,
        predecessor_guid: r.predecessor_message_guid,
        log_start: r.log_start,
        log_end: r.log_end,
        sender: r.sender,
        receiver: r.receiver,
        // The artifact id is what filters use; older records only carry the flow name.
        iflow_id: artifact_id.or_else(|| r.integration_flow_name.clone()),
        iflow_name: artifact_name.or(r.integration_flow_name),
        artifact_type,
        package_id,
        package_name,
        status: r
            .status
            .unwrap_or_else(|| MessageStatus::Other("UNKNOWN".into())),
        custom_status: r.custom_status,
        log_level: r.log_level,
        alternate_web_link: r.alternate_web_link,
        transaction_id: r.transaction_id,
        archiving_status: r.archiving_status,
        origin_component_name: r.origin_component_name,
        local_component_name: r.local_component_name,
        previous_component_name: r.previous_component_name,
    }
    .sanitized()
}

pub fn headers(list: &[CustomHeaderProperty]) -> Vec<CustomHeader> {
    list.iter()
        .filter_map(|h| {
            CustomHeader {
                name: h.name.clone()?,
                value: h.value.clone(),
            }
            .sanitized()
        })
        .collect()
}

pub fn run(r: &MplRun, steps: &[MplRunStep]) -> Run {
    let mut run = Run {
        run_id: r.id.clone(),
        run_start: r.run_start,
        run_stop: r.run_stop,
        log_level: r.log_level.clone(),
        overall_state: r.overall_state.clone(),
        process_id: r.process_id.clone(),
        steps: steps.iter().map(step).collect(),
    };
    run.sanitize();
    run
}

fn step(s: &MplRunStep) -> RunStep {
    RunStep {
        child_count: s.child_count,
        step_start: s.step_start,
        step_stop: s.step_stop,
        step_id: s.step_id.clone(),
        model_step_id: s.model_step_id.clone(),
        branch_id: s.branch_id.clone(),
        status: s.status.clone(),
        error: s.error.clone(),
        activity: s.activity.clone(),
        properties: s
            .run_step_properties
            .iter()
            .flatten()
            .filter_map(|p| Some((p.name.clone()?, p.value.clone())))
            .collect(),
    }
}

pub fn attachment(a: &MplAttachment) -> AttachmentMeta {
    let mut meta = AttachmentMeta {
        attachment_id: a.id.clone(),
        name: a.name.clone(),
        content_type: a.content_type.clone(),
        size: a.payload_size,
        timestamp: a.time_stamp,
    };
    meta.sanitize();
    meta
}

pub fn adapter_attribute(a: &CpiAdapterAttribute) -> Option<AdapterAttribute> {
    let mut attr = AdapterAttribute {
        cpi_id: Some(a.id.clone()),
        adapter_id: a.adapter_id.clone(),
        adapter_message_id: a.adapter_message_id.clone(),
        name: a.name.clone()?,
        value: a.value.clone(),
    };
    attr.sanitize();
    Some(attr)
}

/// CPI keeps message store entries for 30 days from their time stamp.
pub fn payload_entry(e: &MessageStoreEntry) -> PayloadEntry {
    let mut entry = PayloadEntry {
        entry_id: e.id.clone(),
        message_store_id: e.message_store_id.clone(),
        timestamp: e.time_stamp,
        has_attachments: e.has_attachments,
        retain_until: e.time_stamp.map(|t| t + chrono::Duration::days(30)),
    };
    entry.sanitize();
    entry
}

pub fn package(p: &IntegrationPackage) -> Package {
    Package {
        package_id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        short_text: p.short_text.clone(),
        version: p.version.clone(),
        vendor: p.vendor.clone(),
        mode: p.mode.clone(),
        supported_platform: p.supported_platform.clone(),
        created_by: p.created_by.clone(),
        created_at: p.creation_date,
        modified_by: p.modified_by.clone(),
        modified_at: p.modified_date,
    }
}

pub fn integration_flow(a: &IntegrationDesigntimeArtifact, package_id: &str) -> DesignArtifact {
    DesignArtifact {
        artifact_id: a.id.clone(),
        kind: DesignArtifactKind::IntegrationFlow,
        package_id: a
            .package_id
            .clone()
            .or_else(|| Some(package_id.to_string())),
        version: a.version.clone(),
        name: a.name.clone(),
        description: a.description.clone(),
        created_by: a.created_by.clone(),
        created_at: a.created_at,
        modified_by: a.modified_by.clone(),
        modified_at: a.modified_at,
    }
}

pub fn value_mapping(a: &ValueMappingDesigntimeArtifact, package_id: &str) -> DesignArtifact {
    DesignArtifact {
        artifact_id: a.id.clone(),
        kind: DesignArtifactKind::ValueMapping,
        package_id: a
            .package_id
            .clone()
            .or_else(|| Some(package_id.to_string())),
        version: a.version.clone(),
        name: a.name.clone(),
        description: a.description.clone(),
        created_by: None,
        created_at: None,
        modified_by: None,
        modified_at: None,
    }
}

pub fn runtime_artifact(
    a: &IntegrationRuntimeArtifact,
    error_text: Option<String>,
) -> RuntimeArtifact {
    RuntimeArtifact {
        artifact_id: a.id.clone(),
        version: a.version.clone(),
        name: a.name.clone(),
        artifact_type: a.artifact_type.clone(),
        deployed_by: a.deployed_by.clone(),
        deployed_at: a.deployed_on,
        status: a.status.clone(),
        error_text,
    }
}

pub fn keystore_entry(e: &CpiKeystoreEntry) -> Option<KeystoreEntry> {
    let alias = e.alias.clone()?;
    let hex_alias = e
        .hexalias
        .clone()
        .unwrap_or_else(|| cpi::odata::hex_alias(&alias));
    Some(KeystoreEntry {
        alias,
        hex_alias,
        entry_type: e.entry_type.clone(),
        owner: e.owner.clone(),
        key_type: e.key_type.clone(),
        key_size: e.key_size,
        valid_not_before: e.valid_not_before,
        valid_not_after: e.valid_not_after,
        subject_dn: e.subject_dn.clone(),
        issuer_dn: e.issuer_dn.clone(),
        serial_number: e.serial_number.clone(),
        signature_algorithm: e.signature_algorithm.clone(),
        fingerprint_sha256: None,
        last_modified_by: e.last_modified_by.clone(),
        last_modified_at: e.last_modified_time,
    })
}
