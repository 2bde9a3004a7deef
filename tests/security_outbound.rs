//! Security suite, outbound requests: `integramon up` against real simulated tenants and small
//! hostile HTTP servers. A stored tenant secret is never sent to a changed connection; the
//! connection test and the collector follow no redirect to another host and never echo a body
//! that is not the expected JSON; `OUTBOUND_DENY_PRIVATE` refuses loopback targets; a name
//! used by a tenant the caller cannot see is not revealed; bad CA certificates and message
//! filters are refused on save.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use integramon_tests::collect::{Database, SIM_PASSWORD, SIM_USER, Sim, SimOptions};
use integramon_tests::wait_for;
use integramon_tests::web::{Client, Web};
use reqwest::Method;
use serde_json::{Value, json};

/// Another service's answer (what `/metrics` of a daemon on the same host says).
const FOREIGN_BODY: &str =
    "# HELP integramon_build_info Build information.\n# TYPE integramon_build_info gauge\n";

/// A hostile or foreign HTTP server on 127.0.0.1: answers every request with `response` and
/// keeps each request's head, so a test can tell what reached it.
struct Fake {
    addr: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn start(response: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let response = Arc::new(response);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let seen = seen.clone();
                let response = response.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                        match conn.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    seen.lock().unwrap().push(head.clone());
                    let _ = conn.write_all(response(&head).as_bytes());
                });
            }
        });
        Self { addr, requests }
    }

    /// Answers every request with `status`, `content_type` and `body`.
    fn answering(status: &str, content_type: &str, body: &str) -> Self {
        let (status, ct, body) = (
            status.to_string(),
            content_type.to_string(),
            body.to_string(),
        );
        Self::start(move |_| {
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: {ct}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
        })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn basic_tenant(name: &str, api_url: &str) -> Value {
    json!({
        "name": name, "api_url": api_url,
        "auth": {"kind": "basic", "username": SIM_USER}, "secret": SIM_PASSWORD,
    })
}

fn create(c: &Client, body: Value) -> i64 {
    let (s, t) = c.json(Method::POST, "/api/tenants", Some(body));
    assert_eq!(s, 201, "{t}");
    t["id"].as_i64().expect("id")
}

/// The 422's error for `field`.
fn field_error(body: &Value, field: &str) -> String {
    body["fields"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["field"] == field))
        .and_then(|f| f["message"].as_str())
        .unwrap_or_else(|| panic!("no error for {field}: {body}"))
        .to_string()
}

fn form(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn send_form(c: &Client, path: &str, fields: &[(String, String)]) -> (u16, String) {
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (s, _, body) = c.send_form(path, &refs);
    (s, body)
}

#[test]
fn a_stored_secret_is_never_sent_to_a_changed_connection() {
    let sim = Sim::start(&SimOptions::default());
    let evil = Fake::answering("200 OK", "application/json", r#"{"d":{"results":[]}}"#);
    let web = Web::up(Database::sqlite(), &[("DEMO", "false")]);
    let admin = web.admin_token();
    let id = create(&admin, basic_tenant("sim", &sim.base_url()));
    let password_b64 =
        base64::engine::general_purpose::STANDARD.encode(format!("{SIM_USER}:{SIM_PASSWORD}"));

    // The connection test of a stored tenant with another URL and no secret.
    let mut moved = basic_tenant("sim", &evil.url());
    moved.as_object_mut().unwrap().remove("secret");
    let (s, e) = admin.json(
        Method::POST,
        &format!("/api/tenants/test?tenant_id={id}"),
        Some(moved.clone()),
    );
    assert_eq!(s, 422, "{e}");
    assert!(field_error(&e, "secret").contains("api_url"), "{e}");
    // Saving it is refused the same way, and nothing changes.
    let (s, e) = admin.json(
        Method::PUT,
        &format!("/api/tenants/{id}"),
        Some(moved.clone()),
    );
    assert_eq!(s, 422, "{e}");
    assert!(field_error(&e, "secret").contains("api_url"), "{e}");
    let (_, t) = admin.get_json(&format!("/api/tenants/{id}"));
    assert_eq!(t["api_url"], sim.base_url());
    // Another user name needs the secret too.
    let mut other_user = basic_tenant("sim", &sim.base_url());
    other_user.as_object_mut().unwrap().remove("secret");
    other_user["auth"]["username"] = json!("someone-else");
    let (s, e) = admin.json(Method::PUT, &format!("/api/tenants/{id}"), Some(other_user));
    assert_eq!(s, 422, "{e}");
    assert!(field_error(&e, "secret").contains("auth.username"), "{e}");

    // OAuth: a new token URL needs the client secret again.
    let oauth = json!({
        "name": "sim-oauth", "api_url": sim.base_url(),
        "auth": {"kind": "oauth2", "client_id": "sb-integramon",
                 "token_url": format!("{}/oauth/token", sim.base_url())},
        "secret": "oauth-client-secret-1",
    });
    let oauth_id = create(&admin, oauth.clone());
    let mut stolen = oauth.clone();
    stolen.as_object_mut().unwrap().remove("secret");
    stolen["auth"]["token_url"] = json!(format!("{}/oauth/token", evil.url()));
    for (m, path) in [
        (
            Method::POST,
            format!("/api/tenants/test?tenant_id={oauth_id}"),
        ),
        (Method::PUT, format!("/api/tenants/{oauth_id}")),
    ] {
        let (s, e) = admin.json(m, &path, Some(stolen.clone()));
        assert_eq!(s, 422, "{path}: {e}");
        assert!(field_error(&e, "secret").contains("auth.token_url"), "{e}");
    }
    let mut new_client = oauth.clone();
    new_client.as_object_mut().unwrap().remove("secret");
    new_client["auth"]["client_id"] = json!("sb-other");
    let (s, e) = admin.json(
        Method::PUT,
        &format!("/api/tenants/{oauth_id}"),
        Some(new_client),
    );
    assert_eq!(s, 422, "{e}");
    assert!(field_error(&e, "secret").contains("auth.client_id"), "{e}");

    // The HTML form and its inline connection test apply the same rule.
    let session = web.admin();
    let csrf = session.csrf.clone().expect("csrf");
    let fields = form(&[
        ("csrf", &csrf),
        ("name", "sim"),
        ("api_url", &evil.url()),
        ("auth_kind", "basic"),
        ("username", SIM_USER),
        ("password", ""),
        ("tls_verify", "on"),
        ("enabled", "on"),
        ("hot_window_secs", "3600"),
        ("payload_strategy", "failed"),
        ("payload_max_bytes", "1048576"),
    ]);
    let mut save = fields.clone();
    save.push(("action".into(), "save".into()));
    let (s, page) = send_form(&session, &format!("/tenants/{id}"), &save);
    assert_eq!(s, 200, "the form comes back: {page}");
    assert!(page.contains("required again"), "{page}");
    let mut test = fields.clone();
    test.push(("action".into(), "test".into()));
    let (s, page) = send_form(&session, &format!("/tenants/{id}"), &test);
    assert_eq!(s, 200);
    assert!(page.contains("required again"), "{page}");
    let (s, fragment) = send_form(&session, &format!("/tenants/test?tenant_id={id}"), &fields);
    assert_eq!(s, 200);
    assert!(fragment.contains("required again"), "{fragment}");
    let (_, t) = admin.get_json(&format!("/api/tenants/{id}"));
    assert_eq!(t["api_url"], sim.base_url());

    // Nothing of it reached the other host, least of all the password.
    let seen = evil.requests();
    assert!(
        !seen.iter().any(|r| r.contains(&password_b64)),
        "the stored password was sent: {seen:?}"
    );
    assert!(seen.is_empty(), "{seen:?}");

    // With the secret typed again, the move is allowed; an unchanged connection still keeps
    // the stored secret.
    let (s, t) = admin.json(
        Method::PUT,
        &format!("/api/tenants/{id}"),
        Some(basic_tenant("sim", &format!("{}/api/v1/", sim.base_url()))),
    );
    assert_eq!(s, 200, "{t}");
    let mut renamed = basic_tenant("sim renamed", &sim.base_url());
    renamed.as_object_mut().unwrap().remove("secret");
    let (s, t) = admin.json(Method::PUT, &format!("/api/tenants/{id}"), Some(renamed));
    assert_eq!(s, 200, "same URL in another spelling keeps the secret: {t}");
    let (s, report) = admin.json(Method::POST, &format!("/api/tenants/{id}/test"), None);
    assert_eq!((s, report["ok"].as_bool()), (200, Some(true)), "{report}");
}

#[test]
fn no_redirect_to_another_host_and_no_foreign_body_in_tests_or_tenant_status() {
    let foreign = Fake::answering("200 OK", "text/plain; version=0.0.4", FOREIGN_BODY);
    let target = format!("{}/metrics", foreign.url());
    let redirector = Fake::start(move |_| {
        format!(
            "HTTP/1.1 302 Found\r\nlocation: {target}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
    });
    let web = Web::up(Database::sqlite(), &[("DEMO", "false")]);
    let admin = web.admin_token();

    // A tenant URL that redirects elsewhere: not followed, and said so.
    let (s, report) = admin.json(
        Method::POST,
        "/api/tenants/test",
        Some(basic_tenant("redirecting", &redirector.url())),
    );
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["ok"], false);
    let text = report.to_string();
    assert!(!text.contains("integramon_build_info"), "{text}");
    assert!(text.contains("redirect"), "{text}");
    assert!(!redirector.requests().is_empty());
    assert!(
        foreign.requests().is_empty(),
        "the redirect was followed: {:?}",
        foreign.requests()
    );

    // A tenant URL that answers with something else than JSON: described, never shown.
    let (s, report) = admin.json(
        Method::POST,
        "/api/tenants/test",
        Some(basic_tenant("foreign", &foreign.url())),
    );
    assert_eq!(s, 200, "{report}");
    let text = report.to_string();
    assert!(!text.contains("integramon_build_info"), "{text}");
    assert!(text.contains("text/plain"), "{text}");
    assert!(
        text.contains(&format!("{} bytes", FOREIGN_BODY.len())),
        "{text}"
    );

    // The stored status of a tenant, from its connection test and from the collector.
    let id = create(&admin, basic_tenant("foreign", &foreign.url()));
    let (s, _) = admin.json(Method::POST, &format!("/api/tenants/{id}/test"), None);
    assert_eq!(s, 200);
    let (_, t) = admin.get_json(&format!("/api/tenants/{id}"));
    let message = t["status_message"].as_str().unwrap_or_default().to_string();
    assert_eq!(t["status"], "unreachable", "{t}");
    assert!(!message.contains("integramon_build_info"), "{message}");
    let redirected = create(&admin, basic_tenant("redirected", &redirector.url()));
    for tenant in [id, redirected] {
        let (s, job) = admin.json(
            Method::POST,
            &format!("/api/tenants/{tenant}/sync"),
            Some(json!({"job": "messages_hot"})),
        );
        assert_eq!(s, 202, "{job}");
    }
    let message = admin.wait_json(
        120,
        "the collector to record the foreign answer",
        &format!("/api/tenants/{id}"),
        |t| {
            let m = t["status_message"].as_str()?;
            m.contains("tenant:").then(|| m.to_string())
        },
    );
    assert!(!message.contains("integramon_build_info"), "{message}");
    assert!(message.contains("text/plain"), "{message}");
    let message = admin.wait_json(
        120,
        "the collector to record the refused redirect",
        &format!("/api/tenants/{redirected}"),
        |t| {
            let m = t["status_message"].as_str()?;
            m.contains("tenant:").then(|| m.to_string())
        },
    );
    assert!(message.contains("redirect"), "{message}");
    assert!(!message.contains("integramon_build_info"), "{message}");
    assert!(
        foreign.requests().len() >= 2,
        "only direct calls reached it"
    );
    assert!(
        foreign.requests().iter().all(|r| !r.contains("/metrics")),
        "{:?}",
        foreign.requests()
    );
}

#[test]
fn outbound_deny_private_refuses_loopback_targets_for_tests_and_collection() {
    let inside = Fake::answering("200 OK", "application/json", r#"{"d":{"results":[]}}"#);
    let port = inside.addr.rsplit(':').next().unwrap().to_string();
    let web = Web::up(
        Database::sqlite(),
        &[("DEMO", "false"), ("OUTBOUND_DENY_PRIVATE", "true")],
    );
    let admin = web.admin_token();
    for url in [
        inside.url(),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
    ] {
        let (s, report) = admin.json(
            Method::POST,
            "/api/tenants/test",
            Some(basic_tenant("inside", &url)),
        );
        assert_eq!(s, 200, "{report}");
        assert_eq!(report["ok"], false, "{url}: {report}");
        assert!(
            report.to_string().contains("OUTBOUND_DENY_PRIVATE"),
            "{url}: {report}"
        );
    }
    // OAuth: the token URL is refused before the client secret goes out.
    let (_, report) = admin.json(
        Method::POST,
        "/api/tenants/test",
        Some(json!({
            "name": "inside-oauth", "api_url": "https://tenant.example.com",
            "auth": {"kind": "oauth2", "client_id": "sb",
                     "token_url": format!("http://localhost:{port}/oauth/token")},
            "secret": "client-secret-1",
        })),
    );
    assert!(
        report["checks"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("OUTBOUND_DENY_PRIVATE"),
        "{report}"
    );
    // The collector refuses it too, and says why in the tenant's status.
    let id = create(
        &admin,
        basic_tenant("inside", &format!("http://localhost:{port}")),
    );
    let (s, _) = admin.json(
        Method::POST,
        &format!("/api/tenants/{id}/sync"),
        Some(json!({"job": "messages_hot"})),
    );
    assert_eq!(s, 202);
    let message = admin.wait_json(
        120,
        "the collector to refuse the target",
        &format!("/api/tenants/{id}"),
        |t| {
            let m = t["status_message"].as_str()?;
            m.contains("tenant:").then(|| m.to_string())
        },
    );
    assert!(message.contains("OUTBOUND_DENY_PRIVATE"), "{message}");
    assert!(
        inside.requests().is_empty(),
        "a refused target got requests: {:?}",
        inside.requests()
    );
    // A bad value stops start-up with the variable named.
    let dir = integramon_tests::temp_dir();
    let mut env = integramon_tests::sqlite_env(dir.path());
    env.push(("OUTBOUND_DENY_PRIVATE".into(), "maybe".into()));
    let mut bad = integramon_tests::Proc::spawn(
        &integramon_tests::bin("integramon-web"),
        &["--listen", "127.0.0.1:0"],
        &env,
    );
    let out = wait_for(60, "integramon-web to refuse the setting", || {
        (!bad.is_running()).then(|| bad.output())
    });
    assert!(out.contains("OUTBOUND_DENY_PRIVATE"), "{out}");
}

fn name_of_a_hidden_tenant_is_not_revealed(database: Database) {
    let web = Web::up(database, &[("DEMO", "false")]);
    let admin = web.admin_token();
    let mut hidden = basic_tenant("payroll-prod", "https://payroll.example.com");
    hidden["access_groups"] = json!(["hr"]);
    create(&admin, hidden);
    let mallory = web.user("mallory", "manager", &["sales"]);
    let mut mine = basic_tenant("payroll-prod", "https://sales.example.com");
    mine["access_groups"] = json!(["sales"]);
    let (s, e) = mallory.json(Method::POST, "/api/tenants", Some(mine.clone()));
    assert_eq!(s, 422, "still refused: {e}");
    let message = field_error(&e, "name");
    assert!(!message.contains("taken"), "{message}");
    assert!(!e.to_string().contains("another tenant"), "{e}");
    let (_, list) = admin.get_json("/api/tenants");
    assert_eq!(list.as_array().unwrap().len(), 1, "nothing created");
    // Someone who sees the tenant is told plainly.
    let (s, e) = admin.json(Method::POST, "/api/tenants", Some(mine));
    assert_eq!(s, 422);
    assert!(field_error(&e, "name").contains("taken"), "{e}");
}

#[test]
fn name_of_a_hidden_tenant_is_not_revealed_on_sqlite() {
    name_of_a_hidden_tenant_is_not_revealed(Database::sqlite());
}

#[test]
fn name_of_a_hidden_tenant_is_not_revealed_on_postgres() {
    name_of_a_hidden_tenant_is_not_revealed(Database::postgres());
}

#[test]
fn garbage_ca_certificates_and_escaping_message_filters_are_refused_on_save() {
    let web = Web::up(Database::sqlite(), &[("DEMO", "false")]);
    let admin = web.admin_token();
    let mut body = basic_tenant("ca", "https://tenant.example.com");
    body["ca_cert"] = json!(
        "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZSBub3QgYSBjZXJ0aWZpY2F0ZQ==\n-----END CERTIFICATE-----\n"
    );
    let (s, e) = admin.json(Method::POST, "/api/tenants", Some(body.clone()));
    assert_eq!(s, 422, "{e}");
    assert!(field_error(&e, "ca_cert").contains("certificate"), "{e}");
    // A real CA certificate is accepted.
    let bundle = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").expect("CA bundle");
    let end = "-----END CERTIFICATE-----";
    let first = &bundle[..bundle.find(end).expect("a certificate") + end.len()];
    body["ca_cert"] = json!(first);
    let (s, t) = admin.json(Method::POST, "/api/tenants", Some(body));
    assert_eq!((s, t["has_ca_cert"].as_bool()), (201, Some(true)), "{t}");

    for filter in [
        "Status eq 'FAILED') or (1 eq 1",
        "Status eq 'FAILED'&$top=1",
        "(Status eq 'FAILED'",
    ] {
        let mut body = basic_tenant("filtered", "https://tenant.example.com");
        body["message_filter"] = json!(filter);
        let (s, e) = admin.json(Method::POST, "/api/tenants", Some(body));
        assert_eq!(s, 422, "{filter}: {e}");
        field_error(&e, "message_filter");
    }
    let mut body = basic_tenant("filtered", "https://tenant.example.com");
    body["message_filter"] = json!("Status eq 'FAILED' or Status eq 'RETRY'");
    let (s, t) = admin.json(Method::POST, "/api/tenants", Some(body));
    assert_eq!(s, 201, "{t}");
}
