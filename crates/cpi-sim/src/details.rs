//! The children of a message, generated on demand: custom header properties, attachments,
//! message-store entries, adapter attributes, run steps, error text and payload bytes. All of
//! them are functions of the message index (and, for runs, of the instant).

use crate::catalog::Catalog;
use crate::generate::{Core, Generator, RunInfo, St};
use crate::problems::{self, ErrorFamily};

const HEADER_NAMES: [&str; 10] = [
    "po_number",
    "customer_id",
    "order_type",
    "sales_org",
    "region",
    "source_system",
    "document_id",
    "partner_id",
    "batch_id",
    "interface_version",
];

/// Custom header properties `(name, value)` of a message, in a stable order.
pub(crate) fn headers<'a>(
    traffic: &'a Generator,
    c: &'a Core,
) -> impl Iterator<Item = (&'static str, String)> + 'a {
    (0..traffic.header_count(c.idx)).map(move |k| header(traffic, c, k))
}

pub(crate) fn header(traffic: &Generator, c: &Core, k: usize) -> (&'static str, String) {
    let name = HEADER_NAMES[(c.iflow as usize + k) % HEADER_NAMES.len()];
    let h = traffic.detail_hash(c.idx, 100 + k as u64);
    let pick = |opts: &[&str]| opts[(h % opts.len() as u64) as usize].to_string();
    let value = match name {
        "po_number" => format!("45{:08}", h % 100_000_000),
        "customer_id" => format!("C{:06}", h % 1_000_000),
        "order_type" => pick(&["ZOR", "ZRE", "ZFD", "ZCR"]),
        "sales_org" => pick(&["1000", "1010", "2000", "3000"]),
        "region" => pick(&["EMEA", "AMER", "APJ"]),
        "source_system" => pick(&["S4H_100", "ERP_200", "SF_PROD"]),
        "document_id" => format!("{:010}", h % 10_000_000_000),
        "partner_id" => format!("P{:05}", h % 100_000),
        // Shared by every message of the same hour, so a header search finds many.
        "batch_id" => format!("B{}", c.start_ms / 3_600_000),
        _ => pick(&["v1", "v2"]),
    };
    (name, value)
}

/// Custom header property Id: unique per message and position.
pub(crate) fn header_id(c: &Core, k: usize) -> u64 {
    c.idx * 32 + k as u64 + 1
}

pub(crate) struct Attachment {
    pub id: String,
    pub name: &'static str,
    pub content_type: &'static str,
    pub size: usize,
    pub timestamp: i64,
}

pub(crate) fn attachments(traffic: &Generator, c: &Core) -> Vec<Attachment> {
    (0..traffic.attachment_count(c.idx))
        .map(|k| attachment(traffic, c, k as u8))
        .collect()
}

pub(crate) fn attachment(traffic: &Generator, c: &Core, k: u8) -> Attachment {
    const KINDS: [(&str, &str); 3] = [
        ("payload_before_mapping.xml", "application/xml"),
        ("Response.json", "application/json"),
        ("Log Details", "text/plain"),
    ];
    let h = traffic.detail_hash(c.idx, 200 + u64::from(k));
    let (name, content_type) = KINDS[((h + u64::from(k)) % 3) as usize];
    Attachment {
        id: traffic.resource_id(c.idx, 0, k),
        name,
        content_type,
        size: vary(traffic.attachment_size, h),
        timestamp: c.start_ms + 5 + i64::from(k) * 3,
    }
}

pub(crate) struct StoreEntry {
    pub id: String,
    pub store_id: String,
    pub content_type: &'static str,
    pub size: usize,
    pub timestamp: i64,
}

pub(crate) fn store_entries(traffic: &Generator, c: &Core) -> Vec<StoreEntry> {
    (0..traffic.store_entry_count(c))
        .map(|k| store_entry(traffic, c, k as u8))
        .collect()
}

pub(crate) fn store_entry(traffic: &Generator, c: &Core, k: u8) -> StoreEntry {
    let h = traffic.detail_hash(c.idx, 300 + u64::from(k));
    StoreEntry {
        id: traffic.resource_id(c.idx, 1, k),
        store_id: format!("Persist{}", k + 1),
        content_type: if c.iflow.is_multiple_of(2) {
            "application/xml"
        } else {
            "application/json"
        },
        size: vary(traffic.payload_size, h),
        timestamp: c.start_ms + 10 + i64::from(k) * 7,
    }
}

/// A size between `base` and `base * 1.5`.
fn vary(base: usize, h: u64) -> usize {
    base + (base as u64 * (h % 51) / 100) as usize
}

pub(crate) struct AdapterAttribute {
    pub id: u64,
    pub adapter_id: &'static str,
    pub adapter_message_id: String,
    pub name: &'static str,
    pub value: String,
}

pub(crate) fn adapter_attributes(traffic: &Generator, c: &Core) -> Vec<AdapterAttribute> {
    if traffic.adapter_attribute_count(c) == 0 {
        return Vec::new();
    }
    let h = traffic.detail_hash(c.idx, 400);
    let msg_id = format!("<{:016x}-{:04x}@IntegraMonSimAS2>", h, h >> 48);
    vec![
        AdapterAttribute {
            id: c.idx * 4 + 1,
            adapter_id: "AS2 Receiver",
            adapter_message_id: msg_id.clone(),
            name: "SAP_MplCorrelationId",
            value: traffic.corr_id(traffic.corr_key(c.idx)),
        },
        AdapterAttribute {
            id: c.idx * 4 + 2,
            adapter_id: "AS2 Receiver",
            adapter_message_id: msg_id,
            name: "AS2 MDN Status",
            value: "processed".into(),
        },
    ]
}

pub(crate) struct RunStep {
    pub child_count: u32,
    pub start: i64,
    pub stop: Option<i64>,
    pub model_step_id: String,
    pub activity: &'static str,
    pub status: &'static str,
    pub error: Option<String>,
}

const ACTIVITIES: [(&str, &str); 8] = [
    ("StartEvent", "StartEvent"),
    ("ContentModifier", "CallActivity"),
    ("Mapping", "CallActivity"),
    ("Script", "CallActivity"),
    ("Splitter", "CallActivity"),
    ("RequestReply", "ServiceTask"),
    ("Persist", "CallActivity"),
    ("EndEvent", "EndEvent"),
];

/// Step `n` (1-based, the key's ChildCount) of a run.
pub(crate) fn run_step(traffic: &Generator, c: &Core, run: &RunInfo, n: u32, now: i64) -> RunStep {
    let total = traffic.step_count(c.idx);
    let end = run.stop.unwrap_or(now.max(run.start));
    let span = (end - run.start).max(i64::from(total));
    let start = run.start + span * i64::from(n - 1) / i64::from(total);
    let stop = run.start + span * i64::from(n) / i64::from(total);
    let (activity, kind) = if n == 1 {
        ACTIVITIES[0]
    } else if n == total {
        ACTIVITIES[7]
    } else {
        ACTIVITIES[1 + (n as usize) % 6]
    };
    let last = n == total;
    let failed = last && run.state == St::Failed;
    let running = run.stop.is_none() && last;
    RunStep {
        child_count: n,
        start,
        stop: (!running).then_some(stop),
        model_step_id: format!("{kind}_{}", n + 1),
        activity,
        status: if running {
            "PROCESSING"
        } else if failed {
            "FAILED"
        } else {
            "COMPLETED"
        },
        error: failed.then(|| first_line(&error_text(traffic, c))),
    }
}

/// Run step properties `(name, value)`.
pub(crate) fn run_step_properties(c: &Core, step: &RunStep) -> Vec<(&'static str, String)> {
    let mut v = vec![("StepName", step.activity.to_string())];
    if c.level == 2 {
        // TRACE-level messages carry trace ids, which clients use to fetch trace payloads.
        v.push((
            "TraceIds",
            format!(
                "[{}]",
                c.idx % 1_000_000 * 1000 + u64::from(step.child_count)
            ),
        ));
    }
    v
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// The last error step of a message, as `LastErrorModelStepId` reports it.
pub(crate) fn last_error_step(traffic: &Generator, c: &Core) -> String {
    format!("CallActivity_{}", traffic.step_count(c.idx).min(40))
}

/// The problem family of a message with error information (its ground truth).
pub(crate) fn error_family(traffic: &Generator, c: &Core) -> ErrorFamily {
    problems::family(c.iflow, traffic.detail_hash(c.idx, 500))
}

/// A Java-exception-like text, as `ErrorInformation/$value` returns it: one of the iFlow's
/// problem families with this message's variable parts (see `problems`).
pub(crate) fn error_text(traffic: &Generator, c: &Core) -> String {
    let guid = traffic.guid(c);
    problems::error_text(
        error_family(traffic, c),
        &problems::Occurrence {
            iflow: c.iflow,
            message_guid: &guid,
            start_ms: c.start_ms,
            hash: traffic.detail_hash(c.idx, 501),
        },
    )
}

/// Deterministic payload bytes of exactly `size` bytes, shaped like `content_type`.
pub(crate) fn payload(guid: &str, content_type: &str, size: usize, seed: u64) -> Vec<u8> {
    let (head, tail) = match content_type {
        "application/xml" => (
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Payload messageGuid=\"{guid}\">\n<Data>"
            ),
            "</Data>\n</Payload>\n".to_string(),
        ),
        "application/json" => (
            format!("{{\"messageGuid\":\"{guid}\",\"data\":\""),
            "\"}\n".to_string(),
        ),
        _ => (format!("message {guid}\n"), "\n".to_string()),
    };
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(head.as_bytes());
    let fill = size.saturating_sub(head.len() + tail.len());
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789  ";
    let mut x = seed | 1;
    for _ in 0..fill {
        // xorshift64: fast, deterministic filler.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(ALPHABET[(x & 63) as usize]);
    }
    out.extend_from_slice(tail.as_bytes());
    out.truncate(size);
    out
}

/// Properties of a message-store entry.
pub(crate) fn store_entry_properties(
    traffic: &Generator,
    catalog: &Catalog,
    c: &Core,
    entry: &StoreEntry,
) -> Vec<(&'static str, String)> {
    let flow = &catalog.iflows[c.iflow as usize];
    vec![
        ("SAP_MessageProcessingLogID", traffic.guid(c)),
        ("Content-Type", entry.content_type.to_string()),
        ("SAP_Sender", flow.sender.unwrap_or("UNKNOWN").to_string()),
        (
            "SAP_ApplicationID",
            traffic
                .app_id(c.idx)
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ),
    ]
}

/// A small, valid, uncompressed ("stored") zip archive of `files`: design-time artifact content.
pub(crate) fn zip(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let size = data.len() as u32;
        let mut local = Vec::new();
        local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        local.extend_from_slice(&[20, 0, 0, 0, 0, 0]); // version, flags, method = stored
        local.extend_from_slice(&[0, 0, 0x21, 0]); // time, date (1980-01-01)
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&size.to_le_bytes());
        local.extend_from_slice(&size.to_le_bytes());
        local.extend_from_slice(&(name.len() as u16).to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes());
        local.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&local);
        out.extend_from_slice(data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0]); // made by, needed, flags, method
        central.extend_from_slice(&[0, 0, 0x21, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]); // extra, comment, disk, attrs (2 + 2 + 2 + 2 + 4)
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_requested_size_and_shape() {
        for size in [0, 10, 100, 5000] {
            let p = payload("G", "application/xml", size, 7);
            assert_eq!(p.len(), size);
        }
        let p = payload("G", "application/json", 300, 7);
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(v["messageGuid"], "G");
        assert_eq!(
            payload("G", "text/plain", 64, 9),
            payload("G", "text/plain", 64, 9)
        );
    }

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn zip_has_local_and_central_headers() {
        let z = zip(&[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n".to_vec())]);
        assert_eq!(&z[..4], b"PK\x03\x04");
        assert!(z.windows(4).any(|w| w == b"PK\x01\x02"));
        assert_eq!(&z[z.len() - 22..z.len() - 18], b"PK\x05\x06");
    }
}
