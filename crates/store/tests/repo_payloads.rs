//! Payload and attachment downloads under each strategy, on SQLite and PostgreSQL.

#[macro_use]
mod support;

use domain::MessageStatus;
use domain::message::{AttachmentMeta, Message, MessageDetails, PayloadEntry};
use domain::tenant::PayloadStrategy;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use store::Db;
use store::entity::{attachments, message_logs, payloads};
use store::repo::messages;
use store::repo::payloads::{self as repo, Download};
use support::{Target, t, tenant};

fn entry(id: &str) -> PayloadEntry {
    PayloadEntry {
        entry_id: id.into(),
        message_store_id: Some("Persist_1".into()),
        timestamp: Some(t(1)),
        has_attachments: Some(false),
        retain_until: Some(t(1) + chrono::Duration::days(30)),
    }
}

fn attachment(id: &str, size: i64) -> AttachmentMeta {
    AttachmentMeta {
        attachment_id: id.into(),
        name: Some(format!("{id}.bin")),
        content_type: Some("application/octet-stream".into()),
        size: Some(size),
        timestamp: Some(t(2)),
    }
}

/// A message with status `status`, one payload entry `<guid>-p` and one attachment `<guid>-a`.
async fn message(db: &Db, tenant_id: i64, guid: &str, status: MessageStatus) -> i64 {
    let mut m = Message::new(guid, status.clone());
    m.log_end = Some(t(10));
    let id = messages::upsert_messages(db, tenant_id, &[m])
        .await
        .unwrap()
        .rows[0]
        .id;
    let mut d = MessageDetails::empty(status);
    d.payloads = Some(vec![entry(&format!("{guid}-p"))]);
    d.attachments = Some(vec![attachment(&format!("{guid}-a"), 42)]);
    messages::write_details(db, id, &d, t(11)).await.unwrap();
    id
}

fn ids(list: &[repo::PendingDownload]) -> Vec<&str> {
    list.iter().map(|p| p.cpi_id.as_str()).collect()
}

async fn strategies_choose_what_to_download(db: Db, _: Target) {
    let tid = tenant(&db, "p").await;
    let other = tenant(&db, "q").await;
    message(&db, tid, "ok", MessageStatus::Completed).await;
    let failed = message(&db, tid, "failed", MessageStatus::Failed).await;
    message(&db, tid, "retry", MessageStatus::Retry).await;
    message(&db, tid, "esc", MessageStatus::Escalated).await;
    message(&db, other, "elsewhere", MessageStatus::Failed).await;

    let all = repo::pending_payloads(&db, tid, PayloadStrategy::All, 100)
        .await
        .unwrap();
    assert_eq!(
        ids(&all),
        ["ok-p", "failed-p", "retry-p", "esc-p"],
        "oldest first"
    );
    let only_failed = repo::pending_payloads(&db, tid, PayloadStrategy::FailedOnly, 100)
        .await
        .unwrap();
    assert_eq!(ids(&only_failed), ["failed-p", "retry-p", "esc-p"]);
    assert_eq!(only_failed[0].message_guid, "failed");
    assert_eq!(only_failed[0].message_id, failed);
    assert_eq!(only_failed[0].message_status, MessageStatus::Failed);
    assert!(
        repo::pending_payloads(&db, tid, PayloadStrategy::None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repo::pending_payloads(&db, tid, PayloadStrategy::All, 2)
            .await
            .unwrap()
            .len(),
        2,
        "limit"
    );
    let att = repo::pending_attachments(&db, tid, PayloadStrategy::FailedOnly, 100)
        .await
        .unwrap();
    assert_eq!(ids(&att), ["failed-a", "retry-a", "esc-a"]);
    assert_eq!(att[0].size, Some(42));

    // Outcomes: downloaded, too large, error. None of them is pending any more, and each moves
    // its message's version (the archiver deletes only the version it wrote to a file).
    let updated_at = |guid: &'static str| {
        let db = db.clone();
        async move {
            message_logs::Entity::find()
                .filter(message_logs::Column::MessageGuid.eq(guid))
                .one(db.conn())
                .await
                .unwrap()
                .unwrap()
                .updated_at
        }
    };
    assert_ne!(updated_at("failed").await, t(20));
    repo::save_payload(
        &db,
        only_failed[0].id,
        &Download::Downloaded {
            content: vec![0, 1, 2, 255],
            content_type: Some("application/octet-stream".into()),
            sha256: "0".repeat(64),
        },
        t(20),
    )
    .await
    .unwrap();
    repo::save_payload(
        &db,
        only_failed[1].id,
        &Download::TooLarge { size: 9_999_999 },
        t(21),
    )
    .await
    .unwrap();
    repo::save_payload(
        &db,
        only_failed[2].id,
        &Download::Error {
            message: "404 Not Found".into(),
        },
        t(22),
    )
    .await
    .unwrap();
    repo::save_attachment(
        &db,
        att[0].id,
        &Download::Downloaded {
            content: b"attachment".to_vec(),
            content_type: None,
            sha256: "1".repeat(64),
        },
        t(23),
    )
    .await
    .unwrap();
    assert_eq!(
        updated_at("failed").await,
        t(23),
        "its attachment came last"
    );
    assert_eq!(updated_at("retry").await, t(21));
    assert_eq!(updated_at("esc").await, t(22));
    assert!(
        repo::pending_payloads(&db, tid, PayloadStrategy::FailedOnly, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let rows = payloads::Entity::find()
        .order_by_asc(payloads::Column::Id)
        .all(db.conn())
        .await
        .unwrap();
    let by = |e: &str| rows.iter().find(|r| r.entry_id == e).unwrap().clone();
    let d = by("failed-p");
    assert_eq!(
        (d.status.as_str(), d.size, d.downloaded_at),
        ("downloaded", Some(4), Some(t(20)))
    );
    assert_eq!(d.content, Some(vec![0, 1, 2, 255]));
    assert_eq!(
        repo::payload_content(&db, d.id).await.unwrap(),
        Some((vec![0, 1, 2, 255], Some("application/octet-stream".into())))
    );
    let big = by("retry-p");
    assert_eq!(
        (big.status.as_str(), big.size, big.content),
        ("too_large", Some(9_999_999), None)
    );
    let err = by("esc-p");
    assert_eq!(
        (err.status.as_str(), err.error.as_deref()),
        ("error", Some("404 Not Found"))
    );
    let a = attachments::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.attachment_id == "failed-a")
        .unwrap();
    assert_eq!(a.status, "downloaded");
    assert_eq!(
        a.content_type.as_deref(),
        Some("application/octet-stream"),
        "a download without a type keeps CPI's"
    );
    assert!(
        repo::save_payload(&db, 987_654, &Download::TooLarge { size: 1 }, t(0))
            .await
            .unwrap_err()
            .is_not_found()
    );

    // FailedOnly skips what it will never fetch; the skipped entry of a message that later
    // fails becomes pending again when its details are rewritten.
    assert_eq!(
        repo::skip_unwanted_payloads(&db, tid, PayloadStrategy::FailedOnly)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        repo::skip_unwanted_attachments(&db, tid, PayloadStrategy::FailedOnly)
            .await
            .unwrap(),
        1
    );
    assert!(
        repo::pending_payloads(&db, tid, PayloadStrategy::All, 100)
            .await
            .unwrap()
            .is_empty()
    );
    message(&db, tid, "ok", MessageStatus::Failed).await;
    assert_eq!(
        ids(
            &repo::pending_payloads(&db, tid, PayloadStrategy::FailedOnly, 100)
                .await
                .unwrap()
        ),
        ["ok-p"]
    );
    assert_eq!(
        repo::skip_unwanted_payloads(&db, tid, PayloadStrategy::All)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        repo::skip_unwanted_payloads(&db, other, PayloadStrategy::None)
            .await
            .unwrap(),
        1
    );
}
on_both!(strategies_choose_what_to_download);
