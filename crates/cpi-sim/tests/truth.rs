//! Ground truth agrees with what a client reads through the API, and the admin endpoints report
//! the same truth and the request counters.

mod common;

use std::time::Duration;

use chrono::Duration as Span;
use common::*;

#[tokio::test]
async fn a_full_paging_read_of_a_window_agrees_with_ground_truth() {
    let (cfg, _clock) = manual_config(2.0, Duration::from_secs(3 * 3600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    // A window that ends in the still-moving recent past, like a poller's.
    let (from, to) = (t0() - Span::hours(2), t0() - Span::seconds(30));
    let filter = enc(&format!(
        "LogEnd ge {} and LogEnd lt {}",
        lit(from),
        lit(to)
    ));
    let (records, count, _) = read_all(
        &c,
        &format!("MessageProcessingLogs?$filter={filter}&$orderby=LogEnd&$inlinecount=allpages"),
    )
    .await;
    let truth = sim.truth_between(from, to);
    assert!(truth.total > 10_000);
    assert_eq!(count, Some(truth.total as u64));
    let served: Vec<(String, String, i64)> = records
        .iter()
        .map(|r| {
            (
                r["MessageGuid"].as_str().unwrap().to_string(),
                r["Status"].as_str().unwrap().to_string(),
                date_ms(&r["LogEnd"]),
            )
        })
        .collect();
    let expected: Vec<(String, String, i64)> = truth
        .messages
        .iter()
        .map(|m| {
            (
                m.message_guid.clone(),
                m.status.to_string(),
                m.log_end.timestamp_millis(),
            )
        })
        .collect();
    assert_eq!(served, expected);

    // The whole tenant, unfiltered, agrees too.
    let (all, _, _) = read_all(&c, "MessageProcessingLogs?$orderby=LogEnd").await;
    let everything = sim.truth();
    assert_eq!(all.len(), everything.total);
    assert!(
        all.iter()
            .zip(&everything.messages)
            .all(|(r, m)| r["MessageGuid"] == m.message_guid.as_str())
    );
    let by_status_sum: usize = everything.by_status.values().sum();
    assert_eq!(by_status_sum, everything.total);
    sim.stop().await;
}

#[tokio::test]
async fn admin_truth_and_stats_match_the_library() {
    let (cfg, _clock) = manual_config(1.0, Duration::from_secs(3600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let (from, to) = (t0() - Span::minutes(40), t0() - Span::minutes(10));
    let url = format!(
        "/_sim/truth?from={}&to={}",
        enc(&from.format("%Y-%m-%dT%H:%M:%S").to_string()),
        enc(&to.to_rfc3339())
    );
    let admin = request(sim.local_addr(), "GET", &url, &[], b"")
        .await
        .resp();
    assert_eq!(admin.status, 200, "{}", admin.text());
    let lib = serde_json::to_value(sim.truth_between(from, to)).unwrap();
    assert_eq!(admin.json(), lib);
    let limited = request(sim.local_addr(), "GET", &format!("{url}&limit=5"), &[], b"")
        .await
        .resp()
        .json();
    assert_eq!(limited["messages"].as_array().unwrap().len(), 5);
    assert_eq!(limited["truncated"], true);

    c.json("MessageProcessingLogs?$top=7").await;
    c.json("MessageProcessingLogs?$top=3").await;
    let guid = lib["messages"][0]["message_guid"].as_str().unwrap();
    c.json(&format!("MessageProcessingLogs('{guid}')/Runs"))
        .await;
    assert_eq!(c.get("NoSuchSet").await.status, 404);
    let stats = request(sim.local_addr(), "GET", "/_sim/stats", &[], b"")
        .await
        .resp()
        .json();
    assert_eq!(stats["by_route"]["MessageProcessingLogs"], 2);
    assert_eq!(stats["by_route"]["MessageProcessingLogs(key)/Runs"], 1);
    assert_eq!(stats["by_route"]["(unknown path)"], 1);
    assert_eq!(stats["mpl_records_served"], 10);
    assert_eq!(stats["by_status"]["200"], 3);
    assert_eq!(stats["by_status"]["404"], 1);
    assert_eq!(serde_json::to_value(sim.stats()).unwrap(), stats);
    sim.stop().await;
}
