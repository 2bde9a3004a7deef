//! Error groups through the JSON API and the pages, in-process on SQLite and PostgreSQL: failed
//! messages are written the way the worker writes them (the message, then its details with the
//! error text; the store groups them in that transaction), then listed, filtered, sorted, paged,
//! acted on (managers only), masked (`WEB_MASK_ERRORS`) and escaped.

#[macro_use]
mod support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use chrono::{DateTime, Duration, Utc};
use domain::message::{ErrorInfo, Message, MessageDetails};
use domain::status::MessageStatus;
use domain::tenant::{Auth, Tenant, TenantSettings};
use domain::user::Role;
use serde_json::{Value, json};
use store::repo::{messages, tenants};
use support::{Backend, Env, bearer, env_with, get_as};

/// Run a test body on both backends.
macro_rules! on_both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$body(super::Backend::Sqlite).await;
            }
            #[actix_web::test]
            async fn postgres() {
                super::$body(super::Backend::Postgres).await;
            }
        }
    };
}

const T401: &str = "com.sap.it.rt.adapter.http.api.exception.HttpResponseException: An internal \
    server error occured: HTTP 401 Unauthorized for https://erp.example.com/sap/opu/odata/ORDERS(4711)";
const T500: &str = "com.sap.it.rt.adapter.http.api.exception.HttpResponseException: An internal \
    server error occured: HTTP 500 Internal Server Error for https://erp.example.com/sap/opu/odata/ORDERS(4711)";
const SCRIPT: &str =
    "javax.script.ScriptException: <script>alert('xss')</script> failed for order 12345";

async fn tenant(env: &Env, name: &str, tags: &[&str], groups: &[&str]) -> Tenant {
    let mut s = TenantSettings::new(
        name,
        "https://tenant.example.com",
        Auth::Basic {
            username: "u".into(),
        },
    );
    s.collection.tags = tags.iter().map(|t| t.to_string()).collect();
    s.access_groups = groups.iter().map(|g| g.to_string()).collect();
    tenants::create(env.db(), &s, None).await.expect("tenant")
}

/// A failed message of `iflow` with `text`, ending at `at`; its id.
async fn failed(
    env: &Env,
    tenant: i64,
    guid: &str,
    iflow: &str,
    text: &str,
    at: DateTime<Utc>,
) -> i64 {
    let mut m = Message::new(guid, MessageStatus::Failed);
    m.iflow_id = Some(iflow.into());
    m.iflow_name = Some(iflow.into());
    m.package_id = Some(format!("pkg_{iflow}"));
    m.log_start = Some(at - Duration::seconds(2));
    m.log_end = Some(at);
    messages::upsert_messages(env.db(), tenant, &[m])
        .await
        .expect("upsert");
    let id = messages::find_message(env.db(), tenant, guid)
        .await
        .expect("find")
        .expect("stored")
        .id;
    let mut d = MessageDetails::empty(MessageStatus::Failed);
    d.error = Some(ErrorInfo {
        error_type: Some("text/plain".into()),
        last_error_model_step_id: None,
        text: Some(text.into()),
    });
    messages::write_details(env.db(), id, &d, at)
        .await
        .expect("details");
    id
}

/// `get_json!(app, uri, token)`: status and JSON body (Null when not JSON).
macro_rules! get_json {
    ($app:expr, $uri:expr, $token:expr) => {{
        let res = test::call_service($app, get_as($uri, $token).to_request()).await;
        let status = res.status();
        let body = test::read_body(res).await;
        (
            status,
            serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
        )
    }};
}

/// `get_text!(app, uri, token)`: status and body as text.
macro_rules! get_text {
    ($app:expr, $uri:expr, $token:expr) => {{
        let res = test::call_service($app, get_as($uri, $token).to_request()).await;
        let status = res.status();
        let body = test::read_body(res).await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }};
}

/// `post_json!(app, uri, token, body)`: status and JSON answer.
macro_rules! post_json {
    ($app:expr, $uri:expr, $token:expr, $body:expr) => {{
        let res = test::call_service(
            $app,
            TestRequest::post()
                .uri($uri)
                .insert_header(bearer($token))
                .set_json($body)
                .to_request(),
        )
        .await;
        let status = res.status();
        let body = test::read_body(res).await;
        (
            status,
            serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
        )
    }};
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().expect("items")
}

fn field(v: &Value) -> &str {
    v["fields"][0]["field"].as_str().unwrap_or("")
}

/// Three groups on one tenant: 401 ×3 and 500 ×1 on `Orders`, the script error ×2 on
/// `Invoices`; their ids by text.
struct Seeded {
    tenant: Tenant,
    g401: i64,
    g500: i64,
    gscript: i64,
    messages_401: Vec<i64>,
}

async fn seed(env: &Env) -> Seeded {
    let t = tenant(env, "prod", &[], &[]).await;
    let now = Utc::now();
    let mut messages_401 = Vec::new();
    for i in 0..3 {
        // The same problem with another order number: one group.
        let text = T401.replace("4711", &format!("{}", 4711 + i));
        messages_401.push(
            failed(
                env,
                t.id,
                &format!("AGa{i}"),
                "Orders",
                &text,
                now - Duration::minutes(30 + i),
            )
            .await,
        );
    }
    failed(env, t.id, "AGb0", "Orders", T500, now - Duration::hours(3)).await;
    for i in 0..2 {
        failed(
            env,
            t.id,
            &format!("AGc{i}"),
            "Invoices",
            SCRIPT,
            now - Duration::minutes(10 + i),
        )
        .await;
    }
    let app = app!(env);
    let (s, list) = get_json!(&app, "/api/error-groups?range=24h&limit=50", &env.admin);
    assert_eq!(s, StatusCode::OK, "{list}");
    let by = |needle: &str| {
        items(&list)
            .iter()
            .find(|g| g["title"].as_str().unwrap_or("").contains(needle))
            .unwrap_or_else(|| panic!("no group with {needle}: {list}"))["id"]
            .as_i64()
            .unwrap()
    };
    Seeded {
        g401: by("401"),
        g500: by("500"),
        gscript: by("ScriptException"),
        tenant: t,
        messages_401,
    }
}

async fn list_filter_sort_and_page(backend: Backend) {
    let env = env_with(backend, &[]).await;
    let s = seed(&env).await;
    let app = app!(env);
    let (status, list) = get_json!(&app, "/api/error-groups?range=24h", &env.admin);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(items(&list).len(), 3, "{list}");
    let g = items(&list).iter().find(|g| g["id"] == s.g401).unwrap();
    assert_eq!(g["tenant_id"], s.tenant.id);
    assert_eq!(g["tenant"], "prod");
    assert_eq!(g["iflow"], "Orders");
    assert_eq!(g["state"], "new");
    assert_eq!(g["occurrences"], 3);
    assert_eq!(g["total_occurrences"], 3);
    assert_eq!(g["sparkline"].as_array().unwrap().len(), 14);
    assert_eq!(g["sparkline"][13], 3, "today's bar: {g}");
    assert!(g["first_seen"].is_string() && g["last_seen"].is_string());
    assert_eq!(g["outdated"], false);

    // Filters.
    let ids = |v: &Value| {
        items(v)
            .iter()
            .map(|g| g["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let (_, v) = get_json!(&app, "/api/error-groups?iflow=Invoices", &env.admin);
    assert_eq!(ids(&v), vec![s.gscript]);
    let (_, v) = get_json!(&app, "/api/error-groups?q=401", &env.admin);
    assert_eq!(ids(&v), vec![s.g401]);
    let (_, v) = get_json!(
        &app,
        "/api/error-groups?package=pkg_Orders&sort=first_seen",
        &env.admin
    );
    assert_eq!(ids(&v), vec![s.g401, s.g500], "first seen, newest first");
    let (_, v) = get_json!(
        &app,
        &format!("/api/error-groups?tenant={}&state=new", s.tenant.id),
        &env.admin
    );
    assert_eq!(ids(&v).len(), 3);
    let (_, v) = get_json!(&app, "/api/error-groups?state=resolved", &env.admin);
    assert!(ids(&v).is_empty());
    // The 500 is 3 hours old: outside a 1-hour range it counts nothing there.
    let (_, v) = get_json!(
        &app,
        "/api/error-groups?range=1h&sort=occurrences",
        &env.admin
    );
    let got = ids(&v);
    assert_eq!(
        got[..2],
        [s.g401, s.gscript],
        "most occurrences in range first: {v}"
    );
    if let Some(g) = items(&v).iter().find(|g| g["id"] == s.g500) {
        assert_eq!(g["occurrences"], 0);
        assert_eq!(g["total_occurrences"], 1);
    }

    // Keyset paging visits every group once.
    let mut seen = Vec::new();
    let mut uri = "/api/error-groups?limit=1&range=24h".to_string();
    loop {
        let (status, page) = get_json!(&app, &uri, &env.admin);
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => {
                uri = format!("/api/error-groups?limit=1&range=24h&after={}", urlenc(next))
            }
            None => break,
        }
        assert!(seen.len() <= 3, "paging does not end: {seen:?}");
    }
    seen.sort_unstable();
    let mut all = vec![s.g401, s.g500, s.gscript];
    all.sort_unstable();
    assert_eq!(seen, all);

    // Bad parameters are named.
    for (q, f) in [
        ("state=open", "state"),
        ("sort=title", "sort"),
        ("limit=0", "limit"),
        ("range=2y", "range"),
        ("tenant=x", "tenant"),
        ("from=yesterday", "from"),
    ] {
        let (status, e) = get_json!(&app, &format!("/api/error-groups?{q}"), &env.admin);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {e}");
        assert_eq!(field(&e), f, "{q}: {e}");
    }

    // One group: history and sample.
    let (status, d) = get_json!(&app, &format!("/api/error-groups/{}", s.g401), &env.admin);
    assert_eq!(status, StatusCode::OK, "{d}");
    assert!(
        d["sample_text"].as_str().unwrap().contains("HTTP 401"),
        "{d}"
    );
    assert!(d["template"].as_str().unwrap().contains("401"), "{d}");
    assert!(
        s.messages_401
            .contains(&d["sample_message_id"].as_i64().unwrap())
    );
    assert!(d["history"].is_array());
    let hourly: i64 = d["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["count"].as_i64().unwrap())
        .sum();
    assert_eq!(hourly, 3, "{d}");
    assert_eq!(
        get_json!(&app, "/api/error-groups/999999", &env.admin).0,
        StatusCode::NOT_FOUND
    );

    // The pages.
    let (status, html) = get_text!(&app, "/errors?range=24h&sort=occurrences", &env.admin);
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"error-groups\""), "{html}");
    assert!(html.contains(&format!("href=\"/errors/{}\"", s.g401)));
    assert!(html.contains("svg class=\"spark\""));
    let (status, html) = get_text!(&app, "/errors?state=bogus", &env.admin);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("State"), "{html}");
    let (status, html) = get_text!(&app, &format!("/errors/{}", s.g401), &env.admin);
    assert_eq!(status, StatusCode::OK);
    for part in [
        "id=\"sample-text\"",
        "id=\"group-template\"",
        "<polyline",
        "id=\"group-actions\"",
    ] {
        assert!(html.contains(part), "{part} missing");
    }
    assert!(
        html.contains(&format!("error_group={}", s.g401)),
        "affected messages link"
    );
}
on_both!(list_filter_sort_and_page_on, list_filter_sort_and_page);

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn actions_and_permissions(backend: Backend) {
    let env = env_with(backend, &[]).await;
    let s = seed(&env).await;
    let other = tenant(&env, "other", &[], &[]).await;
    failed(&env, other.id, "AGz0", "Orders", T401, Utc::now()).await;
    let app = app!(env);
    let user = env.user("ursula", Role::User, &[]).await;
    let manager = env.user("manny", Role::Manager, &[]).await;
    let g = |verb: &str, id: i64| format!("/api/error-groups/{id}/{verb}");

    // Users read but do not act.
    assert_eq!(
        get_json!(&app, &format!("/api/error-groups/{}", s.g401), &user).0,
        StatusCode::OK
    );
    for verb in ["resolve", "ignore", "reopen", "unmerge"] {
        let (status, e) = post_json!(&app, &g(verb, s.g401), &user, json!({"mode": "forever"}));
        assert_eq!(status, StatusCode::FORBIDDEN, "{verb}: {e}");
    }
    let (status, _) = post_json!(&app, &g("merge", s.g401), &user, json!({"from": [s.g500]}));
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Resolve with a comment: recorded with who and why.
    let (status, d) = post_json!(
        &app,
        &g("resolve", s.g401),
        &manager,
        json!({"comment": "ERP password rotated"})
    );
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["state"], "resolved");
    assert_eq!(d["resolve_mode"], "now");
    let last = &d["history"][0];
    assert_eq!(last["actor"], "manny", "{d}");
    assert_eq!(last["comment"], "ERP password rotated");
    assert_eq!(last["to_state"], "resolved");
    let (_, v) = get_json!(&app, "/api/error-groups?state=resolved", &env.admin);
    assert_eq!(items(&v).len(), 1);
    let (status, e) = post_json!(
        &app,
        &g("resolve", s.g500),
        &manager,
        json!({"mode": "later"})
    );
    assert_eq!(
        (status, field(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "mode")
    );
    let (status, d) = post_json!(
        &app,
        &g("resolve", s.g500),
        &manager,
        json!({"mode": "next_deployment"})
    );
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["resolve_mode"], "next_deployment");

    // Reopen (an empty body is fine).
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri(&g("reopen", s.g401))
            .insert_header(bearer(&manager))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let d: Value = test::read_body_json(res).await;
    assert_ne!(d["state"], "resolved");

    // Ignore: every condition's problems name their field; a good one is kept.
    for (body, f) in [
        (json!({"mode": "snooze"}), "mode"),
        (json!({"mode": "until"}), "until"),
        (
            json!({"mode": "until", "until": "2001-01-01T00:00:00Z"}),
            "until",
        ),
        (json!({"mode": "occurrences", "count": 0}), "count"),
        (json!({"mode": "rate", "count": 5}), "window_minutes"),
        (json!({"mode": "forever", "extra": 1}), "body"),
    ] {
        let (status, e) = post_json!(&app, &g("ignore", s.gscript), &manager, body.clone());
        assert_eq!(
            (status, field(&e)),
            (StatusCode::UNPROCESSABLE_ENTITY, f),
            "{body}: {e}"
        );
    }
    let (status, d) = post_json!(
        &app,
        &g("ignore", s.gscript),
        &manager,
        json!({"mode": "rate", "count": 10, "window_minutes": 60, "comment": "known"})
    );
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["state"], "ignored");
    assert_eq!(d["ignore"]["mode"], "rate");
    assert_eq!(d["ignore"]["count"], 10);
    assert_eq!(d["ignore"]["window_minutes"], 60);

    // Merge and unmerge.
    let (_, other_list) = get_json!(
        &app,
        &format!("/api/error-groups?tenant={}", other.id),
        &env.admin
    );
    let foreign = items(&other_list)[0]["id"].as_i64().unwrap();
    let (status, e) = post_json!(
        &app,
        &g("merge", s.g401),
        &manager,
        json!({"from": [foreign]})
    );
    assert_eq!(
        (status, field(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "from"),
        "another tenant: {e}"
    );
    let (status, e) = post_json!(
        &app,
        &g("merge", s.g401),
        &manager,
        json!({"from": [s.g401]})
    );
    assert_eq!(
        (status, field(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "from"),
        "itself: {e}"
    );
    let (status, e) = post_json!(&app, &g("merge", s.g401), &manager, json!({"from": []}));
    assert_eq!(
        (status, field(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "from"),
        "{e}"
    );
    let (status, d) = post_json!(
        &app,
        &g("merge", s.g401),
        &manager,
        json!({"from": [s.g500]})
    );
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["merged"], json!([s.g500]));
    let (_, merged) = get_json!(&app, &format!("/api/error-groups/{}", s.g500), &manager);
    assert_eq!(merged["merged_into"], s.g401);
    let (status, d) = post_json!(&app, &g("unmerge", s.g500), &manager, json!({}));
    assert_eq!(status, StatusCode::OK, "{d}");
    assert!(d["merged_into"].is_null(), "{d}");
    let (status, _) = post_json!(&app, &g("unmerge", s.g500), &manager, json!({}));
    assert_eq!(status, StatusCode::CONFLICT, "no longer merged");

    // A group of a tenant the user cannot see is not found, for reading and acting alike.
    let outsider = env.user("outsider", Role::Manager, &["elsewhere"]).await;
    assert_eq!(
        get_json!(&app, &format!("/api/error-groups/{}", s.g401), &outsider).0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post_json!(&app, &g("resolve", s.g401), &outsider, json!({})).0,
        StatusCode::NOT_FOUND
    );
    let (_, v) = get_json!(&app, "/api/error-groups", &outsider);
    assert!(items(&v).is_empty(), "{v}");

    // The actions are in the audit log.
    let (_, audit) = get_json!(&app, "/api/audit?object_type=error_group", &env.admin);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "error_group.resolved",
        "error_group.ignored",
        "error_group.reopened",
        "error_group.merged",
        "error_group.unmerged",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }

    // The page's forms: post, then redirect to the group's page; field problems shown there.
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri(&format!("/errors/{}/resolve", s.g401))
            .insert_header(bearer(&manager))
            .set_form([("mode", "now"), ("comment", "from the page")])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers().get("location").unwrap().to_str().unwrap(),
        format!("/errors/{}?done=resolved", s.g401)
    );
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri(&format!("/errors/{}/ignore", s.g500))
            .insert_header(bearer(&manager))
            .set_form([("mode", "occurrences"), ("count", "many")])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
    // Named by its label (issue 17: form errors use the field's label).
    assert!(html.contains("<strong>Count</strong>"), "{html}");
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri(&format!("/errors/{}/resolve", s.g500))
            .insert_header(bearer(&user))
            .set_form([("mode", "now")])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Users see no action forms.
    let (_, html) = get_text!(&app, &format!("/errors/{}", s.g500), &user);
    assert!(!html.contains("id=\"group-actions\""));
}
on_both!(actions_and_permissions_on, actions_and_permissions);

async fn masking(backend: Backend) {
    let env = env_with(
        backend,
        &[("WEB_MASK_ROLES", "user"), ("WEB_MASK_ERRORS", "true")],
    )
    .await;
    let s = seed(&env).await;
    let app = app!(env);
    let user = env.user("ursula", Role::User, &[]).await;
    let (_, v) = get_json!(&app, "/api/error-groups", &user);
    assert_eq!(items(&v).len(), 3, "masked users still see the groups");
    assert!(
        items(&v)
            .iter()
            .all(|g| g["title"] == "***" && g["masked"] == true),
        "{v}"
    );
    let (_, d) = get_json!(&app, &format!("/api/error-groups/{}", s.g401), &user);
    assert_eq!(
        (
            d["title"].as_str(),
            d["template"].as_str(),
            d["sample_text"].as_str()
        ),
        (Some("***"), Some("***"), Some("***"))
    );
    // A text search would reveal masked texts: the tenant is left out and named.
    let (_, v) = get_json!(&app, "/api/error-groups?q=401", &user);
    assert!(items(&v).is_empty());
    assert_eq!(v["masked_tenants"], json!(["prod"]));
    for uri in [
        "/errors".to_string(),
        format!("/errors/{}", s.g401),
        format!("/messages/{}", s.messages_401[0]),
    ] {
        let (status, html) = get_text!(&app, &uri, &user);
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(!html.contains("HTTP 401"), "{uri} shows the error text");
    }
    let (_, m) = get_json!(&app, &format!("/api/messages/{}", s.messages_401[0]), &user);
    assert_eq!(m["error"]["text"], "***", "{m}");
    // Managers are not masked here: they read everything.
    let manager = env.user("manny", Role::Manager, &[]).await;
    let (_, d) = get_json!(&app, &format!("/api/error-groups/{}", s.g401), &manager);
    assert!(d["sample_text"].as_str().unwrap().contains("HTTP 401"));

    // Without WEB_MASK_ERRORS the same user reads the texts (an error text is not a payload).
    let env = env_with(backend, &[("WEB_MASK_ROLES", "user")]).await;
    let s = seed(&env).await;
    let app = app!(env);
    let user = env.user("ursula", Role::User, &[]).await;
    let (_, d) = get_json!(&app, &format!("/api/error-groups/{}", s.g401), &user);
    assert!(
        d["sample_text"].as_str().unwrap().contains("HTTP 401"),
        "{d}"
    );
    assert_eq!(d["masked"], false);
}
on_both!(masking_on, masking);

async fn hostile_texts(backend: Backend) {
    let env = env_with(backend, &[]).await;
    let t = tenant(&env, "prod", &[], &[]).await;
    let now = Utc::now();
    // `<script>` in the text and in the iFlow, 1 MB, and what a lossy decoding of invalid
    // UTF-8 leaves (replacement characters) with control characters.
    let big = format!(
        "java.lang.RuntimeException: <img src=x onerror=alert(1)> {}",
        "A<b>".repeat(256 * 1024)
    );
    let lossy = "Error \u{FFFD}\u{FFFD} in <script>document.cookie</script> \u{1b}[31m";
    failed(&env, t.id, "AGh0", "<script>flow</script>", SCRIPT, now).await;
    failed(&env, t.id, "AGh1", "Big", &big, now).await;
    failed(&env, t.id, "AGh2", "Lossy", lossy, now).await;
    let app = app!(env);
    let (status, v) = get_json!(&app, "/api/error-groups", &env.admin);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(items(&v).len(), 3, "{v}");
    let mut pages = vec!["/errors".to_string()];
    for g in items(&v) {
        pages.push(format!("/errors/{}", g["id"]));
        let (status, d) = get_json!(&app, &format!("/api/error-groups/{}", g["id"]), &env.admin);
        assert_eq!(status, StatusCode::OK);
        assert!(
            d["title"].as_str().unwrap().chars().count() <= 200,
            "{}",
            d["title"]
        );
    }
    for uri in pages {
        let (status, html) = get_text!(&app, &uri, &env.admin);
        assert_eq!(status, StatusCode::OK, "{uri}");
        for raw in ["<script>", "<img src=x", "<b>"] {
            assert!(!html.contains(raw), "{uri} renders {raw:?} as markup");
        }
        // The only script is the app's own file (CSP: no inline scripts).
        assert_eq!(html.matches("<script").count(), 1, "{uri}");
    }
}
on_both!(hostile_texts_on, hostile_texts);

async fn error_group_filter_on_messages(backend: Backend) {
    let env = env_with(backend, &[]).await;
    let s = seed(&env).await;
    let app = app!(env);
    let (status, v) = get_json!(
        &app,
        &format!("/api/messages?range=24h&error_group={}", s.g401),
        &env.admin
    );
    assert_eq!(status, StatusCode::OK, "{v}");
    let mut got: Vec<i64> = items(&v)
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    got.sort_unstable();
    let mut want = s.messages_401.clone();
    want.sort_unstable();
    assert_eq!(got, want);
    assert!(items(&v).iter().all(|m| m["error_group"] == s.g401), "{v}");
    let (_, all) = get_json!(&app, "/api/messages?range=24h", &env.admin);
    assert_eq!(items(&all).len(), 6);
    assert!(
        items(&all).iter().all(|m| m["error_group"].is_i64()),
        "{all}"
    );
    let (status, e) = get_json!(&app, "/api/messages?error_group=abc", &env.admin);
    assert_eq!(
        (status, field(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "error_group")
    );
    // The page keeps the filter and says so; a message links to its group.
    let (status, html) = get_text!(
        &app,
        &format!("/messages?range=24h&error_group={}", s.g401),
        &env.admin
    );
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("name=\"error_group\" value=\"{}\"", s.g401)),
        "{html}"
    );
    let (_, html) = get_text!(
        &app,
        &format!("/messages/{}", s.messages_401[0]),
        &env.admin
    );
    assert!(
        html.contains(&format!("href=\"/errors/{}\"", s.g401)),
        "message → group link"
    );
}
on_both!(
    error_group_filter_on_messages_on,
    error_group_filter_on_messages
);

async fn overview_cards(backend: Backend) {
    let env = env_with(backend, &[]).await;
    let s = seed(&env).await;
    let app = app!(env);
    let (status, html) = get_text!(&app, "/", &env.admin);
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"error-cards\""));
    assert!(html.contains("New error groups"));
    // Three new groups.
    let cards = html.split("id=\"error-cards\"").nth(1).unwrap();
    assert!(cards.contains("<div class=\"value\">3</div>"), "{cards}");
    let _ = s;
    // The nav links to the Errors page.
    assert!(html.contains("href=\"/errors\""));
}
on_both!(overview_cards_on, overview_cards);

async fn rules_crud(backend: Backend) {
    let env = env_with(backend, &[]).await;
    let app = app!(env);
    let user = env.user("ursula", Role::User, &[]).await;
    let manager = env.user("manny", Role::Manager, &[]).await;
    let rule = json!({"iflow": "Orders*", "text_glob": "*HTTP 401*", "fingerprint": "erp-auth", "title": "ERP <auth>"});
    let (status, _) = post_json!(&app, "/api/error-rules", &user, rule.clone());
    assert_eq!(status, StatusCode::FORBIDDEN, "users read, managers act");
    for (body, f) in [
        (
            json!({"text_regex": "(unclosed", "fingerprint": "x"}),
            "text_regex",
        ),
        (json!({"text_glob": "*", "fingerprint": ""}), "fingerprint"),
        (json!({"fingerprint": "x"}), "iflow"),
        (
            json!({"iflow": "a", "fingerprint": "x".repeat(201)}),
            "fingerprint",
        ),
    ] {
        let (status, e) = post_json!(&app, "/api/error-rules", &manager, body.clone());
        assert_eq!(
            (status, field(&e)),
            (StatusCode::UNPROCESSABLE_ENTITY, f),
            "{body}: {e}"
        );
    }
    let (status, first) = post_json!(&app, "/api/error-rules", &manager, rule.clone());
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["position"], 1);
    assert_eq!(first["fingerprint"], "erp-auth");
    let (status, second) = post_json!(
        &app,
        "/api/error-rules",
        &manager,
        json!({"status": "failed", "fingerprint": "all-failed"})
    );
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["status"], "failed");
    let (status, list) = get_json!(&app, "/api/error-rules", &user);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);
    // Move the second to the top.
    let id2 = second["id"].as_i64().unwrap();
    let (status, order) = post_json!(
        &app,
        &format!("/api/error-rules/{id2}/move"),
        &manager,
        json!({"position": 1})
    );
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order[0]["id"], id2);
    let (status, e) = post_json!(
        &app,
        &format!("/api/error-rules/{id2}/move"),
        &manager,
        json!({"position": 9})
    );
    assert_eq!(
        (status, field(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "position")
    );
    // Update and delete.
    let id1 = first["id"].as_i64().unwrap();
    let res = test::call_service(
        &app,
        TestRequest::put()
            .uri(&format!("/api/error-rules/{id1}"))
            .insert_header(bearer(&manager))
            .set_json(
                json!({"iflow": "Orders*", "text_regex": "HTTP 40[13]", "fingerprint": "erp-auth"}),
            )
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let updated: Value = test::read_body_json(res).await;
    assert_eq!(updated["text_regex"], "HTTP 40[13]");
    let res = test::call_service(
        &app,
        TestRequest::delete()
            .uri(&format!("/api/error-rules/{id2}"))
            .insert_header(bearer(&manager))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (_, list) = get_json!(&app, "/api/error-rules", &user);
    assert_eq!(list.as_array().unwrap().len(), 1);
    // The page: managers only, titles escaped, a bad regex shown on the form.
    assert_eq!(
        get_text!(&app, "/errors/rules", &user).0,
        StatusCode::FORBIDDEN
    );
    let (status, html) = get_text!(&app, "/errors/rules", &manager);
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("erp-auth"));
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/errors/rules")
            .insert_header(bearer(&manager))
            .set_form([("text_regex", "(x"), ("fingerprint", "bad")])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
    assert!(html.contains("<strong>Text regex</strong>"), "{html}");
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/errors/rules")
            .insert_header(bearer(&manager))
            .set_form([
                ("iflow", "Inv*"),
                ("fingerprint", "inv"),
                ("title", "<script>x</script>"),
            ])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, html) = get_text!(&app, "/errors/rules?done=created", &manager);
    assert!(html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>x"));
}
on_both!(rules_crud_on, rules_crud);
