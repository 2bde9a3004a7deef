//! Parses every fixture in shared/cpi-api exactly as it is, and checks the model against the
//! tenant's `$metadata`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use cpi::model::RawEntity;
use cpi::odata::{Entity, parse_collection, parse_entity, parse_error_body};
use cpi::*;
use domain::MessageStatus;
use domain::artifact::RuntimeStatus;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cpi-api");

fn shared_dir(sub: &str) -> PathBuf {
    let dir = Path::new(SHARED).join(sub);
    assert!(
        dir.is_dir(),
        "fixture folder {} is missing: shared/cpi-api must sit beside the repository",
        dir.display()
    );
    dir
}

fn read(sub: &str, name: &str) -> Vec<u8> {
    let path = shared_dir(sub).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

fn files(sub: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(shared_dir(sub))
        .unwrap_or_else(|e| panic!("cannot list {sub}: {e}"))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn ms(v: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v)
}

fn coll<T: Entity + Debug>(sub: &str, name: &str) -> Collection<T> {
    parse_collection::<T>(&read(sub, name))
        .unwrap_or_else(|e| panic!("{sub}/{name} did not parse as a collection: {e}"))
}

fn one<T: Entity + Debug>(sub: &str, name: &str) -> T {
    parse_entity::<T>(&read(sub, name))
        .unwrap_or_else(|e| panic!("{sub}/{name} did not parse as an entity: {e}"))
}

/// How each example file is read. A new file in examples/ fails this test until it is listed.
#[derive(Debug, Clone, Copy)]
enum Use {
    Mpls,
    Mpl,
    CustomHeaders,
    AdapterAttributes,
    Attachments,
    ErrorInformation,
    StoreEntries,
    StoreEntry,
    Packages,
    Package,
    DesigntimeList,
    Designtime,
    ValueMappings,
    ValueMapping,
    RuntimeArtifacts,
    RuntimeArtifact,
    Keystore,
    KeystoreEntry,
    /// 4xx/5xx error envelope.
    ErrorBody,
    /// A set IntegraMon does not model: only the envelope is checked.
    RawCollection,
    RawEntity,
}

fn example_table() -> BTreeMap<&'static str, Use> {
    use Use::*;
    BTreeMap::from([
        (
            "IntegrationContent_DELETE_ValueMappingDesigntimeArtifacts_key_400.json",
            ErrorBody,
        ),
        (
            "IntegrationContent_DELETE_ValueMappingDesigntimeArtifacts_key_500.json",
            ErrorBody,
        ),
        (
            "IntegrationContent_GET_BuildAndDeployStatus_key_200.json",
            RawEntity,
        ),
        (
            "IntegrationContent_GET_IntegrationDesigntimeArtifacts_key_200.json",
            Designtime,
        ),
        (
            "IntegrationContent_GET_IntegrationDesigntimeArtifacts_key_Configurations_200.json",
            RawCollection,
        ),
        (
            "IntegrationContent_GET_IntegrationDesigntimeArtifacts_key_DesignGuidelineExecutionResults_200.json",
            RawCollection,
        ),
        (
            "IntegrationContent_GET_IntegrationDesigntimeArtifacts_key_DesignGuidelineExecutionResults_id_200.json",
            RawCollection,
        ),
        (
            "IntegrationContent_GET_IntegrationDesigntimeArtifacts_key_Resources_200.json",
            RawCollection,
        ),
        (
            "IntegrationContent_GET_IntegrationDesigntimeArtifacts_key_Resources_key_200.json",
            RawEntity,
        ),
        (
            "IntegrationContent_GET_IntegrationPackages_200.json",
            Packages,
        ),
        (
            "IntegrationContent_GET_IntegrationPackages_id_200.json",
            Package,
        ),
        (
            "IntegrationContent_GET_IntegrationPackages_id_CustomTags_200.json",
            RawCollection,
        ),
        (
            "IntegrationContent_GET_IntegrationPackages_id_IntegrationDesigntimeArtifacts_200.json",
            DesigntimeList,
        ),
        (
            "IntegrationContent_GET_IntegrationPackages_id_IntegrationDesigntimeArtifacts_key_200.json",
            Designtime,
        ),
        // Same shape as integration design-time artifacts.
        (
            "IntegrationContent_GET_IntegrationPackages_id_MessageMappingDesigntimeArtifacts_200.json",
            DesigntimeList,
        ),
        (
            "IntegrationContent_GET_IntegrationPackages_id_MessageMappingDesigntimeArtifacts_key_200.json",
            Designtime,
        ),
        (
            "IntegrationContent_GET_IntegrationPackages_id_ScriptCollectionDesigntimeArtifacts_200.json",
            DesigntimeList,
        ),
        (
            "IntegrationContent_GET_IntegrationPackages_id_ScriptCollectionDesigntimeArtifacts_key_200.json",
            Designtime,
        ),
        (
            "IntegrationContent_GET_IntegrationPackages_id_ValueMappingDesigntimeArtifacts_200.json",
            ValueMappings,
        ),
        (
            "IntegrationContent_GET_IntegrationPackages_id_ValueMappingDesigntimeArtifacts_key_200.json",
            ValueMapping,
        ),
        (
            "IntegrationContent_GET_IntegrationPackages_id_value_500.json",
            ErrorBody,
        ),
        (
            "IntegrationContent_GET_IntegrationRuntimeArtifacts_200.json",
            RuntimeArtifacts,
        ),
        (
            "IntegrationContent_GET_IntegrationRuntimeArtifacts_id_200.json",
            RuntimeArtifact,
        ),
        (
            "IntegrationContent_GET_MessageMappingDesigntimeArtifacts_key_value_400.json",
            ErrorBody,
        ),
        (
            "IntegrationContent_GET_ServiceEndpoints_200.json",
            RawCollection,
        ),
        (
            "IntegrationContent_GET_ValueMappingDesigntimeArtifacts_200.json",
            ValueMappings,
        ),
        (
            "IntegrationContent_POST_ExecuteIntegrationDesigntimeArtifactsGuidelines_500.json",
            ErrorBody,
        ),
        (
            "IntegrationContent_POST_IntegrationAdapterDesigntimeArtifacts_500.json",
            ErrorBody,
        ),
        (
            "IntegrationContent_POST_IntegrationDesigntimeArtifacts_400.json",
            ErrorBody,
        ),
        (
            "IntegrationContent_POST_IntegrationDesigntimeArtifacts_500.json",
            ErrorBody,
        ),
        ("LogFiles_GET_LogFiles_200.json", RawCollection),
        (
            "MessageProcessingLogs_GET_MessageProcessingLogs_200.json",
            Mpls,
        ),
        (
            "MessageProcessingLogs_GET_MessageProcessingLogs_id_200.json",
            Mpl,
        ),
        (
            "MessageProcessingLogs_GET_MessageProcessingLogs_id_AdapterAttributes_200.json",
            AdapterAttributes,
        ),
        (
            "MessageProcessingLogs_GET_MessageProcessingLogs_id_Attachments_200.json",
            Attachments,
        ),
        (
            "MessageProcessingLogs_GET_MessageProcessingLogs_id_CustomHeaderProperties_200.json",
            CustomHeaders,
        ),
        (
            "MessageProcessingLogs_GET_MessageProcessingLogs_id_ErrorInformation_200.json",
            ErrorInformation,
        ),
        (
            "MessageStore_GET_MessageProcessingLogs_id_MessageStoreEntries_200.json",
            StoreEntries,
        ),
        (
            "MessageStore_GET_MessageStoreEntries_id_200.json",
            StoreEntry,
        ),
        (
            "MessageStore_GET_MessageStoreEntries_id_Attachments_200.json",
            RawCollection,
        ),
        (
            "MessageStore_GET_MessageStoreEntries_id_Properties_200.json",
            RawCollection,
        ),
        (
            "MessageStore_GET_MessageStoreEntryAttachmentProperties_key_200.json",
            RawEntity,
        ),
        (
            "MessageStore_GET_MessageStoreEntryAttachments_id_200.json",
            RawEntity,
        ),
        (
            "MessageStore_GET_MessageStoreEntryAttachments_id_Properties_200.json",
            RawCollection,
        ),
        (
            "MessageStore_GET_MessageStoreEntryProperties_key_200.json",
            RawEntity,
        ),
        (
            "SecurityContent_GET_CertificateUserMappings_200.json",
            RawCollection,
        ),
        ("SecurityContent_GET_KeystoreEntries_200.json", Keystore),
        (
            "SecurityContent_GET_KeystoreEntries_69645F727361_Sshkey_value_400.json",
            ErrorBody,
        ),
        (
            "SecurityContent_GET_KeystoreEntries_id_200.json",
            KeystoreEntry,
        ),
        (
            "SecurityContent_GET_KeystoreEntries_id_Certificate_value_500.json",
            ErrorBody,
        ),
        // Chain certificates carry the keystore entry fields (plus Index).
        (
            "SecurityContent_GET_KeystoreEntries_id_ChainCertificates_200.json",
            Keystore,
        ),
    ])
}

#[test]
fn every_example_file_is_classified_and_parses() {
    let table = example_table();
    let on_disk = files("examples");
    assert!(
        on_disk.len() >= 40,
        "only {} example files found",
        on_disk.len()
    );
    for name in &on_disk {
        let Some(usage) = table.get(name.as_str()) else {
            panic!(
                "examples/{name} is not classified in this test: decide how IntegraMon reads it"
            );
        };
        let n = |c: usize| assert!(c > 0, "examples/{name}: no records");
        match usage {
            Use::Mpls => n(coll::<MessageProcessingLog>("examples", name).results.len()),
            Use::Mpl => drop(one::<MessageProcessingLog>("examples", name)),
            Use::CustomHeaders => n(coll::<CustomHeaderProperty>("examples", name).results.len()),
            Use::AdapterAttributes => n(coll::<AdapterAttribute>("examples", name).results.len()),
            Use::Attachments => n(coll::<MplAttachment>("examples", name).results.len()),
            Use::ErrorInformation => drop(one::<MplErrorInformation>("examples", name)),
            Use::StoreEntries => n(coll::<MessageStoreEntry>("examples", name).results.len()),
            Use::StoreEntry => drop(one::<MessageStoreEntry>("examples", name)),
            Use::Packages => n(coll::<IntegrationPackage>("examples", name).results.len()),
            Use::Package => drop(one::<IntegrationPackage>("examples", name)),
            Use::DesigntimeList => n(coll::<IntegrationDesigntimeArtifact>("examples", name)
                .results
                .len()),
            Use::Designtime => drop(one::<IntegrationDesigntimeArtifact>("examples", name)),
            Use::ValueMappings => n(coll::<ValueMappingDesigntimeArtifact>("examples", name)
                .results
                .len()),
            Use::ValueMapping => drop(one::<ValueMappingDesigntimeArtifact>("examples", name)),
            Use::RuntimeArtifacts => n(coll::<IntegrationRuntimeArtifact>("examples", name)
                .results
                .len()),
            Use::RuntimeArtifact => drop(one::<IntegrationRuntimeArtifact>("examples", name)),
            Use::Keystore => n(coll::<cpi::KeystoreEntry>("examples", name).results.len()),
            Use::KeystoreEntry => drop(one::<cpi::KeystoreEntry>("examples", name)),
            Use::ErrorBody => {
                let body = read("examples", name);
                let e = parse_error_body(&body)
                    .unwrap_or_else(|| panic!("examples/{name}: error body not understood"));
                assert!(e.code.is_some() && e.message.is_some(), "{name}: {e:?}");
                // An error body must never pass as an (empty) collection or as an entity.
                let as_page = parse_collection::<MessageProcessingLog>(&body).unwrap_err();
                assert_eq!(as_page.kind, BadResponseKind::ErrorEnvelope, "{name}");
                assert!(parse_entity::<IntegrationPackage>(&body).is_err(), "{name}");
            }
            Use::RawCollection => n(coll::<RawEntity>("examples", name).results.len()),
            Use::RawEntity => drop(one::<RawEntity>("examples", name)),
        }
    }
    // And nothing listed here has disappeared from disk unnoticed.
    for name in table.keys() {
        assert!(on_disk.iter().any(|f| f == name), "examples/{name} is gone");
    }
}

#[test]
fn mpl_example_values_are_read_correctly() {
    let page = coll::<MessageProcessingLog>(
        "examples",
        "MessageProcessingLogs_GET_MessageProcessingLogs_200.json",
    );
    assert_eq!(page.results.len(), 2);
    assert_eq!(page.count, None);
    assert_eq!(page.next, None);
    let m = &page.results[0];
    assert_eq!(m.message_guid, "AFq478Bblxi4wCjBcDb_G0vAGGZG");
    assert_eq!(
        m.correlation_id.as_deref(),
        Some("AFq478Bmn-aPieAWVy0mMGPLWsjx")
    );
    assert_eq!(m.application_message_id, None);
    assert_eq!(m.log_start, ms(1522069440003));
    assert_eq!(m.log_end, ms(1522069440200));
    assert_eq!(m.status, Some(MessageStatus::Failed));
    assert_eq!(m.custom_status.as_deref(), Some("FAILED"));
    assert_eq!(m.log_level.as_deref(), Some("INFO"));
    assert_eq!(m.archiving_status.as_deref(), Some("NOT_RELEVANT"));
    // Booleans arrive as strings in SAP's example.
    assert_eq!(m.archiving_sender_channel_messages, Some(false));
    assert_eq!(m.archiving_persisted_messages, Some(false));
    let a = m.integration_artifact.as_ref().expect("artifact");
    assert_eq!(
        a.id.as_deref(),
        Some("IntegrationFlow_AdapterData_FAILED_PROCESSING")
    );
    assert_eq!(a.artifact_type.as_deref(), Some("INTEGRATION_FLOW"));
    assert_eq!(a.package_id.as_deref(), Some("PackageId"));
    assert_eq!(a.package_name.as_deref(), Some("PackageName"));
    assert_eq!(
        m.transaction_id.as_deref(),
        Some("636260297acc487198a65955d3648c49")
    );
    assert_eq!(m.local_component_name.as_deref(), Some("CPI_cpisbsa1"));
    assert_eq!(m.origin_component_name, None);
    assert_eq!(
        m.custom_header_properties, None,
        "deferred navigation is not expanded data"
    );
}

#[test]
fn child_examples_values() {
    let att = coll::<MplAttachment>(
        "examples",
        "MessageProcessingLogs_GET_MessageProcessingLogs_id_Attachments_200.json",
    );
    assert_eq!(att.results[0].payload_size, Some(26));
    assert_eq!(att.results[1].payload_size, Some(56));
    assert_eq!(att.results[0].time_stamp, ms(1522069440106));
    assert!(att.results[0].id.contains(':'));

    let headers = coll::<CustomHeaderProperty>(
        "examples",
        "MessageProcessingLogs_GET_MessageProcessingLogs_id_CustomHeaderProperties_200.json",
    );
    assert_eq!(
        headers.results[0].name.as_deref(),
        Some("myCustomHeaderProperty")
    );

    let aa = coll::<AdapterAttribute>(
        "examples",
        "MessageProcessingLogs_GET_MessageProcessingLogs_id_AdapterAttributes_200.json",
    );
    assert_eq!(aa.results[0].adapter_id.as_deref(), Some("AS2 Receiver"));

    let ei = one::<MplErrorInformation>(
        "examples",
        "MessageProcessingLogs_GET_MessageProcessingLogs_id_ErrorInformation_200.json",
    );
    assert_eq!(ei.mime_type.as_deref(), Some("text/plain"));
    assert_eq!(
        ei.last_error_model_step_id.as_deref(),
        Some("MessageFlow_11")
    );

    let se = coll::<MessageStoreEntry>(
        "examples",
        "MessageStore_GET_MessageProcessingLogs_id_MessageStoreEntries_200.json",
    );
    assert_eq!(se.results[1].message_store_id.as_deref(), Some("Persist2"));
    assert_eq!(se.results[1].has_attachments, Some(true));
    assert_eq!(se.results[1].time_stamp, ms(1522134926543));
}

#[test]
fn content_and_keystore_example_values() {
    let p = coll::<IntegrationPackage>(
        "examples",
        "IntegrationContent_GET_IntegrationPackages_200.json",
    );
    let first = &p.results[0];
    assert_eq!(first.id, "CloudPlatformAPITestPackage");
    assert_eq!(first.creation_date, ms(1521116198486), "epoch-ms string");
    assert_eq!(first.mode.as_deref(), Some("EDIT_ALLOWED"));

    let rt = coll::<IntegrationRuntimeArtifact>(
        "examples",
        "IntegrationContent_GET_IntegrationRuntimeArtifacts_200.json",
    );
    assert_eq!(rt.results[0].status, Some(RuntimeStatus::Started));
    assert_eq!(rt.results[1].status, Some(RuntimeStatus::Error));
    assert_eq!(rt.results[0].deployed_on, ms(1521463557739));

    let vm = coll::<ValueMappingDesigntimeArtifact>(
        "examples",
        "IntegrationContent_GET_ValueMappingDesigntimeArtifacts_200.json",
    );
    assert_eq!(vm.results[1].version.as_deref(), Some("1.1.0"));

    let d = one::<IntegrationDesigntimeArtifact>(
        "examples",
        "IntegrationContent_GET_IntegrationDesigntimeArtifacts_key_200.json",
    );
    assert_eq!(d.package_id.as_deref(), Some("PackageforAdapterTest"));
    assert_eq!(d.artifact_content, None);

    let ks = coll::<cpi::KeystoreEntry>("examples", "SecurityContent_GET_KeystoreEntries_200.json");
    let k = &ks.results[1];
    assert_eq!(k.alias.as_deref(), Some("sap_test_certificate"));
    assert_eq!(
        k.key().as_deref(),
        Some("7361705F746573745F6365727469666963617465")
    );
    assert_eq!(
        k.key().as_deref(),
        Some(cpi::odata::hex_alias("sap_test_certificate").as_str())
    );
    assert_eq!(k.key_size, Some(2048));
    assert_eq!(k.valid_not_after, ms(2143324799000));
    assert_eq!(k.entry_type.as_deref(), Some("Certificate"));
    assert_eq!(
        k.subject_dn.as_deref().map(|s| s.starts_with("CN=sandbox")),
        Some(true)
    );
}

#[test]
fn recorded_responses_parse() {
    let names = files("recorded");
    assert_eq!(names.len(), 5, "recorded/ changed: {names:?}");

    let page = coll::<MessageProcessingLog>("recorded", "piper_MessageProcessingLogs_top1.json");
    let m = &page.results[0];
    assert_eq!(m.message_guid, "AGAS1GcWkfBv-ZtpS6j7TKjReO7t");
    assert_eq!(m.status, Some(MessageStatus::Completed));
    assert_eq!(m.log_end, ms(1611846759032));
    assert_eq!(
        m.metadata.as_ref().and_then(|x| x.type_name.as_deref()),
        Some("com.sap.hci.api.MessageProcessingLog")
    );
    assert_eq!(
        m.integration_artifact, None,
        "the trimmed record has no IntegrationArtifact"
    );
    assert_eq!(m.artifact_id(), Some("flow1"));

    let rt = one::<IntegrationRuntimeArtifact>(
        "recorded",
        "piper_IntegrationRuntimeArtifacts_single.json",
    );
    assert_eq!(rt.id, "smtp");
    assert_eq!(rt.status, Some(RuntimeStatus::Started));
    assert!(
        rt.metadata
            .as_ref()
            .and_then(|m| m.media_src.as_deref())
            .is_some_and(|s| s.ends_with("/$value"))
    );

    let err = RuntimeArtifactErrorInfo::parse(&read(
        "recorded",
        "piper_IntegrationRuntimeArtifacts_ErrorInformation_value.json",
    ));
    assert_eq!(
        err.message.as_deref(),
        Some("java.lang.IllegalStateException: No credentials for 'smtp' found")
    );
    assert!(err.raw.contains("No credentials"));

    let se = coll::<RawEntity>("recorded", "piper_ServiceEndpoints_expand_EntryPoints.json");
    assert_eq!(se.results.len(), 1);

    let e =
        parse_error_body(&read("recorded", "piper_error_400_mock.json")).expect("piper error body");
    assert_eq!(e.code.as_deref(), Some("Bad Request"));
    assert_eq!(e.message.as_deref(), Some("Invalid order by expression"));
}

#[test]
fn wrong_entity_type_in_metadata_is_rejected() {
    // The recorded MPL page read as runtime artifacts: __metadata.type gives it away.
    let body = read("recorded", "piper_MessageProcessingLogs_top1.json");
    let e = parse_collection::<cpi::model::MplAttachment>(&body).unwrap_err();
    assert!(
        e.kind == BadResponseKind::WrongEntityType || e.kind == BadResponseKind::UnexpectedShape,
        "{e:?}"
    );
    let body = String::from_utf8(body)
        .expect("utf8")
        .replace("\"MessageGuid\"", "\"Id\"");
    let e = parse_collection::<cpi::model::MplAttachment>(body.as_bytes()).unwrap_err();
    assert_eq!(e.kind, BadResponseKind::WrongEntityType, "{e:?}");
    // A single entity asked for as a collection is not "zero results".
    let single = read("recorded", "piper_IntegrationRuntimeArtifacts_single.json");
    let e = parse_collection::<IntegrationRuntimeArtifact>(&single).unwrap_err();
    assert_eq!(e.kind, BadResponseKind::UnexpectedShape);
}

#[test]
fn atom_fragments_are_reported_as_xml_not_parsed_as_empty() {
    let names = files("atom");
    assert!(!names.is_empty());
    for name in names {
        let body = read("atom", &name);
        let e = parse_collection::<MessageProcessingLog>(&body).unwrap_err();
        assert_eq!(e.kind, BadResponseKind::Xml, "atom/{name}");
    }
}

// --- $metadata coverage ---------------------------------------------------------------------

/// `(name, type)` of every `<Property>` of an EntityType or ComplexType in the EDMX.
fn edmx_properties(edmx: &str, kind: &str, name: &str) -> Vec<(String, String)> {
    let open = format!("<{kind} Name=\"{name}\"");
    let start = edmx
        .find(&open)
        .unwrap_or_else(|| panic!("{kind} {name} not in the EDMX"));
    let end = start
        + edmx[start..]
            .find(&format!("</{kind}>"))
            .unwrap_or_else(|| panic!("{kind} {name} not closed"));
    let block = &edmx[start..end];
    let attr = |tag: &str, key: &str| -> Option<String> {
        let k = format!(" {key}=\"");
        let at = tag.find(&k)? + k.len();
        Some(tag[at..at + tag[at..].find('"')?].to_string())
    };
    block
        .split("<Property ")
        .skip(1)
        .map(|rest| {
            let tag = format!(" {}", &rest[..rest.find("/>").unwrap_or(rest.len())]);
            (
                attr(&tag, "Name").expect("Property without Name"),
                attr(&tag, "Type").expect("Property without Type"),
            )
        })
        .collect()
}

fn sample(edm: &str, variant: u8) -> serde_json::Value {
    use serde_json::json;
    match edm {
        "Edm.String" => json!(format!("sample-{variant}")),
        "Edm.DateTime" | "Edm.DateTimeOffset" => {
            json!(format!(
                "/Date({})/",
                1_600_000_000_000i64 + i64::from(variant)
            ))
        }
        "Edm.Boolean" => json!(variant % 2 == 1),
        "Edm.Int32" => json!(i32::from(variant) + 7),
        "Edm.Int64" => json!(format!("{}", 42 + u32::from(variant))),
        "com.sap.hci.api.IntegrationArtifact" => json!({"Id": format!("flow-{variant}")}),
        other => panic!("no sample for EDM type {other}"),
    }
}

/// For each EDMX property: a record with only the keys set must parse differently from the same
/// record with that property set too. An unmapped property would be ignored and compare equal.
fn assert_entity_covers<T: Entity + PartialEq + Debug>(edmx: &str, entity: &str, keys: &[&str]) {
    let props = edmx_properties(edmx, "EntityType", entity);
    assert!(!props.is_empty(), "{entity}: no properties found");
    let mut base = serde_json::Map::new();
    for (name, ty) in &props {
        if keys.contains(&name.as_str()) {
            base.insert(name.clone(), sample(ty, 0));
        }
    }
    let parse = |m: &serde_json::Map<String, serde_json::Value>| -> T {
        let body = serde_json::json!({ "d": m }).to_string();
        parse_entity::<T>(body.as_bytes()).unwrap_or_else(|e| panic!("{entity}: {e}: {body}"))
    };
    let baseline = parse(&base);
    for (name, ty) in &props {
        let mut with = base.clone();
        with.insert(name.clone(), sample(ty, 1));
        assert_ne!(
            parse(&with),
            baseline,
            "{entity}.{name} ({ty}) is not mapped by the parser"
        );
    }
}

#[test]
fn model_covers_every_property_of_the_tenant_metadata() {
    let edmx = String::from_utf8(read("metadata", "MessageProcessingLogs.edmx")).expect("utf8");
    let mpl_props: Vec<String> = edmx_properties(&edmx, "EntityType", "MessageProcessingLog")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for must in [
        "PredecessorMessageGuid",
        "ArchivingLogAttachments",
        "IntegrationArtifact",
        "LogEnd",
    ] {
        assert!(mpl_props.iter().any(|p| p == must), "EDMX lacks {must}");
    }
    // Every MPL property is also in the $select list of all columns.
    for p in &mpl_props {
        assert!(
            MessageProcessingLog::ALL_COLUMNS.contains(&p.as_str()),
            "{p} missing from ALL_COLUMNS"
        );
    }
    assert_entity_covers::<MessageProcessingLog>(&edmx, "MessageProcessingLog", &["MessageGuid"]);
    assert_entity_covers::<CustomHeaderProperty>(
        &edmx,
        "MessageProcessingLogCustomHeaderProperty",
        &["Id"],
    );
    assert_entity_covers::<AdapterAttribute>(
        &edmx,
        "MessageProcessingLogAdapterAttribute",
        &["Id"],
    );
    assert_entity_covers::<MplAttachment>(&edmx, "MessageProcessingLogAttachment", &["Id"]);
    assert_entity_covers::<MplErrorInformation>(
        &edmx,
        "MessageProcessingLogErrorInformation",
        &["MessageGuid"],
    );
    assert_entity_covers::<MessageStoreEntry>(&edmx, "MessageStoreEntry", &["Id"]);
    assert_entity_covers::<MplRun>(&edmx, "MessageProcessingLogRun", &["Id"]);
    assert_entity_covers::<MplRunStep>(
        &edmx,
        "MessageProcessingLogRunStep",
        &["RunId", "ChildCount"],
    );
    assert_entity_covers::<RunStepProperty>(&edmx, "MessageProcessingLogRunStepProperty", &[]);

    // The complex type inside the MPL: each of its properties must change the parsed record.
    let artifact = edmx_properties(&edmx, "ComplexType", "IntegrationArtifact");
    assert!(artifact.iter().any(|(n, _)| n == "PackageName"));
    let base = parse_entity::<MessageProcessingLog>(
        br#"{"d":{"MessageGuid":"G","IntegrationArtifact":{}}}"#,
    )
    .expect("base");
    for (name, ty) in artifact {
        let mut art = serde_json::Map::new();
        art.insert(name.clone(), sample(&ty, 1));
        let body = serde_json::json!({"d": {"MessageGuid": "G", "IntegrationArtifact": art}});
        let parsed =
            parse_entity::<MessageProcessingLog>(body.to_string().as_bytes()).expect("parse");
        assert_ne!(parsed, base, "IntegrationArtifact.{name} is not mapped");
    }
}
