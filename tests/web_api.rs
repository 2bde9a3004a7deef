//! The JSON API and the pages over HTTP, against `integramon up` on a real database: every route
//! refuses anonymous callers, users/tokens/roles, tenants with write-only secrets and named
//! validation errors, messages arriving from the simulated tenant with filters, facets, keyset
//! paging and masking, and the security properties (CSRF, escaping, SQL metacharacters, login
//! throttling).

use std::collections::HashSet;

use chrono::Utc;
use integramon_tests::collect::{Database, SIM_PASSWORD, SIM_USER, Sim, SimOptions};
use integramon_tests::web::{ADMIN, Web, csrf_of};
use reqwest::Method;
use serde_json::{Value, json};

fn ids(v: &Value) -> Vec<i64> {
    v["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["id"].as_i64()).collect())
        .unwrap_or_default()
}

#[test]
fn every_api_route_refuses_anonymous_callers_and_pages_redirect_to_login() {
    let web = Web::up(Database::sqlite(), &[("DEMO", "false")]);
    let admin = web.admin_token();
    let (status, doc) = admin.get_json("/api/openapi.json");
    assert_eq!(status, 200, "{doc}");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(
        paths.len() >= 20,
        "the document lists the routes: {}",
        paths.len()
    );
    let anon = web.client();
    let mut checked = 0;
    for (path, ops) in paths {
        let concrete = path
            .replace("{id}", "1")
            .replace("{artifact_id}", "x")
            .replace("{job_id}", "x");
        for method in ops.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (s, body) = anon.json(m, &concrete, Some(json!({})));
            assert_eq!(s, 401, "{method} {path} without a token: {body}");
            assert_eq!(body["error"], "unauthorized");
            checked += 1;
        }
    }
    assert!(checked >= 25, "{checked} operations");
    // A wrong or revoked token is the same as none.
    let bad = web.client().with_token("imt_not-a-token");
    assert_eq!(bad.get_json("/api/me").0, 401);
    // The document itself needs a caller too, and unknown API routes are JSON 404s.
    assert_eq!(anon.get_json("/api/openapi.json").0, 401);
    let (s, body) = admin.get_json("/api/no-such-route");
    assert_eq!((s, body["error"].as_str()), (404, Some("not_found")));
    // Pages send anonymous visitors to the login page, keeping where they wanted to go.
    for page in ["/", "/messages", "/tenants", "/messages/1", "/account"] {
        let (s, headers, _) = anon.get_full(page);
        assert_eq!(s, 303, "{page}");
        let loc = headers["location"].to_str().unwrap();
        assert!(loc.starts_with("/login?next="), "{page} → {loc}");
    }
    // Liveness and readiness stay open.
    assert_eq!(anon.get_text("/healthz").0, 200);
    assert_eq!(anon.get_text("/readyz").0, 200);
}

#[test]
fn users_tokens_and_roles_are_enforced() {
    let web = Web::up(Database::sqlite(), &[("DEMO", "false")]);
    let admin = web.admin_token();
    // Validation names the field.
    let (s, e) = admin.json(
        Method::POST,
        "/api/users",
        Some(json!({"username": "bob", "password": "short"})),
    );
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["fields"][0]["field"], "password");
    let (s, e) = admin.json(
        Method::POST,
        "/api/users",
        Some(json!({"username": "b o b", "password": "long enough password"})),
    );
    assert_eq!(
        (s, e["fields"][0]["field"].as_str()),
        (422, Some("username"))
    );
    let (s, e) = admin.json(
        Method::POST,
        "/api/users",
        Some(json!({"username": "bob", "password": "long enough password", "role": "root"})),
    );
    assert_eq!((s, e["fields"][0]["field"].as_str()), (422, Some("role")));
    let (s, e) = admin.json(Method::POST, "/api/users", Some(json!({"username": "bob"})));
    assert_eq!(
        (s, e["fields"][0]["field"].as_str()),
        (422, Some("body")),
        "{e}"
    );

    let bob = web.user("bob", "user", &[]);
    let (s, e) = admin.json(
        Method::POST,
        "/api/users",
        Some(json!({"username": "bob", "password": "long enough password"})),
    );
    assert_eq!(
        (s, e["fields"][0]["field"].as_str()),
        (422, Some("username")),
        "taken"
    );
    // A user sees but does not change.
    assert_eq!(bob.get_json("/api/me").1["role"], "user");
    assert_eq!(bob.get_json("/api/users").0, 403);
    assert_eq!(bob.get_json("/api/tenants").0, 200);
    let (s, e) = bob.json(Method::POST, "/api/tenants", Some(json!({"name": "x"})));
    assert_eq!((s, e["error"].as_str()), (403, Some("forbidden")));
    // Tokens: created once, usable, listed without the secret, revocable.
    let token = bob.create_token("script");
    let bob_token = web.client().with_token(&token);
    assert_eq!(bob_token.get_json("/api/me").1["username"], "bob");
    let (_, list) = bob.get_json("/api/tokens");
    assert!(
        !list.to_string().contains(&token),
        "the secret is never listed"
    );
    let id = list[0]["id"].as_i64().unwrap();
    // Another user cannot revoke it; an admin can.
    let carol = web.user("carol", "manager", &[]);
    assert_eq!(
        carol
            .json(Method::DELETE, &format!("/api/tokens/{id}"), None)
            .0,
        404
    );
    assert_eq!(
        admin
            .json(Method::DELETE, &format!("/api/tokens/{id}"), None)
            .0,
        204
    );
    assert_eq!(bob_token.get_json("/api/me").0, 401, "revoked");
    // Deactivating a user ends their sessions.
    let (_, users) = admin.get_json("/api/users");
    let bob_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bob")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, _) = admin.json(
        Method::PUT,
        &format!("/api/users/{bob_id}"),
        Some(json!({"role": "user", "active": false})),
    );
    assert_eq!(s, 200);
    assert_eq!(bob.get_json("/api/me").0, 401);
    // The last admin cannot be demoted or deleted.
    let (_, me) = admin.get_json("/api/me");
    let admin_id = me["id"].as_i64().unwrap();
    let (s, e) = admin.json(
        Method::PUT,
        &format!("/api/users/{admin_id}"),
        Some(json!({"role": "manager", "active": true})),
    );
    assert_eq!(s, 409, "{e}");
    assert_eq!(
        admin
            .json(Method::DELETE, &format!("/api/users/{admin_id}"), None)
            .0,
        409
    );
    assert_eq!(me["username"], ADMIN);
    // Passwords: the current one is checked, the new one validated.
    let (s, e) = carol.json(
        Method::POST,
        "/api/me/password",
        Some(json!({"current": "wrong", "new_password": "another long password"})),
    );
    assert_eq!(
        (s, e["fields"][0]["field"].as_str()),
        (422, Some("current"))
    );
    let (s, _) = carol.json(
        Method::POST,
        "/api/me/password",
        Some(json!({"current": "carol password 123", "new_password": "another long password"})),
    );
    assert_eq!(s, 204);
    assert!(
        web.client()
            .try_login("carol", "another long password")
            .is_ok()
    );
}

#[test]
fn tenants_keep_secrets_write_only_and_name_invalid_fields() {
    let sim = Sim::start(&SimOptions::default());
    let web = Web::up(Database::sqlite(), &[("DEMO", "false")]);
    let admin = web.admin_token();
    let body = json!({
        "name": "sim", "api_url": sim.base_url(),
        "auth": {"kind": "basic", "username": SIM_USER}, "secret": SIM_PASSWORD,
        "tags": ["test"], "payload_strategy": "all",
        "jobs": [{"kind": "messages_hot", "enabled": true, "interval_secs": 30}]
    });
    // The connection test runs every call before anything is saved.
    let (s, report) = admin.json(Method::POST, "/api/tenants/test", Some(body.clone()));
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["checks"].as_array().unwrap().len() >= 5);
    let mut wrong = body.clone();
    wrong["secret"] = json!("wrong password");
    let (_, report) = admin.json(Method::POST, "/api/tenants/test", Some(wrong));
    assert_eq!(report["ok"], false);
    assert!(report.to_string().contains("401"), "{report}");

    let (s, created) = admin.json(Method::POST, "/api/tenants", Some(body.clone()));
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["has_secret"], true);
    assert!(
        !created.to_string().contains(SIM_PASSWORD),
        "the secret is never shown"
    );
    let jobs = created["jobs"].as_array().unwrap();
    let hot = jobs.iter().find(|j| j["kind"] == "messages_hot").unwrap();
    assert_eq!(hot["interval_secs"], 30);
    let (_, list) = admin.get_json("/api/tenants");
    assert!(!list.to_string().contains(SIM_PASSWORD));
    // An update without the secret keeps the stored one: the stored connection still works.
    let mut update = body.clone();
    update.as_object_mut().unwrap().remove("secret");
    update["name"] = json!("sim renamed");
    let (s, t) = admin.json(Method::PUT, &format!("/api/tenants/{id}"), Some(update));
    assert_eq!((s, t["name"].as_str()), (200, Some("sim renamed")), "{t}");
    let (s, report) = admin.json(Method::POST, &format!("/api/tenants/{id}/test"), None);
    assert_eq!((s, report["ok"].as_bool()), (200, Some(true)), "{report}");
    assert_eq!(
        admin.get_json(&format!("/api/tenants/{id}")).1["status"],
        "ok"
    );
    // Every invalid field is named.
    let (s, e) = admin.json(
        Method::POST,
        "/api/tenants",
        Some(
            json!({"name": "", "api_url": "ftp://x", "hot_window_secs": 5,
                    "auth": {"kind": "basic", "username": "u"}, "secret": "s",
                    "payload_strategy": "some"}),
        ),
    );
    assert_eq!(s, 422, "{e}");
    let fields: HashSet<&str> = e["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    for f in ["name", "api_url", "hot_window_secs", "payload_strategy"] {
        assert!(fields.contains(f), "{f} not named: {e}");
    }
    let (s, e) = admin.json(
        Method::POST,
        "/api/tenants",
        Some(json!({"name": "x", "nope": 1})),
    );
    assert_eq!(
        (s, e["fields"][0]["field"].as_str()),
        (422, Some("body")),
        "{e}"
    );
    let (s, e) = admin.json(
        Method::POST,
        "/api/tenants",
        Some(json!({"name": "sim renamed", "api_url": sim.base_url(),
                    "auth": {"kind": "basic", "username": "u"}, "secret": "s"})),
    );
    assert_eq!(
        (s, e["fields"][0]["field"].as_str()),
        (422, Some("name")),
        "taken: {e}"
    );
    // Sync now publishes a job; unknown jobs are named.
    let (s, job) = admin.json(
        Method::POST,
        &format!("/api/tenants/{id}/sync"),
        Some(json!({"job": "packages"})),
    );
    assert_eq!(s, 202, "{job}");
    assert!(job["job_id"].as_str().is_some());
    let (s, e) = admin.json(
        Method::POST,
        &format!("/api/tenants/{id}/sync"),
        Some(json!({"job": "everything"})),
    );
    assert_eq!((s, e["fields"][0]["field"].as_str()), (422, Some("job")));
    // Only admins delete.
    let carol = web.user("carol", "manager", &[]);
    assert_eq!(
        carol
            .json(Method::DELETE, &format!("/api/tenants/{id}"), None)
            .0,
        403
    );
    assert_eq!(
        admin
            .json(Method::DELETE, &format!("/api/tenants/{id}"), None)
            .0,
        204
    );
    assert_eq!(admin.get_json(&format!("/api/tenants/{id}")).0, 404);
}

fn messages_arrive_are_filtered_paged_and_masked(database: Database) {
    let web = Web::up(database, &[("WEB_MASK_ROLES", "user")]);
    let admin = web.admin_token();
    let (_, tenants) = admin.get_json("/api/tenants");
    let demo = tenants[0]["id"].as_i64().expect("the demo tenant");
    // Messages arrive from the simulated tenant, failures among them.
    let failed = admin.wait_json(
        180,
        "failed messages with their details",
        "/api/messages?range=24h&status=FAILED&limit=20",
        |v| {
            let items = v["items"].as_array()?;
            (items.len() >= 3).then(|| items.clone())
        },
    );
    for m in &failed {
        assert_eq!(m["status"], "FAILED");
    }
    let (_, all) = admin.get_json("/api/messages?range=24h&limit=500");
    let facets = &all["facets"];
    let total = facets["total"].as_i64().unwrap();
    assert!(total >= failed.len() as i64, "{facets}");
    let status_sum: i64 = facets["status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["count"].as_i64().unwrap())
        .sum();
    assert_eq!(status_sum, total, "status facets add up: {facets}");
    // Keyset paging: every message of a page-walk once, in order, none twice.
    let mut seen = HashSet::new();
    let mut last: Option<chrono::DateTime<chrono::FixedOffset>> = None;
    let mut after = String::new();
    let to = all["to"].as_str().unwrap().to_string();
    let from = all["from"].as_str().unwrap().to_string();
    let enc = |s: &str| integramon_tests::web::url_encode(&[("x", s)])[2..].to_string();
    for _ in 0..200 {
        let (s, page) = admin.get_json(&format!(
            "/api/messages?from={}&to={}&limit=7&facets=false{after}",
            enc(&from),
            enc(&to)
        ));
        assert_eq!(s, 200, "{page}");
        for m in page["items"].as_array().unwrap() {
            assert!(seen.insert(m["id"].as_i64().unwrap()), "duplicate {m}");
            // Compared as times: the text of whole seconds has no fraction ("…23Z" vs "…23.817Z").
            let end = chrono::DateTime::parse_from_rfc3339(m["log_end"].as_str().unwrap())
                .expect("RFC 3339 log_end");
            if let Some(l) = last {
                assert!(end <= l, "newest first: {end} after {l}");
            }
            last = Some(end);
        }
        match page["next"].as_str() {
            Some(n) => after = format!("&after={}", enc(n)),
            None => break,
        }
    }
    let ids_in_range: HashSet<i64> = ids(&all).into_iter().collect();
    assert!(ids_in_range.is_subset(&seen) || all["next"].is_string());
    // A tampered cursor is a named error.
    let (s, e) = admin.get_json("/api/messages?after=garbage");
    assert_eq!(
        (s, e["fields"][0]["field"].as_str()),
        (422, Some("after")),
        "{e}"
    );
    // Detail: error text, headers, payloads; header filter finds the message. Not every failed
    // message has a payload (only those whose iFlow persists one).
    let (failed_id, detail) = admin.failed_with_payload();
    assert!(detail["masked"].as_array().unwrap().is_empty());
    let payload_id = detail["payloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["has_content"] == true)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, h, _) = admin.get_full(&format!("/api/payloads/{payload_id}"));
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/octet-stream");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    if let Some(header) = detail["headers"].as_array().and_then(|a| a.first()) {
        let name = header["name"].as_str().unwrap();
        let value = header["value"].as_str().unwrap();
        let (s, found) = admin.get_json(&format!(
            "/api/messages?range=24h&header_name={}&header_value={}&limit=500",
            enc(name),
            enc(value)
        ));
        assert_eq!(s, 200);
        assert!(
            ids(&found).contains(&failed_id),
            "header filter finds it: {found}"
        );
        // As a user, values are masked, downloads refused, value filters skip the tenant.
        let user = web.user("una", "user", &[]);
        let (_, d) = user.get_json(&format!("/api/messages/{failed_id}"));
        assert!(
            d["headers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|h| h["value"] == "***"),
            "{d}"
        );
        assert!(d["masked"].as_array().unwrap().contains(&json!("payloads")));
        assert_eq!(user.get_full(&format!("/api/payloads/{payload_id}")).0, 403);
        let (_, found) = user.get_json(&format!(
            "/api/messages?range=24h&header_name={}&header_value={}",
            enc(name),
            enc(value)
        ));
        assert!(ids(&found).is_empty());
        assert_eq!(found["masked_tenants"][0], "demo");
        // Rows stay visible.
        assert!(!ids(&user.get_json("/api/messages?range=24h").1).is_empty());
    }
    // Volume and KPIs come from the rollup.
    let (s, vol) = admin.get_json("/api/messages/volume?bucket=hour");
    assert_eq!(s, 200, "{vol}");
    let vol_total: i64 = vol["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_i64().unwrap())
        .sum();
    assert!(vol_total >= total, "{vol_total} vs {total}");
    let (s, kpis) = admin.get_json(&format!("/api/tenants/{demo}/overview"));
    assert_eq!(s, 200, "{kpis}");
    assert!(kpis["last_24h_total"].as_i64().unwrap() > 0);
    // Restricted users do not see other groups' tenants at all.
    let outsider = web.user("otto", "manager", &["other-team"]);
    assert!(
        outsider
            .get_json("/api/tenants")
            .1
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        outsider.get_json(&format!("/api/messages/{failed_id}")).0,
        404
    );
    assert!(ids(&outsider.get_json("/api/messages?range=24h").1).is_empty());
    assert_eq!(
        outsider
            .get_json(&format!("/api/tenants/{demo}/overview"))
            .0,
        404
    );
}

#[test]
fn messages_arrive_are_filtered_paged_and_masked_on_sqlite() {
    messages_arrive_are_filtered_paged_and_masked(Database::sqlite());
}

#[test]
fn messages_arrive_are_filtered_paged_and_masked_on_postgres() {
    messages_arrive_are_filtered_paged_and_masked(Database::postgres());
}

const XSS: &str = "<script>alert('x')</script><img src=x onerror=alert(1)>";

/// A tenant and a failed message whose every text is hostile, written as collection would.
fn hostile_message(web: &Web) -> i64 {
    use domain::message::{CustomHeader, ErrorInfo, Message, MessageDetails, PayloadEntry};
    use domain::tenant::{Auth, TenantSettings};
    use store::repo::{messages, payloads, tenants};
    store::install_tls_provider();
    web.rt.block_on(async {
        let db = store::connect(&web.database.store_settings()).unwrap();
        let settings = TenantSettings::new(
            format!("evil {XSS}"),
            "https://evil.example/api/v1",
            Auth::Basic {
                username: "u".into(),
            },
        );
        let t = tenants::create(&db, &settings, None).await.unwrap();
        let mut m = Message::new("EVIL-GUID-1", domain::MessageStatus::parse("FAILED"));
        m.log_end = Some(Utc::now() - chrono::Duration::minutes(5));
        m.iflow_id = Some(format!("flow{XSS}"));
        m.iflow_name = Some(format!("Flow {XSS}"));
        m.sender = Some(XSS.into());
        m.alternate_web_link = Some("javascript:alert(document.cookie)".into());
        messages::upsert_messages(&db, t.id, &[m]).await.unwrap();
        let stored = messages::find_message(&db, t.id, "EVIL-GUID-1")
            .await
            .unwrap()
            .unwrap();
        let details = MessageDetails {
            status: domain::MessageStatus::parse("FAILED"),
            headers: Some(vec![CustomHeader::new("Order<b>", XSS)]),
            runs: Some(vec![]),
            error: Some(ErrorInfo {
                error_type: None,
                last_error_model_step_id: None,
                text: Some(format!("boom {XSS}")),
            }),
            attachments: Some(vec![]),
            adapter_attributes: Some(vec![]),
            payloads: Some(vec![PayloadEntry {
                entry_id: "entry-1".into(),
                message_store_id: None,
                timestamp: Some(Utc::now()),
                has_attachments: None,
                retain_until: None,
            }]),
        };
        messages::write_details(&db, stored.id, &details, Utc::now())
            .await
            .unwrap();
        let pending =
            payloads::pending_payloads(&db, t.id, domain::tenant::PayloadStrategy::All, 10)
                .await
                .unwrap();
        payloads::save_payload(
            &db,
            pending[0].id,
            &payloads::Download::Downloaded {
                content: format!("<html><body>{XSS}</body></html>").into_bytes(),
                content_type: Some("text/html".into()),
                sha256: "0".repeat(64),
            },
            Utc::now(),
        )
        .await
        .unwrap();
        db.close().await;
        stored.id
    })
}

#[test]
fn hostile_tenant_data_is_escaped_and_never_rendered_as_html() {
    let web = Web::up(Database::sqlite(), &[("DEMO", "false")]);
    let id = hostile_message(&web);
    let admin = web.admin();
    for page in [
        "/".to_string(),
        "/messages?range=24h".into(),
        format!("/messages/{id}"),
        "/tenants".into(),
    ] {
        let (s, html) = admin.get_text(&page);
        assert_eq!(s, 200, "{page}");
        assert!(
            !html.contains("<script>alert"),
            "{page} renders a tenant's script"
        );
        assert!(
            !html.contains("<img src=x"),
            "{page} renders a tenant's tag"
        );
        assert!(
            !html.contains("javascript:alert"),
            "{page} links to javascript:"
        );
    }
    let (_, detail) = admin.get_text(&format!("/messages/{id}"));
    assert!(
        detail.contains("&lt;script&gt;alert('x')&lt;/script&gt;"),
        "escaped text shown"
    );
    // The payload viewer shows text; the download is never HTML.
    let (_, d) = admin.get_json(&format!("/api/messages/{id}"));
    let pid = d["payloads"][0]["id"].as_i64().unwrap();
    let (s, view) = admin.get_text(&format!("/messages/{id}/payloads/{pid}"));
    assert_eq!(s, 200);
    assert!(
        view.contains("&lt;html&gt;&lt;body&gt;&lt;script&gt;"),
        "{view}"
    );
    let (_, h, body) = admin.get_full(&format!("/api/payloads/{pid}"));
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        body.contains("<script>"),
        "the download is the payload as stored"
    );
    // Every page carries a CSP without inline scripts.
    let (_, h, _) = admin.get_full("/messages");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
}

#[test]
fn sql_metacharacters_in_every_filter_match_literally() {
    let web = Web::up(Database::sqlite(), &[("DEMO", "false")]);
    hostile_message(&web);
    let admin = web.admin_token();
    let nasty = [
        "'",
        "''",
        "%",
        "_",
        "\\",
        "' OR '1'='1",
        "\"; DROP TABLE message_logs; --",
        "%' --",
        "*",
        "\u{0}",
    ];
    let params = [
        "status",
        "iflow",
        "package",
        "message_id",
        "correlation_id",
        "application_id",
        "sender",
        "receiver",
    ];
    let enc = |s: &str| integramon_tests::web::url_encode(&[("x", s)])[2..].to_string();
    for p in params {
        for v in nasty {
            let (s, body) = admin.get_json(&format!("/api/messages?range=30d&{p}={}", enc(v)));
            if v.contains('\u{0}') {
                // Refused for the whole address before any handler (or database) sees it.
                assert_eq!(s, 400, "{p}={v:?}: {body}");
                assert_eq!(body["message"], "the address contains a NUL character");
                continue;
            }
            if p == "status" {
                // Statuses are checked against the known and stored ones: a typo is refused,
                // naming the field, rather than listing nothing.
                assert_eq!(s, 422, "{p}={v:?}: {body}");
                assert_eq!(body["fields"][0]["field"], "status", "{body}");
                continue;
            }
            assert_eq!(s, 200, "{p}={v:?}: {body}");
            assert!(ids(&body).is_empty(), "{p}={v:?} matched: {body}");
        }
    }
    for v in nasty.iter().filter(|v| !v.contains('\u{0}')) {
        let (s, body) = admin.get_json(&format!(
            "/api/messages?range=30d&header_name={}&header_value={}",
            enc(v),
            enc(v)
        ));
        assert_eq!(s, 200, "header {v:?}: {body}");
        assert!(ids(&body).is_empty());
    }
    // The hostile message is still found by its own exact values, and the table is intact.
    let (_, body) = admin.get_json(&format!("/api/messages?range=30d&sender={}", enc(XSS)));
    assert_eq!(ids(&body).len(), 1, "{body}");
    let (_, body) = admin.get_json(&format!(
        "/api/messages?range=30d&header_name={}&header_value={}",
        enc("Order<b>"),
        enc("<script>*")
    ));
    assert_eq!(ids(&body).len(), 1, "prefix match: {body}");
}

#[test]
fn csrf_is_required_for_session_writes_and_logins_are_throttled() {
    let web = Web::up(
        Database::sqlite(),
        &[("DEMO", "false"), ("WEB_LOGIN_MAX_FAILURES", "3")],
    );
    let mut admin = web.admin();
    let csrf = admin.csrf.take().unwrap();
    // Without the token (as a forged cross-site request would be) a session write is refused.
    let (s, e) = admin.json(Method::POST, "/api/tokens", Some(json!({"name": "x"})));
    assert_eq!((s, e["error"].as_str()), (403, Some("forbidden")), "{e}");
    let (s, _, _) = admin.send_form("/account/tokens", &[("name", "x")]);
    assert_eq!(s, 403);
    let (s, _, _) = admin.send_form("/account/tokens", &[("name", "x"), ("csrf", "forged")]);
    assert_eq!(s, 403);
    let (s, _, _) = admin.send_form("/logout", &[("csrf", "forged")]);
    assert_eq!(s, 403);
    assert_eq!(admin.get_json("/api/me").0, 200, "still signed in");
    let (s, h, _) = admin.send_form("/account/tokens", &[("name", "ok"), ("csrf", &csrf)]);
    // Post/redirect/get: the new token is shown on the page the redirect leads to.
    assert_eq!((s, h["location"].to_str().unwrap()), (303, "/account"));
    // A login form without its own token is refused too.
    let anon = web.client();
    let (s, _, _) = anon.send_form("/login", &[("username", ADMIN), ("password", "x")]);
    assert_eq!(s, 403);
    // Throttling: after 3 failures even the right password waits.
    let c = web.client();
    for _ in 0..3 {
        assert!(c.try_login(ADMIN, "wrong password").is_err());
    }
    let (_, page) = c.get_text("/login");
    let token = csrf_of(&page).unwrap();
    let (s, h, _) = c.send_form(
        "/login",
        &[
            ("csrf", &token),
            ("username", ADMIN),
            ("password", integramon_tests::web::ADMIN_PASSWORD),
        ],
    );
    assert_eq!(s, 429);
    assert!(h.contains_key("retry-after"));
    // Logging out ends the session.
    let (s, _, _) = admin.send_form("/logout", &[("csrf", &csrf)]);
    assert_eq!(s, 303);
    assert_eq!(admin.get_json("/api/me").0, 401);
}

#[test]
fn catalog_and_job_routes_answer_with_collected_data() {
    let web = Web::up(Database::sqlite(), &[]);
    let admin = web.admin_token();
    let (_, tenants) = admin.get_json("/api/tenants");
    let demo = tenants[0]["id"].as_i64().expect("demo tenant");
    // Packages, artifacts (design-time and runtime side by side) and the keystore arrive. The
    // packages job writes design-time artifacts before it reads the runtime ones: wait for both.
    let artifacts = admin.wait_json(
        180,
        "deployed artifacts of the demo tenant",
        &format!("/api/tenants/{demo}/artifacts"),
        |v| {
            v.as_array()
                .filter(|a| a.iter().any(|x| x["runtime"].is_object()))
                .cloned()
        },
    );
    assert!(
        artifacts
            .iter()
            .any(|a| a["kind"].is_string() && a["runtime"].is_object()),
        "design-time and runtime side by side: {artifacts:?}"
    );
    let (s, packages) = admin.get_json(&format!("/api/tenants/{demo}/packages"));
    assert_eq!(s, 200);
    assert!(!packages.as_array().unwrap().is_empty());
    let keystore = admin.wait_json(
        120,
        "keystore entries",
        &format!("/api/tenants/{demo}/keystore"),
        |v| v.as_array().filter(|a| !a.is_empty()).cloned(),
    );
    assert!(
        keystore.iter().all(|k| k["expiry"].is_string()),
        "{keystore:?}"
    );
    let (s, e) = admin.get_json(&format!("/api/tenants/{demo}/keystore?expiring=soon"));
    assert_eq!(
        (s, e["fields"][0]["field"].as_str()),
        (422, Some("expiring")),
        "{e}"
    );
    let (s, _) = admin.get_json(&format!(
        "/api/tenants/{demo}/artifacts/no-such-artifact/versions"
    ));
    assert_eq!(s, 404);
    assert_eq!(admin.get_json("/api/tenants/999999/artifacts").0, 404);
    // Job runs, queue depths, submission and its validation, retry of a finished run.
    let runs = admin.wait_json(60, "job runs", "/api/jobs/runs?limit=50", |v| {
        v.as_array().filter(|a| !a.is_empty()).cloned()
    });
    assert!(runs.iter().all(|r| r["tenant_id"] == demo));
    let (s, q) = admin.get_json("/api/jobs/queues");
    assert_eq!(s, 200, "{q}");
    let (s, job) = admin.json(
        Method::POST,
        "/api/jobs",
        Some(json!({"type": "keystore", "tenant": demo, "params": {}})),
    );
    assert_eq!(s, 202, "{job}");
    let (s, e) = admin.json(
        Method::POST,
        "/api/jobs",
        Some(json!({"type": "make_coffee", "tenant": demo})),
    );
    assert_eq!(
        (s, e["fields"][0]["field"].as_str()),
        (422, Some("type")),
        "{e}"
    );
    let (s, e) = admin.json(
        Method::POST,
        "/api/jobs",
        Some(json!({"type": "messages_hot", "tenant": demo, "params": {"from": "yesterday"}})),
    );
    assert_eq!(s, 422, "{e}");
    assert!(
        e["fields"][0]["field"].as_str().unwrap().contains("from"),
        "{e}"
    );
    let succeeded = runs
        .iter()
        .find(|r| r["state"] == "succeeded")
        .expect("a succeeded run");
    let (s, _) = admin.json(
        Method::POST,
        &format!("/api/jobs/{}/retry", succeeded["job_id"].as_str().unwrap()),
        None,
    );
    assert_eq!(s, 409, "only failed or dead runs are retried");
    let user = web.user("uli", "user", &[]);
    assert_eq!(
        user.json(
            Method::POST,
            "/api/jobs",
            Some(json!({"type": "keystore", "tenant": demo}))
        )
        .0,
        403
    );
    // The pages of the same data render.
    let session = web.admin();
    for page in [
        format!("/artifacts?tenant={demo}"),
        format!("/keystore?tenant={demo}&expiring=30"),
        format!("/jobs?tenant={demo}"),
        "/users".to_string(),
    ] {
        let (s, html) = session.get_text(&page);
        assert_eq!(s, 200, "{page}: {html}");
    }
}

#[test]
fn the_app_works_under_a_base_path() {
    let web = Web::up(
        Database::sqlite(),
        &[("DEMO", "false"), ("APP_BASE_PATH", "/monitoring")],
    );
    assert!(web.url.ends_with("/monitoring"));
    let admin = web.admin();
    let (s, html) = admin.get_text("/");
    assert_eq!(s, 200);
    for link in [
        "href=\"/monitoring/messages\"",
        "href=\"/monitoring/static/app.css",
        "action=\"/monitoring/logout\"",
    ] {
        assert!(html.contains(link), "{link} missing");
    }
    assert_eq!(admin.get_json("/api/me").1["username"], ADMIN);
    // Outside the base path there is no app (only the health endpoints).
    let root = integramon_tests::http_get(&web.addr, "/messages").map(|(s, _)| s);
    assert_eq!(root, Some(404));
    let anon = web.client();
    let (s, h, _) = anon.get_full("/messages");
    assert_eq!(s, 303);
    assert!(
        h["location"]
            .to_str()
            .unwrap()
            .starts_with("/monitoring/login?next=%2Fmonitoring%2Fmessages")
    );
    let (_, h, _) = anon.get_full("/login");
    let cookie = h["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Path=/monitoring"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}
