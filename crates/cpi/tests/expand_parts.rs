//! `mpl_parts_by_guid`: a message's parts (custom headers, adapter attributes, attachment list,
//! runs) through `$expand`, read from the shared/cpi-api fixtures exactly as they are (nested
//! the way OData V2 nests an expanded collection), with what a tenant may do instead: leave a
//! part deferred, page it inline, or refuse the expansion.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cpi::odata::parse_collection;
use cpi::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// shared/cpi-api beside the repository (or beside any folder above it, for worktrees).
fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/cpi-api"))
        .find(|d| d.is_dir())
        .expect("shared/cpi-api must sit beside the repository")
}

fn fixture(rel: &str) -> Vec<u8> {
    let p = shared().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", p.display()))
}

fn json_fixture(rel: &str) -> Value {
    serde_json::from_slice(&fixture(rel)).expect("fixture is JSON")
}

const GUID: &str = "AFq478Bblxi4wCjBcDb_G0vAGGZG";
const EXPAND: &str = "CustomHeaderProperties,AdapterAttributes,Attachments,Runs";

fn client(uri: &str) -> CpiClient {
    let mut cfg = TenantConfig::new(
        uri,
        Auth::Basic {
            username: "user".into(),
            password: Secret::new("pw"),
        },
    )
    .expect("config");
    cfg.limits.rate = RateLimits::unlimited();
    cfg.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    CpiClient::new(cfg).expect("client")
}

/// The single-MPL example with the collections of the child examples put where its
/// `__deferred` links were: `{"results":[…]}`, the `d` of each child example as it is.
fn expanded_example() -> Value {
    let mut mpl =
        json_fixture("examples/MessageProcessingLogs_GET_MessageProcessingLogs_id_200.json")["d"]
            .take();
    for (nav, file) in [
        (
            "CustomHeaderProperties",
            "examples/MessageProcessingLogs_GET_MessageProcessingLogs_id_CustomHeaderProperties_200.json",
        ),
        (
            "AdapterAttributes",
            "examples/MessageProcessingLogs_GET_MessageProcessingLogs_id_AdapterAttributes_200.json",
        ),
        (
            "Attachments",
            "examples/MessageProcessingLogs_GET_MessageProcessingLogs_id_Attachments_200.json",
        ),
    ] {
        assert!(
            mpl[nav]["__deferred"].is_object(),
            "{nav} is deferred in the example"
        );
        mpl[nav] = json_fixture(file)["d"].take();
    }
    mpl
}

#[tokio::test]
async fn expanded_parts_are_the_child_examples_and_a_deferred_part_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .and(query_param("$filter", format!("MessageGuid eq '{GUID}'")))
        .and(query_param("$expand", EXPAND))
        .and(query_param("$select", format!("MessageGuid,{EXPAND}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"d": {"results": [expanded_example()]}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let parts = client(&server.uri())
        .mpl_parts_by_guid(&[GUID])
        .await
        .expect("call")
        .expect("expansion accepted");
    assert_eq!(parts.len(), 1);
    let p = &parts[0];
    assert_eq!(p.message_guid, GUID);
    let headers = parse_collection::<CustomHeaderProperty>(&fixture(
        "examples/MessageProcessingLogs_GET_MessageProcessingLogs_id_CustomHeaderProperties_200.json",
    ))
    .unwrap()
    .results;
    assert_eq!(p.custom_header_properties.as_ref(), Some(&headers));
    assert_eq!(
        headers[0].value.as_deref(),
        Some("myCustomHeaderPropertyValue")
    );
    let adapter = p.adapter_attributes.as_ref().expect("adapter attributes");
    assert_eq!(adapter.len(), 1);
    assert_eq!(adapter[0].name.as_deref(), Some("SAP_MplCorrelationId"));
    let attachments = p.attachments.as_ref().expect("attachments");
    assert_eq!(attachments.len(), 2);
    assert_eq!(attachments[1].payload_size, Some(56));
    // The example's Runs stayed `__deferred`: read them with their own call.
    assert_eq!(p.runs, None);
}

#[tokio::test]
async fn the_list_example_as_it_is_brings_no_parts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(fixture(
            "examples/MessageProcessingLogs_GET_MessageProcessingLogs_200.json",
        )))
        .mount(&server)
        .await;
    let parts = client(&server.uri())
        .mpl_parts_by_guid(&[GUID, "AFq571kVtZ0shxJbJTj05LIFsKQf"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parts.len(), 2);
    for p in &parts {
        assert_eq!(
            (
                &p.custom_header_properties,
                &p.adapter_attributes,
                &p.attachments,
                &p.runs
            ),
            (&None, &None, &None, &None),
            "every part of {} is deferred",
            p.message_guid
        );
    }
}

#[tokio::test]
async fn a_part_paged_inline_is_not_taken_as_whole() {
    let mut mpl = expanded_example();
    mpl["AdapterAttributes"]["__next"] = json!(
        "MessageProcessingLogs('AFq478Bblxi4wCjBcDb_G0vAGGZG')/AdapterAttributes?$skiptoken=1"
    );
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"d": {"results": [mpl]}})))
        .mount(&server)
        .await;
    let parts = client(&server.uri())
        .mpl_parts_by_guid(&[GUID])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parts[0].adapter_attributes, None);
    assert!(parts[0].custom_header_properties.is_some());
}

#[tokio::test]
async fn a_refused_expansion_is_remembered_and_not_asked_again() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_bytes(fixture("recorded/piper_error_400_mock.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri());
    assert!(!c.parts_expand_refused());
    assert_eq!(c.mpl_parts_by_guid(&[GUID]).await.unwrap(), None);
    assert!(c.parts_expand_refused());
    assert_eq!(
        c.mpl_parts_by_guid(&["AFq571kVtZ0shxJbJTj05LIFsKQf"])
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn other_failures_are_errors_not_a_refusal() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    let c = client(&server.uri());
    let e = c.mpl_parts_by_guid(&[GUID]).await.unwrap_err();
    assert!(matches!(e, CpiError::Forbidden { .. }), "{e}");
    assert!(!c.parts_expand_refused());
}

#[tokio::test]
async fn many_messages_go_in_calls_of_twenty_ids() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"d": {"results": []}})))
        .expect(3)
        .mount(&server)
        .await;
    let guids: Vec<String> = (0..45).map(|i| format!("G{i}")).collect();
    let refs: Vec<&str> = guids.iter().map(String::as_str).collect();
    let parts = client(&server.uri())
        .mpl_parts_by_guid(&refs)
        .await
        .unwrap()
        .unwrap();
    assert!(parts.is_empty(), "unknown ids are simply missing");
    let calls = server.received_requests().await.unwrap();
    let filters: Vec<usize> = calls
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "$filter")
                .map(|(_, v)| v.matches("MessageGuid eq").count())
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(filters, vec![20, 20, 5]);
}
