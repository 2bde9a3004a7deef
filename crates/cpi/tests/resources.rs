//! Tenant resources: `JmsBrokers('Broker1')` and `DataStores`, parsed from the examples in SAP's
//! MessageStore spec exactly as they are, leniently from the shapes a tenant may send instead,
//! and read through the client from a local server (a tenant without JMS is not an error).

use std::path::{Path, PathBuf};
use std::time::Duration;

use cpi::odata::{parse_collection, parse_entity};
use cpi::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// SAP's MessageStore spec in `shared/cpi-api`, which sits beside the repository or beside the
/// folder of worktrees the repository is checked out in: the nearest ancestor that has it.
fn spec_path() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("shared/cpi-api/specs/MessageStore.swagger.json"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "shared/cpi-api/specs/MessageStore.swagger.json not found above {}",
                manifest.display()
            )
        })
}

/// The `application/json` example of a path's GET 200 response, as bytes.
fn spec_example(resource: &str) -> Vec<u8> {
    let path = spec_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let spec: serde_json::Value = serde_json::from_str(&text).expect("spec is JSON");
    let example =
        &spec["paths"][resource]["get"]["responses"]["200"]["examples"]["application/json"];
    assert!(example.is_object(), "no example for {resource} in the spec");
    serde_json::to_vec(example).expect("example")
}

#[test]
fn jms_broker_parses_from_the_spec_example() {
    let b: JmsBroker = parse_entity(&spec_example("/JmsBrokers('Broker1')")).expect("parses");
    assert_eq!(b.key.as_deref(), Some("Broker1"));
    assert_eq!(b.capacity, Some(794_616_135));
    assert_eq!(b.max_capacity, Some(9_751_756_800));
    assert_eq!(b.queue_number, Some(16));
    assert_eq!(b.max_queue_number, Some(30));
    assert_eq!(
        (b.capacity_ok, b.capacity_warning, b.capacity_error),
        (Some(16), Some(0), Some(0))
    );
    assert_eq!(
        (
            b.is_transacted_sessions_high,
            b.is_consumers_high,
            b.is_producers_high
        ),
        (Some(0), Some(0), Some(0))
    );
    let states = b.queue_states.as_deref().expect("expanded queue states");
    assert_eq!(states.len(), 2);
    assert_eq!(states[0].name, "CC");
    assert_eq!(states[0].state, Some(0));
    assert!(!b.is_empty());
}

#[test]
fn data_stores_parse_from_the_spec_example() {
    let c: Collection<DataStore> = parse_collection(&spec_example("/DataStores")).expect("parses");
    assert_eq!(c.results.len(), 1);
    let d = &c.results[0];
    assert_eq!(d.data_store_name, "Name");
    assert_eq!(d.integration_flow.as_deref(), Some("Test"));
    assert_eq!(d.visibility.as_deref(), Some("Integration Flow"));
    assert_eq!(d.number_of_messages, Some(3));
    assert_eq!(d.number_of_overdue_messages, Some(3));
}

#[test]
fn jms_broker_is_lenient_about_numbers_flags_and_missing_fields() {
    // Int64 as numbers, flags as strings, unknown fields, no QueueStates, a field missing.
    let body = br#"{"d":{"__metadata":{"type":"com.sap.hci.api.JmsBroker"},"Key":"Broker1",
        "Capacity":12,"MaxCapacity":"100","IsTransactedSessionsHigh":"1","IsConsumersHigh":null,
        "QueueNumber":3,"NewField":{"x":1}}}"#;
    let b: JmsBroker = parse_entity(body).expect("parses");
    assert_eq!((b.capacity, b.max_capacity), (Some(12), Some(100)));
    assert_eq!(b.is_transacted_sessions_high, Some(1));
    assert_eq!(b.is_consumers_high, None);
    assert_eq!(b.max_queue_number, None);
    assert_eq!(b.queue_states, None);
    let empty: JmsBroker = parse_entity(br#"{"d":{"Key":"Broker1"}}"#).expect("parses");
    assert!(empty.is_empty());
}

#[test]
fn data_stores_without_a_name_are_refused_and_others_are_lenient() {
    let ok = br#"{"d":{"results":[{"DataStoreName":"g","IntegrationFlow":"","Type":"",
        "Visibility":"Global","NumberOfMessages":7,"NumberOfOverdueMessages":"0"}]}}"#;
    let c: Collection<DataStore> = parse_collection(ok).expect("parses");
    assert_eq!(c.results[0].number_of_messages, Some(7));
    assert_eq!(c.results[0].number_of_overdue_messages, Some(0));
    let keyless = br#"{"d":{"results":[{"IntegrationFlow":"x"}]}}"#;
    assert!(parse_collection::<DataStore>(keyless).is_err());
}

fn client(uri: &str) -> CpiClient {
    let mut cfg = TenantConfig::new(
        uri,
        Auth::Basic {
            username: "user".into(),
            password: Secret::new("pw"),
        },
    )
    .expect("config");
    cfg.limits = LimitsConfig {
        max_concurrent_requests: 4,
        rate: RateLimits::unlimited(),
    };
    cfg.retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    };
    CpiClient::new(cfg).expect("client")
}

fn json(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

#[tokio::test]
async fn the_client_reads_both_sets() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/JmsBrokers('Broker1')"))
        .respond_with(json(spec_example("/JmsBrokers('Broker1')")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/DataStores"))
        .respond_with(json(spec_example("/DataStores")))
        .mount(&server)
        .await;
    let c = client(&server.uri());
    let b = c.jms_broker().await.expect("broker").expect("has JMS");
    assert_eq!(b.queue_number, Some(16));
    let stores = c.data_stores().await.expect("data stores");
    assert_eq!(stores.len(), 1);
}

#[tokio::test]
async fn a_tenant_without_jms_is_not_an_error() {
    for answer in [
        ResponseTemplate::new(404).set_body_raw(
            r#"{"error":{"code":"Not Found","message":{"lang":"en","value":"Broker not found"}}}"#,
            "application/json",
        ),
        ResponseTemplate::new(200).set_body_raw("", "application/json"),
        ResponseTemplate::new(204),
        json(br#"{"d":{"Key":"Broker1"}}"#.to_vec()),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v1/JmsBrokers('Broker1')"))
            .respond_with(answer)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v1/DataStores"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        let c = client(&server.uri());
        assert_eq!(c.jms_broker().await.expect("no error"), None);
        assert!(c.data_stores().await.expect("no error").is_empty());
    }
}

#[tokio::test]
async fn a_server_error_on_the_broker_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/JmsBrokers('Broker1')"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let err = client(&server.uri()).jms_broker().await.unwrap_err();
    assert_eq!(err.status(), Some(500));
}

mod against_the_simulator {
    use super::*;
    use cpi_sim::{ResourceMode, Sim, SimConfig};

    async fn sim() -> cpi_sim::SimHandle {
        let cfg = SimConfig::default()
            .with_seed(5)
            .with_basic("monitor", "monitor-pass");
        Sim::start(cfg, "127.0.0.1:0").await.expect("simulator")
    }

    fn sim_client(sim: &cpi_sim::SimHandle) -> CpiClient {
        let cfg = TenantConfig::new(
            &sim.base_url(),
            Auth::Basic {
                username: "monitor".into(),
                password: Secret::new("monitor-pass"),
            },
        )
        .expect("config");
        CpiClient::new(cfg).expect("client")
    }

    #[tokio::test]
    async fn the_simulator_serves_both_shapes_within_the_limits() {
        let sim = sim().await;
        let c = sim_client(&sim);
        let b = c.jms_broker().await.expect("broker").expect("has JMS");
        assert_eq!((b.queue_number, b.max_queue_number), (Some(16), Some(30)));
        assert_eq!(b.capacity_error, Some(0));
        assert_eq!(b.is_consumers_high, Some(0));
        let stores = c.data_stores().await.expect("stores");
        assert!(stores.len() >= 2, "{stores:?}");
        assert!(
            stores
                .iter()
                .all(|s| s.number_of_overdue_messages == Some(0))
        );
        assert!(
            stores
                .iter()
                .any(|s| s.visibility.as_deref() == Some("Global"))
        );
        sim.stop().await;
    }

    #[tokio::test]
    async fn the_admin_switch_pushes_them_over_the_limits_and_removes_jms() {
        let sim = sim().await;
        let c = sim_client(&sim);
        let admin = format!("{}/_sim/resources", sim.base_url());
        let http = reqwest::Client::new();
        let r = http
            .post(&admin)
            .json(&serde_json::json!({"mode": "over_limits"}))
            .send()
            .await
            .expect("admin");
        assert_eq!(r.status(), 200);
        let b = c.jms_broker().await.expect("broker").expect("has JMS");
        assert_eq!(b.queue_number, b.max_queue_number);
        assert!(b.capacity_error.unwrap() > 0 && b.capacity_warning.unwrap() > 0);
        assert_eq!(b.is_transacted_sessions_high, Some(1));
        assert!(b.capacity.unwrap() * 100 / b.max_capacity.unwrap() >= 90);
        let overdue: i64 = c
            .data_stores()
            .await
            .expect("stores")
            .iter()
            .filter_map(|s| s.number_of_overdue_messages)
            .sum();
        assert!(overdue > 0);

        let bad = http
            .post(&admin)
            .json(&serde_json::json!({"mode": "sideways"}))
            .send()
            .await
            .expect("admin");
        assert_eq!(bad.status(), 400);

        sim.set_resources(ResourceMode::NoJms);
        assert_eq!(c.jms_broker().await.expect("no error"), None);
        sim.stop().await;
    }
}
