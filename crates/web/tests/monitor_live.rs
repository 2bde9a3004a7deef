//! What the monitor and the overview say while a tenant's history is still being collected
//! (issue 17): "history still loading" during the first collection and the cold backfill, on
//! SQLite and PostgreSQL.

#[macro_use]
mod support;

use actix_web::http::StatusCode;
use actix_web::test;
use chrono::{Duration, Utc};
use domain::tenant::{Auth, TenantSettings};
use store::repo::{sync_state, tenants};
use support::{Backend, env_with, get_as};

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
