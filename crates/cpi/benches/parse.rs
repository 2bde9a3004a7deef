//! Parse benchmark: a 1000-record MPL page built from the fixture record shape, parsed
//! repeatedly; prints records per second.
//!
//! cargo bench -p integramon-cpi --bench parse

use std::time::{Duration, Instant};

use cpi::model::MessageProcessingLog;
use cpi::odata::parse_collection;
use serde_json::Value;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cpi-api");

/// A page like a real tenant's: the example record (all properties, deferred navigations),
/// with `__metadata`, real JSON booleans, and varied GUIDs and dates.
fn build_page(records: usize, with_navigation: bool) -> Vec<u8> {
    let path =
        format!("{SHARED}/examples/MessageProcessingLogs_GET_MessageProcessingLogs_200.json");
    let raw = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("fixture {path} missing ({e}): shared/cpi-api must sit beside the repo")
    });
    let doc: Value = serde_json::from_slice(&raw).expect("fixture is JSON");
    let template = doc["d"]["results"][0].clone();
    let mut out = Vec::with_capacity(records);
    for i in 0..records {
        let mut r = template.clone();
        let Value::Object(map) = &mut r else {
            panic!("record is not an object")
        };
        let guid = format!("AGk_{i:024}");
        let start = 1_765_786_792_442i64 + i as i64 * 37;
        map.insert("MessageGuid".into(), Value::from(guid.clone()));
        map.insert("LogStart".into(), Value::from(format!("/Date({start})/")));
        map.insert(
            "LogEnd".into(),
            Value::from(format!("/Date({})/", start + 250)),
        );
        map.insert("PredecessorMessageGuid".into(), Value::Null);
        for b in [
            "ArchivingSenderChannelMessages",
            "ArchivingReceiverChannelMessages",
            "ArchivingLogAttachments",
            "ArchivingPersistedMessages",
        ] {
            map.insert(b.into(), Value::Bool(false));
        }
        let uri = format!(
            "https://tenant.it-cpi001.cfapps.eu10.hana.ondemand.com:443/api/v1/MessageProcessingLogs('{guid}')"
        );
        map.insert(
            "__metadata".into(),
            serde_json::json!({"id": uri, "uri": uri, "type": "com.sap.hci.api.MessageProcessingLog"}),
        );
        if !with_navigation {
            for nav in [
                "CustomHeaderProperties",
                "MessageStoreEntries",
                "ErrorInformation",
                "AdapterAttributes",
                "Attachments",
                "Runs",
            ] {
                map.remove(nav);
            }
        }
        out.push(r);
    }
    serde_json::to_vec(&serde_json::json!({"d": {"__count": records.to_string(), "results": out}}))
        .expect("serialize")
}

fn bench(label: &str, page: &[u8], records: usize) {
    // Warm up, then run for at least two seconds.
    for _ in 0..5 {
        let p = parse_collection::<MessageProcessingLog>(page).expect("parse");
        assert_eq!(p.results.len(), records);
    }
    let started = Instant::now();
    let mut iterations = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        let p =
            parse_collection::<MessageProcessingLog>(std::hint::black_box(page)).expect("parse");
        std::hint::black_box(&p);
        iterations += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let per_sec = iterations as f64 * records as f64 / secs;
    let mb_per_sec = iterations as f64 * page.len() as f64 / secs / 1_000_000.0;
    println!(
        "{label}: page of {records} records, {} bytes; {iterations} pages in {secs:.2} s; {per_sec:.0} records/s ({mb_per_sec:.1} MB/s, {:.2} ms per page)",
        page.len(),
        secs * 1000.0 / iterations as f64
    );
}

fn main() {
    let records = 1000;
    bench(
        "full records (deferred navigation links)",
        &build_page(records, true),
        records,
    );
    bench(
        "$select-shaped records (no navigation links)",
        &build_page(records, false),
        records,
    );
}
