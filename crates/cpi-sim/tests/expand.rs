//! `$expand` on MessageProcessingLogs: an expanded part is exactly what its own navigation call
//! answers, in the OData V2 shape `{"results":[…]}`, on the list (also when `$select` names
//! only the key and the parts) and on the single entity; parts the simulator does not expand
//! are refused with 400 and the error envelope.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const PARTS: [&str; 4] = [
    "CustomHeaderProperties",
    "AdapterAttributes",
    "Attachments",
    "Runs",
];

/// A message's part as its own navigation call answers it, as an expanded value.
async fn nav(c: &Client, guid: &str, part: &str) -> Value {
    let v = c
        .json(&format!("MessageProcessingLogs('{guid}')/{part}"))
        .await;
    assert!(
        v["d"].get("__next").is_none(),
        "{part} of {guid} fits one page"
    );
    serde_json::json!({ "results": v["d"]["results"].clone() })
}

#[tokio::test]
async fn expanded_parts_are_what_their_own_calls_answer() {
    let (cfg, _clock) = manual_config(2.0, Duration::from_secs(1800));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let truth = sim.truth();
    // Messages with every part present, and some with none of the optional ones.
    let mut picked: Vec<&cpi_sim::TruthMessage> = truth
        .messages
        .iter()
        .filter(|m| m.attachments > 0 && m.adapter_attributes > 0 && m.runs > 0)
        .take(6)
        .collect();
    picked.extend(
        truth
            .messages
            .iter()
            .filter(|m| m.attachments == 0 && m.adapter_attributes == 0)
            .take(4),
    );
    assert!(picked.len() >= 8, "the simulated tenant has both kinds");
    let filter = picked
        .iter()
        .map(|m| format!("MessageGuid eq '{}'", m.message_guid))
        .collect::<Vec<_>>()
        .join(" or ");
    let expand = PARTS.join(",");
    let list = c
        .json(&format!(
            "MessageProcessingLogs?$filter={}&$select=MessageGuid,{expand}&$expand={expand}",
            enc(&filter)
        ))
        .await;
    let results = list["d"]["results"].as_array().expect("results");
    assert_eq!(results.len(), picked.len());
    for r in results {
        let guid = r["MessageGuid"].as_str().expect("guid");
        let m = picked
            .iter()
            .find(|m| m.message_guid == guid)
            .expect("asked for");
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        let mut wanted = vec!["__metadata", "MessageGuid"];
        wanted.extend(PARTS);
        wanted.sort();
        assert_eq!(keys, wanted, "$select keeps the key and the parts only");
        for part in PARTS {
            assert_eq!(r[part], nav(&c, guid, part).await, "{part} of {guid}");
        }
        let counts = [
            ("CustomHeaderProperties", m.custom_headers),
            ("AdapterAttributes", m.adapter_attributes),
            ("Attachments", m.attachments),
            ("Runs", m.runs),
        ];
        for (part, n) in counts {
            assert_eq!(r[part]["results"].as_array().unwrap().len(), n, "{part}");
        }
    }

    // The single entity expands the same way; the parts not asked for stay deferred.
    let one = &picked[0].message_guid;
    let single = c
        .json(&format!(
            "MessageProcessingLogs('{one}')?$expand=CustomHeaderProperties,AdapterAttributes"
        ))
        .await;
    assert_eq!(
        single["d"]["AdapterAttributes"],
        nav(&c, one, "AdapterAttributes").await
    );
    assert_eq!(
        single["d"]["CustomHeaderProperties"],
        nav(&c, one, "CustomHeaderProperties").await
    );
    assert!(single["d"]["Runs"]["__deferred"]["uri"].is_string());
    assert!(
        single["d"]["Status"].is_string(),
        "no $select: every property"
    );
    sim.stop().await;
}

#[tokio::test]
async fn parts_that_are_not_expanded_are_refused_with_400() {
    let (cfg, _clock) = manual_config(1.0, Duration::from_secs(600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let guid = sim.truth().messages[0].message_guid.clone();
    for bad in ["ErrorInformation", "MessageStoreEntries", "Runs,Nope"] {
        for target in [
            format!("MessageProcessingLogs?$expand={bad}"),
            format!("MessageProcessingLogs('{guid}')?$expand={bad}"),
        ] {
            let r = c.get(&target).await;
            assert_eq!(r.status, 400, "{target}");
            let body = r.json();
            assert_eq!(body["error"]["code"], "Bad Request", "{target}");
            assert!(
                body["error"]["message"]["value"]
                    .as_str()
                    .unwrap()
                    .contains("$expand"),
                "{target}: {body}"
            );
        }
    }
    // Spaces around the names are allowed, as in any OData list option.
    let ok = c
        .get(&format!(
            "MessageProcessingLogs('{guid}')?$expand={}",
            enc("Runs, Attachments")
        ))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(ok.json()["d"]["Runs"]["results"].is_array());
    sim.stop().await;
}
