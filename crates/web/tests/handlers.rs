//! Handlers and services in-process (`actix_web::test` over a real SQLite file): tenants, users
//! and tokens, the messages query, archives and job runs, through both the JSON API and the
//! pages where they share a service.

#[macro_use]
mod support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use chrono::{NaiveDate, Utc};
use domain::tenant::JobKind;
use domain::user::Role;
use serde_json::{Value, json};
use store::repo::{archives, tenants};
use support::{bearer, env, get_as};

const SECRET: &str = "s3cr3t-client-value";

fn tenant_body(name: &str) -> Value {
    json!({
        "name": name,
        "api_url": "https://acme.it-cpi018.cfapps.eu10-003.hana.ondemand.com",
        "auth": {"kind": "basic", "username": "monitor"},
        "secret": SECRET,
        "tags": ["prod"],
        "jobs": [
            {"kind": "messages_hot", "enabled": false, "interval_secs": 120},
            {"kind": "archive", "enabled": true, "plan_time": "03:30",
             "archive_older_than_days": 14, "delete_older_than_days": 90}
        ]
    })
}

#[actix_web::test]
async fn tenant_create_saves_its_jobs_and_never_answers_the_secret() {
    let env = env().await;
    let app = app!(env);
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/api/tenants")
            .insert_header(bearer(&env.admin))
            .set_json(tenant_body("prod-eu"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = test::read_body(res).await;
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains(SECRET), "{text}");
    let out: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(out["has_secret"], true);
    let id = out["id"].as_i64().unwrap();
    let hot = out["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "messages_hot")
        .unwrap();
    assert_eq!(hot["enabled"], false);
    assert_eq!(hot["interval_secs"], 120);

    // Stored: the jobs together with the tenant, the secret sealed and opened as a Secret.
    let jobs = tenants::jobs(env.db(), id).await.unwrap();
    let archive = jobs.iter().find(|j| j.kind == JobKind::Archive).unwrap();
    assert_eq!(archive.retention.archive_older_than_days, Some(14));
    let key = env.ctx.settings.secret_key().unwrap();
    let secret = tenants::secret(env.db(), &key, id).await.unwrap().unwrap();
    assert_eq!(secret.expose(), SECRET);

    // Read back, listed, and as an HTML page: never the secret.
    for uri in [
        format!("/api/tenants/{id}"),
        "/api/tenants".into(),
        format!("/tenants/{id}"),
    ] {
        let res = test::call_service(&app, get_as(&uri, &env.admin).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        let body = test::read_body(res).await;
        assert!(!String::from_utf8_lossy(&body).contains(SECRET), "{uri}");
    }
}

#[actix_web::test]
async fn tenant_validation_names_every_field_and_stores_nothing() {
    let env = env().await;
    let app = app!(env);
    let mut body = tenant_body("");
    body["api_url"] = json!("not a url");
    body["jobs"] = json!([{"kind": "messages_hot", "enabled": true, "plan_time": "25:99"}]);
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/api/tenants")
            .insert_header(bearer(&env.admin))
            .set_json(body)
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let raw = test::read_body(res).await;
    assert!(!String::from_utf8_lossy(&raw).contains(SECRET));
    let out: Value = serde_json::from_slice(&raw).unwrap();
    let fields: Vec<&str> = out["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for f in ["name", "api_url", "jobs[0].plan_time"] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    assert!(tenants::list(env.db()).await.unwrap().is_empty());
}

#[actix_web::test]
async fn tenant_form_saves_with_jobs_and_shows_errors_without_the_secret() {
    let env = env().await;
    let app = app!(env);
    let form = [
        ("name", "from-form"),
        (
            "api_url",
            "https://acme.it-cpi018.cfapps.eu10-003.hana.ondemand.com",
        ),
        ("auth_kind", "basic"),
        ("username", "monitor"),
        ("password", SECRET),
        ("enabled", "1"),
        ("tls_verify", "1"),
        ("job_messages_hot_present", "1"),
        ("job_messages_hot_interval", "300"),
    ];
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/tenants")
            .insert_header(bearer(&env.admin))
            .set_form(form)
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let t = tenants::get_by_name(env.db(), "from-form")
        .await
        .unwrap()
        .expect("saved");
    let hot = tenants::jobs(env.db(), t.id)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.kind == JobKind::MessagesHot)
        .unwrap();
    assert!(!hot.enabled, "an unticked box disables the job");
    assert_eq!(hot.interval_secs, Some(300));

    // The same name again: the form comes back with the error, and without the secret.
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/tenants")
            .insert_header(bearer(&env.admin))
            .set_form(form)
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = String::from_utf8_lossy(&test::read_body(res).await).to_string();
    assert!(page.contains("is taken by another tenant"), "{page}");
    assert!(!page.contains(SECRET));
}

#[actix_web::test]
async fn users_are_created_by_admins_and_tokens_belong_to_their_owner() {
    let env = env().await;
    let app = app!(env);
    let password = "a-very-long-initial-password";
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/api/users")
            .insert_header(bearer(&env.admin))
            .set_json(
                json!({"username": "amy", "password": password, "role": "manager",
                             "groups": ["ops"]}),
            )
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let raw = test::read_body(res).await;
    assert!(!String::from_utf8_lossy(&raw).contains(password));
    let amy: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(amy["role"], "manager");
    assert_eq!(amy["must_change_password"], true);

    // A too short password is refused with its field.
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/api/users")
            .insert_header(bearer(&env.admin))
            .set_json(json!({"username": "bob", "password": "short"}))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let out: Value = test::read_body_json(res).await;
    assert_eq!(out["fields"][0]["field"], "password");

    // A non-admin may not list users, but makes and revokes their own tokens.
    let user = env.user("uma", Role::User, &[]).await;
    let res = test::call_service(&app, get_as("/api/users", &user).to_request()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/api/tokens")
            .insert_header(bearer(&user))
            .set_json(json!({"name": "ci", "days": 30}))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let made: Value = test::read_body_json(res).await;
    let new_token = made["token"].as_str().unwrap().to_string();
    let token_id = made["id"].as_i64().unwrap();
    // The new token works.
    let res = test::call_service(&app, get_as("/api/me", &new_token).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = test::read_body_json(res).await;
    assert_eq!(me["username"], "uma");
    // Listed without its secret.
    let res = test::call_service(&app, get_as("/api/tokens", &user).to_request()).await;
    let raw = test::read_body(res).await;
    assert!(!String::from_utf8_lossy(&raw).contains(&new_token));
    let listed: Value = serde_json::from_slice(&raw).unwrap();
    assert!(listed.as_array().unwrap().iter().any(|t| t["name"] == "ci"));
    // Another user cannot revoke it (404, as if it did not exist); its owner can.
    let other = env.user("olga", Role::Manager, &[]).await;
    let revoke = |token: &str| {
        TestRequest::delete()
            .uri(&format!("/api/tokens/{token_id}"))
            .insert_header(bearer(token))
            .to_request()
    };
    let res = test::call_service(&app, revoke(&other)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = test::call_service(&app, revoke(&user)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = test::call_service(&app, get_as("/api/me", &new_token).to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn the_messages_query_answers_the_api_and_the_page_and_names_bad_filters() {
    let env = env().await;
    let app = app!(env);
    let res = test::call_service(
        &app,
        get_as("/api/messages?range=1h&status=FAILED", &env.admin).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let out: Value = test::read_body_json(res).await;
    assert_eq!(out["items"], json!([]));
    assert!(out["from"].is_string() && out["to"].is_string());

    let res = test::call_service(
        &app,
        get_as("/api/messages?sort=sideways", &env.admin).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let out: Value = test::read_body_json(res).await;
    assert_eq!(out["fields"][0]["field"], "sort");

    let res = test::call_service(&app, get_as("/messages?range=1h", &env.admin).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn archives_are_listed_for_the_tenants_you_may_see() {
    let env = env().await;
    let app = app!(env);
    let mut s = domain::tenant::TenantSettings::new(
        "grouped",
        "https://tenant.example.com",
        domain::tenant::Auth::Basic {
            username: "u".into(),
        },
    );
    s.access_groups = vec!["ops".into()];
    let t = tenants::create(env.db(), &s, None).await.unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    archives::begin_day(
        env.db(),
        t.id,
        day,
        "grouped-2026-11-20.jsonl.gz",
        "archive/grouped-2026-11-20.jsonl.gz",
        Utc::now(),
    )
    .await
    .unwrap();

    let list = |token: &str| get_as("/api/archives", token).to_request();
    let res = test::call_service(&app, list(&env.admin)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let out: Value = test::read_body_json(res).await;
    let rows = out.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["tenant_id"], t.id);
    assert_eq!(rows[0]["day"], "2026-11-20");

    let outsider = env.user("outsider", Role::User, &["elsewhere"]).await;
    let res = test::call_service(&app, list(&outsider)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let out: Value = test::read_body_json(res).await;
    assert_eq!(out, json!([]));

    let res = test::call_service(
        &app,
        get_as("/api/archives?limit=0", &env.admin).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let res = test::call_service(&app, get_as("/archives", &env.admin).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = String::from_utf8_lossy(&test::read_body(res).await).to_string();
    assert!(page.contains("2026-11-20"), "{page}");
}

#[actix_web::test]
async fn a_sync_request_is_listed_among_the_job_runs() {
    let env = env().await;
    let app = app!(env);
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/api/tenants")
            .insert_header(bearer(&env.admin))
            .set_json(tenant_body("runs"))
            .to_request(),
    )
    .await;
    let t: Value = test::read_body_json(res).await;
    let id = t["id"].as_i64().unwrap();
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri(&format!("/api/tenants/{id}/sync"))
            .insert_header(bearer(&env.admin))
            .set_json(json!({"job": "packages"}))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let submitted: Value = test::read_body_json(res).await;

    let res = test::call_service(
        &app,
        get_as(&format!("/api/jobs/runs?tenant={id}"), &env.admin).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let runs: Value = test::read_body_json(res).await;
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["job_id"], submitted["job_id"]);
    assert_eq!(runs[0]["tenant"], "runs");

    let res = test::call_service(
        &app,
        get_as("/api/jobs/runs?state=sideways", &env.admin).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let res = test::call_service(&app, get_as("/jobs", &env.admin).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn page_errors_are_html_and_the_account_page_revokes_only_your_own_tokens() {
    let env = env().await;
    let app = app!(env);
    let res = test::call_service(&app, get_as("/tenants/424242", &env.admin).to_request()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let ct = res.headers().get("content-type").unwrap().to_str().unwrap();
    assert!(ct.starts_with("text/html"), "{ct}");
    let page = String::from_utf8_lossy(&test::read_body(res).await).to_string();
    assert!(page.contains("404"), "{page}");

    // Uma's token: the API lets an admin revoke it, the account page does not (it lists only
    // your own tokens).
    let uma = env.user("uma", Role::User, &[]).await;
    let res = test::call_service(&app, get_as("/api/tokens", &uma).to_request()).await;
    let listed: Value = test::read_body_json(res).await;
    let id = listed[0]["id"].as_i64().unwrap();
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri(&format!("/account/tokens/{id}/revoke"))
            .insert_header(bearer(&env.admin))
            .set_form([("csrf", "")])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = test::call_service(
        &app,
        TestRequest::delete()
            .uri(&format!("/api/tokens/{id}"))
            .insert_header(bearer(&env.admin))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[test]
fn form_and_json_types_holding_secrets_print_no_secret_in_debug() {
    let tenant: integramon_web::service::tenants::TenantIn = serde_json::from_value(json!({
        "name": "t", "secret": SECRET, "service_key": format!("{{\"clientsecret\":\"{SECRET}\"}}")
    }))
    .unwrap();
    let user: integramon_web::service::users::UserIn =
        serde_json::from_value(json!({"username": "amy", "password": SECRET})).unwrap();
    let update: integramon_web::service::users::UserUpdateIn =
        serde_json::from_value(json!({"role": "user", "active": true, "password": SECRET}))
            .unwrap();
    let password: integramon_web::service::users::PasswordIn =
        serde_json::from_value(json!({"current": SECRET, "new_password": SECRET})).unwrap();
    let shown = format!("{tenant:?} {user:?} {update:?} {password:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("***"), "{shown}");
}
