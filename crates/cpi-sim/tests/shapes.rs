//! Served JSON has the shapes of the recorded responses, SAP's examples and the tenant EDMX.

mod common;

use std::time::Duration;

use common::*;
use cpi_sim::{SimConfig, TimeField};
use serde_json::Value;

fn first_result(v: &Value) -> &Value {
    &v["d"]["results"][0]
}

#[tokio::test]
async fn an_mpl_record_has_every_recorded_and_edmx_property_with_the_tenant_encoding() {
    let (cfg, _clock) = manual_config(2.0, Duration::from_secs(3600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let edmx = fixture("metadata/MessageProcessingLogs.edmx");
    let recorded = fixture_json("recorded/piper_MessageProcessingLogs_top1.json");
    let example = fixture_json("examples/MessageProcessingLogs_GET_MessageProcessingLogs_200.json");

    let page = c.json("MessageProcessingLogs?$top=50").await;
    let records = page["d"]["results"].as_array().unwrap();
    assert_eq!(records.len(), 50);
    for r in records {
        assert_matches_edmx(&edmx, "MessageProcessingLog", r);
        assert_has_fixture_keys("recorded MPL", first_result(&recorded), r);
        assert_has_fixture_keys("example MPL", first_result(&example), r);
        let art = &r["IntegrationArtifact"];
        for k in ["Id", "Name", "Type", "PackageId", "PackageName"] {
            assert!(art[k].is_string(), "IntegrationArtifact.{k}");
        }
        assert_eq!(
            art["__metadata"]["type"],
            "com.sap.hci.api.IntegrationArtifact"
        );
        assert_eq!(r["IntegrationFlowName"], art["Id"]);
        let guid = r["MessageGuid"].as_str().unwrap();
        assert_eq!(guid.len(), 28);
        let uri = r["__metadata"]["uri"].as_str().unwrap();
        assert_eq!(
            uri,
            format!("{}/MessageProcessingLogs('{guid}')", sim.api_url())
        );
        assert_eq!(r["__metadata"]["id"], r["__metadata"]["uri"]);
        assert_eq!(
            r["CustomHeaderProperties"]["__deferred"]["uri"],
            format!("{uri}/CustomHeaderProperties")
        );
        assert!(r["AlternateWebLink"].as_str().unwrap().contains(guid));
        assert_eq!(r["TransactionId"].as_str().unwrap().len(), 32);
        assert!(date_ms(&r["LogEnd"]) >= date_ms(&r["LogStart"]));
    }
    // No __count unless asked, and no __next when everything fitted.
    assert!(page["d"].get("__count").is_none());
    assert!(page["d"].get("__next").is_none());
    sim.stop().await;
}

#[tokio::test]
async fn the_single_entity_and_children_match_the_edmx_and_examples() {
    let (mut cfg, _clock) = manual_config(5.0, Duration::from_secs(2 * 3600));
    cfg.traffic.iflows = 12;
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let edmx = fixture("metadata/MessageProcessingLogs.edmx");
    let truth = sim.truth_query(TimeField::LogEnd, None, None, usize::MAX);
    let pick = |f: &dyn Fn(&cpi_sim::TruthMessage) -> bool| {
        truth
            .messages
            .iter()
            .find(|m| f(m))
            .unwrap_or_else(|| {
                panic!(
                    "no message of the wanted kind in {} messages",
                    truth.messages.len()
                )
            })
            .message_guid
            .clone()
    };

    // Single entity: {"d": {...}}.
    let any = pick(&|m| m.custom_headers > 0);
    let single = c.json(&format!("MessageProcessingLogs('{any}')")).await;
    assert_matches_edmx(&edmx, "MessageProcessingLog", &single["d"]);
    assert_has_fixture_keys(
        "example single MPL",
        &fixture_json("examples/MessageProcessingLogs_GET_MessageProcessingLogs_id_200.json")["d"],
        &single["d"],
    );

    // Custom header properties.
    let v = c
        .json(&format!(
            "MessageProcessingLogs('{any}')/CustomHeaderProperties"
        ))
        .await;
    let h = first_result(&v);
    assert_matches_edmx(&edmx, "MessageProcessingLogCustomHeaderProperty", h);
    assert_has_fixture_keys(
        "custom header",
        first_result(&fixture_json(
            "examples/MessageProcessingLogs_GET_MessageProcessingLogs_id_CustomHeaderProperties_200.json",
        )),
        h,
    );

    // Attachments.
    let with_att = pick(&|m| m.attachments > 0);
    let v = c
        .json(&format!("MessageProcessingLogs('{with_att}')/Attachments"))
        .await;
    let a = first_result(&v);
    assert_matches_edmx(&edmx, "MessageProcessingLogAttachment", a);
    assert_has_fixture_keys(
        "attachment",
        first_result(&fixture_json(
            "examples/MessageProcessingLogs_GET_MessageProcessingLogs_id_Attachments_200.json",
        )),
        a,
    );
    assert!(
        a["__metadata"]["media_src"]
            .as_str()
            .unwrap()
            .ends_with("/$value")
    );

    // Adapter attributes.
    let with_aa = pick(&|m| m.adapter_attributes > 0);
    let v = c
        .json(&format!(
            "MessageProcessingLogs('{with_aa}')/AdapterAttributes"
        ))
        .await;
    let aa = first_result(&v);
    assert_matches_edmx(&edmx, "MessageProcessingLogAdapterAttribute", aa);
    assert_has_fixture_keys(
        "adapter attribute",
        first_result(&fixture_json(
            "examples/MessageProcessingLogs_GET_MessageProcessingLogs_id_AdapterAttributes_200.json",
        )),
        aa,
    );

    // Error information of a failed message.
    let failed = pick(&|m| m.status == domain::MessageStatus::Failed);
    let v = c
        .json(&format!(
            "MessageProcessingLogs('{failed}')/ErrorInformation"
        ))
        .await;
    assert_matches_edmx(&edmx, "MessageProcessingLogErrorInformation", &v["d"]);
    assert_has_fixture_keys(
        "error information",
        &fixture_json(
            "examples/MessageProcessingLogs_GET_MessageProcessingLogs_id_ErrorInformation_200.json",
        )["d"],
        &v["d"],
    );

    // Message store entries and their properties.
    let with_store = pick(&|m| m.store_entries > 0);
    let v = c
        .json(&format!(
            "MessageProcessingLogs('{with_store}')/MessageStoreEntries"
        ))
        .await;
    let e = first_result(&v);
    assert_matches_edmx(&edmx, "MessageStoreEntry", e);
    assert_has_fixture_keys(
        "message store entry",
        first_result(&fixture_json(
            "examples/MessageStore_GET_MessageProcessingLogs_id_MessageStoreEntries_200.json",
        )),
        e,
    );
    let id = e["Id"].as_str().unwrap();
    let props = c
        .json(&format!("MessageStoreEntries('{}')/Properties", enc(id)))
        .await;
    let p = first_result(&props);
    assert_matches_edmx(&edmx, "MessageStoreEntryProperty", p);
    assert_has_fixture_keys(
        "message store entry property",
        first_result(&fixture_json(
            "examples/MessageStore_GET_MessageStoreEntries_id_Properties_200.json",
        )),
        p,
    );
    let single_entry = c.json(&format!("MessageStoreEntries('{}')", enc(id))).await;
    assert_has_fixture_keys(
        "message store entry (single)",
        &fixture_json("examples/MessageStore_GET_MessageStoreEntries_id_200.json")["d"],
        &single_entry["d"],
    );

    // Runs, run steps (expanded properties).
    let v = c
        .json(&format!("MessageProcessingLogs('{any}')/Runs"))
        .await;
    let run = first_result(&v);
    assert_matches_edmx(&edmx, "MessageProcessingLogRun", run);
    let run_id = run["Id"].as_str().unwrap();
    let steps = c
        .json(&format!("MessageProcessingLogRuns('{run_id}')/RunSteps?$expand=RunStepProperties&$inlinecount=allpages"))
        .await;
    let step = first_result(&steps);
    assert_matches_edmx(&edmx, "MessageProcessingLogRunStep", step);
    let prop = &step["RunStepProperties"]["results"][0];
    assert_matches_edmx(&edmx, "MessageProcessingLogRunStepProperty", prop);
    sim.stop().await;
}

#[tokio::test]
async fn content_runtime_and_keystore_match_sap_examples() {
    let sim = start(SimConfig::default().with_history(Duration::from_secs(600))).await;
    let c = Client::default_for(&sim);

    let cases = [
        (
            "IntegrationPackages",
            "examples/IntegrationContent_GET_IntegrationPackages_200.json",
        ),
        (
            "IntegrationRuntimeArtifacts",
            "examples/IntegrationContent_GET_IntegrationRuntimeArtifacts_200.json",
        ),
        (
            "KeystoreEntries",
            "examples/SecurityContent_GET_KeystoreEntries_200.json",
        ),
        (
            "ValueMappingDesigntimeArtifacts",
            "examples/IntegrationContent_GET_ValueMappingDesigntimeArtifacts_200.json",
        ),
    ];
    for (path, fix) in cases {
        let ours = c.json(path).await;
        let theirs = fixture_json(fix);
        for rec in ours["d"]["results"].as_array().unwrap() {
            assert_has_fixture_keys(path, first_result(&theirs), rec);
        }
    }
    let pkg = c.json("IntegrationPackages").await;
    let pkg_id = first_result(&pkg)["Id"].as_str().unwrap().to_string();
    let arts = c
        .json(&format!(
            "IntegrationPackages('{pkg_id}')/IntegrationDesigntimeArtifacts"
        ))
        .await;
    assert_has_fixture_keys(
        "design-time artifact",
        first_result(&fixture_json(
            "examples/IntegrationContent_GET_IntegrationPackages_id_IntegrationDesigntimeArtifacts_200.json",
        )),
        first_result(&arts),
    );
    let vms = c
        .json(&format!(
            "IntegrationPackages('{pkg_id}')/ValueMappingDesigntimeArtifacts"
        ))
        .await;
    assert_has_fixture_keys(
        "package value mapping",
        first_result(&fixture_json(
            "examples/IntegrationContent_GET_IntegrationPackages_id_ValueMappingDesigntimeArtifacts_200.json",
        )),
        first_result(&vms),
    );
    let rt = c.json("IntegrationRuntimeArtifacts").await;
    let rt_id = first_result(&rt)["Id"].as_str().unwrap().to_string();
    let single = c
        .json(&format!("IntegrationRuntimeArtifacts('{rt_id}')"))
        .await;
    let recorded = fixture_json("recorded/piper_IntegrationRuntimeArtifacts_single.json");
    assert_has_fixture_keys("runtime artifact", &recorded["d"], &single["d"]);
    for k in ["id", "uri", "media_src", "edit_media"] {
        assert!(single["d"]["__metadata"][k].is_string(), "__metadata.{k}");
    }
    let ks = c.json("KeystoreEntries").await;
    let entry = first_result(&ks);
    assert!(entry["KeySize"].is_i64(), "KeySize is Int32: a JSON number");
    assert_eq!(
        entry["Hexalias"].as_str().unwrap(),
        hex::encode_upper(entry["Alias"].as_str().unwrap())
    );
    sim.stop().await;
}
