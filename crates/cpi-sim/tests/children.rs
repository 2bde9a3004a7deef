//! Payload and text endpoints: error text, attachment and message-store bytes with their content
//! types and configured sizes, artifact zips, runtime error JSON, keystore validity, 404s.

mod common;

use std::time::Duration;

use common::*;
use domain::MessageStatus;

#[tokio::test]
async fn error_texts_payloads_and_attachments_have_their_types_and_sizes() {
    let (mut cfg, _clock) = manual_config(3.0, Duration::from_secs(3600));
    cfg.traffic.payload_size = 10_000;
    cfg.traffic.attachment_size = 3_000;
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let truth = sim.truth();
    let find = |f: &dyn Fn(&cpi_sim::TruthMessage) -> bool| {
        truth
            .messages
            .iter()
            .find(|m| f(m))
            .unwrap()
            .message_guid
            .clone()
    };

    // Error text of a failed message: text/plain, Java-exception-like.
    let failed = find(&|m| m.status == MessageStatus::Failed);
    let r = c
        .get(&format!(
            "MessageProcessingLogs('{failed}')/ErrorInformation/$value"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert!(r.text().contains("Exception"), "{}", r.text());
    let same = c
        .get(&format!(
            "MessageProcessingLogErrorInformations('{failed}')/$value"
        ))
        .await;
    assert_eq!(same.body, r.body);
    // No error information for a completed message.
    let ok = find(&|m| m.status == MessageStatus::Completed);
    let r = c
        .get(&format!(
            "MessageProcessingLogs('{ok}')/ErrorInformation/$value"
        ))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "Not Found");

    // Attachments: the bytes have the announced type and size.
    let with_att = find(&|m| m.attachments > 0);
    let list = c
        .json(&format!("MessageProcessingLogs('{with_att}')/Attachments"))
        .await;
    for a in list["d"]["results"].as_array().unwrap() {
        let id = a["Id"].as_str().unwrap();
        let r = c
            .get(&format!(
                "MessageProcessingLogAttachments('{}')/$value",
                enc(id)
            ))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type").unwrap(),
            a["ContentType"].as_str().unwrap()
        );
        let size: usize = a["PayloadSize"].as_str().unwrap().parse().unwrap();
        assert_eq!(r.body.len(), size);
        assert!((3_000..=4_500).contains(&size));
    }

    // Message store payloads.
    let with_store = find(&|m| m.store_entries > 0);
    let list = c
        .json(&format!(
            "MessageProcessingLogs('{with_store}')/MessageStoreEntries"
        ))
        .await;
    let entry = &list["d"]["results"][0];
    let id = entry["Id"].as_str().unwrap();
    let r = c
        .get(&format!("MessageStoreEntries('{}')/$value", enc(id)))
        .await;
    assert_eq!(r.status, 200);
    assert!(
        (10_000..=15_000).contains(&r.body.len()),
        "{}",
        r.body.len()
    );
    let ct = r.header("content-type").unwrap();
    assert!(ct == "application/xml" || ct == "application/json", "{ct}");
    assert_eq!(
        entry["__metadata"]["media_src"].as_str().unwrap(),
        format!(
            "{}/MessageStoreEntries('{}')/$value",
            sim.api_url(),
            enc(id).replace(':', "%3A")
        )
    );

    // Unknown ids are 404 with the envelope.
    for path in [
        "MessageProcessingLogs('AAAAAAAAAAAAAAAAAAAAAAAAAAAA')".to_string(),
        "MessageStoreEntries('sap-it-res%3Amsg%3Ax%3A00000000-0000-0000-0000-000000000000')/$value"
            .to_string(),
        "MessageProcessingLogRuns('nope')/RunSteps".to_string(),
    ] {
        let r = c.get(&path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["error"]["message"]["lang"], "en");
    }
    sim.stop().await;
}

#[tokio::test]
async fn artifacts_runtime_errors_and_keystore_validity() {
    let (cfg, _clock) = manual_config(1.0, Duration::from_secs(600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);

    // Design-time artifact zip, by version and by 'active'.
    let pkgs = c.json("IntegrationPackages").await;
    let pkg = pkgs["d"]["results"][0]["Id"].as_str().unwrap().to_string();
    let arts = c
        .json(&format!(
            "IntegrationPackages('{pkg}')/IntegrationDesigntimeArtifacts"
        ))
        .await;
    let art = &arts["d"]["results"][0];
    let (id, version) = (
        art["Id"].as_str().unwrap(),
        art["Version"].as_str().unwrap(),
    );
    for v in [version, "active"] {
        let r = c
            .get(&format!(
                "IntegrationDesigntimeArtifacts(Id='{id}',Version='{v}')/$value"
            ))
            .await;
        assert_eq!(r.status, 200, "{v}");
        assert_eq!(&r.body[..4], b"PK\x03\x04");
    }
    let r = c
        .get(&format!(
            "IntegrationDesigntimeArtifacts(Id='{id}',Version='9.9.9')"
        ))
        .await;
    assert_eq!(r.status, 404);
    let single = c
        .json(&format!(
            "IntegrationDesigntimeArtifacts(Id='{id}',Version='active')"
        ))
        .await;
    assert_eq!(single["d"]["Id"], id);

    // Runtime artifacts: some STARTED, some ERROR; the error text is JSON like Piper's recording.
    let rts = c.json("IntegrationRuntimeArtifacts").await;
    let list = rts["d"]["results"].as_array().unwrap();
    assert!(list.iter().any(|a| a["Status"] == "STARTED"));
    let broken = list
        .iter()
        .find(|a| a["Status"] == "ERROR")
        .expect("an artifact in ERROR");
    let bid = broken["Id"].as_str().unwrap();
    let r = c
        .get(&format!(
            "IntegrationRuntimeArtifacts('{bid}')/ErrorInformation/$value"
        ))
        .await;
    assert_eq!(r.status, 200);
    let recorded =
        fixture_json("recorded/piper_IntegrationRuntimeArtifacts_ErrorInformation_value.json");
    assert_has_fixture_keys("runtime error", &recorded, &r.json());
    let started = list.iter().find(|a| a["Status"] == "STARTED").unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        c.get(&format!(
            "IntegrationRuntimeArtifacts('{started}')/ErrorInformation/$value"
        ))
        .await
        .status,
        404
    );
    let errors_only = c
        .json(&format!(
            "IntegrationRuntimeArtifacts?$filter={}",
            enc("Status eq 'ERROR'")
        ))
        .await;
    assert!(
        errors_only["d"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["Status"] == "ERROR")
    );

    // Keystore: expiring within 30 days, expired, valid for long.
    let now = sim.now().timestamp_millis();
    let day = 86_400_000;
    let ks = c.json("KeystoreEntries").await;
    let ends: Vec<i64> = ks["d"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| date_ms(&k["ValidNotAfter"]))
        .collect();
    assert!(
        ends.iter().any(|e| *e > now && *e < now + 30 * day),
        "expiring soon"
    );
    assert!(ends.iter().any(|e| *e < now), "expired");
    assert!(ends.iter().any(|e| *e > now + 365 * day), "valid for long");
    let hex = ks["d"]["results"][0]["Hexalias"].as_str().unwrap();
    assert_eq!(
        c.json(&format!("KeystoreEntries('{hex}')")).await["d"]["Hexalias"],
        hex
    );
    let missing = c.get("KeystoreEntries('6E6F7065')").await;
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("nope"));

    // Service document and $metadata answer (connection tests use them).
    assert!(
        c.json("").await["d"]["EntitySets"]
            .as_array()
            .unwrap()
            .len()
            > 5
    );
    let md = c.get("$metadata").await;
    assert_eq!(md.status, 200);
    assert!(
        md.text()
            .contains("EntityType Name=\"MessageProcessingLog\"")
    );
    sim.stop().await;
}
