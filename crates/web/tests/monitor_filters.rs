//! The monitor's filters as SAP's monitor has them (issue 17): multi-select status, the iFlow
//! picker with counts, tenant picker and column, page size, newer and older pages, and the CSV
//! export of the current filter; brotli besides gzip for assets and API answers. Paging and
//! export run on SQLite and PostgreSQL.

#[macro_use]
mod support;

use actix_web::http::StatusCode;
use actix_web::test;
use chrono::{DateTime, Duration, Utc};
use domain::MessageStatus;
use domain::message::{CustomHeader, Message};
use domain::tenant::{Auth, TenantSettings};
use domain::user::Role;
use serde_json::Value;
use store::repo::{messages, monitor, tenants};
use support::{Backend, Env, env_with, get_as};

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

/// A tenant `name` with `n` messages ending one every 4 minutes before now: `i % 3` 0 FAILED,
/// 1 RETRY, 2 COMPLETED; even ones in iFlow `Flow_A` ("Order to Cash"), odd ones in `Flow_B`
/// ("Billing"); each with header `po_number` = `PO-<name>-<i>`. Returns the tenant id.
async fn tenant_with(env: &Env, name: &str, n: usize) -> i64 {
    let db = env.db();
    let settings = TenantSettings::new(
        name,
        format!("https://{}.example.com", name.to_lowercase()),
        Auth::Basic {
            username: "u".into(),
        },
    );
    let tenant = tenants::create(db, &settings, None).await.unwrap().id;
    let now = Utc::now();
    let mut list = Vec::new();
    for i in 0..n {
        let status = match i % 3 {
            0 => MessageStatus::Failed,
            1 => MessageStatus::Retry,
            _ => MessageStatus::Completed,
        };
        let mut m = Message::new(format!("{name}-{i:04}"), status);
        let end = now - Duration::minutes(4 * i as i64 + 1);
        m.log_start = Some(end - Duration::milliseconds(250));
        m.log_end = Some(end);
        let (id, label) = if i % 2 == 0 {
            ("Flow_A", "Order to Cash")
        } else {
            ("Flow_B", "Billing")
        };
        m.iflow_id = Some(id.into());
        m.iflow_name = Some(label.into());
        // A value a spreadsheet would run, and one that needs quoting.
        m.sender = Some(if i == 0 {
            "=cmd()".into()
        } else {
            "S, Inc".into()
        });
        list.push(m);
    }
    let out = messages::upsert_messages(db, tenant, &list).await.unwrap();
    let headers: Vec<(i64, Vec<CustomHeader>)> = out
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                r.id,
                vec![CustomHeader::new("po_number", format!("PO-{name}-{i}"))],
            )
        })
        .collect();
    messages::replace_headers_bulk(db, &headers).await.unwrap();
    let hours: Vec<DateTime<Utc>> = list.iter().filter_map(|m| m.log_end).collect();
    monitor::refresh_counts(db, tenant, &hours).await.unwrap();
    tenant
}

/// `json!(app, uri, token)`: the status and the JSON body (a string when not JSON).
macro_rules! json {
    ($app:expr, $uri:expr, $token:expr $(,)?) => {
        async {
            let res = test::call_service($app, get_as($uri, $token).to_request()).await;
            let status = res.status();
            let body = test::read_body(res).await;
            let v: Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).to_string()));
            (status, v)
        }
    };
}

/// `text!(app, uri, token)`: the status and the body as text.
macro_rules! text {
    ($app:expr, $uri:expr, $token:expr $(,)?) => {
        async {
            let res = test::call_service($app, get_as($uri, $token).to_request()).await;
            let status = res.status();
            let body = String::from_utf8_lossy(&test::read_body(res).await).to_string();
            (status, body)
        }
    };
}

fn guids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_guid"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn statuses_are_a_multi_select_in_the_list_facets_chart_and_form() {
    let env = env_with(Backend::Sqlite, &[]).await;
    let app = app!(env);
    tenant_with(&env, "Acme", 30).await;
    let q = "status=FAILED&status=RETRY&range=24h";

    let (status, list) = json!(&app, &format!("/api/messages?{q}&limit=500"), &env.admin).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 20, "{list}");
    assert!(
        items
            .iter()
            .all(|m| matches!(m["status"].as_str(), Some("FAILED" | "RETRY")))
    );
    assert_eq!(list["facets"]["total"], 20, "{}", list["facets"]);
    let facet_statuses: Vec<&str> = list["facets"]["status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    assert_eq!(facet_statuses.len(), 2, "{facet_statuses:?}");

    // The chart counts the same set.
    let (status, v) = json!(&app, &format!("/api/messages/volume?{q}"), &env.admin).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let points = v["points"].as_array().unwrap();
    let total: i64 = points.iter().map(|p| p["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 20, "{v}");
    assert!(
        points
            .iter()
            .all(|p| matches!(p["status"].as_str(), Some("FAILED" | "RETRY")))
    );

    // The form checks both boxes, not the others, and its links keep both.
    let (status, page) = text!(&app, &format!("/messages?{q}"), &env.admin).await;
    assert_eq!(status, StatusCode::OK);
    for s in ["FAILED", "RETRY"] {
        assert!(
            page.contains(&format!("name=\"status\" value=\"{s}\" checked")),
            "{s} not checked"
        );
    }
    assert!(page.contains("name=\"status\" value=\"COMPLETED\">"));
    assert!(
        page.contains("status=FAILED&amp;status=RETRY"),
        "links keep both"
    );
    // An unknown one among them is still refused, naming the field.
    let (status, e) = json!(&app, "/api/messages?status=FAILED&status=NOPE", &env.admin,).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["fields"][0]["field"], "status", "{e}");
}

#[actix_web::test]
async fn the_iflow_picker_offers_names_ids_and_counts_of_the_range() {
    let env = env_with(Backend::Sqlite, &[]).await;
    let app = app!(env);
    tenant_with(&env, "Acme", 30).await;
    // With an iFlow picked, the picker still offers the others with their counts.
    let (status, page) = text!(&app, "/messages?iflow=Flow_B", &env.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("list=\"iflow-options\""),
        "the input uses the list"
    );
    assert!(
        page.contains("<option value=\"Flow_A\">Order to Cash (15)</option>"),
        "{page}"
    );
    assert!(page.contains("<option value=\"Flow_B\">Billing (15)</option>"));
    // The counts follow the other filters (FAILED: i = 0, 3, …, 27; even ones in Flow_A).
    let (_, page) = text!(&app, "/messages?status=FAILED", &env.admin).await;
    assert!(
        page.contains("<option value=\"Flow_A\">Order to Cash (5)</option>"),
        "{page}"
    );
}

#[actix_web::test]
async fn several_tenants_get_a_picker_and_a_tenant_column() {
    let env = env_with(Backend::Sqlite, &[]).await;
    let app = app!(env);
    let a = tenant_with(&env, "Acme", 4).await;
    let b = tenant_with(&env, "Beta", 3).await;
    let (_, page) = text!(&app, "/messages", &env.admin).await;
    for id in [a, b] {
        assert!(
            page.contains(&format!("name=\"tenant\" value=\"{id}\"")),
            "a box for tenant {id}"
        );
    }
    assert!(page.contains("<th>Tenant</th>"), "a tenant column");
    assert!(page.contains("<td>Beta</td>"));
    // One tenant picked: its messages only, no column.
    let (_, page) = text!(&app, &format!("/messages?tenant={a}"), &env.admin).await;
    assert!(!page.contains("<th>Tenant</th>"));
    assert!(page.contains(&format!("name=\"tenant\" value=\"{a}\" checked")));
    // Both, repeated as the boxes send them.
    let (status, v) = json!(
        &app,
        &format!("/api/messages?tenant={a}&tenant={b}"),
        &env.admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 7);
    // Page size: the API and the page take it, and links keep it.
    let (_, v) = json!(&app, "/api/messages?limit=3", &env.admin).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    let (_, page) = text!(&app, "/messages?limit=3", &env.admin).await;
    assert_eq!(page.matches("<tr data-status").count(), 3);
    assert!(page.contains("limit=3"), "the next page keeps the size");
}

async fn paging(backend: Backend) {
    let env = env_with(backend, &[]).await;
    let app = app!(env);
    tenant_with(&env, "Acme", 12).await;
    let all: Vec<String> = (0..12).map(|i| format!("Acme-{i:04}")).collect();
    let (_, p1) = json!(&app, "/api/messages?limit=5", &env.admin).await;
    assert_eq!(guids(&p1), all[0..5], "{p1}");
    assert!(p1["prev"].is_null(), "the first page has no newer page");
    let n1 = p1["next"].as_str().unwrap().to_string();
    let (_, p2) = json!(
        &app,
        &format!("/api/messages?limit=5&after={n1}"),
        &env.admin
    )
    .await;
    assert_eq!(guids(&p2), all[5..10]);
    let n2 = p2["next"].as_str().unwrap().to_string();
    let (_, p3) = json!(
        &app,
        &format!("/api/messages?limit=5&after={n2}"),
        &env.admin
    )
    .await;
    assert_eq!(guids(&p3), all[10..12]);
    assert!(p3["next"].is_null());
    // Back toward newer messages: page 3's prev is page 2, whose prev is page 1.
    let b3 = p3["prev"].as_str().unwrap().to_string();
    let (status, back2) = json!(
        &app,
        &format!("/api/messages?limit=5&before={b3}"),
        &env.admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{back2}");
    assert_eq!(guids(&back2), all[5..10]);
    assert_eq!(back2["next"].as_str(), Some(n2.as_str()), "older again");
    let b2 = back2["prev"].as_str().unwrap().to_string();
    let (_, back1) = json!(
        &app,
        &format!("/api/messages?limit=5&before={b2}"),
        &env.admin,
    )
    .await;
    assert_eq!(guids(&back1), all[0..5]);
    assert!(back1["prev"].is_null(), "{back1}");
    // Oldest first, the same both ways.
    let (_, o1) = json!(&app, "/api/messages?limit=5&sort=oldest", &env.admin).await;
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(guids(&o1), rev[0..5]);
    let on = o1["next"].as_str().unwrap();
    let (_, o2) = json!(
        &app,
        &format!("/api/messages?limit=5&sort=oldest&after={on}"),
        &env.admin,
    )
    .await;
    let ob = o2["prev"].as_str().unwrap();
    let (_, o1b) = json!(
        &app,
        &format!("/api/messages?limit=5&sort=oldest&before={ob}"),
        &env.admin,
    )
    .await;
    assert_eq!(guids(&o1b), rev[0..5]);
    // The page: a "Newer" link on page 2, none on page 1.
    let (_, html) = text!(&app, &format!("/messages?limit=5&after={n1}"), &env.admin).await;
    assert!(html.contains("id=\"newer-page\""), "page 2 leads back");
    assert!(html.contains(&format!("before={}", p2["prev"].as_str().unwrap())));
    let (_, html) = text!(&app, "/messages?limit=5", &env.admin).await;
    assert!(!html.contains("id=\"newer-page\""));
    // Both cursors at once name the field.
    let (status, e) = json!(
        &app,
        &format!("/api/messages?after={n1}&before={b2}"),
        &env.admin,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["fields"][0]["field"], "before");
}
on_both!(newer_and_older_pages, paging);

fn csv_lines(body: &str) -> Vec<&str> {
    body.lines().collect()
}

async fn export(backend: Backend) {
    let env = env_with(
        backend,
        &[("WEB_EXPORT_MAX_ROWS", "7"), ("WEB_MASK_ROLES", "user")],
    )
    .await;
    let app = app!(env);
    tenant_with(&env, "Acme", 12).await;

    // The filter (two statuses): 8 match, the cap of 7 cuts it and the last line says so.
    let res = test::call_service(
        &app,
        get_as("/api/messages.csv?status=FAILED&status=RETRY", &env.admin).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = |k: &str| {
        res.headers()
            .get(k)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert!(h("content-type").unwrap().starts_with("text/csv"));
    assert!(h("content-disposition").unwrap().starts_with("attachment"));
    assert_eq!(h("x-export-limit").as_deref(), Some("7"));
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    let lines = csv_lines(&body);
    assert!(lines[0].starts_with("last_update_utc,status,"), "{body}");
    assert_eq!(lines.len(), 1 + 7 + 1, "{body}");
    assert!(lines[8].starts_with("# cut at 7"), "{body}");
    assert!(
        lines[1..8]
            .iter()
            .all(|l| l.contains(",FAILED,") || l.contains(",RETRY,")),
        "{body}"
    );
    // Tenant-supplied cells: quoted, and never a formula.
    assert!(lines[1].contains(",'=cmd(),"), "{}", lines[1]);
    assert!(lines[2].contains(",\"S, Inc\","), "{}", lines[2]);

    // Under the cap: every match, no cut line.
    let (status, body) = text!(&app, "/api/messages.csv?status=COMPLETED", &env.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(csv_lines(&body).len(), 1 + 4, "{body}");
    assert!(!body.contains("# cut"));

    // Masking as on the page: a masked user's header-value search leaves the tenant out.
    let (_, body) = text!(
        &app,
        "/api/messages.csv?header_name=po_number&header_value=PO-Acme-*",
        &env.admin,
    )
    .await;
    assert_eq!(csv_lines(&body).len(), 1 + 7 + 1, "{body}");
    let user = env.user("ursula", Role::User, &[]).await;
    let (_, page) = text!(
        &app,
        "/api/messages?header_name=po_number&header_value=PO-Acme-*",
        &user,
    )
    .await;
    let (_, body) = text!(
        &app,
        "/api/messages.csv?header_name=po_number&header_value=PO-Acme-*",
        &user,
    )
    .await;
    assert!(page.contains("\"items\":[]"), "{page}");
    assert_eq!(csv_lines(&body).len(), 1, "{body}");

    // A bad filter is refused before anything streams, naming the field.
    let (status, e) = json!(&app, "/api/messages.csv?range=2y", &env.admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["fields"][0]["field"], "range", "{e}");

    // The monitor links to the export of its filter.
    let (_, html) = text!(&app, "/messages?status=FAILED&range=4h", &env.admin).await;
    assert!(
        html.contains("href=\"/api/messages.csv?range=4h&amp;status=FAILED\""),
        "{html}"
    );
}
on_both!(csv_export, export);

#[actix_web::test]
async fn assets_api_answers_and_exports_are_brotli_compressed_when_asked() {
    let env = env_with(Backend::Sqlite, &[]).await;
    let app = app!(env);
    tenant_with(&env, "Acme", 3).await;
    for (uri, expected) in [
        ("/static/app.css", Some("br")),
        ("/static/app.js", Some("br")),
        ("/api/messages?range=1h", Some("br")),
        ("/api/messages.csv?range=1h", Some("br")),
        // Pages carry the CSRF token: not compressed (BREACH).
        ("/messages", None),
    ] {
        let res = test::call_service(
            &app,
            get_as(uri, &env.admin)
                .insert_header(("Accept-Encoding", "br"))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        let enc = res
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_string());
        match expected {
            Some(e) => assert_eq!(enc.as_deref(), Some(e), "{uri}"),
            None => assert!(
                enc.is_none() || enc.as_deref() == Some("identity"),
                "{uri}: {enc:?}"
            ),
        }
    }
}
