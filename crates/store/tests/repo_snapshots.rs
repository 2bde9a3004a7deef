//! Metric and storage snapshots (`repo::snapshots`) on SQLite and PostgreSQL: round trips,
//! replacing an interval, retention, the samples the metrics daemon reads, and the storage
//! figures each backend reports.

#[macro_use]
mod support;

use std::collections::BTreeMap;

use chrono::Duration;
use domain::MessageStatus;
use domain::message::Message;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use store::entity::payloads as payload_rows;
use store::repo::messages;
use store::repo::snapshots::{
    self, MessageSample, MetricSnapshot, PayloadVolume, StorageKind, StorageRow,
};
use store::{Db, maintenance};
use support::{Target, t, tenant};

fn snap(tenant_id: i64, secs: i64, iflow: &str, messages: i64) -> MetricSnapshot {
    MetricSnapshot {
        tenant_id,
        bucket_start: t(secs),
        bucket_secs: 300,
        iflow_id: iflow.into(),
        iflow_name: Some(format!("{iflow} 'name'")),
        messages,
        status_counts: BTreeMap::from([("COMPLETED".into(), messages - 1), ("FAILED".into(), 1)]),
        duration_p50_ms: Some(10),
        duration_p95_ms: Some(95),
        duration_p99_ms: None,
        duration_max_ms: Some(i64::MAX),
        payload_count: 2,
        payload_bytes: 4096,
        computed_at: t(secs + 600),
    }
}

async fn metric_snapshots_round_trip_and_replace_their_interval(db: Db, _t: Target) {
    let a = tenant(&db, "A").await;
    let b = tenant(&db, "B").await;
    let first = vec![
        snap(a, 0, "flow_1", 5),
        snap(a, 0, "", 3),
        snap(a, 300, "flow_1", 7),
    ];
    snapshots::replace_metric_snapshots(&db, a, t(0), t(600), &first)
        .await
        .unwrap();
    snapshots::replace_metric_snapshots(&db, b, t(0), t(300), &[snap(b, 0, "x", 2)])
        .await
        .unwrap();
    let read = snapshots::metric_snapshots(&db, &[a], t(0), t(600), 100)
        .await
        .unwrap();
    let mut want = first.clone();
    want.sort_by(|x, y| (x.bucket_start, &x.iflow_id).cmp(&(y.bucket_start, &y.iflow_id)));
    assert_eq!(read, want);

    // Recomputing the first interval replaces it: an iFlow gone from it disappears, the other
    // interval and the other tenant stay.
    let again = vec![snap(a, 0, "flow_1", 6)];
    snapshots::replace_metric_snapshots(&db, a, t(0), t(300), &again)
        .await
        .unwrap();
    // Twice gives the same rows (idempotent).
    snapshots::replace_metric_snapshots(&db, a, t(0), t(300), &again)
        .await
        .unwrap();
    let read = snapshots::metric_snapshots(&db, &[a, b], t(0), t(600), 100)
        .await
        .unwrap();
    let keys: Vec<(i64, i64, &str, i64)> = read
        .iter()
        .map(|r| {
            (
                r.tenant_id,
                (r.bucket_start - t(0)).num_seconds(),
                r.iflow_id.as_str(),
                r.messages,
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![(a, 0, "flow_1", 6), (b, 0, "x", 2), (a, 300, "flow_1", 7)]
    );
    // The limit bounds the answer; no tenant, no rows.
    assert_eq!(
        snapshots::metric_snapshots(&db, &[a, b], t(0), t(600), 2)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        snapshots::metric_snapshots(&db, &[], t(0), t(600), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // One iFlow of one tenant.
    let one = snapshots::metric_snapshots_of_iflow(&db, a, "flow_1", t(0), t(600), 10)
        .await
        .unwrap();
    assert_eq!(
        one.iter().map(|r| r.messages).collect::<Vec<_>>(),
        vec![6, 7]
    );
    assert!(
        snapshots::metric_snapshots_of_iflow(&db, a, "", t(0), t(600), 10)
            .await
            .unwrap()
            .is_empty(),
        "the row without an iFlow was replaced away"
    );
    // A row outside the replaced range is refused, and nothing changes.
    let err = snapshots::replace_metric_snapshots(&db, a, t(0), t(300), &[snap(a, 300, "z", 1)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
}
on_both!(metric_snapshots_round_trip_and_replace_their_interval);

fn storage_row(secs: i64, kind: StorageKind, name: &str, tenant_id: Option<i64>) -> StorageRow {
    StorageRow {
        taken_at: t(secs),
        kind,
        name: name.into(),
        tenant_id,
        bytes: Some(1000 + secs),
        row_count: (kind == StorageKind::Table).then_some(secs),
    }
}

async fn storage_snapshots_round_trip_and_retention(db: Db, _t: Target) {
    let a = tenant(&db, "A").await;
    assert_eq!(snapshots::last_storage_at(&db).await.unwrap(), None);
    for secs in [0, 86_400 * 10] {
        snapshots::insert_storage(
            &db,
            &[
                storage_row(secs, StorageKind::Database, "", None),
                storage_row(secs, StorageKind::Table, "message_logs", None),
                storage_row(secs, StorageKind::Archive, "A", Some(a)),
            ],
        )
        .await
        .unwrap();
    }
    snapshots::replace_metric_snapshots(&db, a, t(0), t(300), &[snap(a, 0, "old", 1)])
        .await
        .unwrap();
    let late = 86_400 * 10;
    snapshots::replace_metric_snapshots(&db, a, t(late), t(late + 300), &[snap(a, late, "new", 1)])
        .await
        .unwrap();
    assert_eq!(
        snapshots::last_storage_at(&db).await.unwrap(),
        Some(t(late))
    );
    let all = snapshots::storage_since(&db, t(0)).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0], storage_row(0, StorageKind::Archive, "A", Some(a)));

    // Retention: everything before day 5 goes, the rest stays.
    let purged = snapshots::purge(&db, t(86_400 * 5)).await.unwrap();
    assert_eq!((purged.metric, purged.storage), (1, 3));
    let left = snapshots::storage_since(&db, t(0)).await.unwrap();
    assert!(left.iter().all(|r| r.taken_at == t(late)), "{left:?}");
    let metrics = snapshots::metric_snapshots(&db, &[a], t(0), t(late + 300), 10)
        .await
        .unwrap();
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0].iflow_id, "new");
    // Purging again removes nothing.
    assert_eq!(
        snapshots::purge(&db, t(86_400 * 5)).await.unwrap(),
        snapshots::Purged::default()
    );
}
on_both!(storage_snapshots_round_trip_and_retention);

/// Message `i`: iFlow `flow_{i % 2}` (none for every fifth), status by `i % 3`, LogEnd at
/// `t(i * 10)`, LogStart `i * 7` ms earlier.
fn message(i: i64) -> Message {
    let status = match i % 3 {
        0 => MessageStatus::Completed,
        1 => MessageStatus::Failed,
        _ => MessageStatus::Processing,
    };
    let mut m = Message::new(format!("guid-{i:04}"), status);
    m.log_end = Some(t(i * 10));
    m.log_start = Some(t(i * 10) - Duration::milliseconds(i * 7));
    if i % 5 != 0 {
        m.iflow_id = Some(format!("flow_{}", i % 2));
        m.iflow_name = Some(format!("Flow {}", i % 2));
    }
    m
}

async fn samples_are_the_messages_of_the_interval(db: Db, _t: Target) {
    let a = tenant(&db, "A").await;
    let b = tenant(&db, "B").await;
    let list: Vec<Message> = (0..60).map(message).collect();
    messages::upsert_messages(&db, a, &list).await.unwrap();
    messages::upsert_messages(&db, b, &list[..10])
        .await
        .unwrap();
    // [t(100), t(300)): messages 10..30.
    let mut got = snapshots::message_samples(&db, a, t(100), t(300))
        .await
        .unwrap();
    got.sort_by_key(|s| s.duration_ms);
    let want: Vec<MessageSample> = (10..30)
        .map(message)
        .map(|m| MessageSample {
            iflow_id: m.iflow_id.clone().unwrap_or_default(),
            iflow_name: m.iflow_name.clone(),
            status: m.status.as_str().to_string(),
            duration_ms: m.duration_ms(),
        })
        .collect();
    assert_eq!(got, want);

    // Payloads of messages 10..30 with a size count; one without a size does not.
    let stored = messages::find_message(&db, a, "guid-0012")
        .await
        .unwrap()
        .unwrap();
    let other = messages::find_message(&db, a, "guid-0015")
        .await
        .unwrap()
        .unwrap();
    let outside = messages::find_message(&db, a, "guid-0040")
        .await
        .unwrap()
        .unwrap();
    for (message_id, entry, size) in [
        (stored.id, "e1", Some(100)),
        (stored.id, "e2", Some(23)),
        (stored.id, "e3", None),
        (other.id, "e1", Some(5)),
        (outside.id, "e1", Some(1_000_000)),
    ] {
        payload_rows::ActiveModel {
            message_id: Set(message_id),
            entry_id: Set(entry.into()),
            size: Set(size),
            status: Set("downloaded".into()),
            ..Default::default()
        }
        .insert(db.conn())
        .await
        .unwrap();
    }
    let mut volume = snapshots::payload_volume(&db, a, t(100), t(300))
        .await
        .unwrap();
    volume.sort_by(|x, y| x.iflow_id.cmp(&y.iflow_id));
    // 12 is flow_0, 15 has no iFlow.
    assert_eq!(
        volume,
        vec![
            PayloadVolume {
                iflow_id: String::new(),
                count: 1,
                bytes: 5
            },
            PayloadVolume {
                iflow_id: "flow_0".into(),
                count: 2,
                bytes: 123
            },
        ]
    );
}
on_both!(samples_are_the_messages_of_the_interval);

async fn table_stats_cover_every_table(db: Db, target: Target) {
    let a = tenant(&db, "A").await;
    let list: Vec<Message> = (0..25).map(message).collect();
    messages::upsert_messages(&db, a, &list).await.unwrap();
    let stats = snapshots::table_stats(&db).await.unwrap();
    let names: Vec<&str> = stats.iter().map(|s| s.table.as_str()).collect();
    let mut tables = maintenance::table_names(&db).await.unwrap();
    tables.sort();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        tables.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let logs = stats.iter().find(|s| s.table == "message_logs").unwrap();
    // Both backends here can tell table sizes (the bundled SQLite has dbstat).
    assert!(logs.bytes.unwrap() > 0, "{logs:?}");
    match target {
        // Exact.
        Target::Sqlite(_) => assert_eq!(logs.rows, Some(25)),
        // The statistics' estimate: present, and never more than what was written.
        Target::Postgres(_) => assert!(logs.rows.unwrap() <= 25, "{logs:?}"),
    }
    assert!(maintenance::database_size(&db).await.unwrap() > 0);
}
on_both!(table_stats_cover_every_table);
