//! Outbound hardening of the client against local servers: redirects stay on one origin, bodies
//! that are not the expected JSON are described and never quoted, `OUTBOUND_DENY_PRIVATE`
//! refuses loopback targets (IP literals and names), JSON is fetched gzip-compressed with the
//! size cap holding for the decoded body, and a tenant's message filter cannot widen the window.

use std::io::Write as _;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use cpi::conntest::{Check, CheckOutcome};
use cpi::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASSWORD: &str = "pa55-w0rd-secret";
/// What another service on the host would answer (the integramon `/metrics` page).
const FOREIGN_BODY: &str =
    "# HELP integramon_build_info Build information.\n# TYPE integramon_build_info gauge\n";

fn config(uri: &str) -> TenantConfig {
    let mut cfg = TenantConfig::new(
        uri,
        Auth::Basic {
            username: "user".into(),
            password: Secret::new(PASSWORD),
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
    cfg.timeouts.request = Duration::from_secs(5);
    cfg
}

fn client(uri: &str) -> CpiClient {
    CpiClient::new(config(uri)).expect("client")
}

fn one_page() -> String {
    serde_json::json!({"d": {"results": [{
        "__metadata": {"type": "com.sap.hci.api.MessageProcessingLog"},
        "MessageGuid": "AGk1", "LogStart": "/Date(1000)/", "LogEnd": "/Date(2000)/",
        "Status": "COMPLETED"
    }], "__count": "1"}})
    .to_string()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

async fn read_mpls(c: &CpiClient) -> Result<Collection<MessageProcessingLog>, CpiError> {
    let url = c
        .url("MessageProcessingLogs", &[("$top", "1".to_string())])
        .expect("url");
    c.get_collection::<MessageProcessingLog>(ApiFamily::MessageProcessingLogs, &url)
        .await
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_and_its_body_not_shown() {
    let tenant = MockServer::start().await;
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(FOREIGN_BODY, "text/plain"))
        .expect(0)
        .mount(&other)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/metrics", other.uri()).as_str()),
        )
        .mount(&tenant)
        .await;
    let c = client(&tenant.uri());
    let e = read_mpls(&c).await.unwrap_err();
    assert!(matches!(e, CpiError::Refused { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("redirect"), "{text}");
    assert!(
        text.contains(&other.uri()),
        "names where it was sent: {text}"
    );
    assert!(!text.contains("integramon_build_info"), "{text}");
    // The connection test says the same, in words.
    let report = c.test_connection().await;
    let mpl = report.get(Check::MessageProcessingLogs).expect("mpl check");
    match &mpl.outcome {
        CheckOutcome::Failed { error, advice } => {
            assert!(matches!(error, CpiError::Refused { .. }), "{error:?}");
            assert!(advice.contains("another host"), "{advice}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!report.to_string().contains("integramon_build_info"));
    drop(other); // verifies `expect(0)`: the other host never saw a request
}

#[tokio::test]
async fn a_redirect_within_the_same_host_is_followed() {
    let tenant = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .respond_with(
            ResponseTemplate::new(307).insert_header("location", "/moved/MessageProcessingLogs"),
        )
        .mount(&tenant)
        .await;
    Mock::given(method("GET"))
        .and(path("/moved/MessageProcessingLogs"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(one_page(), "application/json"))
        .mount(&tenant)
        .await;
    let page = read_mpls(&client(&tenant.uri())).await.expect("followed");
    assert_eq!(page.results.len(), 1);
}

#[tokio::test]
async fn bodies_that_are_not_the_expected_json_are_described_not_echoed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(FOREIGN_BODY, "text/plain"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/IntegrationPackages"))
        .respond_with(ResponseTemplate::new(502).set_body_raw(
            "<html><body>internal-admin-console token=abc</body></html>",
            "text/html",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/IntegrationRuntimeArtifacts"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"d": {"results": "internal-json-value"}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let c = client(&server.uri());
    let e = read_mpls(&c).await.unwrap_err();
    let text = e.to_string();
    assert!(!text.contains("integramon_build_info"), "{text}");
    assert!(text.contains("text/plain"), "content type: {text}");
    assert!(
        text.contains(&format!("{} bytes", FOREIGN_BODY.len())),
        "length: {text}"
    );
    assert!(text.contains("HTTP 200"), "status: {text}");
    let url = c.url("IntegrationPackages", &[]).expect("url");
    let e = c
        .get_collection::<IntegrationPackage>(ApiFamily::DesigntimeArtifacts, &url)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(!text.contains("internal-admin-console"), "{text}");
    assert!(text.contains("502") && text.contains("text/html"), "{text}");
    let url = c.url("IntegrationRuntimeArtifacts", &[]).expect("url");
    let e = c
        .get_collection::<IntegrationRuntimeArtifact>(ApiFamily::RuntimeArtifacts, &url)
        .await
        .unwrap_err();
    assert!(
        !e.to_string().contains("internal-json-value"),
        "serde's message does not carry the value: {e}"
    );
}

#[tokio::test]
async fn deny_private_refuses_loopback_literals_and_names_before_sending() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(one_page(), "application/json"))
        .expect(0)
        .mount(&server)
        .await;
    let port = server.address().port();
    for uri in [
        server.uri(),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
    ] {
        let mut cfg = config(&uri);
        cfg.outbound = OutboundPolicy::deny_private();
        let e = read_mpls(&CpiClient::new(cfg).expect("client"))
            .await
            .unwrap_err();
        assert!(matches!(e, CpiError::Refused { .. }), "{uri}: {e:?}");
        assert!(e.to_string().contains("OUTBOUND_DENY_PRIVATE"), "{e}");
        assert!(!e.is_retryable());
    }
    // The token URL is checked too, before the client secret goes out.
    let mut cfg = config(&server.uri());
    cfg.auth = Auth::OAuth2ClientCredentials {
        token_url: format!("{}/oauth/token", server.uri()).parse().unwrap(),
        client_id: "sb".into(),
        client_secret: Secret::new("client-secret-1"),
    };
    cfg.outbound = OutboundPolicy::deny_private();
    let e = CpiClient::new(cfg)
        .unwrap()
        .check_credentials()
        .await
        .unwrap_err();
    assert!(matches!(e, CpiError::Refused { .. }), "{e:?}");
    drop(server); // `expect(0)`: nothing reached the server
}

#[tokio::test]
async fn loopback_targets_are_allowed_by_default() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(one_page(), "application/json"))
        .mount(&server)
        .await;
    let uri = format!("http://localhost:{}", server.address().port());
    assert_eq!(read_mpls(&client(&uri)).await.unwrap().results.len(), 1);
}

#[tokio::test]
async fn json_is_asked_for_gzip_and_decoded() {
    let server = MockServer::start().await;
    let body = one_page();
    Mock::given(method("GET"))
        .and(header("accept-encoding", "gzip"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .set_body_raw(gzip(body.as_bytes()), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri());
    let page = read_mpls(&c).await.expect("decoded");
    assert_eq!(page.results[0].message_guid, "AGk1");
    let stats = c.stats();
    assert_eq!(stats.json_body_bytes, body.len() as u64);
    assert_eq!(stats.json_wire_bytes, gzip(body.as_bytes()).len() as u64);
}

#[tokio::test]
async fn a_gzip_bomb_hits_the_size_cap() {
    let server = MockServer::start().await;
    // 64 MiB of spaces before the JSON: ~64 KiB on the wire.
    let mut inflated = vec![b' '; 64 << 20];
    inflated.extend_from_slice(one_page().as_bytes());
    let bomb = gzip(&inflated);
    drop(inflated);
    assert!(bomb.len() < 1 << 20);
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .set_body_raw(bomb, "application/json"),
        )
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.max_json_body = 1 << 20;
    let e = read_mpls(&CpiClient::new(cfg).unwrap()).await.unwrap_err();
    assert!(
        matches!(e, CpiError::TooLarge { limit, .. } if limit == 1 << 20),
        "{e:?}"
    );
    // A broken stream is a typed error, not a panic.
    Mock::given(method("GET"))
        .and(path("/api/v1/IntegrationPackages"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .set_body_raw(b"\x1f\x8b\x08\x00garbage".to_vec(), "application/json"),
        )
        .mount(&server)
        .await;
    let c = client(&server.uri());
    let url = c.url("IntegrationPackages", &[]).unwrap();
    let e = c
        .get_collection::<IntegrationPackage>(ApiFamily::DesigntimeArtifacts, &url)
        .await
        .unwrap_err();
    assert!(matches!(e, CpiError::BadResponse { .. }), "{e:?}");
}

#[tokio::test]
async fn the_simulator_serves_gzip_when_asked() {
    let sim = cpi_sim::Sim::start(
        cpi_sim::SimConfig::default()
            .with_basic("user", PASSWORD)
            .with_rate(2.0)
            .with_history(Duration::from_secs(3600)),
        "127.0.0.1:0",
    )
    .await
    .expect("sim");
    let c = client(&sim.base_url());
    let url = c
        .url("MessageProcessingLogs", &[("$top", "1000".to_string())])
        .unwrap();
    let page = c
        .get_collection::<MessageProcessingLog>(ApiFamily::MessageProcessingLogs, &url)
        .await
        .expect("page");
    assert_eq!(page.results.len(), 1000);
    let stats = c.stats();
    assert!(
        stats.json_wire_bytes * 4 < stats.json_body_bytes,
        "compressed on the wire: {stats:?}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_message_filter_that_escapes_its_parentheses_is_refused_before_any_call() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(one_page(), "application/json"))
        .expect(0)
        .mount(&server)
        .await;
    let w = Window::new(
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2024, 1, 1, 1, 0, 0).unwrap(),
    )
    .unwrap();
    let mut q = MplQuery::new(w);
    q.extra_filter = Some("Status eq 'FAILED') or (1 eq 1".into());
    let e = client(&server.uri())
        .mpl_pages(q)
        .next_page()
        .await
        .unwrap_err();
    assert!(matches!(e, CpiError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("message filter"), "{e}");
    drop(server);
}
