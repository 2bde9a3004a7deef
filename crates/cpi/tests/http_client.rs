//! The client's HTTP behaviour against local servers on 127.0.0.1 (wiremock, plus raw TCP
//! servers for what wiremock cannot do: chunked bodies, TLS failures, refused connections).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use cpi::conntest::Check;
use cpi::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{
    basic_auth, bearer_token, body_string_contains, header, method, path, path_regex, query_param,
    query_param_is_missing,
};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PASSWORD: &str = "pa55-w0rd-secret";
const CLIENT_SECRET: &str = "client-secret-value-123";

fn fast_config(uri: &str, auth: Auth) -> TenantConfig {
    let mut cfg = TenantConfig::new(uri, auth).expect("config");
    cfg.limits = LimitsConfig {
        max_concurrent_requests: 16,
        rate: RateLimits::unlimited(),
    };
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(5),
    };
    cfg.timeouts.request = Duration::from_secs(5);
    cfg
}

fn basic(uri: &str) -> CpiClient {
    CpiClient::new(fast_config(
        uri,
        Auth::Basic {
            username: "user".into(),
            password: Secret::new(PASSWORD),
        },
    ))
    .expect("client")
}

fn oauth(server: &MockServer) -> CpiClient {
    CpiClient::new(fast_config(
        &server.uri(),
        Auth::OAuth2ClientCredentials {
            token_url: format!("{}/oauth/token", server.uri())
                .parse()
                .expect("url"),
            client_id: "sb-client".into(),
            client_secret: Secret::new(CLIENT_SECRET),
        },
    ))
    .expect("client")
}

fn json(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), "application/json")
}

fn mpl_json(guid: &str, log_end_ms: i64) -> serde_json::Value {
    serde_json::json!({
        "__metadata": {"type": "com.sap.hci.api.MessageProcessingLog"},
        "MessageGuid": guid,
        "LogStart": format!("/Date({})/", log_end_ms - 5),
        "LogEnd": format!("/Date({log_end_ms})/"),
        "Status": "COMPLETED",
        "IntegrationArtifact": {"Id": "flow", "Type": "INTEGRATION_FLOW"}
    })
}

fn page(records: Vec<serde_json::Value>, count: Option<u64>, next: Option<String>) -> String {
    let mut d = serde_json::Map::new();
    d.insert("results".into(), serde_json::Value::Array(records));
    if let Some(c) = count {
        d.insert("__count".into(), c.to_string().into());
    }
    if let Some(n) = next {
        d.insert("__next".into(), n.into());
    }
    serde_json::json!({ "d": d }).to_string()
}

const ONE_MPL: &str =
    r#"{"d":{"MessageGuid":"G1","Status":"FAILED","LogEnd":"/Date(1600000000000)/"}}"#;

/// Answers from a list in order, repeating the last one.
struct Sequence(Vec<ResponseTemplate>, AtomicUsize);
impl Sequence {
    fn new(v: Vec<ResponseTemplate>) -> Self {
        Self(v, AtomicUsize::new(0))
    }
}
impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.1.fetch_add(1, Ordering::SeqCst);
        self.0[i.min(self.0.len() - 1)].clone()
    }
}

async fn requests_to(server: &MockServer, path_part: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().contains(path_part))
        .count()
}

// --- headers and authentication ------------------------------------------------------------

#[tokio::test]
async fn basic_auth_accept_and_user_agent_headers_are_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v1/MessageProcessingLogs\('G1'\)$"))
        .and(basic_auth("user", PASSWORD))
        .and(header("accept", "application/json"))
        .and(header(
            "user-agent",
            format!("IntegraMon/{}", env!("CARGO_PKG_VERSION")).as_str(),
        ))
        .respond_with(json(ONE_MPL))
        .expect(1)
        .mount(&server)
        .await;
    let m = basic(&server.uri()).mpl("G1").await.expect("mpl");
    assert_eq!(m.message_guid, "G1");
    assert_eq!(m.status, Some(domain::MessageStatus::Failed));
}

fn token_mock(tokens: Vec<(&str, u64)>) -> Mock {
    let templates = tokens
        .into_iter()
        .map(|(t, exp)| {
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": t, "token_type": "bearer", "expires_in": exp, "scope": "x"
            }))
        })
        .collect();
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(basic_auth("sb-client", CLIENT_SECRET))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(Sequence::new(templates))
}

#[tokio::test]
async fn oauth_token_is_fetched_once_and_reused() {
    let server = MockServer::start().await;
    token_mock(vec![("tok-1", 3600)])
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("tok-1"))
        .respond_with(json(ONE_MPL))
        .expect(3)
        .mount(&server)
        .await;
    let c = oauth(&server);
    for _ in 0..3 {
        c.mpl("G1").await.expect("mpl");
    }
    assert_eq!(c.stats().token_fetches, 1);
}

#[tokio::test]
async fn oauth_token_is_refreshed_at_ninety_percent_of_its_lifetime() {
    let server = MockServer::start().await;
    // 1 s lifetime: refreshed after 0.9 s.
    token_mock(vec![("tok-1", 1), ("tok-2", 1)])
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("tok-1"))
        .respond_with(json(ONE_MPL))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("tok-2"))
        .respond_with(json(ONE_MPL))
        .expect(1)
        .mount(&server)
        .await;
    let c = oauth(&server);
    c.mpl("G1").await.expect("first");
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.mpl("G1").await.expect("at 50 %: same token");
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.mpl("G1").await.expect("after 90 %: new token");
    assert_eq!(c.stats().token_fetches, 2);
}

#[tokio::test]
async fn a_401_triggers_exactly_one_retry_with_a_fresh_token() {
    let server = MockServer::start().await;
    token_mock(vec![("old", 3600), ("new", 3600)])
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("old"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("new"))
        .respond_with(json(ONE_MPL))
        .expect(1)
        .mount(&server)
        .await;
    let c = oauth(&server);
    c.mpl("G1").await.expect("second token works");
    assert_eq!(c.stats().token_fetches, 2);
}

#[tokio::test]
async fn a_persistent_401_is_unauthorized_after_one_token_retry() {
    let server = MockServer::start().await;
    token_mock(vec![("a", 3600), ("b", 3600), ("c", 3600)])
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;
    let c = oauth(&server);
    let e = c.mpl("G1").await.unwrap_err();
    assert!(matches!(e, CpiError::Unauthorized { .. }), "{e:?}");
    assert_eq!(c.stats().token_fetches, 2);
}

#[tokio::test]
async fn wrong_client_secret_is_unauthorized_without_leaking_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "unauthorized", "error_description": format!("Bad credentials {CLIENT_SECRET}")
        })))
        .mount(&server)
        .await;
    let c = oauth(&server);
    let e = c.mpl("G1").await.unwrap_err();
    assert!(matches!(e, CpiError::Unauthorized { .. }), "{e:?}");
    let text = format!("{e} {e:?} {c:?}");
    assert!(!text.contains(CLIENT_SECRET), "{text}");
    assert_eq!(requests_to(&server, "/api/v1").await, 0);
}

#[tokio::test]
async fn basic_auth_401_is_not_retried_and_never_shows_the_password() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_raw(format!("wrong password {PASSWORD}"), "text/plain"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = basic(&server.uri());
    let e = c.mpl("G1").await.unwrap_err();
    assert!(matches!(e, CpiError::Unauthorized { .. }), "{e:?}");
    let text = format!("{e} {e:?} {c:?} {:?}", c.config());
    assert!(!text.contains(PASSWORD), "{text}");
}

// --- retries -------------------------------------------------------------------------------

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            json(ONE_MPL),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let c = basic(&server.uri());
    let started = Instant::now();
    c.mpl("G1").await.expect("after the pause");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(990), "waited only {took:?}");
    assert!(took < Duration::from_secs(4), "waited {took:?}");
    assert_eq!(c.stats().retries, 1);
}

#[tokio::test]
async fn retry_after_as_http_date_is_honoured() {
    let server = MockServer::start().await;
    let when = Utc::now() + chrono::Duration::seconds(2);
    let date = when.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    Mock::given(method("GET"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(429).insert_header("Retry-After", date.as_str()),
            json(ONE_MPL),
        ]))
        .mount(&server)
        .await;
    let started = Instant::now();
    basic(&server.uri())
        .mpl("G1")
        .await
        .expect("after the pause");
    // Whole seconds in the date: at least 1 s must have been waited.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retry_after_beyond_max_delay_fails_at_once_with_throttled() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let e = basic(&server.uri()).mpl("G1").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    match e {
        CpiError::Throttled { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(3600)))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_reported() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_raw(
            r#"{"error":{"code":"Service Unavailable","message":{"lang":"en","value":"keystore busy"}}}"#,
            "application/json",
        ))
        .expect(3)
        .mount(&server)
        .await;
    let c = basic(&server.uri());
    let started = Instant::now();
    let e = c.mpl("G1").await.unwrap_err();
    // Two pauses: at least half of 100 ms and half of 200 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    match &e {
        CpiError::Server { status, detail, .. } => {
            assert_eq!(*status, 503);
            assert!(
                detail.as_deref().unwrap_or("").contains("keystore busy"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_retryable());
    assert_eq!(c.stats().retries, 2);
}

#[tokio::test]
async fn a_passing_server_error_is_retried_to_success() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(500),
            json(ONE_MPL),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    basic(&server.uri()).mpl("G1").await.expect("second try");
}

#[tokio::test]
async fn truncated_json_is_retried_then_reported_as_truncated() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json(
            r#"{"d":{"results":[{"MessageGuid":"A","Status":"COMPL"#,
        ))
        .expect(3)
        .mount(&server)
        .await;
    let e = basic(&server.uri()).mpls_by_guid(&["A"]).await.unwrap_err();
    match e {
        CpiError::BadResponse { kind, status, .. } => {
            assert_eq!(kind, BadResponseKind::Truncated);
            assert_eq!(status, 200);
        }
        other => panic!("{other:?}"),
    }
}

// --- bad responses -------------------------------------------------------------------------

#[tokio::test]
async fn html_login_page_is_a_typed_error_not_zero_messages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<!DOCTYPE html>\n<html><head><title>Log On</title></head><body>Please log on</body></html>",
            "text/html;charset=utf-8",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let c = basic(&server.uri());
    let w = cpi::mpl::Window::new(
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2024, 1, 1, 1, 0, 0).unwrap(),
    )
    .expect("window");
    let mut pager = c.mpl_pages(MplQuery::new(w));
    let e = pager.next_page().await.unwrap_err();
    match &e {
        CpiError::BadResponse {
            kind,
            status,
            content_type,
            length,
            ..
        } => {
            assert_eq!(*kind, BadResponseKind::HtmlPage);
            assert_eq!(*status, 200);
            assert_eq!(content_type.as_deref(), Some("text/html;charset=utf-8"));
            assert_eq!(*length, 89);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("HTML"), "{e}");
    // What came back is described, never quoted.
    assert!(!e.to_string().contains("Log On"), "{e}");
    assert!(pager.next_page().await.expect("ended").is_none());
}

#[tokio::test]
async fn a_page_of_another_entity_type_is_rejected() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json(
            r#"{"d":{"results":[{"__metadata":{"type":"com.sap.hci.api.IntegrationPackage"},"MessageGuid":"X"}]}}"#,
        ))
        .mount(&server)
        .await;
    let e = basic(&server.uri()).mpls_by_guid(&["X"]).await.unwrap_err();
    assert!(
        matches!(
            e,
            CpiError::BadResponse {
                kind: BadResponseKind::WrongEntityType,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn forbidden_names_the_missing_role_per_api_family() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    let c = basic(&server.uri());
    let role = |e: CpiError| match e {
        CpiError::Forbidden { role, .. } => role,
        other => panic!("{other:?}"),
    };
    assert_eq!(role(c.mpl("G").await.unwrap_err()), "MonitoringDataRead");
    assert_eq!(
        role(
            c.collect_message_store_entry("sap-it-res:msg:1", 10)
                .await
                .unwrap_err()
        ),
        "MessagePayloadsRead"
    );
    assert_eq!(
        role(
            c.collect_mpl_attachment("sap-it-res:msg:2", 10)
                .await
                .unwrap_err()
        ),
        "MessagePayloadsRead"
    );
    assert_eq!(
        role(c.integration_packages().await.unwrap_err()),
        "WorkspacePackagesRead"
    );
    assert_eq!(
        role(c.runtime_artifacts().await.unwrap_err()),
        "MonitoringDataRead"
    );
    assert_eq!(
        role(c.keystore_entries(None).await.unwrap_err()),
        "MonitoringDataRead"
    );
    let text = c.integration_packages().await.unwrap_err().to_string();
    assert!(text.contains("WorkspacePackagesRead"), "{text}");
}

#[tokio::test]
async fn not_found_and_bad_request_carry_the_odata_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("KeystoreEntries"))
        .respond_with(ResponseTemplate::new(404).set_body_raw(
            r#"{"error":{"code":"Not Found","message":{"lang":"en","value":"Alias 'x' not found in the keystore"}}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let piper_400 = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/cpi-api/recorded/piper_error_400_mock.json"
    ))
    .expect("shared/cpi-api fixture");
    Mock::given(method("GET"))
        .and(path_regex("MessageProcessingLogs"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(piper_400, "application/json"))
        .mount(&server)
        .await;
    let c = basic(&server.uri());
    match c.keystore_entry("x").await.unwrap_err() {
        CpiError::NotFound { detail, .. } => {
            assert!(
                detail
                    .unwrap_or_default()
                    .contains("not found in the keystore")
            )
        }
        other => panic!("{other:?}"),
    }
    match c.mpl("G").await.unwrap_err() {
        CpiError::Http { status, detail, .. } => {
            assert_eq!(status, 400);
            assert!(
                detail
                    .unwrap_or_default()
                    .contains("Invalid order by expression")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn missing_error_information_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let c = basic(&server.uri());
    assert_eq!(c.mpl_error_information("G").await.expect("ok"), None);
    assert_eq!(c.mpl_error_text("G", 100).await.expect("ok"), None);
    assert_eq!(
        c.runtime_artifact_error("flow", 100).await.expect("ok"),
        None
    );
}

// --- key encoding --------------------------------------------------------------------------

#[tokio::test]
async fn keys_with_colons_quotes_and_hex_aliases_are_encoded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v1/MessageStoreEntries('sap-it-res%3Amsg%3Aae15c0dda%3A111e')/$value",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw("payload", "text/plain"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/KeystoreEntries('7361705F746573745F6365727469666963617465')"))
        .respond_with(json(r#"{"d":{"Hexalias":"7361705F746573745F6365727469666963617465","Alias":"sap_test_certificate"}}"#))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v1/IntegrationDesigntimeArtifacts(Id='O''Flow',Version='active')",
        ))
        .respond_with(json(r#"{"d":{"Id":"O'Flow","Version":"1.0.0"}}"#))
        .expect(1)
        .mount(&server)
        .await;
    let c = basic(&server.uri());
    match c
        .collect_message_store_entry("sap-it-res:msg:ae15c0dda:111e", 100)
        .await
        .expect("payload")
    {
        Collected::Complete { data, content_type } => {
            assert_eq!(&data[..], b"payload");
            assert_eq!(content_type.as_deref(), Some("text/plain"));
        }
        other => panic!("{other:?}"),
    }
    let k = c
        .keystore_entry("sap_test_certificate")
        .await
        .expect("entry");
    assert_eq!(k.alias.as_deref(), Some("sap_test_certificate"));
    let d = c
        .integration_designtime_artifact("O'Flow", "active")
        .await
        .expect("artifact");
    assert_eq!(d.id, "O'Flow");
}

// --- MPL paging ----------------------------------------------------------------------------

fn hour_window() -> Window {
    Window::new(
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2024, 1, 1, 1, 0, 0).unwrap(),
    )
    .expect("window")
}

async fn collect_pages(c: &CpiClient, q: MplQuery) -> Vec<MplPage> {
    let mut pager = c.mpl_pages(q);
    let mut pages = Vec::new();
    while let Some(p) = pager.next_page().await.expect("page") {
        pages.push(p);
    }
    pages
}

#[tokio::test]
async fn first_mpl_request_has_window_filter_order_select_and_count() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .and(query_param(
            "$filter",
            "LogEnd ge datetime'2024-01-01T00:00:00.000' and LogEnd lt datetime'2024-01-01T01:00:00.000' and IntegrationArtifact/Id eq 'my flow' and (Status ne 'DISCARDED')",
        ))
        .and(query_param("$orderby", "LogEnd"))
        .and(query_param("$inlinecount", "allpages"))
        .and(query_param("$select", "MessageGuid,LogEnd,Status"))
        .and(query_param("filterCustomHeaderProperties", "'po_number' eq '12345'"))
        .and(query_param_is_missing("$skip"))
        .respond_with(json(page(vec![mpl_json("A", 1_704_067_200_500)], Some(1), None)))
        .expect(1)
        .mount(&server)
        .await;
    let mut q = MplQuery::new(hour_window());
    q.select = vec!["MessageGuid".into(), "LogEnd".into(), "Status".into()];
    q.artifact_id = Some("my flow".into());
    q.extra_filter = Some("Status ne 'DISCARDED'".into());
    q.custom_header_filter = Some("'po_number' eq '12345'".into());
    let pages = collect_pages(&basic(&server.uri()), q).await;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].window_complete);
    assert_eq!(pages[0].safe_watermark, Some(hour_window().to));
    // Spaces are %20, never '+', in what goes on the wire.
    let reqs = server.received_requests().await.unwrap_or_default();
    let raw = reqs[0].url.query().unwrap_or_default().to_string();
    assert!(raw.contains("%20") && !raw.contains('+'), "{raw}");
}

async fn next_link_paging(next_for: impl Fn(&str) -> String) {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .and(query_param("$skiptoken", "2"))
        .respond_with(json(page(
            vec![mpl_json("C", 1_704_067_203_000)],
            Some(3),
            None,
        )))
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .and(query_param_is_missing("$skiptoken"))
        .respond_with(json(page(
            vec![
                mpl_json("A", 1_704_067_201_000),
                mpl_json("B", 1_704_067_202_000),
            ],
            Some(3),
            Some(next_for(&base)),
        )))
        .with_priority(5)
        .expect(1)
        .mount(&server)
        .await;
    let pages = collect_pages(&basic(&base), MplQuery::new(hour_window())).await;
    let guids: Vec<_> = pages
        .iter()
        .flat_map(|p| p.records.iter().map(|r| r.message_guid.clone()))
        .collect();
    assert_eq!(guids, ["A", "B", "C"]);
    assert_eq!(pages.len(), 2);
    assert!(!pages[0].window_complete && pages[1].window_complete);
    assert_eq!(pages[0].safe_watermark, None);
    assert_eq!(pages[1].safe_watermark, Some(hour_window().to));
    assert_eq!(pages[0].window_total, Some(3));
}

#[tokio::test]
async fn absolute_next_links_are_followed() {
    next_link_paging(|base| format!("{base}/api/v1/MessageProcessingLogs?$skiptoken=2")).await;
}

#[tokio::test]
async fn relative_next_links_are_resolved_against_the_service_root() {
    next_link_paging(|_| "MessageProcessingLogs?$skiptoken=2".to_string()).await;
}

#[tokio::test]
async fn without_next_links_paging_falls_back_to_top_and_skip() {
    let server = MockServer::start().await;
    let skip_page = |skip: &str, recs: Vec<serde_json::Value>| {
        Mock::given(method("GET"))
            .and(path("/api/v1/MessageProcessingLogs"))
            .and(query_param("$skip", skip))
            .and(query_param("$top", "1000"))
            .respond_with(json(page(recs, Some(5), None)))
            .with_priority(1)
            .expect(1)
    };
    skip_page(
        "2",
        vec![
            mpl_json("C", 1_704_067_203_000),
            mpl_json("D", 1_704_067_204_000),
        ],
    )
    .mount(&server)
    .await;
    skip_page("4", vec![mpl_json("E", 1_704_067_205_000)])
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .and(query_param_is_missing("$skip"))
        .respond_with(json(page(
            vec![
                mpl_json("A", 1_704_067_201_000),
                mpl_json("B", 1_704_067_202_000),
            ],
            Some(5),
            None,
        )))
        .with_priority(5)
        .expect(1)
        .mount(&server)
        .await;
    let pages = collect_pages(&basic(&server.uri()), MplQuery::new(hour_window())).await;
    let n: usize = pages.iter().map(|p| p.records.len()).sum();
    assert_eq!(n, 5);
    assert_eq!(pages.len(), 3);
    assert!(pages[2].window_complete);
}

/// A tenant that answers the window filter from a data set, with `__count`, no paging.
struct WindowedTenant {
    log_ends: Vec<i64>,
    max_per_response: usize,
}

fn literal_after(filter: &str, marker: &str) -> Option<DateTime<Utc>> {
    let at = filter.find(marker)? + marker.len();
    let rest = &filter[at..];
    let end = rest.find('\'')?;
    chrono::NaiveDateTime::parse_from_str(&rest[..end], "%Y-%m-%dT%H:%M:%S%.3f")
        .ok()
        .map(|n| n.and_utc())
}

impl Respond for WindowedTenant {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let filter = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "$filter")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let (Some(from), Some(to)) = (
            literal_after(&filter, "LogEnd ge datetime'"),
            literal_after(&filter, "LogEnd lt datetime'"),
        ) else {
            return ResponseTemplate::new(400);
        };
        let hits: Vec<_> = self
            .log_ends
            .iter()
            .enumerate()
            .filter(|(_, t)| **t >= from.timestamp_millis() && **t < to.timestamp_millis())
            .map(|(i, t)| mpl_json(&format!("M{i:04}"), *t))
            .collect();
        let count = hits.len() as u64;
        let shown: Vec<_> = hits.into_iter().take(self.max_per_response).collect();
        json(page(shown, Some(count), None))
    }
}

#[tokio::test]
async fn full_windows_are_bisected_instead_of_skipping_deep() {
    let server = MockServer::start().await;
    let start = hour_window().from.timestamp_millis();
    // 40 messages, crowded in the first quarter hour.
    let log_ends: Vec<i64> = (0..40).map(|i| start + i * 20_000).collect();
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .and(query_param_is_missing("$skip"))
        .respond_with(WindowedTenant {
            log_ends: log_ends.clone(),
            max_per_response: 1000,
        })
        .mount(&server)
        .await;
    let mut q = MplQuery::new(hour_window());
    q.split_threshold = 8;
    let c = basic(&server.uri());
    let mut pager = c.mpl_pages(q);
    let mut seen = Vec::new();
    let mut last_watermark = None;
    while let Some(p) = pager.next_page().await.expect("page") {
        assert!(
            p.window_total.unwrap_or(0) <= 8,
            "a window over the threshold was read"
        );
        assert!(p.window_complete);
        if let (Some(prev), Some(now)) = (last_watermark, p.safe_watermark) {
            assert!(now >= prev, "watermark went back");
        }
        last_watermark = p.safe_watermark;
        seen.extend(p.records.into_iter().map(|r| r.log_end.expect("dated")));
    }
    assert!(pager.splits() >= 3, "splits: {}", pager.splits());
    assert_eq!(seen.len(), 40, "every message exactly once");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "ascending LogEnd across sub-windows"
    );
    assert_eq!(last_watermark, Some(hour_window().to));
}

#[tokio::test]
async fn a_window_too_narrow_to_split_is_paged_instead() {
    let server = MockServer::start().await;
    let t = hour_window().from.timestamp_millis();
    // 12 messages with the same LogEnd millisecond: no split can separate them.
    let log_ends = vec![t; 12];
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .and(query_param_is_missing("$skip"))
        .respond_with(WindowedTenant {
            log_ends: log_ends.clone(),
            max_per_response: 5,
        })
        .with_priority(5)
        .mount(&server)
        .await;
    for (skip, n) in [("5", 5), ("10", 2)] {
        Mock::given(method("GET"))
            .and(path("/api/v1/MessageProcessingLogs"))
            .and(query_param("$skip", skip))
            .respond_with(json(page(
                (0..n)
                    .map(|i| mpl_json(&format!("S{skip}-{i}"), t))
                    .collect(),
                Some(12),
                None,
            )))
            .with_priority(1)
            .expect(1)
            .mount(&server)
            .await;
    }
    let mut q = MplQuery::new(
        Window::new(
            hour_window().from,
            hour_window().from + chrono::Duration::milliseconds(1),
        )
        .expect("1 ms"),
    );
    q.split_threshold = 3;
    let pages = collect_pages(&basic(&server.uri()), q).await;
    let n: usize = pages.iter().map(|p| p.records.len()).sum();
    assert_eq!(n, 12);
}

// --- downloads -----------------------------------------------------------------------------

#[tokio::test]
async fn download_over_the_cap_by_content_length_is_too_large_without_reading() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(vec![b'x'; 10_000], "application/octet-stream"),
        )
        .mount(&server)
        .await;
    let c = basic(&server.uri());
    let mut sink = Vec::new();
    let out = c
        .download_message_store_entry("e1", &mut sink, 1000)
        .await
        .expect("outcome");
    assert_eq!(
        out,
        DownloadOutcome::TooLarge {
            limit: 1000,
            content_length: Some(10_000),
            bytes_written: 0
        }
    );
    assert!(sink.is_empty());
    assert_eq!(
        c.collect_message_store_entry("e1", 1000)
            .await
            .expect("outcome"),
        Collected::TooLarge {
            limit: 1000,
            content_length: Some(10_000)
        }
    );
}

#[tokio::test]
async fn download_under_the_cap_streams_into_the_writer() {
    let server = MockServer::start().await;
    let body: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    Mock::given(method("GET"))
        .and(path(
            "/api/v1/MessageProcessingLogAttachments('sap-it-res%3Amsg%3Aa')/$value",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.clone(), "application/pdf"))
        .mount(&server)
        .await;
    let mut sink = Vec::new();
    let out = basic(&server.uri())
        .download_mpl_attachment("sap-it-res:msg:a", &mut sink, 50_000)
        .await
        .expect("download");
    assert_eq!(
        out,
        DownloadOutcome::Complete {
            bytes: 50_000,
            content_type: Some("application/pdf".into())
        }
    );
    assert_eq!(sink, body);
}

/// A raw HTTP/1.1 server answering every connection with a chunked body of `chunks` chunks of
/// `size` bytes (no Content-Length), so only streaming can notice the size.
async fn chunked_server(chunks: usize, size: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..8 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .await;
                for _ in 0..chunks {
                    let head = format!("{size:x}\r\n");
                    if sock.write_all(head.as_bytes()).await.is_err()
                        || sock.write_all(&vec![b'y'; size]).await.is_err()
                        || sock.write_all(b"\r\n").await.is_err()
                    {
                        return;
                    }
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn download_over_the_cap_while_streaming_stops_at_the_cap() {
    let uri = chunked_server(200, 1000).await;
    let c = basic(&uri);
    let mut sink = Vec::new();
    let out = c
        .download_message_store_entry("e1", &mut sink, 5_500)
        .await
        .expect("outcome");
    assert_eq!(
        out,
        DownloadOutcome::TooLarge {
            limit: 5_500,
            content_length: None,
            bytes_written: 5_500
        }
    );
    assert_eq!(sink.len(), 5_500);
    assert_eq!(
        c.collect_message_store_entry("e1", 5_500)
            .await
            .expect("outcome"),
        Collected::TooLarge {
            limit: 5_500,
            content_length: None
        }
    );
    // The error text keeps its first bytes and says it was cut.
    let text = c
        .mpl_error_text("G", 2_000)
        .await
        .expect("text")
        .expect("some");
    assert!(text.truncated);
    assert_eq!(text.text.len(), 2_000);
}

#[tokio::test]
async fn oversized_json_page_is_too_large() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json(page(
            (0..200)
                .map(|i| mpl_json(&format!("G{i}"), 1_704_067_201_000))
                .collect(),
            None,
            None,
        )))
        .mount(&server)
        .await;
    let mut cfg = fast_config(
        &server.uri(),
        Auth::Basic {
            username: "u".into(),
            password: Secret::new(PASSWORD),
        },
    );
    cfg.max_json_body = 4096;
    let e = CpiClient::new(cfg)
        .expect("client")
        .mpls_by_guid(&["G1"])
        .await
        .unwrap_err();
    assert!(matches!(e, CpiError::TooLarge { limit: 4096, .. }), "{e:?}");
}

// --- transport failures --------------------------------------------------------------------

#[tokio::test]
async fn refused_connection_is_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let mut cfg = fast_config(
        &format!("http://{addr}"),
        Auth::Basic {
            username: "u".into(),
            password: Secret::new(PASSWORD),
        },
    );
    cfg.retry = RetryPolicy::none();
    let e = CpiClient::new(cfg)
        .expect("client")
        .mpl("G")
        .await
        .unwrap_err();
    assert!(matches!(e, CpiError::Connect { .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn unknown_host_is_dns_error() {
    let mut cfg = fast_config(
        "https://integramon-test-host.invalid",
        Auth::Basic {
            username: "u".into(),
            password: Secret::new(PASSWORD),
        },
    );
    cfg.retry = RetryPolicy::none();
    let e = CpiClient::new(cfg)
        .expect("client")
        .mpl("G")
        .await
        .unwrap_err();
    assert!(matches!(e, CpiError::Dns { .. }), "{e:?}");
}

#[tokio::test]
async fn tls_to_a_non_tls_server_is_tls_error() {
    // A plain-HTTP server on an https URL: the handshake fails.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let mut cfg = fast_config(
        &format!("https://{addr}"),
        Auth::Basic {
            username: "u".into(),
            password: Secret::new(PASSWORD),
        },
    );
    cfg.retry = RetryPolicy::none();
    let e = CpiClient::new(cfg)
        .expect("client")
        .mpl("G")
        .await
        .unwrap_err();
    assert!(matches!(e, CpiError::Tls { .. }), "{e:?}");
}

#[tokio::test]
async fn slow_answers_time_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json(ONE_MPL).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let mut cfg = fast_config(
        &server.uri(),
        Auth::Basic {
            username: "u".into(),
            password: Secret::new(PASSWORD),
        },
    );
    cfg.timeouts.request = Duration::from_millis(300);
    cfg.retry = RetryPolicy::none();
    let started = Instant::now();
    let e = CpiClient::new(cfg)
        .expect("client")
        .mpl("G")
        .await
        .unwrap_err();
    assert!(matches!(e, CpiError::Timeout { .. }), "{e:?}");
    assert!(started.elapsed() < Duration::from_millis(1900));
}

// --- politeness ----------------------------------------------------------------------------

#[tokio::test]
async fn concurrency_is_capped_per_tenant() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json(ONE_MPL).set_delay(Duration::from_millis(300)))
        .mount(&server)
        .await;
    let mut cfg = fast_config(
        &server.uri(),
        Auth::Basic {
            username: "u".into(),
            password: Secret::new(PASSWORD),
        },
    );
    cfg.limits.max_concurrent_requests = 2;
    let c = CpiClient::new(cfg).expect("client");
    let started = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.mpl("G1").await })
        })
        .collect();
    for call in calls {
        call.await.expect("join").expect("mpl");
    }
    // Six calls, two at a time, 300 ms each: three rounds.
    assert!(
        started.elapsed() >= Duration::from_millis(880),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rate_limit_per_api_family_spaces_requests() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("MessageProcessingLogs"))
        .respond_with(json(ONE_MPL))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("IntegrationPackages"))
        .respond_with(json(r#"{"d":{"results":[]}}"#))
        .mount(&server)
        .await;
    let mut cfg = fast_config(
        &server.uri(),
        Auth::Basic {
            username: "u".into(),
            password: Secret::new(PASSWORD),
        },
    );
    cfg.limits.rate = RateLimits {
        designtime_artifacts: 5.0,
        ..RateLimits::unlimited()
    };
    let c = CpiClient::new(cfg).expect("client");
    let started = Instant::now();
    for _ in 0..20 {
        c.mpl("G1").await.expect("mpl");
    }
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "MPL family is unlimited here"
    );
    let started = Instant::now();
    for _ in 0..11 {
        c.integration_packages().await.expect("packages");
    }
    // Burst of 5, then 6 more at 5/s.
    assert!(
        started.elapsed() >= Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );
}

// --- children and helpers ------------------------------------------------------------------

#[tokio::test]
async fn run_steps_page_by_500_with_expanded_properties() {
    let server = MockServer::start().await;
    let step = |i: i32| {
        serde_json::json!({"RunId": "R1", "ChildCount": i, "ModelStepId": format!("S{i}"),
            "RunStepProperties": {"results": [{"RunId": "R1", "ChildCount": i, "Name": "TraceIds", "Value": format!("[{i}]")}]}})
    };
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogRuns('R1')/RunSteps"))
        .and(query_param("$expand", "RunStepProperties"))
        .and(query_param("$top", "500"))
        .and(query_param("$skip", "2"))
        .respond_with(json(page(vec![step(3)], Some(3), None)))
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogRuns('R1')/RunSteps"))
        .and(query_param("$inlinecount", "allpages"))
        .and(query_param_is_missing("$skip"))
        .respond_with(json(page(vec![step(1), step(2)], Some(3), None)))
        .with_priority(5)
        .expect(1)
        .mount(&server)
        .await;
    let steps = basic(&server.uri())
        .mpl_run_steps("R1")
        .await
        .expect("steps");
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[2].trace_ids(), vec![3]);
}

#[tokio::test]
async fn runtime_artifact_error_is_parsed_leniently_with_raw_text() {
    let server = MockServer::start().await;
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/cpi-api/recorded/piper_IntegrationRuntimeArtifacts_ErrorInformation_value.json"
    ))
    .expect("shared/cpi-api fixture");
    Mock::given(method("GET"))
        .and(path(
            "/api/v1/IntegrationRuntimeArtifacts('smtp')/ErrorInformation/$value",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(raw, "application/octet-stream"))
        .mount(&server)
        .await;
    let e = basic(&server.uri())
        .runtime_artifact_error("smtp", 65_536)
        .await
        .expect("ok")
        .expect("some");
    assert!(
        e.message
            .unwrap_or_default()
            .contains("No credentials for 'smtp'")
    );
    assert!(e.raw.starts_with('{'));
}

// --- connection test -----------------------------------------------------------------------

async fn healthy_tenant(server: &MockServer) {
    let mount = |p: &str, body: String| {
        Mock::given(method("GET"))
            .and(path(p.to_string()))
            .respond_with(json(body))
    };
    mount(
        "/api/v1/MessageProcessingLogs",
        page(vec![mpl_json("G1", 1_704_067_201_000)], Some(1234), None),
    )
    .mount(server)
    .await;
    mount(
        "/api/v1/MessageProcessingLogs('G1')/MessageStoreEntries",
        r#"{"d":{"results":[{"Id":"sap-it-res:msg:1","MessageGuid":"G1","MessageStoreId":"Persist1"}]}}"#.into(),
    )
    .mount(server)
    .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v1/MessageStoreEntries('sap-it-res%3Amsg%3A1')/$value",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<xml/>", "application/xml"))
        .mount(server)
        .await;
    mount(
        "/api/v1/IntegrationRuntimeArtifacts",
        r#"{"d":{"__count":"17","results":[{"Id":"flow","Status":"STARTED"}]}}"#.into(),
    )
    .mount(server)
    .await;
    mount(
        "/api/v1/IntegrationPackages",
        r#"{"d":{"results":[{"Id":"pkg"}]}}"#.into(),
    )
    .mount(server)
    .await;
}

#[tokio::test]
async fn connection_test_reports_ok_with_counts() {
    let server = MockServer::start().await;
    healthy_tenant(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/KeystoreEntries"))
        .respond_with(json(r#"{"d":{"results":[{"Alias":"a"},{"Alias":"b"}]}}"#))
        .mount(&server)
        .await;
    let report = basic(&server.uri()).test_connection().await;
    assert!(report.all_ok(), "{report}");
    let text = |c: Check| match &report.get(c).expect("check").outcome {
        CheckOutcome::Ok(t) => t.clone(),
        other => panic!("{c:?}: {other:?}"),
    };
    assert!(text(Check::MessageProcessingLogs).contains("1234"));
    assert!(text(Check::Payloads).contains("G1"));
    assert!(text(Check::RuntimeArtifacts).contains("17"));
    assert!(text(Check::Keystore).contains('2'));
}

#[tokio::test]
async fn connection_test_names_the_missing_role_and_the_html_page() {
    let server = MockServer::start().await;
    healthy_tenant(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/KeystoreEntries"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<html><body>Sign in</body></html>", "text/html"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("MessageStoreEntries"))
        .respond_with(ResponseTemplate::new(403))
        .with_priority(1)
        .mount(&server)
        .await;
    let report = basic(&server.uri()).test_connection().await;
    assert!(!report.all_ok());
    let advice = |c: Check| match &report.get(c).expect("check").outcome {
        CheckOutcome::Failed { advice, .. } => advice.clone(),
        other => panic!("{c:?}: {other:?}"),
    };
    assert!(
        advice(Check::Payloads).contains("MessagePayloadsRead"),
        "{report}"
    );
    assert!(advice(Check::Keystore).contains("HTML"), "{report}");
    assert!(matches!(
        report
            .get(Check::MessageProcessingLogs)
            .expect("mpl")
            .outcome,
        CheckOutcome::Ok(_)
    ));
}

#[tokio::test]
async fn connection_test_with_a_rejected_service_key_stops_at_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let report = oauth(&server).test_connection().await;
    match &report.get(Check::Credentials).expect("check").outcome {
        CheckOutcome::Failed { advice, .. } => assert!(advice.contains("401"), "{advice}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        report
            .get(Check::MessageProcessingLogs)
            .expect("mpl")
            .outcome,
        CheckOutcome::Skipped(_)
    ));
    assert_eq!(requests_to(&server, "/api/v1").await, 0);
}

#[tokio::test]
async fn connection_test_without_payloads_says_so() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/MessageProcessingLogs"))
        .respond_with(json(page(
            vec![mpl_json("G1", 1_704_067_201_000)],
            Some(1),
            None,
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("MessageStoreEntries"))
        .respond_with(json(r#"{"d":{"results":[]}}"#))
        .mount(&server)
        .await;
    let report = basic(&server.uri()).test_connection().await;
    match &report.get(Check::Payloads).expect("check").outcome {
        CheckOutcome::Skipped(t) => assert!(t.contains("no payload to test"), "{t}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connection_test_to_an_unreachable_host_reports_connect_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let report = basic(&format!("http://{addr}")).test_connection().await;
    match &report
        .get(Check::MessageProcessingLogs)
        .expect("check")
        .outcome
    {
        CheckOutcome::Failed { advice, .. } => assert!(advice.contains("connect"), "{advice}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        report.get(Check::Keystore).expect("keystore").outcome,
        CheckOutcome::Skipped(_)
    ));
}

#[test]
fn service_root_from_wiremock_uri_gets_api_v1() {
    let c = basic("http://127.0.0.1:9");
    assert_eq!(c.api_url().as_str(), "http://127.0.0.1:9/api/v1");
    let _ = Arc::new(c);
}
