//! Same seed, same data: byte-identical responses from two simulators, different data for another
//! seed, and the same messages at the same instants for a simulator started later.

mod common;

use std::time::Duration;

use chrono::Duration as Span;
use common::*;
use cpi_sim::{Clock, Sim, SimConfig};

async fn sim_at(
    seed: u64,
    now: chrono::DateTime<chrono::Utc>,
    history: Duration,
) -> cpi_sim::SimHandle {
    let (clock, _) = Clock::manual(now);
    let mut cfg = SimConfig::default()
        .with_clock(clock)
        .with_rate(3.0)
        .with_history(history)
        .with_seed(seed);
    // Same link base for both, so bodies can be compared byte for byte.
    cfg.public_url = Some("http://sim.test".into());
    Sim::start(cfg, "127.0.0.1:0").await.unwrap()
}

#[tokio::test]
async fn the_same_seed_serves_identical_bytes() {
    let a = sim_at(42, t0(), Duration::from_secs(3600)).await;
    let b = sim_at(42, t0(), Duration::from_secs(3600)).await;
    let (ca, cb) = (Client::default_for(&a), Client::default_for(&b));
    let q = "MessageProcessingLogs?$orderby=LogEnd&$inlinecount=allpages&$skiptoken=1000&$expand=CustomHeaderProperties";
    let (ra, rb) = (ca.get(q).await, cb.get(q).await);
    assert_eq!(ra.status, 200);
    assert_eq!(ra.body, rb.body);
    let failed = a
        .truth()
        .messages
        .into_iter()
        .find(|m| m.status == domain::MessageStatus::Failed)
        .unwrap();
    for path in [
        format!("MessageProcessingLogs('{}')/Runs", failed.message_guid),
        format!(
            "MessageProcessingLogs('{}')/ErrorInformation/$value",
            failed.message_guid
        ),
        "IntegrationPackages".to_string(),
        "KeystoreEntries".to_string(),
    ] {
        let (x, y) = (ca.get(&path).await, cb.get(&path).await);
        assert_eq!(x.status, 200, "{path}");
        assert_eq!(x.body, y.body, "{path}");
    }
    assert_eq!(a.truth(), b.truth());

    let other = sim_at(43, t0(), Duration::from_secs(3600)).await;
    let ta = a.truth();
    let to = other.truth();
    assert_ne!(ta.messages[0].message_guid, to.messages[0].message_guid);
    for s in [a, b, other] {
        s.stop().await;
    }
}

#[tokio::test]
async fn a_simulator_started_later_serves_the_same_messages_at_the_same_instants() {
    let early = sim_at(5, t0(), Duration::from_secs(3600)).await;
    let late = sim_at(5, t0() + Span::minutes(30), Duration::from_secs(3600)).await;
    // A LogEnd window both have: its messages started after the later simulator's history
    // begins (t0 - 30 min), and ended more than max_pending (10 min) before the earlier one's
    // now, so nothing in it is still moving for either.
    let (from, to) = (t0() - Span::minutes(20), t0() - Span::minutes(10));
    let x = early.truth_between(from, to);
    let y = late.truth_between(from, to);
    assert!(x.total > 1000);
    assert_eq!(x.total, y.total);
    assert!(
        x.messages == y.messages,
        "the same window differs between the two simulators"
    );
    early.stop().await;
    late.stop().await;
}
