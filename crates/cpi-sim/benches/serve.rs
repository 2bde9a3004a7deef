//! How many MPL records per second the simulator serves on one core.
//!
//! 1. In-process: `Tenant::get` answers 1000-record pages of a LogEnd window (query parsing,
//!    filter, ordering, paging and JSON writing; no HTTP).
//! 2. Over HTTP on loopback: a server with one worker thread, read by one keep-alive client
//!    following `__next` to the end of the same window.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-sim cargo bench -p cpi-sim --bench serve`
//! Target: at least 50,000 records/s.

#[path = "../tests/common/http.rs"]
mod http;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use cpi_sim::{Clock, NextLinkStyle, RequestCtx, Sim, SimConfig, Tenant};

const RATE: f64 = 50.0;
const WINDOW_MIN: i64 = 40;

fn config() -> SimConfig {
    let now = Utc.with_ymd_and_hms(2025, 6, 2, 12, 0, 0).unwrap();
    let (clock, _) = Clock::manual(now);
    SimConfig::default()
        .with_clock(clock)
        .with_rate(RATE)
        .with_history(Duration::from_secs(24 * 3600))
        .with_seed(3)
}

/// The poller's query: a LogEnd window ordered by LogEnd, with `__count`.
fn first_page_query() -> String {
    let from = "2025-06-02T10:00:00.000";
    let to =
        Utc.with_ymd_and_hms(2025, 6, 2, 10, 0, 0).unwrap() + chrono::Duration::minutes(WINDOW_MIN);
    let filter = format!(
        "LogEnd%20ge%20datetime'{from}'%20and%20LogEnd%20lt%20datetime'{}'",
        to.format("%Y-%m-%dT%H:%M:%S%.3f")
    );
    format!("MessageProcessingLogs?$filter={filter}&$orderby=LogEnd&$inlinecount=allpages")
}

fn in_process(tenant: &Tenant, now_ms: i64) -> (usize, Duration, usize) {
    let ctx = RequestCtx {
        root: "http://127.0.0.1:8080/api/v1",
        now_ms,
        next_link: NextLinkStyle::Relative,
    };
    let start = Instant::now();
    let mut target = first_page_query();
    let (mut records, mut bytes) = (0, 0);
    loop {
        let reply = tenant.get(&target, &ctx);
        assert_eq!(reply.status, 200);
        records += reply.mpl_records;
        bytes += reply.body.len();
        // Only the tail of the page can hold __next.
        let tail = &reply.body[reply.body.len().saturating_sub(600)..];
        let tail = String::from_utf8_lossy(tail);
        match tail.find("\"__next\":\"") {
            Some(p) => {
                let rest = &tail[p + 10..];
                target = rest[..rest.find('"').unwrap()].to_string();
            }
            None => break,
        }
    }
    (records, start.elapsed(), bytes)
}

async fn over_http(addr: std::net::SocketAddr) -> (usize, Duration, usize) {
    let mut conn = http::Conn::connect(addr).await.unwrap();
    let auth = http::basic("sim", "sim");
    let start = Instant::now();
    let mut target = format!("/api/v1/{}", first_page_query());
    let (mut records, mut bytes) = (0, 0);
    loop {
        let resp = conn
            .send("GET", &target, &[("Authorization", &auth)], b"")
            .await
            .unwrap()
            .resp();
        assert_eq!(resp.status, 200);
        bytes += resp.body.len();
        if records == 0 {
            // The first page is checked in full; later ones are only counted, so the client's
            // JSON parsing does not become what is measured.
            let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
            assert_eq!(v["d"]["results"].as_array().unwrap().len(), 1000);
        }
        records += count(&resp.body, b"{\"__metadata\":{\"id\":\"");
        let tail =
            String::from_utf8_lossy(&resp.body[resp.body.len().saturating_sub(600)..]).into_owned();
        match tail.find("\"__next\":\"") {
            Some(p) => {
                let next = &tail[p + 10..];
                let next = &next[..next.find('"').unwrap()];
                target = format!(
                    "/{}",
                    next.split_once("://").unwrap().1.split_once('/').unwrap().1
                );
            }
            None => break,
        }
    }
    (records, start.elapsed(), bytes)
}

/// Occurrences of `needle` (entity starts) in a page.
fn count(hay: &[u8], needle: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        if hay[i] == needle[0] && &hay[i..i + needle.len()] == needle {
            n += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    n
}

fn report(what: &str, (records, took, bytes): (usize, Duration, usize)) -> f64 {
    let rate = records as f64 / took.as_secs_f64();
    println!(
        "{what}: {records} records in {:.3} s = {:.0} records/s ({:.1} MB/s of JSON)",
        took.as_secs_f64(),
        rate,
        bytes as f64 / took.as_secs_f64() / 1e6
    );
    rate
}

fn main() {
    let cfg = config();
    let now_ms = cfg.clock.now_ms();
    println!(
        "cpi-sim serve benchmark: {RATE} msg/s, 1 day of history, a {WINDOW_MIN}-minute LogEnd window, pages of 1000, {} CPUs",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    let tenant = Tenant::new(&cfg, now_ms).unwrap();
    // The first read fills the frozen-part cache; later reads are what a paging client sees.
    report(
        "in-process, first read (cold cache)",
        in_process(&tenant, now_ms),
    );
    let mut best = 0f64;
    for _ in 0..3 {
        best = best.max(report("in-process", in_process(&tenant, now_ms)));
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http_best = rt.block_on(async {
        let sim = Sim::start(config().with_workers(1), "127.0.0.1:0")
            .await
            .unwrap();
        report(
            "over HTTP, first read (cold cache)",
            over_http(sim.local_addr()).await,
        );
        let mut best = 0f64;
        for _ in 0..3 {
            best = best.max(report(
                "over HTTP, 1 server worker",
                over_http(sim.local_addr()).await,
            ));
        }
        sim.stop().await;
        best
    });
    println!("best: in-process {best:.0} records/s, HTTP {http_best:.0} records/s (target 50000)");
}
