//! `GET /api/tenants/{id}/resources` and the overview's Resources panel, on SQLite and
//! PostgreSQL: empty before the job's first run, the stored broker and data stores after it
//! (with the limits over and the overdue stores), 404 for a tenant the user may not see, and
//! the route in the OpenAPI document.

#[macro_use]
mod support;

use actix_web::http::StatusCode;
use actix_web::test;
use chrono::Utc;
use domain::resources::{DataStore, JmsBroker};
use domain::tenant::{Auth, TenantSettings};
use domain::user::Role;
use serde_json::Value;
use store::repo::{resources, tenants};
use support::{Backend, env_with, get_as};

fn over_limits() -> JmsBroker {
    JmsBroker {
        capacity: Some(96),
        max_capacity: Some(100),
        queue_count: Some(30),
        max_queue_count: Some(30),
        queues_ok: Some(27),
        queues_warning: Some(2),
        queues_error: Some(1),
        transacted_sessions_high: Some(true),
        consumers_high: Some(false),
        producers_high: Some(false),
    }
}

async fn resources_api_and_panel(backend: Backend) {
    let env = env_with(backend, &[]).await;
    let app = app!(env);
    let mut settings = TenantSettings::new(
        "Acme",
        "https://acme.example.com",
        Auth::Basic {
            username: "u".into(),
        },
    );
    settings.access_groups = vec!["finance".into()];
    let t = tenants::create(env.db(), &settings, None).await.unwrap().id;
    let uri = format!("/api/tenants/{t}/resources");

    let res = test::call_service(&app, get_as(&uri, &env.admin).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = test::read_body_json(res).await;
    assert_eq!(v["collected_at"], Value::Null, "{v}");
    assert_eq!(v["data_stores"], serde_json::json!([]));

    let stores = [DataStore {
        name: "Orders_Buffer".into(),
        iflow: "Orders".into(),
        store_type: String::new(),
        visibility: Some("Integration Flow".into()),
        messages: Some(45),
        overdue: Some(40),
    }];
    resources::replace(env.db(), t, Some(&over_limits()), &stores, Utc::now())
        .await
        .unwrap();
    let res = test::call_service(&app, get_as(&uri, &env.admin).to_request()).await;
    let v: Value = test::read_body_json(res).await;
    assert_eq!(v["has_jms"], true, "{v}");
    assert_eq!(v["jms"]["capacity_percent"], 96.0);
    assert_eq!(v["jms"]["queues"], 30);
    let reasons: Vec<&str> = v["jms"]["limits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["capacity_error", "queues", "transacted_sessions"]);
    assert_eq!(v["data_stores_with_overdue"], 1);
    assert_eq!(v["data_stores"][0]["overdue"], 40);

    // The overview shows the panel.
    let res = test::call_service(&app, get_as("/", &env.admin).to_request()).await;
    let page = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(page.contains("Resources"), "{page}");
    assert!(
        page.contains("96.0 %") && page.contains("Orders_Buffer"),
        "{page}"
    );

    // A user without the tenant's group does not learn it exists.
    let outsider = env.user("outsider", Role::User, &["hr"]).await;
    let res = test::call_service(&app, get_as(&uri, &outsider).to_request()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let res = test::call_service(&app, get_as("/api/openapi.json", &env.admin).to_request()).await;
    let doc: Value = test::read_body_json(res).await;
    assert!(doc["paths"]["/api/tenants/{id}/resources"]["get"].is_object());
}

#[actix_web::test]
async fn resources_api_and_panel_sqlite() {
    resources_api_and_panel(Backend::Sqlite).await;
}

#[actix_web::test]
async fn resources_api_and_panel_postgres() {
    resources_api_and_panel(Backend::Postgres).await;
}
