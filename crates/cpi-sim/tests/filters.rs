//! `$filter`, `$orderby` and `filterCustomHeaderProperties` over HTTP: what they select agrees
//! with ground truth, and what the tenant rejects is a 400 with the OData error envelope.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Duration as Span;
use common::*;
use cpi_sim::{TimeField, TruthMessage};

fn guids(records: &[serde_json::Value]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| r["MessageGuid"].as_str().unwrap().to_string())
        .collect()
}

fn truth_guids<'a>(msgs: impl Iterator<Item = &'a TruthMessage>) -> BTreeSet<String> {
    msgs.map(|m| m.message_guid.clone()).collect()
}

#[tokio::test]
async fn unsupported_filters_and_orders_are_400_with_the_error_envelope() {
    let (cfg, _clock) = manual_config(1.0, Duration::from_secs(600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let cases = [
        (
            "$filter",
            "LogEnd ge datetime'2025-06-02T10:00:00Z'",
            "zone",
        ),
        (
            "$filter",
            "LogEnd ge datetime'2025-06-02T10:00:00+02:00'",
            "zone",
        ),
        ("$filter", "LogEnd ge 5", "datetime"),
        ("$filter", "Status eq", "literal"),
        ("$filter", "Status eq 'FAILED' and", "property"),
        ("$filter", "(Status eq 'FAILED'", "')'"),
        ("$filter", "Nope eq 'x'", "Nope"),
        ("$filter", "MessageGuid ne 'x'", "eq"),
        ("$filter", "Status gt 'A'", "gt"),
        ("$filter", "substringof('x', Status)", "function"),
        ("$orderby", "Status", "Invalid order by expression"),
        ("$orderby", "LogEnd sideways", "Invalid order by expression"),
        ("$top", "ten", "$top"),
        (
            "filterCustomHeaderProperties",
            "po_number eq 'x'",
            "filterCustomHeaderProperties",
        ),
    ];
    for (option, value, needle) in cases {
        let r = c
            .get(&format!("MessageProcessingLogs?{option}={}", enc(value)))
            .await;
        assert_eq!(r.status, 400, "{option}={value}: {}", r.text());
        let v = r.json();
        assert_eq!(v["error"]["code"], "Bad Request", "{option}={value}");
        assert_eq!(v["error"]["message"]["lang"], "en");
        let text = v["error"]["message"]["value"].as_str().unwrap();
        assert!(
            text.contains(needle),
            "{option}={value}: message {text:?} should mention {needle:?}"
        );
    }
    sim.stop().await;
}

#[tokio::test]
async fn filters_select_exactly_what_ground_truth_says() {
    let (cfg, _clock) = manual_config(2.0, Duration::from_secs(2 * 3600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let truth = sim.truth();
    let all = &truth.messages;
    let query = |f: &str| format!("MessageProcessingLogs?$filter={}", enc(f));

    // Status eq.
    let (recs, _, _) = read_all(&c, &query("Status eq 'FAILED'")).await;
    assert!(recs.iter().all(|r| r["Status"] == "FAILED"));
    assert_eq!(recs.len(), truth.by_status["FAILED"]);

    // Status ne within a LogEnd window (half-open).
    let (a, b) = (t0() - Span::minutes(90), t0() - Span::minutes(30));
    let f = format!(
        "Status ne 'COMPLETED' and LogEnd ge {} and LogEnd lt {}",
        lit(a),
        lit(b)
    );
    let (recs, _, _) = read_all(&c, &query(&f)).await;
    let want = truth_guids(all.iter().filter(|m| {
        m.status != domain::MessageStatus::Completed && m.log_end >= a && m.log_end < b
    }));
    assert!(!want.is_empty());
    assert_eq!(guids(&recs), want);

    // Parentheses and or, on LogStart with gt/le.
    let f = format!(
        "(Status eq 'FAILED' or Status eq 'ESCALATED') and LogStart gt {} and LogStart le {}",
        lit(a),
        lit(b)
    );
    let (recs, _, _) = read_all(&c, &query(&f)).await;
    let want = truth_guids(all.iter().filter(|m| {
        matches!(
            m.status,
            domain::MessageStatus::Failed | domain::MessageStatus::Escalated
        ) && m.log_start > a
            && m.log_start <= b
    }));
    assert_eq!(guids(&recs), want);

    // An OR-list of MessageGuids (figaf's batch look-up), plus one that does not exist.
    let picked: Vec<&str> = all
        .iter()
        .step_by(997)
        .take(4)
        .map(|m| m.message_guid.as_str())
        .collect();
    let mut f = picked
        .iter()
        .map(|g| format!("MessageGuid eq '{g}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    f.push_str(" or MessageGuid eq 'AGAS1GcWkfBv-ZtpS6j7TKjReO7t'");
    let v = c.json(&query(&f)).await;
    let got = guids(v["d"]["results"].as_array().unwrap());
    assert_eq!(got, picked.iter().map(|s| s.to_string()).collect());

    // CorrelationId: every member of a correlated group.
    let shared_corr = all
        .iter()
        .find(|m| {
            all.iter()
                .filter(|o| o.correlation_id == m.correlation_id)
                .count()
                > 1
        })
        .expect("some messages share a CorrelationId")
        .correlation_id
        .clone();
    let v = c
        .json(&query(&format!("CorrelationId eq '{shared_corr}'")))
        .await;
    let want = truth_guids(all.iter().filter(|m| m.correlation_id == shared_corr));
    assert!(want.len() > 1);
    assert_eq!(guids(v["d"]["results"].as_array().unwrap()), want);

    // Artifact id, and the deprecated IntegrationFlowName (rewritten to the id).
    let flow = all[0].integration_flow.clone();
    let want = truth_guids(all.iter().filter(|m| m.integration_flow == flow));
    for f in [
        format!("IntegrationArtifact/Id eq '{flow}'"),
        format!("IntegrationFlowName eq '{flow}'"),
    ] {
        let (recs, _, _) = read_all(&c, &query(&f)).await;
        assert_eq!(guids(&recs), want, "{f}");
    }

    // ApplicationMessageId.
    let with_app = all
        .iter()
        .find(|m| m.application_message_id.is_some())
        .unwrap();
    let app = with_app.application_message_id.clone().unwrap();
    let v = c
        .json(&query(&format!("ApplicationMessageId eq '{app}'")))
        .await;
    assert_eq!(
        guids(v["d"]["results"].as_array().unwrap()),
        truth_guids([with_app].into_iter())
    );

    // filterCustomHeaderProperties: the message it came from is found, and every hit has it.
    let with_headers = all.iter().find(|m| m.custom_headers > 0).unwrap();
    let hv = c
        .json(&format!(
            "MessageProcessingLogs('{}')/CustomHeaderProperties",
            with_headers.message_guid
        ))
        .await;
    let name = hv["d"]["results"][0]["Name"].as_str().unwrap().to_string();
    let value = hv["d"]["results"][0]["Value"].as_str().unwrap().to_string();
    let (recs, _, _) = read_all(
        &c,
        &format!(
            "MessageProcessingLogs?filterCustomHeaderProperties={}",
            enc(&format!("'{name}' eq '{value}'"))
        ),
    )
    .await;
    assert!(guids(&recs).contains(&with_headers.message_guid));
    for r in recs.iter().take(5) {
        let g = r["MessageGuid"].as_str().unwrap();
        let hs = c
            .json(&format!(
                "MessageProcessingLogs('{g}')/CustomHeaderProperties"
            ))
            .await;
        assert!(
            hs["d"]["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["Name"] == name.as_str() && h["Value"] == value.as_str())
        );
    }
    sim.stop().await;
}

#[tokio::test]
async fn orderby_log_end_desc_is_the_reverse_of_asc() {
    let (cfg, _clock) = manual_config(2.0, Duration::from_secs(3600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let (asc, _, _) = read_all(&c, "MessageProcessingLogs?$orderby=LogEnd").await;
    let (mut desc, _, _) = read_all(&c, "MessageProcessingLogs?$orderby=LogEnd%20desc").await;
    desc.reverse();
    assert_eq!(asc, desc);
    let (start_desc, _, _) = read_all(&c, "MessageProcessingLogs?$orderby=LogStart%20desc").await;
    let starts: Vec<i64> = start_desc.iter().map(|r| date_ms(&r["LogStart"])).collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]));
    let truth = sim.truth_query(TimeField::LogStart, None, None, usize::MAX);
    assert_eq!(start_desc.len(), truth.total);
    sim.stop().await;
}
