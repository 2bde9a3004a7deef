//! Each injectable fault, through the library API and the admin endpoint, plus path targeting and
//! the global latency.

mod common;

use std::time::{Duration, Instant};

use common::*;
use cpi_sim::{Fault, SimHandle};

const MPL: &str = "MessageProcessingLogs?$top=50";

async fn sim() -> SimHandle {
    let (cfg, _clock) = manual_config(1.0, Duration::from_secs(600));
    start(cfg).await
}

#[tokio::test]
async fn throttle_answers_429_with_retry_after_for_count_requests() {
    let sim = sim().await;
    let c = Client::default_for(&sim);
    sim.inject(Fault::Throttle {
        count: 2,
        retry_after_secs: 7,
    });
    for _ in 0..2 {
        let r = c.get(MPL).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("7"));
        assert_eq!(r.json()["error"]["code"], "Too Many Requests");
    }
    assert_eq!(c.get(MPL).await.status, 200, "the burst is over");
    assert_eq!(sim.stats().faults["throttle"], 2);
    assert_eq!(sim.stats().by_status[&429], 2);
    sim.stop().await;
}

#[tokio::test]
async fn server_errors_have_the_configured_status() {
    let sim = sim().await;
    let c = Client::default_for(&sim);
    sim.inject(Fault::ServerError {
        count: 1,
        status: 503,
    });
    let r = c.get(MPL).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["code"], "Service Unavailable");
    assert_eq!(c.get(MPL).await.status, 200);
    sim.stop().await;
}

#[tokio::test]
async fn slow_responses_are_delayed_then_served() {
    let sim = sim().await;
    let c = Client::default_for(&sim);
    sim.inject(Fault::Slow {
        count: 1,
        delay: Duration::from_millis(300),
    });
    let t = Instant::now();
    let r = c.get(MPL).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 200);
    r.json();
    sim.stop().await;
}

#[tokio::test]
async fn connection_reset_closes_without_a_response() {
    let sim = sim().await;
    let c = Client::default_for(&sim);
    sim.inject(Fault::ConnectionReset { count: 1 });
    assert!(matches!(c.outcome(MPL).await, Outcome::NoResponse));
    assert_eq!(c.get(MPL).await.status, 200);
    assert_eq!(sim.stats().faults["connection_reset"], 1);
    sim.stop().await;
}

#[tokio::test]
async fn malformed_pages_are_complete_http_but_not_json() {
    let sim = sim().await;
    let c = Client::default_for(&sim);
    sim.inject(Fault::Malformed { count: 1 });
    let r = c.get(MPL).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    c.json(MPL).await;
    sim.stop().await;
}

#[tokio::test]
async fn truncated_pages_end_before_their_content_length() {
    let sim = sim().await;
    let c = Client::default_for(&sim);
    sim.inject(Fault::Truncated { count: 1 });
    match c.outcome(MPL).await {
        Outcome::BodyCut {
            status,
            expected,
            received,
        } => {
            assert_eq!(status, 200);
            assert!(received < expected, "{received} of {expected}");
            assert!(received > 0, "half the body was sent");
        }
        other => panic!("expected a cut body, got {other:?}"),
    }
    c.json(MPL).await;
    sim.stop().await;
}

#[tokio::test]
async fn html_login_page_is_a_200_text_html() {
    let sim = sim().await;
    let c = Client::default_for(&sim);
    sim.inject(Fault::HtmlLogin { count: 1 });
    let r = c.get(MPL).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("<form"));
    c.json(MPL).await;
    sim.stop().await;
}

#[tokio::test]
async fn faults_can_target_a_path_prefix() {
    let sim = sim().await;
    let c = Client::default_for(&sim);
    sim.inject_on(
        "KeystoreEntries",
        Fault::ServerError {
            count: 1,
            status: 500,
        },
    );
    assert_eq!(c.get(MPL).await.status, 200, "other paths are untouched");
    assert_eq!(c.get("KeystoreEntries").await.status, 500);
    assert_eq!(c.get("KeystoreEntries").await.status, 200);
    sim.stop().await;
}

#[tokio::test]
async fn the_admin_endpoint_injects_lists_and_clears_faults_without_auth() {
    let sim = sim().await;
    let c = Client::default_for(&sim);
    let body = br#"[{"kind":"throttle","count":5,"retry_after_secs":1,"path_prefix":"MessageProcessingLogs"},
                    {"kind":"slow","count":1,"delay_ms":10}]"#;
    let r = request(
        sim.local_addr(),
        "POST",
        "/_sim/faults",
        &[("Content-Type", "application/json")],
        body,
    )
    .await
    .resp();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["active"].as_array().unwrap().len(), 2);
    assert_eq!(c.get(MPL).await.status, 429);
    assert_eq!(
        sim.active_faults()[0].fault.to_owned(),
        Fault::Throttle {
            count: 4,
            retry_after_secs: 1
        }
    );
    let listed = request(sim.local_addr(), "GET", "/_sim/faults", &[], b"")
        .await
        .resp()
        .json();
    assert_eq!(listed["active"][0]["count"], 4);
    let r = request(sim.local_addr(), "DELETE", "/_sim/faults", &[], b"")
        .await
        .resp();
    assert_eq!(r.status, 200);
    assert_eq!(c.get(MPL).await.status, 200);
    let bad = request(
        sim.local_addr(),
        "POST",
        "/_sim/faults",
        &[],
        br#"{"kind":"meteor"}"#,
    )
    .await
    .resp();
    assert_eq!(bad.status, 400);
    // Expiring tokens through the admin endpoint.
    let r = request(
        sim.local_addr(),
        "POST",
        "/_sim/faults",
        &[],
        br#"{"kind":"expire_tokens"}"#,
    )
    .await
    .resp();
    assert_eq!(r.status, 200);
    assert_eq!(sim.stats().faults["expire_tokens"], 1);
    sim.stop().await;
}

#[tokio::test]
async fn global_latency_delays_every_api_request() {
    let sim = sim().await;
    let c = Client::default_for(&sim);
    sim.set_latency(Duration::from_millis(100));
    let t = Instant::now();
    for _ in 0..3 {
        assert_eq!(c.get("MessageProcessingLogs?$top=1").await.status, 200);
    }
    assert!(t.elapsed() >= Duration::from_millis(300));
    // Through the admin endpoint, back to zero.
    let r = request(
        sim.local_addr(),
        "POST",
        "/_sim/latency",
        &[],
        br#"{"ms":0}"#,
    )
    .await
    .resp();
    assert_eq!(r.json()["ms"], 0);
    let t = Instant::now();
    c.get("MessageProcessingLogs?$top=1").await;
    assert!(t.elapsed() < Duration::from_millis(100));
    sim.stop().await;
}
