//! The monitor and the overview over time (issue 17): "history still loading" during the first
//! collection and the cold backfill; one time zone, labelled (the account's, else the
//! browser's, else UTC), for every time shown, typed and charted. On SQLite and PostgreSQL.

#[macro_use]
mod support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use domain::MessageStatus;
use domain::message::Message;
use domain::tenant::{Auth, TenantSettings};
use store::repo::{messages, monitor, sync_state, tenants, users};
use support::{Backend, bearer, env_with, get_as};

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

/// `page!(app, uri, token)`: the page's HTML (it must answer 200).
macro_rules! page {
    ($app:expr, $uri:expr, $token:expr) => {{
        let res = test::call_service($app, get_as($uri, $token).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", $uri);
        String::from_utf8_lossy(&test::read_body(res).await).to_string()
    }};
}

async fn history(backend: Backend) {
    let env = env_with(backend, &[]).await;
    let app = app!(env);
    let now = Utc::now();
    let mut settings = TenantSettings::new(
        "Acme",
        "https://acme.example.com",
        Auth::Basic {
            username: "u".into(),
        },
    );
    settings.collection.collect_from = Some(now - Duration::days(3));
    let t = tenants::create(env.db(), &settings, None).await.unwrap().id;

    // Nothing collected yet: both the first collection and the backfill are pending.
    for uri in ["/", "/messages"] {
        let html = page!(&app, uri, &env.admin);
        assert!(html.contains("id=\"history-loading\""), "{uri}");
        assert!(
            html.contains("the first collection of recent messages is running"),
            "{uri}"
        );
        assert!(html.contains("are collected from the start"), "{uri}");
    }

    // Recent messages are in, the backfill reached one day back: still loading, with how far.
    let hot = settings.collection.hot_window();
    sync_state::record_success(env.db(), t, "messages_hot", now, Some(now), None)
        .await
        .unwrap();
    sync_state::set_watermark(env.db(), t, "messages_cold", Some(now - Duration::days(1)))
        .await
        .unwrap();
    let html = page!(&app, "/messages", &env.admin);
    assert!(html.contains("id=\"history-loading\""));
    assert!(!html.contains("first collection"));
    assert!(html.contains("are collected up to"), "{html}");

    // The backfill caught up with the hot window: no note.
    let until = now - Duration::from_std(hot).unwrap();
    sync_state::set_watermark(env.db(), t, "messages_cold", Some(until))
        .await
        .unwrap();
    for uri in ["/", "/messages"] {
        let html = page!(&app, uri, &env.admin);
        assert!(!html.contains("id=\"history-loading\""), "{uri}");
    }
}
on_both!(history_still_loading, history);

fn shown(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()
}

async fn zones(backend: Backend) {
    let env = env_with(backend, &[]).await;
    let app = app!(env);
    let settings = TenantSettings::new(
        "Acme",
        "https://acme.example.com",
        Auth::Basic {
            username: "u".into(),
        },
    );
    let t = tenants::create(env.db(), &settings, None).await.unwrap().id;
    let end = Utc::now() - Duration::minutes(10);
    let mut m = Message::new("TZ-GUID".to_string(), MessageStatus::Completed);
    m.log_start = Some(end - Duration::seconds(1));
    m.log_end = Some(end);
    messages::upsert_messages(env.db(), t, &[m]).await.unwrap();
    monitor::refresh_counts(env.db(), t, &[end]).await.unwrap();
    let kolkata = Tz::Asia__Kolkata;
    let new_york = Tz::America__New_York;

    // No setting, no cookie: UTC, and it says so.
    let html = page!(&app, "/messages", &env.admin);
    assert!(
        html.contains("data-zone=\"UTC\" data-source=\"default\""),
        "{html}"
    );
    assert!(html.contains("From (UTC)"));
    assert!(html.contains(&shown(end, Tz::UTC)));

    // The browser's zone (the script's cookie): times, inputs and the chart in it.
    let get_with_cookie = |uri: &str| {
        get_as(uri, &env.admin)
            .cookie(actix_web::cookie::Cookie::new("im_tz", "Asia/Kolkata"))
            .to_request()
    };
    let res = test::call_service(&app, get_with_cookie("/messages")).await;
    let html = String::from_utf8_lossy(&test::read_body(res).await).to_string();
    assert!(
        html.contains("data-zone=\"Asia/Kolkata\" data-source=\"browser\""),
        "{html}"
    );
    assert!(html.contains("From (Asia/Kolkata)"));
    assert!(
        html.contains(&shown(end, kolkata)),
        "the row's time in the zone"
    );
    assert!(html.contains("Messages per hour, times in Asia/Kolkata"));

    // The account's setting: a bad name is refused by its label, a good one saved (and it
    // wins over the browser's).
    let post = |zone: &str| {
        TestRequest::post()
            .uri("/account/time-zone")
            .insert_header(bearer(&env.admin))
            .set_form([("csrf", ""), ("time_zone", zone)])
            .to_request()
    };
    let res = test::call_service(&app, post("Mars/Olympus_Mons")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = String::from_utf8_lossy(&test::read_body(res).await).to_string();
    assert!(html.contains("<strong>Time zone</strong>"), "{html}");
    let res = test::call_service(&app, post("America/New_York")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers().get("location").unwrap(),
        "/account?time_zone_saved=1#time-zone"
    );
    let admin = users::list(env.db()).await.unwrap().remove(0);
    assert_eq!(admin.time_zone.as_deref(), Some("America/New_York"));
    let res = test::call_service(&app, get_with_cookie("/messages")).await;
    let html = String::from_utf8_lossy(&test::read_body(res).await).to_string();
    assert!(html.contains("data-zone=\"America/New_York\" data-source=\"account\""));
    assert!(html.contains(&shown(end, new_york)));
    let html = page!(&app, "/account", &env.admin);
    assert!(html.contains("<option value=\"America/New_York\" selected>"));
    let html = page!(&app, "/", &env.admin);
    assert!(html.contains("last 24 h (America/New_York)"), "{html}");

    // Typed times are read in the zone: a New York minute around the message finds it.
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&new_york)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let (from, to) = (
        local(end - Duration::minutes(1)),
        local(end + Duration::minutes(1)),
    );
    let html = page!(&app, &format!("/messages?from={from}&to={to}"), &env.admin);
    assert!(html.contains("TZ-GUID"), "{html}");
    // The API speaks UTC whatever the account says: the same wall-clock times are 5 hours off.
    let res = test::call_service(
        &app,
        get_as(&format!("/api/messages?from={from}&to={to}"), &env.admin).to_request(),
    )
    .await;
    let body = String::from_utf8_lossy(&test::read_body(res).await).to_string();
    assert!(!body.contains("TZ-GUID"), "{body}");
}
on_both!(one_time_zone_labelled, zones);
