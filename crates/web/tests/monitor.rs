//! The operator's monitor in-process (issue 17's bugs): the chart counts what the list lists, a
//! relative range stays relative, a bad filter keeps the form, id searches ignore the range,
//! unknown statuses are refused, every error is a page or JSON, account forms redirect, and the
//! smaller fixes (no inline styles, labels in errors, favicon, durations, plurals, adapter
//! attributes, the storage page before its first snapshot).

#[macro_use]
mod support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use chrono::{DateTime, Duration, Utc};
use domain::MessageStatus;
use domain::message::{AdapterAttribute, CustomHeader, Message, MessageDetails};
use domain::tenant::{Auth, TenantSettings};
use serde_json::Value;
use store::repo::{messages, monitor, tenants, users};
use support::{Env, bearer, env, get_as};

/// A tenant with `n` messages ending in the last `n` minutes (every third FAILED, one
/// PROCESSING, the rest COMPLETED), each with a `po_number` header `PO-<i>`; plus one message
/// 30 hours old (`OLD-GUID`) and its adapter attribute. Returns the tenant id.
async fn seeded(env: &Env, n: usize) -> i64 {
    let db = env.db();
    let settings = TenantSettings::new(
        "Acme",
        "https://acme.example.com",
        Auth::Basic {
            username: "u".into(),
        },
    );
    let tenant = tenants::create(db, &settings, None).await.unwrap().id;
    let now = Utc::now();
    let mut list = Vec::new();
    for i in 0..n {
        let status = match i {
            0 => MessageStatus::Processing,
            i if i % 3 == 0 => MessageStatus::Failed,
            _ => MessageStatus::Completed,
        };
        let mut m = Message::new(format!("GUID-{i:04}"), status);
        let end = now - Duration::minutes(i as i64 + 1);
        // CPI reports a running message's start as its end: its "duration" is 0.
        let took = if i == 0 { 0 } else { 1500 };
        m.log_start = Some(end - Duration::milliseconds(took));
        m.log_end = Some(end);
        m.iflow_id = Some("Flow_A".into());
        list.push(m);
    }
    let mut old = Message::new("OLD-GUID".to_string(), MessageStatus::Completed);
    old.log_start = Some(now - Duration::hours(30));
    old.log_end = Some(now - Duration::hours(30) + Duration::seconds(2));
    list.push(old);
    let out = messages::upsert_messages(db, tenant, &list).await.unwrap();
    let headers: Vec<(i64, Vec<CustomHeader>)> = out
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                r.id,
                vec![CustomHeader::new("po_number", format!("PO-{i}"))],
            )
        })
        .collect();
    messages::replace_headers_bulk(db, &headers).await.unwrap();
    let hours: Vec<DateTime<Utc>> = list.iter().filter_map(|m| m.log_end).collect();
    monitor::refresh_counts(db, tenant, &hours).await.unwrap();
    let old_id = out.rows.last().unwrap().id;
    let mut details = MessageDetails::empty(MessageStatus::Completed);
    details.adapter_attributes = Some(vec![AdapterAttribute {
        cpi_id: None,
        adapter_id: Some("HTTPS".into()),
        adapter_message_id: Some("am-1".into()),
        name: "Http Status Code".into(),
        value: Some("202".into()),
    }]);
    messages::write_details(db, old_id, &details, now)
        .await
        .unwrap();
    tenant
}

async fn body_of(res: actix_web::dev::ServiceResponse) -> String {
    String::from_utf8_lossy(&test::read_body(res).await).to_string()
}

fn total(points: &Value) -> i64 {
    points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_i64().unwrap())
        .sum()
}

#[actix_web::test]
async fn the_chart_counts_what_the_list_lists() {
    let env = env().await;
    let app = app!(env);
    seeded(&env, 30).await;

    // Status: only FAILED points, as many as the list has.
    let res = test::call_service(
        &app,
        get_as("/api/messages/volume?status=FAILED", &env.admin).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = test::read_body_json(res).await;
    let statuses: Vec<&str> = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| *s == "FAILED"),
        "{v}"
    );
    assert_eq!(total(&v["points"]), 9, "{v}");
    assert_eq!(v["exact"], true);

    // A header value that matches nothing: no volume at all.
    let res = test::call_service(
        &app,
        get_as(
            "/api/messages/volume?header_name=po_number&header_value=nothing-here",
            &env.admin,
        )
        .to_request(),
    )
    .await;
    let v: Value = test::read_body_json(res).await;
    assert_eq!(total(&v["points"]), 0, "{v}");
    // A header prefix: the messages it lists (PO-1, PO-10..PO-19).
    let res = test::call_service(
        &app,
        get_as(
            "/api/messages/volume?header_name=po_number&header_value=PO-1*",
            &env.admin,
        )
        .to_request(),
    )
    .await;
    let v: Value = test::read_body_json(res).await;
    assert_eq!(total(&v["points"]), 11, "{v}");

    // The page: the header filter's chart has no bars, the unfiltered one has.
    let res = test::call_service(
        &app,
        get_as(
            "/messages?range=24h&header_name=po_number&header_value=nothing-here",
            &env.admin,
        )
        .to_request(),
    )
    .await;
    let page = body_of(res).await;
    assert!(page.contains("id=\"no-messages\""), "{page}");
    assert!(page.contains("id=\"volume-chart\""), "{page}");
    assert!(!page.contains("<rect x="), "no bars for no messages");
    let res = test::call_service(
        &app,
        get_as("/messages?range=24h&status=FAILED", &env.admin).to_request(),
    )
    .await;
    let page = body_of(res).await;
    assert!(page.contains("<rect x="), "bars for the messages");
    // A bar opens its hour of the same list.
    assert!(
        page.contains("<a class=\"bar\" href=\"/messages?from=") && page.contains("status=FAILED"),
        "{page}"
    );
}

#[actix_web::test]
async fn a_relative_range_stays_relative_in_the_form() {
    let env = env().await;
    let app = app!(env);
    let res =
        test::call_service(&app, get_as("/messages?range=24h", &env.admin).to_request()).await;
    let page = body_of(res).await;
    assert!(
        page.contains(r#"<input type="hidden" name="range" value="24h">"#),
        "{page}"
    );
    // The time inputs are empty, so Apply sends no frozen `from`/`to`.
    assert!(
        page.contains(r#"name="from" id="f-from" value="">"#),
        "{page}"
    );
    assert!(page.contains(r#"name="to" id="f-to" value="">"#), "{page}");

    // An absolute range keeps its seconds and sends no `range`.
    let res = test::call_service(
        &app,
        get_as(
            "/messages?from=2026-11-26T08:00:15Z&to=2026-11-26T09:30:45Z",
            &env.admin,
        )
        .to_request(),
    )
    .await;
    let page = body_of(res).await;
    assert!(page.contains(r#"value="2026-11-26T08:00:15""#), "{page}");
    assert!(page.contains(r#"value="2026-11-26T09:30:45""#), "{page}");
    assert!(!page.contains(r#"name="range""#), "{page}");
}

#[actix_web::test]
async fn an_invalid_filter_keeps_the_form_and_names_the_field() {
    let env = env().await;
    let app = app!(env);
    for (uri, field_label, kept) in [
        (
            "/messages?header_value=PO-7&iflow=Flow_A",
            "Header name",
            r#"name="header_value" id="f-header-value" value="PO-7""#,
        ),
        (
            "/messages?from=2026-11-27T10:00:00Z&to=2026-11-26T10:00:00Z&sender=ERP",
            "From",
            r#"name="sender" value="ERP""#,
        ),
    ] {
        let res = test::call_service(&app, get_as(uri, &env.admin).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        let page = body_of(res).await;
        assert!(page.contains("id=\"filters\""), "the form is kept: {page}");
        assert!(page.contains(kept), "{uri}: the input is kept: {page}");
        assert!(page.contains("class=\"field-error\""), "{page}");
        assert!(
            page.contains(&format!("<strong>{field_label}</strong>")),
            "{page}"
        );
        assert!(!page.contains("Start over"), "{page}");
    }
}

#[actix_web::test]
async fn no_page_carries_an_inline_style() {
    let env = env().await;
    let app = app!(env);
    seeded(&env, 5).await;
    for uri in [
        "/",
        "/messages",
        "/account",
        "/tenants",
        "/artifacts",
        "/keystore",
        "/jobs",
        "/archives",
        "/storage",
        "/users",
        "/audit",
    ] {
        let res = test::call_service(&app, get_as(uri, &env.admin).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        let page = body_of(res).await;
        assert!(!page.contains(" style="), "{uri} has an inline style");
        assert!(!page.contains("<style"), "{uri} has a style element");
    }
}

#[actix_web::test]
async fn account_forms_redirect_so_a_reload_repeats_nothing() {
    let env = env().await;
    let app = app!(env);
    let tokens_before = users::list_tokens(env.db(), None).await.unwrap().len();
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/account/tokens")
            .insert_header(bearer(&env.admin))
            .set_form([("csrf", ""), ("name", "ci"), ("days", "")])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers().get("location").unwrap(), "/account");
    let cookie = res
        .response()
        .cookies()
        .find(|c| c.name() == "im_new_token")
        .expect("the new token travels sealed to the page")
        .into_owned();
    assert!(!cookie.value().starts_with("im_"), "sealed, not the token");
    assert_eq!(
        users::list_tokens(env.db(), None).await.unwrap().len(),
        tokens_before + 1
    );
    // The page after the redirect shows it once and drops the cookie.
    let res = test::call_service(
        &app,
        get_as("/account", &env.admin)
            .cookie(cookie.clone())
            .to_request(),
    )
    .await;
    let removed = res
        .response()
        .cookies()
        .any(|c| c.name() == "im_new_token" && c.value().is_empty());
    assert!(removed);
    let page = body_of(res).await;
    assert!(page.contains("id=\"new-token\""), "{page}");
    // A reload (a GET) creates nothing.
    let res = test::call_service(&app, get_as("/account", &env.admin).to_request()).await;
    assert!(!body_of(res).await.contains("id=\"new-token\""));
    assert_eq!(
        users::list_tokens(env.db(), None).await.unwrap().len(),
        tokens_before + 1
    );

    // A failed password change names the field by its label and changes nothing (422).
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/account/password")
            .insert_header(bearer(&env.admin))
            .set_form([
                ("csrf", ""),
                ("current", "a long enough password"),
                ("new_password", "another long password"),
                ("confirm", "a different one entirely"),
            ])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = body_of(res).await;
    assert!(
        page.contains("<strong>Repeat new password</strong>"),
        "{page}"
    );
    assert!(!page.contains("<code>confirm</code>"), "{page}");
    // A successful one answers with a redirect.
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/account/password")
            .insert_header(bearer(&env.admin))
            .set_form([
                ("csrf", ""),
                ("current", "a long enough password"),
                ("new_password", "another long password"),
                ("confirm", "another long password"),
            ])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers().get("location").unwrap(),
        "/account?password_changed=1"
    );
}

#[actix_web::test]
async fn an_id_search_ignores_the_range_and_guids_are_permalinks() {
    let env = env().await;
    let app = app!(env);
    seeded(&env, 5).await;
    for q in [
        "message_id=OLD-GUID&range=15m",
        "message_id=OLD-GUID&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
    ] {
        let res = test::call_service(
            &app,
            get_as(&format!("/api/messages?{q}"), &env.admin).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        let out: Value = test::read_body_json(res).await;
        assert_eq!(out["items"].as_array().unwrap().len(), 1, "{q}: {out}");
        assert_eq!(out["items"][0]["message_guid"], "OLD-GUID");
    }
    let res = test::call_service(
        &app,
        get_as("/messages?message_id=OLD-GUID&range=15m", &env.admin).to_request(),
    )
    .await;
    let page = body_of(res).await;
    assert!(page.contains("id=\"id-search-note\""), "{page}");
    assert!(page.contains(">OLD-GUID<"), "{page}");

    // The GUID is a permalink; the message page shows its adapter attributes.
    let res = test::call_service(&app, get_as("/messages/OLD-GUID", &env.admin).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = body_of(res).await;
    assert!(page.contains("id=\"adapter-attributes\""), "{page}");
    assert!(
        page.contains("Http Status Code") && page.contains(">202<"),
        "{page}"
    );
}

#[actix_web::test]
async fn every_error_is_a_page_or_json() {
    let env = env().await;
    let app = app!(env);
    for (uri, json) in [
        ("/messages/abc", false),
        ("/no/such/page", false),
        ("/api/messages/abc", true),
        ("/api/no-such-route", true),
        ("/tenants/x/delete-me", false),
    ] {
        let res = test::call_service(&app, get_as(uri, &env.admin).to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{uri}");
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = body_of(res).await;
        assert!(!body.contains("can not parse"), "{uri}: {body}");
        if json {
            assert!(ct.starts_with("application/json"), "{uri}: {ct}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"], "not_found");
        } else {
            assert!(ct.starts_with("text/html"), "{uri}: {ct}");
            assert!(body.contains("404"), "{uri}: {body}");
        }
    }
    // A malformed query on a page is a page too.
    let res = test::call_service(
        &app,
        get_as("/messages?limit=many", &env.admin).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ct = res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
}

#[actix_web::test]
async fn unknown_statuses_are_refused_and_stored_ones_accepted() {
    let env = env().await;
    let app = app!(env);
    let tenant = seeded(&env, 3).await;
    let res = test::call_service(
        &app,
        get_as("/api/messages?status=NOPE", &env.admin).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let out: Value = test::read_body_json(res).await;
    assert_eq!(out["fields"][0]["field"], "status");
    let msg = out["fields"][0]["message"].as_str().unwrap();
    assert!(msg.contains("NOPE") && msg.contains("FAILED"), "{msg}");
    // A status CPI added later, once stored, is valid.
    let mut m = Message::new("NEW-STATUS".to_string(), MessageStatus::parse("WAITING"));
    m.log_end = Some(Utc::now() - Duration::minutes(1));
    messages::upsert_messages(env.db(), tenant, &[m.clone()])
        .await
        .unwrap();
    monitor::refresh_counts(env.db(), tenant, &[m.log_end.unwrap()])
        .await
        .unwrap();
    let res = test::call_service(
        &app,
        get_as("/api/messages?status=WAITING", &env.admin).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let out: Value = test::read_body_json(res).await;
    assert_eq!(out["items"][0]["message_guid"], "NEW-STATUS");
}

#[actix_web::test]
async fn the_smaller_fixes() {
    let env = env().await;
    let app = app!(env);
    let tenant = seeded(&env, 3).await;

    // favicon.ico without signing in.
    let res = test::call_service(&app, TestRequest::get().uri("/favicon.ico").to_request()).await;
    assert_eq!(res.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        res.headers().get("location").unwrap(),
        "/static/favicon.svg"
    );

    // Pages vary by who asks; sign-out clears the browser's cache.
    let res = test::call_service(&app, get_as("/messages", &env.admin).to_request()).await;
    let vary = res
        .headers()
        .get("vary")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(vary.contains("Cookie"), "{vary}");
    let page = body_of(res).await;
    // A PROCESSING message has no duration yet; one message is "1 message".
    assert!(page.contains(">running<"), "{page}");
    assert!(!page.contains(">0 ms<"), "{page}");
    let res = test::call_service(
        &app,
        get_as("/messages?status=PROCESSING", &env.admin).to_request(),
    )
    .await;
    let page = body_of(res).await;
    assert!(page.contains("</strong> message</div>"), "{page}");
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/logout")
            .insert_header(bearer(&env.admin))
            .set_form([("csrf", "")])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers().get("clear-site-data").unwrap(), "\"cache\"");

    // The overview's "artifacts in error" card opens only those.
    let res = test::call_service(&app, get_as("/", &env.admin).to_request()).await;
    let page = body_of(res).await;
    assert!(
        page.contains(&format!("/artifacts?tenant={tenant}&amp;in_error=only")),
        "{page}"
    );

    // Storage before the first snapshot: the tables, measured now; no setting names.
    let res = test::call_service(&app, get_as("/storage", &env.admin).to_request()).await;
    let page = body_of(res).await;
    assert!(page.contains("id=\"storage-live\""), "{page}");
    assert!(page.contains("<code>message_logs</code>"), "{page}");
    assert!(!page.contains("METRICS_STORAGE_SECS"), "{page}");
}

#[actix_web::test]
async fn the_header_search_finds_any_id_in_all_time() {
    let env = env().await;
    let app = app!(env);
    let tenant = seeded(&env, 3).await;
    let mut m = Message::new("CORR-MSG".to_string(), MessageStatus::Completed);
    m.log_end = Some(Utc::now() - Duration::days(20));
    m.correlation_id = Some("CORR-1".into());
    m.application_message_id = Some("APP-9".into());
    let out = messages::upsert_messages(env.db(), tenant, &[m])
        .await
        .unwrap();
    let id = out.rows[0].id;
    let page = test::call_service(&app, get_as("/", &env.admin).to_request()).await;
    assert!(body_of(page).await.contains("id=\"find-id\""));
    for (q, to) in [
        ("CORR-MSG", format!("/messages/{id}")),
        ("CORR-1", "/messages?correlation_id=CORR-1".to_string()),
        ("APP-9", "/messages?application_id=APP-9".to_string()),
        ("nothing", "/messages?message_id=nothing".to_string()),
    ] {
        let res = test::call_service(
            &app,
            get_as(&format!("/find?id={q}"), &env.admin).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{q}");
        assert_eq!(res.headers().get("location").unwrap().to_str().unwrap(), to);
    }
}

#[actix_web::test]
async fn assets_and_api_answers_are_compressed_pages_are_not() {
    let env = env().await;
    let app = app!(env);
    for (uri, compressed) in [
        ("/static/app.css", true),
        ("/api/messages?range=1h", true),
        ("/messages", false),
    ] {
        let res = test::call_service(
            &app,
            get_as(uri, &env.admin)
                .insert_header(("Accept-Encoding", "gzip"))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        let enc = res
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_string());
        if compressed {
            assert_eq!(enc.as_deref(), Some("gzip"), "{uri}");
        } else {
            // A page carries its CSRF token: compressing it would open BREACH.
            assert!(
                enc.is_none() || enc.as_deref() == Some("identity"),
                "{uri}: {enc:?}"
            );
        }
    }
    // The overview refreshes itself like the list; the list offers page sizes; a message page
    // has a copy button for its id.
    let res = test::call_service(&app, get_as("/", &env.admin).to_request()).await;
    assert!(body_of(res).await.contains("id=\"auto-refresh\""));
    let res =
        test::call_service(&app, get_as("/messages?limit=200", &env.admin).to_request()).await;
    assert!(
        body_of(res)
            .await
            .contains("<option value=\"200\" selected>")
    );
    seeded(&env, 2).await;
    let res = test::call_service(&app, get_as("/messages/OLD-GUID", &env.admin).to_request()).await;
    assert!(body_of(res).await.contains("data-copy=\"OLD-GUID\""));
}

#[actix_web::test]
async fn a_message_page_links_back_to_its_list() {
    let env = env().await;
    let app = app!(env);
    seeded(&env, 3).await;
    let res = test::call_service(
        &app,
        get_as("/messages?range=4h&status=COMPLETED", &env.admin).to_request(),
    )
    .await;
    let page = body_of(res).await;
    let start = page.find("href=\"/messages/").expect("a message link") + 6;
    let href = &page[start..page[start..].find('"').unwrap() + start];
    assert!(
        href.contains("?back=range%3D4h%26status%3DCOMPLETED"),
        "{href}"
    );
    let href = href.replace("&amp;", "&");
    let res = test::call_service(&app, get_as(&href, &env.admin).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = body_of(res).await;
    assert!(
        page.contains("id=\"back-to-list\" href=\"/messages?range=4h&amp;status=COMPLETED\""),
        "{page}"
    );
}
