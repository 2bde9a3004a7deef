//! Bytes on the wire per MPL page, without and with gzip: the simulated tenant (in process, on
//! loopback) serves the collector's page shapes; "identity" is what a client that does not ask
//! for compression receives (the client before gzip), "gzip" is what `CpiClient` now receives
//! (its own counters). Sizes only, no timing, so a debug build measures the same:
//!
//! cargo run -p integramon-cpi --example gzip_page

use std::time::Duration;

use chrono::{TimeZone, Utc};
use cpi::*;
use cpi_sim::{Clock, Sim, SimConfig};

#[tokio::main]
async fn main() {
    let t0 = Utc.with_ymd_and_hms(2025, 6, 2, 12, 0, 0).unwrap();
    let (clock, _manual) = Clock::manual(t0);
    let mut cfg = SimConfig::default()
        .with_clock(clock)
        .with_seed(5)
        .with_basic("bench", "bench-pass")
        .with_rate(1.0)
        .with_history(Duration::from_secs(3 * 3600));
    cfg.traffic.headers_per_message = (2, 6);
    let sim = Sim::start(cfg, "127.0.0.1:0").await.expect("sim");
    let window = Window::new(t0 - chrono::Duration::hours(3), t0).expect("window");

    println!("| page (1,000 records) | identity bytes | gzip bytes | ratio |");
    println!("|---|---|---|---|");
    for (label, headers) in [
        ("hot page: portable `$select`", false),
        (
            "hot page with `$expand=CustomHeaderProperties` (2-6 headers each)",
            true,
        ),
    ] {
        let mut q = MplQuery::new(window);
        q.expand_custom_headers = headers;
        let params = q.params_for(&window, Some(0));
        let client = CpiClient::new(config(&sim.base_url())).expect("client");
        let url = client.url("MessageProcessingLogs", &params).expect("url");
        let page = client
            .get_collection::<MessageProcessingLog>(ApiFamily::MessageProcessingLogs, &url)
            .await
            .expect("page");
        assert_eq!(page.results.len(), 1000, "a full page");
        let stats = client.stats();
        let identity = reqwest::Client::new()
            .get(url.clone())
            .header("accept", "application/json")
            .header("authorization", basic_header("bench", "bench-pass"))
            .send()
            .await
            .expect("identity request");
        assert!(identity.headers().get("content-encoding").is_none());
        let identity_len = identity.bytes().await.expect("identity body").len() as u64;
        assert_eq!(identity_len, stats.json_body_bytes, "the same page decoded");
        println!(
            "| {label} | {identity_len} | {} | {:.1}x |",
            stats.json_wire_bytes,
            identity_len as f64 / stats.json_wire_bytes as f64
        );
    }
    sim.stop().await;
}

fn config(base: &str) -> TenantConfig {
    let mut cfg = TenantConfig::new(
        base,
        Auth::Basic {
            username: "bench".into(),
            password: Secret::new("bench-pass"),
        },
    )
    .expect("config");
    cfg.limits.rate = RateLimits::unlimited();
    cfg
}
