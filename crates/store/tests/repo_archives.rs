//! The archive table (`repo::archives`) on SQLite and PostgreSQL: the lifecycle the archiver
//! drives (writing → archived → deleted) and the reads the web builds on (list, summary, get).

#[macro_use]
mod support;

use chrono::NaiveDate;
use store::Db;
use store::repo::archives::{self, ArchiveFilter, ArchiveStatus};
use support::{Target, t, tenant};

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, d).unwrap()
}

async fn archive_lifecycle_list_and_summary(db: Db, _target: Target) {
    let a = tenant(&db, "a").await;
    let b = tenant(&db, "b").await;

    let row = archives::begin_day(&db, a, day(1), "a_2026_10_01.archive", "/x/a1", t(0))
        .await
        .unwrap();
    assert_eq!(row.status, ArchiveStatus::Writing);
    assert_eq!(row.checksum, None);
    // A second start of the same day returns the same row, whatever it is given.
    let again = archives::begin_day(&db, a, day(1), "other", "/other", t(5))
        .await
        .unwrap();
    assert_eq!(again, row);

    archives::mark_archived(&db, row.id, "/x/a1", 1234, 10, "ab12", t(10))
        .await
        .unwrap();
    // begin_day never moves an archived day back to writing.
    let kept = archives::begin_day(&db, a, day(1), "a_2026_10_01.archive", "/x/a1", t(11))
        .await
        .unwrap();
    assert_eq!(kept.status, ArchiveStatus::Archived);
    assert_eq!(
        (
            kept.size_bytes,
            kept.message_count,
            kept.checksum.as_deref()
        ),
        (1234, 10, Some("ab12"))
    );

    let a2 = archives::begin_day(&db, a, day(2), "a_2026_10_02.archive", "/x/a2", t(20))
        .await
        .unwrap();
    archives::mark_archived(&db, a2.id, "/x/a2", 100, 3, "cd34", t(21))
        .await
        .unwrap();
    let b1 = archives::begin_day(&db, b, day(2), "b_2026_10_02.archive", "/x/b2", t(30))
        .await
        .unwrap();
    archives::record_error(&db, b1.id, Some("disk full"), t(31))
        .await
        .unwrap();

    // Newest day first, then tenant.
    let all = archives::list(&db, &ArchiveFilter::default())
        .await
        .unwrap();
    let keys: Vec<(i64, NaiveDate)> = all.iter().map(|r| (r.tenant_id, r.day)).collect();
    assert_eq!(keys, vec![(a, day(2)), (b, day(2)), (a, day(1))]);
    assert_eq!(all[1].error.as_deref(), Some("disk full"));
    let only_b = archives::list(
        &db,
        &ArchiveFilter {
            tenant_ids: Some(&[b]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(only_b.len(), 1);
    let none = archives::list(
        &db,
        &ArchiveFilter {
            tenant_ids: Some(&[]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(none.is_empty(), "an empty tenant list sees nothing");
    let ranged = archives::list(
        &db,
        &ArchiveFilter {
            status: Some(ArchiveStatus::Archived),
            from: Some(day(2)),
            to: Some(day(2)),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(ranged.len(), 1);
    assert_eq!(ranged[0].id, a2.id);
    let second = archives::list(
        &db,
        &ArchiveFilter {
            offset: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(second.len(), 2);

    assert_eq!(
        archives::get(&db, a2.id).await.unwrap().unwrap().day,
        day(2)
    );
    assert!(archives::get(&db, 999_999).await.unwrap().is_none());

    // Retention candidates: archived days before the cut-off.
    let due = archives::archived_before(&db, a, day(2)).await.unwrap();
    assert_eq!(due.iter().map(|r| r.id).collect::<Vec<_>>(), vec![row.id]);

    assert!(archives::mark_deleted(&db, row.id, t(40)).await.unwrap());
    assert!(!archives::mark_deleted(&db, row.id, t(41)).await.unwrap());
    let gone = archives::get(&db, row.id).await.unwrap().unwrap();
    assert_eq!(gone.status, ArchiveStatus::Deleted);
    assert_eq!(gone.deleted_at, Some(t(40)));
    assert_eq!(gone.message_count, 10, "the row stays as metadata");

    let s = archives::summary(&db, None).await.unwrap();
    assert_eq!(s.len(), 2);
    let sa = &s[0];
    assert_eq!(sa.tenant_id, a);
    assert_eq!(
        (sa.archived_files, sa.archived_bytes, sa.archived_messages),
        (1, 100, 3)
    );
    assert_eq!(
        (sa.deleted_files, sa.deleted_messages, sa.writing),
        (1, 10, 0)
    );
    assert_eq!((sa.first_day, sa.last_day), (Some(day(2)), Some(day(2))));
    assert_eq!(s[1].writing, 1);
    assert_eq!(s[1].first_day, None);
    assert!(archives::summary(&db, Some(&[])).await.unwrap().is_empty());
    assert_eq!(archives::summary(&db, Some(&[b])).await.unwrap().len(), 1);
}

on_both!(archive_lifecycle_list_and_summary);
