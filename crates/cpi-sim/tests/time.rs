//! Time-dependent behaviour on a manual clock: PROCESSING messages turn final later and move
//! their LogEnd (so a LogEnd window sees the update later), RETRY messages move, and new messages
//! arrive as time passes.

mod common;

use std::time::Duration;

use chrono::Duration as Span;
use common::*;
use domain::MessageStatus;

#[tokio::test]
async fn a_processing_message_turns_final_later_and_a_log_end_window_sees_it_then() {
    let (cfg, clock) = manual_config(2.0, Duration::from_secs(3600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let truth = sim.truth();
    // Long-running ones: started a while ago and still PROCESSING.
    let pending: Vec<_> = truth
        .messages
        .iter()
        .filter(|m| m.status == MessageStatus::Processing && m.log_start < t0() - Span::seconds(30))
        .collect();
    assert!(
        pending.len() >= 3,
        "some long-running messages exist, got {}",
        pending.len()
    );
    let m = pending[0];
    let single = c
        .json(&format!("MessageProcessingLogs('{}')", m.message_guid))
        .await;
    assert_eq!(single["d"]["Status"], "PROCESSING");
    assert_eq!(
        date_ms(&single["d"]["LogEnd"]),
        date_ms(&single["d"]["LogStart"])
    );

    // The poller's window up to now contains it as PROCESSING.
    let window = |a, b| {
        format!(
            "MessageProcessingLogs?$orderby=LogEnd&$filter={}",
            enc(&format!("LogEnd ge {} and LogEnd lt {}", lit(a), lit(b)))
        )
    };
    let (before, _, _) = read_all(&c, &window(t0() - Span::hours(1), t0())).await;
    let hit = before
        .iter()
        .find(|r| r["MessageGuid"] == m.message_guid.as_str())
        .unwrap();
    assert_eq!(hit["Status"], "PROCESSING");

    // Eleven minutes later (past max_pending) every one of them is final, with a later LogEnd.
    clock.advance(Duration::from_secs(11 * 60));
    let later = t0() + Span::minutes(11);
    for p in &pending {
        let v = c
            .json(&format!("MessageProcessingLogs('{}')", p.message_guid))
            .await;
        let status = MessageStatus::parse(v["d"]["Status"].as_str().unwrap());
        assert!(
            status != MessageStatus::Processing,
            "{} still processing",
            p.message_guid
        );
        let end = date_ms(&v["d"]["LogEnd"]);
        assert!(end > p.log_start.timestamp_millis() && end <= later.timestamp_millis());
    }
    let single = c
        .json(&format!("MessageProcessingLogs('{}')", m.message_guid))
        .await;
    let new_end = date_ms(&single["d"]["LogEnd"]);
    assert!(
        new_end >= t0().timestamp_millis(),
        "it finished after the first read"
    );

    // The next window sees the update; the old window no longer holds it.
    let (after, _, _) = read_all(&c, &window(t0(), later)).await;
    let hit = after
        .iter()
        .find(|r| r["MessageGuid"] == m.message_guid.as_str())
        .unwrap();
    assert_eq!(hit["Status"], single["d"]["Status"]);
    let (old_again, _, _) = read_all(&c, &window(t0() - Span::hours(1), t0())).await;
    assert!(
        !old_again
            .iter()
            .any(|r| r["MessageGuid"] == m.message_guid.as_str())
    );
    sim.stop().await;
}

#[tokio::test]
async fn retrying_messages_move_their_log_end_and_add_runs() {
    let (mut cfg, clock) = manual_config(10.0, Duration::from_secs(1800));
    cfg.traffic.status_mix.retry = 200;
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let truth = sim.truth();
    let retrying: Vec<_> = truth
        .messages
        .iter()
        .filter(|m| m.status == MessageStatus::Retry)
        .cloned()
        .collect();
    assert!(!retrying.is_empty());
    clock.advance(Duration::from_secs(11 * 60));
    let mut moved = 0;
    for m in &retrying {
        let v = c
            .json(&format!("MessageProcessingLogs('{}')", m.message_guid))
            .await;
        let end = date_ms(&v["d"]["LogEnd"]);
        assert!(
            end >= m.log_end.timestamp_millis(),
            "LogEnd never goes back"
        );
        if end > m.log_end.timestamp_millis() {
            moved += 1;
            let runs = c
                .json(&format!("MessageProcessingLogs('{}')/Runs", m.message_guid))
                .await;
            assert!(runs["d"]["results"].as_array().unwrap().len() > m.runs);
        }
    }
    assert!(moved > 0, "some RETRY messages were retried again");
    sim.stop().await;
}

#[tokio::test]
async fn live_traffic_arrives_as_the_clock_moves() {
    let (cfg, clock) = manual_config(4.0, Duration::from_secs(600));
    let sim = start(cfg).await;
    let c = Client::default_for(&sim);
    let before: usize = c
        .get("MessageProcessingLogs/$count")
        .await
        .text()
        .parse()
        .unwrap();
    assert!(
        (2390..=2410).contains(&before),
        "10 min at 4/s, got {before}"
    );
    clock.advance(Duration::from_secs(60));
    let after: usize = c
        .get("MessageProcessingLogs/$count")
        .await
        .text()
        .parse()
        .unwrap();
    assert!(
        (235..=245).contains(&(after - before)),
        "one more minute at 4/s: {}",
        after - before
    );
    // A message from the future does not exist yet.
    let newest = sim.truth_query(cpi_sim::TimeField::LogStart, None, None, usize::MAX);
    assert!(newest.messages.iter().all(|m| m.log_start <= sim.now()));
    sim.stop().await;
}
