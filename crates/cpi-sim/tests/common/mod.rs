//! Shared helpers for the integration tests: fixtures, a simulator on a manual clock, a client.
#![allow(dead_code)]

pub mod http;

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use cpi_sim::{Clock, ManualClock, Sim, SimConfig, SimHandle};
use serde_json::Value;

pub use http::{Outcome, Resp, basic, request};

/// The shared CPI API fixtures (never edited by this project).
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cpi-api");

pub fn fixture(rel: &str) -> String {
    let path = format!("{FIXTURES}/{rel}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("fixture {path} is missing ({e}): the shared CPI API fixtures must sit beside the repository")
    })
}

pub fn fixture_json(rel: &str) -> Value {
    serde_json::from_str(&fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel} is not JSON: {e}"))
}

/// A fixed instant for manual clocks.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 2, 12, 0, 0).unwrap()
}

/// A small tenant on a manual clock: `rate` messages per second, `history` back from `t0`.
pub fn manual_config(rate: f64, history: Duration) -> (SimConfig, ManualClock) {
    let (clock, manual) = Clock::manual(t0());
    let cfg = SimConfig::default()
        .with_clock(clock)
        .with_rate(rate)
        .with_history(history)
        .with_seed(7);
    (cfg, manual)
}

pub async fn start(cfg: SimConfig) -> SimHandle {
    Sim::start(cfg, "127.0.0.1:0")
        .await
        .expect("simulator starts")
}

/// Sends GETs with one Authorization header.
pub struct Client {
    pub addr: SocketAddr,
    pub auth: String,
}

impl Client {
    pub fn basic(sim: &SimHandle, user: &str, password: &str) -> Client {
        Client {
            addr: sim.local_addr(),
            auth: basic(user, password),
        }
    }

    /// The default user of `SimConfig::default()`.
    pub fn default_for(sim: &SimHandle) -> Client {
        Client::basic(sim, "sim", "sim")
    }

    /// GET `target`: a path relative to the service root (`MessageProcessingLogs?...`), an
    /// absolute path (`/api/v1/...`) or a full URL.
    pub async fn outcome(&self, target: &str) -> Outcome {
        let path = to_path(target);
        request(
            self.addr,
            "GET",
            &path,
            &[
                ("Authorization", &self.auth),
                ("Accept", "application/json"),
            ],
            b"",
        )
        .await
    }

    pub async fn get(&self, target: &str) -> Resp {
        self.outcome(target).await.resp()
    }

    /// GET, expecting 200 and JSON.
    pub async fn json(&self, target: &str) -> Value {
        let r = self.get(target).await;
        assert_eq!(r.status, 200, "GET {target}: {}", r.text());
        r.json()
    }
}

/// Turns a relative target, absolute path or full URL into the request target.
pub fn to_path(target: &str) -> String {
    if let Some(rest) = target.strip_prefix("http://") {
        rest.find('/')
            .map(|p| rest[p..].to_string())
            .unwrap_or_else(|| "/".into())
    } else if target.starts_with('/') {
        target.to_string()
    } else {
        format!("/api/v1/{target}")
    }
}

/// Percent-encodes a query value (spaces, quotes and friends).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'\''
            | b'('
            | b')'
            | b','
            | b':'
            | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `datetime'…'` literal text for a `$filter` (UTC, milliseconds, no zone).
pub fn lit(t: DateTime<Utc>) -> String {
    format!("datetime'{}'", t.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

/// Follows `__next` from `first` to the end; returns all records and the `__count` of page one.
pub async fn read_all(client: &Client, first: &str) -> (Vec<Value>, Option<u64>, usize) {
    let mut records = Vec::new();
    let mut target = first.to_string();
    let mut count = None;
    let mut pages = 0;
    loop {
        let page = client.json(&target).await;
        pages += 1;
        if pages == 1 {
            count = page["d"]["__count"].as_str().map(|s| s.parse().unwrap());
        }
        records.extend(page["d"]["results"].as_array().unwrap().iter().cloned());
        match page["d"]["__next"].as_str() {
            Some(next) => target = next.to_string(),
            None => break,
        }
        assert!(pages < 10_000, "paging does not end");
    }
    (records, count, pages)
}

/// `/Date(ms)/` -> ms.
pub fn date_ms(v: &Value) -> i64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a date string: {v}"));
    s.strip_prefix("/Date(")
        .and_then(|r| r.strip_suffix(")/"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a /Date(ms)/ value: {s}"))
}

/// Properties `(name, EDM type)` and navigation property names of an entity type in an EDMX.
pub fn edmx_type(edmx: &str, name: &str) -> (Vec<(String, String)>, Vec<String>) {
    let start_tag = format!("<EntityType Name=\"{name}\"");
    let start = edmx
        .find(&start_tag)
        .unwrap_or_else(|| panic!("entity type {name} not in the EDMX"));
    let end = start
        + edmx[start..]
            .find("</EntityType>")
            .expect("EntityType closes");
    let body = &edmx[start..end];
    let attr = |tag: &str, a: &str| -> Option<String> {
        let key = format!("{a}=\"");
        let p = tag.find(&key)? + key.len();
        Some(tag[p..p + tag[p..].find('"')?].to_string())
    };
    let mut props = Vec::new();
    let mut navs = Vec::new();
    for tag in body.split('<').skip(1) {
        if tag.starts_with("Property ") {
            props.push((attr(tag, "Name").unwrap(), attr(tag, "Type").unwrap()));
        } else if tag.starts_with("NavigationProperty ") {
            navs.push(attr(tag, "Name").unwrap());
        }
    }
    (props, navs)
}

/// Asserts a JSON value has the encoding the tenant uses for an EDM type.
pub fn assert_edm_type(entity: &str, prop: &str, edm: &str, v: &Value) {
    if v.is_null() {
        return;
    }
    match edm {
        "Edm.DateTime" | "Edm.DateTimeOffset" => {
            date_ms(v);
        }
        "Edm.Int64" => {
            let s = v
                .as_str()
                .unwrap_or_else(|| panic!("{entity}.{prop}: Int64 must be a JSON string, got {v}"));
            assert!(
                s.parse::<i64>().is_ok(),
                "{entity}.{prop}: Int64 string {s:?}"
            );
        }
        "Edm.Int32" => assert!(
            v.is_i64(),
            "{entity}.{prop}: Int32 must be a JSON number, got {v}"
        ),
        "Edm.Boolean" => assert!(
            v.is_boolean(),
            "{entity}.{prop}: Boolean must be a JSON bool, got {v}"
        ),
        "Edm.String" => assert!(
            v.is_string(),
            "{entity}.{prop}: String must be a JSON string, got {v}"
        ),
        other if other.starts_with("com.sap.hci.api.") => {
            assert!(
                v.is_object(),
                "{entity}.{prop}: complex type must be an object, got {v}"
            )
        }
        other => panic!("{entity}.{prop}: unexpected EDM type {other}"),
    }
}

/// Checks an entity against its EDMX type: every property present with the right encoding,
/// every navigation property present (deferred or expanded).
pub fn assert_matches_edmx(edmx: &str, type_name: &str, entity: &Value) {
    let (props, navs) = edmx_type(edmx, type_name);
    assert!(!props.is_empty());
    for (p, ty) in &props {
        let v = entity
            .get(p)
            .unwrap_or_else(|| panic!("{type_name}: property {p} missing in {entity}"));
        assert_edm_type(type_name, p, ty, v);
    }
    for n in &navs {
        let v = entity
            .get(n)
            .unwrap_or_else(|| panic!("{type_name}: navigation property {n} missing"));
        let deferred = v["__deferred"]["uri"].as_str();
        let expanded = v["results"].as_array();
        assert!(
            deferred.is_some_and(|u| u.ends_with(&format!("/{n}"))) || expanded.is_some(),
            "{type_name}.{n} is neither deferred nor expanded: {v}"
        );
    }
    assert_eq!(
        entity["__metadata"]["type"],
        format!("com.sap.hci.api.{type_name}"),
        "__metadata.type of {type_name}"
    );
}

/// Asserts every key of `fixture` exists in `ours` with the same JSON kind (a null in the fixture
/// accepts anything; a string "true"/"false" in SAP's old examples accepts a bool).
pub fn assert_has_fixture_keys(what: &str, fixture: &Value, ours: &Value) {
    let fix = fixture
        .as_object()
        .unwrap_or_else(|| panic!("{what}: fixture record is not an object"));
    for (k, fv) in fix {
        if k == "__metadata" {
            continue;
        }
        let ov = ours
            .get(k)
            .unwrap_or_else(|| panic!("{what}: key {k} of the fixture is missing in {ours}"));
        let kind = |v: &Value| match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let compatible = fv.is_null()
            || ov.is_null()
            || kind(fv) == kind(ov)
            || (fv.as_str().is_some_and(|s| s == "true" || s == "false") && ov.is_boolean());
        assert!(compatible, "{what}.{k}: fixture {fv} vs served {ov}");
    }
}
