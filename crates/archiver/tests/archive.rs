//! Archiving on SQLite and PostgreSQL: a tenant-day goes to a file that holds exactly what was
//! in the database and comes back by restore; an archiver killed at any point loses and
//! duplicates nothing and the next run completes the day; late and changed messages are merged
//! into the day's file; retention removes files and keeps their rows; ingestion runs on while
//! an archive deletes.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use domain::MessageStatus;
use domain::archive::ArchivedMessage;
use domain::message::{CustomHeader, Message};
use integramon_archiver::format;
use integramon_archiver::restore;
use integramon_archiver::{Archiver, TenantRef};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sha2::Digest;
use store::Db;
use store::entity::{correlations, message_counts};
use store::repo::archives::{self, ArchiveStatus};
use store::repo::{archive_data, messages};
use support::{Kind, Target, TestDb, days_ago, messages_on, tenant};

/// Everything the database holds about the tenant's messages of `day`, by id.
async fn snapshot(a: &Archiver, tenant: &TenantRef, day: NaiveDate) -> Vec<ArchivedMessage> {
    let (from, to) = a.bounds(day);
    let ids: Vec<i64> = archive_data::day_messages(&a.db, tenant.id, from, to)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    archive_data::read_messages(&a.db, &ids).await.unwrap()
}

fn file_messages(path: &Path) -> Vec<ArchivedMessage> {
    let mut out = Vec::new();
    format::scan(path, |line, _| {
        out.push(format::decode_message(path, line)?);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    out
}

fn guids(ms: &[ArchivedMessage]) -> BTreeSet<String> {
    ms.iter().map(|m| m.guid.clone()).collect()
}

/// A message without the id its database gave it, for comparing across databases.
fn anonymous(mut ms: Vec<ArchivedMessage>) -> Vec<ArchivedMessage> {
    ms.sort_by(|a, b| a.guid.cmp(&b.guid));
    for m in &mut ms {
        m.id = 0;
    }
    ms
}

fn archive_path(a: &Archiver, tenant: &TenantRef, day: NaiveDate) -> PathBuf {
    a.dir(tenant.id)
        .join(domain::archive::file_name(tenant.id, &tenant.name, day))
}

async fn rollup_total(db: &Db, tenant_id: i64, a: &Archiver, day: NaiveDate) -> i64 {
    let (from, to) = a.bounds(day);
    message_counts::Entity::find()
        .filter(message_counts::Column::TenantId.eq(tenant_id))
        .filter(message_counts::Column::HourStart.gte(from))
        .filter(message_counts::Column::HourStart.lt(to))
        .all(db.conn())
        .await
        .unwrap()
        .iter()
        .map(|c| c.count)
        .sum()
}

async fn correlation_total(db: &Db, prefix: &str) -> i64 {
    correlations::Entity::find()
        .filter(correlations::Column::CorrelationId.starts_with(prefix))
        .all(db.conn())
        .await
        .unwrap()
        .iter()
        .map(|c| i64::from(c.message_count))
        .sum()
}

async fn archive_verify_and_restore(kind: Kind) {
    let t = TestDb::new(kind).await;
    let a = t.archiver();
    let acme = tenant(&t.db, "acme", 30, 365).await;
    let d = days_ago(40);
    messages_on(&t.db, &acme, d, 60, "d").await;
    messages_on(&t.db, &acme, d - chrono::Days::new(1), 5, "before").await;
    messages_on(&t.db, &acme, d + chrono::Days::new(1), 5, "after").await;
    store::repo::monitor::rebuild_counts(&t.db, acme.id)
        .await
        .unwrap();
    let before = snapshot(&a, &acme, d).await;
    assert_eq!(before.len(), 60);
    assert!(before.iter().any(|m| !m.payloads.is_empty()
        && m.payloads[0].content.is_some()
        && !m.runs[0].steps.is_empty()
        && m.error.is_some()));
    assert_eq!(rollup_total(&t.db, acme.id, &a, d).await, 60);
    assert_eq!(correlation_total(&t.db, "d-cor-").await, 60);

    let report = a.run_tenant(&acme, Some(d)).await.unwrap();
    assert_eq!(report.days.len(), 1);
    let day = &report.days[0];
    assert_eq!(
        (day.outcome.as_str(), day.archived, day.deleted),
        ("written", 60, 60)
    );

    // The file holds exactly what the database held.
    let path = archive_path(&a, &acme, d);
    assert_eq!(file_messages(&path), before);
    let bytes = std::fs::read(&path).unwrap();
    let row = archives::find_day(&t.db, acme.id, d)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ArchiveStatus::Archived);
    assert_eq!(row.message_count, 60);
    assert_eq!(row.size_bytes, bytes.len() as i64);
    assert_eq!(
        row.checksum.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&bytes)).as_str())
    );
    assert_eq!(row.path, path.to_string_lossy());
    assert!(!PathBuf::from(format!("{}.partial", path.display())).exists());

    // The day left the database, its rollup and correlations; the neighbours did not.
    assert!(snapshot(&a, &acme, d).await.is_empty());
    assert_eq!(rollup_total(&t.db, acme.id, &a, d).await, 0);
    assert_eq!(correlation_total(&t.db, "d-cor-").await, 0);
    assert_eq!(snapshot(&a, &acme, d - chrono::Days::new(1)).await.len(), 5);
    assert_eq!(snapshot(&a, &acme, d + chrono::Days::new(1)).await.len(), 5);
    assert_eq!(
        rollup_total(&t.db, acme.id, &a, d + chrono::Days::new(1)).await,
        5
    );

    // A second run finds nothing to do.
    let again = a.run_tenant(&acme, Some(d)).await.unwrap();
    assert_eq!(again.days[0].outcome, "unchanged");

    // Restore into an empty database: the same messages, everything included.
    let fresh = TestDb::new(kind).await;
    let fa = fresh.archiver();
    let acme2 = tenant(&fresh.db, "acme", 30, 365).await;
    let r = restore::restore(&fresh.db, &path, None, |_, _| {})
        .await
        .unwrap();
    assert_eq!((r.messages, r.inserted, r.existing), (60, 60, 0));
    let restored = snapshot(&fa, &acme2, d).await;
    assert_eq!(anonymous(restored), anonymous(before.clone()));
    assert_eq!(rollup_total(&fresh.db, acme2.id, &fa, d).await, 60);
    assert_eq!(correlation_total(&fresh.db, "d-cor-").await, 60);
    let restored_correlations = correlations::Entity::find()
        .filter(correlations::Column::CorrelationId.starts_with("d-cor-"))
        .all(fresh.db.conn())
        .await
        .unwrap();
    assert!(
        restored_correlations
            .iter()
            .all(|c| c.first_seen.is_some() && c.last_seen.is_some()),
        "restored correlations know when they were seen: {restored_correlations:?}"
    );
    // Idempotent.
    let r2 = restore::restore(&fresh.db, &path, None, |_, _| {})
        .await
        .unwrap();
    assert_eq!((r2.inserted, r2.existing), (0, 60));
    assert_eq!(snapshot(&fa, &acme2, d).await.len(), 60);
    assert_eq!(rollup_total(&fresh.db, acme2.id, &fa, d).await, 60);
    fresh.close().await;

    // And back into the database it came from.
    let r3 = restore::restore(&t.db, &path, None, |_, _| {})
        .await
        .unwrap();
    assert_eq!(r3.inserted, 60);
    assert_eq!(
        anonymous(snapshot(&a, &acme, d).await),
        anonymous(before.clone())
    );
    assert_eq!(rollup_total(&t.db, acme.id, &a, d).await, 60);
    assert_eq!(correlation_total(&t.db, "d-cor-").await, 60);
    // Archiving the restored day again recognises the messages by GUID (they have new ids):
    // the file stays as it is, the rows go again.
    let rerun = a.run_tenant(&acme, Some(d)).await.unwrap();
    assert_eq!(
        (rerun.days[0].outcome.as_str(), rerun.days[0].deleted),
        ("resumed", 60)
    );
    assert_eq!(file_messages(&path), before);
    assert!(snapshot(&a, &acme, d).await.is_empty());

    // Reading without importing: one message, and the errors of a damaged file.
    let mut out = Vec::new();
    restore::read(&path, restore::ReadWhat::Message("d-00003"), &mut out).unwrap();
    let one: ArchivedMessage = serde_json::from_slice(&out).unwrap();
    assert_eq!(one.guid, "d-00003");
    let cut = t.dir.path().join("cut.archive");
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).unwrap();
    let err = restore::read(&cut, restore::ReadWhat::Summary, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let err = restore::restore(&t.db, &cut, None, |_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_verify_and_restore_sqlite() {
    archive_verify_and_restore(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_verify_and_restore_postgres() {
    archive_verify_and_restore(Kind::Postgres).await;
}

/// The child process of the kill tests: archives one day with `ARCHIVE_FAILPOINT` set and
/// aborts there. Does nothing unless started by [`kill_at`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by the kill tests"]
async fn child_process() {
    let Ok(target) = std::env::var("ARCHIVER_TEST_TARGET") else {
        return;
    };
    let db = store::connect(&Target::decode(&target).settings()).unwrap();
    let mut a = support::archiver(db, Path::new(&std::env::var("ARCHIVER_TEST_DATA").unwrap()));
    a.failpoint = std::env::var("ARCHIVE_FAILPOINT").ok();
    let day: NaiveDate = std::env::var("ARCHIVER_TEST_DAY").unwrap().parse().unwrap();
    let tenant = a
        .tenant(&domain::job::TenantRef::Name(
            std::env::var("ARCHIVER_TEST_TENANT").unwrap(),
        ))
        .await
        .unwrap();
    a.run_tenant(&tenant, Some(day)).await.unwrap();
}

/// Run the child archiver for `day` until it aborts at `point`.
fn kill_at(t: &TestDb, tenant: &str, day: NaiveDate, point: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process", "--ignored", "--nocapture"])
        .env("ARCHIVER_TEST_TARGET", t.target.encode())
        .env("ARCHIVER_TEST_DATA", t.data_dir())
        .env("ARCHIVER_TEST_DAY", day.to_string())
        .env("ARCHIVER_TEST_TENANT", tenant)
        .env("ARCHIVE_FAILPOINT", point)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains(&format!("ARCHIVE_FAILPOINT={point}")),
        "the child should abort at {point}: {:?}\n{stderr}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

async fn killed_at_every_point(kind: Kind) {
    let t = TestDb::new(kind).await;
    let a = t.archiver();
    let acme = tenant(&t.db, "acme", 30, 365).await;
    let points = [
        ("during_write", "written"),
        ("before_publish", "written"),
        ("after_publish", "written"),
        ("after_record", "resumed"),
        ("during_delete", "resumed"),
    ];
    for (i, (point, rerun)) in points.into_iter().enumerate() {
        let d = days_ago(40 + i as u64);
        let prefix = format!("k{i}");
        messages_on(&t.db, &acme, d, 50, &prefix).await;
        let original = snapshot(&a, &acme, d).await;
        kill_at(&t, "acme", d, point);

        // Nothing lost: every message is in the database or in the verified, recorded file.
        let in_db = snapshot(&a, &acme, d).await;
        let path = archive_path(&a, &acme, d);
        let row = archives::find_day(&t.db, acme.id, d).await.unwrap();
        let status = row.as_ref().map(|r| r.status);
        let in_file = if path.exists() {
            // No half file under the final name: whatever is there verifies.
            let v = format::verify(&path).unwrap_or_else(|e| panic!("{point}: {e}"));
            assert_eq!(v.messages.len(), 50, "{point}");
            file_messages(&path)
        } else {
            Vec::new()
        };
        match point {
            "during_write" | "before_publish" => {
                assert!(!path.exists(), "{point}: no file under the final name");
                assert_eq!(status, Some(ArchiveStatus::Writing), "{point}");
                assert_eq!(in_db, original, "{point}: nothing deleted");
            }
            "after_publish" => {
                assert_eq!(status, Some(ArchiveStatus::Writing), "{point}");
                assert_eq!(in_db, original, "{point}: nothing deleted");
            }
            "after_record" => {
                assert_eq!(status, Some(ArchiveStatus::Archived), "{point}");
                assert_eq!(in_db, original, "{point}: nothing deleted yet");
            }
            _ => {
                assert_eq!(status, Some(ArchiveStatus::Archived), "{point}");
                assert_eq!(in_db.len(), 50 - 7, "{point}: one batch deleted");
            }
        }
        let mut all = guids(&in_db);
        all.extend(guids(&in_file));
        assert_eq!(all, guids(&original), "{point}: no message lost");

        // The next run completes the day: everything in the file once, nothing in the database.
        let report = a.run_tenant(&acme, Some(d)).await.unwrap();
        assert_eq!(report.days[0].outcome, rerun, "{point}");
        assert!(snapshot(&a, &acme, d).await.is_empty(), "{point}");
        let done = file_messages(&path);
        assert_eq!(done.len(), 50, "{point}: no duplicates");
        assert_eq!(guids(&done), guids(&original), "{point}");
        assert_eq!(
            done, original,
            "{point}: the file holds the rows as they were"
        );
        let row = archives::find_day(&t.db, acme.id, d)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (row.status, row.message_count),
            (ArchiveStatus::Archived, 50)
        );
        assert!(
            !PathBuf::from(format!("{}.partial", path.display())).exists()
                || point.starts_with("during_write")
                || point == "before_publish"
        );
    }
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_point_sqlite() {
    killed_at_every_point(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_point_postgres() {
    killed_at_every_point(Kind::Postgres).await;
}

async fn late_and_changed_messages_are_merged(kind: Kind) {
    let t = TestDb::new(kind).await;
    let a = t.archiver();
    let acme = tenant(&t.db, "acme", 30, 365).await;
    let d = days_ago(45);
    messages_on(&t.db, &acme, d, 30, "m").await;
    // Killed after the file was recorded, before any delete; then a message changes.
    kill_at(&t, "acme", d, "after_record");
    let mut changed = Message::new("m-00001", MessageStatus::Escalated);
    let before = snapshot(&a, &acme, d).await;
    let old = before.iter().find(|m| m.guid == "m-00001").unwrap().clone();
    changed.log_start = old.log_start;
    changed.log_end = old.log_end;
    changed.iflow_id = old.iflow_id.clone();
    changed.package_id = old.package_id.clone();
    changed.correlation_id = old.correlation_id.clone();
    changed.sender = old.sender.clone();
    messages::upsert_messages(&t.db, acme.id, &[changed])
        .await
        .unwrap();
    let report = a.run_tenant(&acme, Some(d)).await.unwrap();
    assert_eq!(report.days[0].outcome, "merged");
    let path = archive_path(&a, &acme, d);
    let in_file = file_messages(&path);
    assert_eq!(in_file.len(), 30);
    let m1 = in_file.iter().find(|m| m.guid == "m-00001").unwrap();
    assert_eq!(
        m1.status.as_deref(),
        Some("ESCALATED"),
        "the newer version won"
    );
    assert!(snapshot(&a, &acme, d).await.is_empty());

    // A message of the day that arrives after it was archived joins the file.
    messages_on(&t.db, &acme, d, 2, "late").await;
    let report = a.run_tenant(&acme, Some(d)).await.unwrap();
    assert_eq!(
        (report.days[0].outcome.as_str(), report.days[0].archived),
        ("merged", 32)
    );
    let in_file = file_messages(&path);
    assert_eq!(in_file.len(), 32, "never a smaller file");
    assert!(in_file.iter().any(|m| m.guid == "late-00001"));
    assert!(snapshot(&a, &acme, d).await.is_empty());
    let row = archives::find_day(&t.db, acme.id, d)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.message_count, 32);

    // The file of an archived day is gone while new rows of the day arrived: the run stops
    // with the reason and touches nothing.
    std::fs::rename(&path, t.dir.path().join("moved.archive")).unwrap();
    messages_on(&t.db, &acme, d, 1, "orphan").await;
    let err = a.run_tenant(&acme, Some(d)).await.unwrap_err();
    assert!(err.to_string().contains("is missing"), "{err}");
    assert_eq!(snapshot(&a, &acme, d).await.len(), 1);
    let row = archives::find_day(&t.db, acme.id, d)
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.error
            .as_deref()
            .is_some_and(|e| e.contains("is missing"))
    );
    // Put back, the next run merges it.
    std::fs::rename(t.dir.path().join("moved.archive"), &path).unwrap();
    let report = a.run_tenant(&acme, Some(d)).await.unwrap();
    assert_eq!(report.days[0].archived, 33);
    let row = archives::find_day(&t.db, acme.id, d)
        .await
        .unwrap()
        .unwrap();
    assert!(row.error.is_none());
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_and_changed_messages_are_merged_sqlite() {
    late_and_changed_messages_are_merged(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_and_changed_messages_are_merged_postgres() {
    late_and_changed_messages_are_merged(Kind::Postgres).await;
}

async fn retention_removes_files_and_keeps_rows(kind: Kind) {
    let t = TestDb::new(kind).await;
    let a = t.archiver();
    let acme = tenant(&t.db, "acme", 30, 35).await;
    let (old, kept, recent) = (days_ago(40), days_ago(32), days_ago(10));
    messages_on(&t.db, &acme, old, 4, "old").await;
    messages_on(&t.db, &acme, kept, 4, "kept").await;
    messages_on(&t.db, &acme, recent, 4, "recent").await;
    // Every due day, then retention: the 40-day-old file is past delete_older_than (35).
    let report = a.run_tenant(&acme, None).await.unwrap();
    let done: Vec<(NaiveDate, &str)> = report
        .days
        .iter()
        .filter(|d| d.outcome != "empty")
        .map(|d| (d.day, d.outcome.as_str()))
        .collect();
    assert_eq!(done, vec![(old, "written"), (kept, "written")]);
    assert_eq!(report.files_deleted, 1);
    assert!(!archive_path(&a, &acme, old).exists());
    assert!(archive_path(&a, &acme, kept).exists());
    let row = archives::find_day(&t.db, acme.id, old)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ArchiveStatus::Deleted);
    assert!(row.deleted_at.is_some());
    assert_eq!(row.message_count, 4, "the row stays as metadata");
    assert_eq!(
        archives::find_day(&t.db, acme.id, kept)
            .await
            .unwrap()
            .unwrap()
            .status,
        ArchiveStatus::Archived
    );
    assert_eq!(snapshot(&a, &acme, recent).await.len(), 4, "not due");
    // A day whose file is gone is not archived again.
    messages_on(&t.db, &acme, old, 1, "straggler").await;
    let again = a.run_tenant(&acme, Some(old)).await.unwrap();
    assert_eq!(
        (again.days[0].outcome.as_str(), again.days[0].left),
        ("skipped", 1)
    );
    // A day not past archive_older_than is refused.
    let err = a.run_tenant(&acme, Some(recent)).await.unwrap_err();
    assert!(err.to_string().contains("not older"), "{err}");
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_files_and_keeps_rows_sqlite() {
    retention_removes_files_and_keeps_rows(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_files_and_keeps_rows_postgres() {
    retention_removes_files_and_keeps_rows(Kind::Postgres).await;
}

/// Pages of `size` fresh messages (today) with headers, as the ingest worker writes them, until
/// `stop`; returns (pages, errors, slowest page).
async fn ingest(db: Db, tenant_id: i64, stop: Arc<AtomicBool>) -> (u64, Vec<String>, Duration) {
    let mut pages = 0;
    let mut errors = Vec::new();
    let mut slowest = Duration::ZERO;
    let n = AtomicU64::new(0);
    while !stop.load(Ordering::Relaxed) {
        let page: Vec<Message> = (0..50)
            .map(|_| {
                let i = n.fetch_add(1, Ordering::Relaxed);
                let mut m = Message::new(format!("live-{i}"), MessageStatus::Completed);
                m.log_end = Some(chrono::Utc::now());
                m.iflow_id = Some("live".into());
                m
            })
            .collect();
        let started = Instant::now();
        let result = async {
            let txn = db.begin_write().await?;
            let out = messages::upsert_messages_in(&txn, tenant_id, &page).await?;
            let headers: Vec<(i64, Vec<CustomHeader>)> = out
                .rows
                .iter()
                .map(|r| (r.id, vec![CustomHeader::new("OrderId", r.guid.clone())]))
                .collect();
            messages::replace_headers_bulk_in(&txn, &headers).await?;
            txn.commit().await?;
            Ok::<_, store::StoreError>(())
        }
        .await;
        slowest = slowest.max(started.elapsed());
        match result {
            Ok(()) => pages += 1,
            Err(e) => errors.push(e.to_string()),
        }
    }
    (pages, errors, slowest)
}

async fn ingestion_runs_during_an_archive(kind: Kind) {
    let t = TestDb::new(kind).await;
    let mut a = t.archiver();
    a.delete_batch = 500;
    a.read_batch = 1000;
    let acme = tenant(&t.db, "acme", 30, 365).await;
    let d = days_ago(50);
    // A plain day of messages with headers (no details), written page by page.
    let total = 6_000usize;
    for chunk in 0..(total / 1000) {
        let page: Vec<Message> = (0..1000)
            .map(|i| {
                let k = chunk * 1000 + i;
                let mut m = Message::new(format!("bulk-{k:06}"), MessageStatus::Completed);
                m.log_end = Some(support::at(d, (k as i64) * 86_000 / total as i64));
                m.iflow_id = Some(format!("flow_{}", k % 7));
                m
            })
            .collect();
        let out = messages::upsert_messages(&t.db, acme.id, &page)
            .await
            .unwrap();
        let headers: Vec<(i64, Vec<CustomHeader>)> = out
            .rows
            .iter()
            .map(|r| {
                (
                    r.id,
                    vec![
                        CustomHeader::new("OrderId", r.guid.clone()),
                        CustomHeader::new("Region", "EMEA"),
                    ],
                )
            })
            .collect();
        messages::replace_headers_bulk(&t.db, &headers)
            .await
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let ingestion = tokio::spawn(ingest(t.db.clone(), acme.id, stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let report = a.run_tenant(&acme, Some(d)).await.unwrap();
    let archive_secs = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (pages, errors, slowest) = ingestion.await.unwrap();
    assert_eq!(report.days[0].deleted, total as u64);
    assert!(
        errors.is_empty(),
        "ingestion failed during the archive: {errors:?}"
    );
    assert!(
        pages >= 5,
        "ingestion made progress ({pages} pages in {archive_secs:?})"
    );
    // Deletes are short transactions: no page waits anywhere near SQLITE_TIMEOUT (20 s).
    assert!(
        slowest < Duration::from_secs(5),
        "slowest page {slowest:?} (archive took {archive_secs:?})"
    );
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingestion_runs_during_an_archive_sqlite() {
    ingestion_runs_during_an_archive(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingestion_runs_during_an_archive_postgres() {
    ingestion_runs_during_an_archive(Kind::Postgres).await;
}
