//! The audit log (`repo::audit`) on SQLite and PostgreSQL: entries are appended and listed
//! newest first, filtered and paged by id; text is cleaned and capped.

#[macro_use]
mod support;

use serde_json::json;
use store::Db;
use store::repo::audit::{self, Filter, NewEntry};
use support::{Target, t};

fn entry(secs: i64, actor: &str, action: &str, object_id: &str) -> NewEntry {
    NewEntry {
        at: t(secs),
        actor_id: Some(1),
        actor: actor.into(),
        source: Some("192.0.2.7".into()),
        action: action.into(),
        object_type: action.split('.').next().unwrap().into(),
        object_id: Some(object_id.into()),
        object_name: Some(format!("name of {object_id}")),
        details: json!({"fields": ["tags"]}),
    }
}

async fn append_list_filter_and_page(db: Db, _target: Target) {
    let mut ids = Vec::new();
    for (i, (actor, action, object)) in [
        ("admin", "user.created", "7"),
        ("admin", "tenant.created", "1"),
        ("mona", "tenant.updated", "1"),
        ("mona", "tenant.secret_changed", "1"),
        ("admin", "tenant.deleted", "2"),
    ]
    .into_iter()
    .enumerate()
    {
        ids.push(
            audit::append(&db, &entry(i as i64, actor, action, object))
                .await
                .unwrap(),
        );
    }
    let all = audit::list(&db, &Filter::default(), 100).await.unwrap();
    assert_eq!(all.len(), 5);
    let listed: Vec<i64> = all.iter().map(|e| e.id).collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    let first = all.last().unwrap();
    assert_eq!(
        (first.actor.as_str(), first.action.as_str(), first.at),
        ("admin", "user.created", t(0))
    );
    assert_eq!(first.source.as_deref(), Some("192.0.2.7"));
    assert_eq!(first.details, json!({"fields": ["tags"]}));

    // Pages by id.
    let page1 = audit::list(&db, &Filter::default(), 2).await.unwrap();
    let page2 = audit::list(
        &db,
        &Filter {
            before: Some(page1[1].id),
            ..Filter::default()
        },
        2,
    )
    .await
    .unwrap();
    assert_eq!(page2[0].id, ids[2]);
    assert_eq!(page2[1].id, ids[1]);

    // Filters combine.
    let tenant1 = Filter {
        object_type: Some("tenant".into()),
        object_id: Some("1".into()),
        ..Filter::default()
    };
    assert_eq!(audit::list(&db, &tenant1, 100).await.unwrap().len(), 3);
    let by_mona = Filter {
        actor: Some("mona".into()),
        action: Some("tenant.secret_changed".into()),
        ..Filter::default()
    };
    assert_eq!(audit::list(&db, &by_mona, 100).await.unwrap().len(), 1);
    let window = Filter {
        since: Some(t(1)),
        until: Some(t(3)),
        ..Filter::default()
    };
    assert_eq!(audit::list(&db, &window, 100).await.unwrap().len(), 2);

    // NUL is cleaned, long text capped: an entry never fails on its text.
    let mut odd = entry(9, "ad\0min", "tenant.updated", "1");
    odd.object_name = Some("x".repeat(5000));
    audit::append(&db, &odd).await.unwrap();
    let got = &audit::list(&db, &Filter::default(), 1).await.unwrap()[0];
    assert_eq!(got.actor, "ad\u{FFFD}min");
    assert!(got.object_name.as_ref().unwrap().chars().count() <= 1001);
}

on_both!(append_list_filter_and_page);
