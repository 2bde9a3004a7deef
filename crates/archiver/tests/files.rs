//! Archive files are the tenant's own: tenants whose names are the same once made file-safe
//! keep separate files; a file that is not the one its row records (tampered with, or written
//! over by another archive) is never used, restored, merged into or deleted; files of the old
//! name-based layout are moved into the tenant-id layout, except one another tenant's run
//! wrote over, whose row then says so.

mod support;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use integramon_archiver::{Archiver, TenantRef, format, restore};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use store::entity::archives as archive_rows;
use store::repo::archives::{self, ArchiveRow, ArchiveStatus};
use support::{Kind, TestDb, days_ago, messages_on, tenant};

async fn row_of(a: &Archiver, t: &TenantRef, day: NaiveDate) -> ArchiveRow {
    archives::find_day(&a.db, t.id, day)
        .await
        .unwrap()
        .expect("an archive row")
}

fn header_tenant(path: &Path) -> i64 {
    format::verify(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .header
        .tenant_id
}

async fn colliding_names_keep_their_own_files(kind: Kind) {
    let t = TestDb::new(kind).await;
    let a = t.archiver();
    let spaced = tenant(&t.db, "col lide", 30, 365).await;
    let under = tenant(&t.db, "col_lide", 30, 365).await;
    let d = days_ago(40);
    messages_on(&t.db, &spaced, d, 20, "sp").await;
    messages_on(&t.db, &under, d, 30, "un").await;

    let first = a.run_tenant(&spaced, Some(d)).await.unwrap();
    assert_eq!(first.days[0].deleted, 20);
    let second = a.run_tenant(&under, Some(d)).await.unwrap();
    assert_eq!(second.days[0].deleted, 30);

    let (r1, r2) = (row_of(&a, &spaced, d).await, row_of(&a, &under, d).await);
    assert_ne!(r1.path, r2.path, "one file each");
    assert_ne!(r1.file_name, r2.file_name);
    for (row, who, n) in [(&r1, &spaced, 20), (&r2, &under, 30)] {
        let path = Path::new(&row.path);
        assert!(path.starts_with(a.dir(who.id)), "{}", row.path);
        assert_eq!(
            header_tenant(path),
            who.id,
            "{} holds its own tenant",
            row.path
        );
        let v = format::verify(path).unwrap();
        assert_eq!(v.messages.len(), n);
        assert_eq!(row.checksum.as_deref(), Some(v.sha256.as_str()));
        assert!(row.file_name.contains("col"), "readable: {}", row.file_name);
    }
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_names_keep_their_own_files_sqlite() {
    colliding_names_keep_their_own_files(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_names_keep_their_own_files_postgres() {
    colliding_names_keep_their_own_files(Kind::Postgres).await;
}

async fn set_path(a: &Archiver, id: i64, path: &Path) {
    archive_rows::Entity::update_many()
        .col_expr(
            archive_rows::Column::Path,
            Expr::value(path.to_string_lossy().into_owned()),
        )
        .col_expr(
            archive_rows::Column::FileName,
            Expr::value(path.file_name().unwrap().to_string_lossy().into_owned()),
        )
        .filter(archive_rows::Column::Id.eq(id))
        .exec(a.db.conn())
        .await
        .unwrap();
}

async fn tampered_files_are_refused(kind: Kind) {
    let t = TestDb::new(kind).await;
    let a = t.archiver();
    let acme = tenant(&t.db, "acme", 30, 365).await;
    let other = tenant(&t.db, "other", 30, 365).await;
    let d = days_ago(40);
    let old = days_ago(70);
    for (who, p) in [(&acme, "a"), (&other, "o")] {
        messages_on(&t.db, who, d, 10, &format!("{p}d")).await;
        messages_on(&t.db, who, old, 10, &format!("{p}old")).await;
        a.run_tenant(who, Some(d)).await.unwrap();
    }
    let mine = row_of(&a, &acme, d).await;
    let theirs = row_of(&a, &other, d).await;
    // Another valid archive written over acme's file: it verifies, but is not acme's.
    std::fs::copy(&theirs.path, &mine.path).unwrap();

    let err = restore::restore(&t.db, Path::new(&mine.path), None, |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match the checksum"), "{err}");
    assert!(err.contains("refusing to restore"), "{err}");

    // A late message of the day would be merged into the file: refused, the message stays.
    messages_on(&t.db, &acme, d, 1, "late").await;
    let err = a.run_tenant(&acme, Some(d)).await.unwrap_err().to_string();
    assert!(err.contains("does not match the checksum"), "{err}");
    assert_eq!(
        std::fs::read(&mine.path).unwrap(),
        std::fs::read(&theirs.path).unwrap(),
        "the file was left alone"
    );

    // Retention does not delete one either; the row says why.
    a.run_tenant(&acme, Some(old)).await.unwrap();
    let old_row = row_of(&a, &acme, old).await;
    assert_eq!(old_row.status, ArchiveStatus::Archived);
    std::fs::copy(&theirs.path, &old_row.path).unwrap();
    let removed = a.delete_old_files(&acme, days_ago(60)).await.unwrap();
    assert_eq!(
        removed, 0,
        "a file that is not the recorded one is not deleted"
    );
    assert!(Path::new(&old_row.path).exists());
    let old_row = row_of(&a, &acme, old).await;
    assert_eq!(old_row.status, ArchiveStatus::Archived);
    assert!(
        old_row
            .error
            .as_deref()
            .is_some_and(|e| e.contains("refusing to delete")),
        "{old_row:?}"
    );
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_files_are_refused_sqlite() {
    tampered_files_are_refused(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_files_are_refused_postgres() {
    tampered_files_are_refused(Kind::Postgres).await;
}

/// Put an archived file where the old layout had it and point its row there.
async fn to_legacy(a: &Archiver, row: &ArchiveRow, name: &str) -> PathBuf {
    let dir = domain::archive::legacy_dir(&a.data_dir, name);
    std::fs::create_dir_all(&dir).unwrap();
    let legacy = dir.join(format!(
        "{}_{}.archive",
        domain::archive::safe_name(name),
        row.day.format("%Y_%m_%d")
    ));
    std::fs::rename(&row.path, &legacy).unwrap();
    set_path(a, row.id, &legacy).await;
    legacy
}

async fn legacy_files_move_and_collisions_are_flagged(kind: Kind) {
    let t = TestDb::new(kind).await;
    let a = t.archiver();
    let spaced = tenant(&t.db, "col lide", 30, 365).await;
    let under = tenant(&t.db, "col_lide", 30, 365).await;
    let d = days_ago(40);
    let e = days_ago(41);
    messages_on(&t.db, &spaced, d, 20, "sp").await;
    messages_on(&t.db, &spaced, e, 5, "spe").await;
    messages_on(&t.db, &under, d, 30, "un").await;
    for who in [&spaced, &under] {
        a.run_tenant(who, None).await.unwrap();
    }
    // What the old layout left behind: both rows of `d` at one path, holding `under`'s file
    // (its run came second); `spaced`'s day `e` alone at its old path.
    let (s_d, u_d) = (row_of(&a, &spaced, d).await, row_of(&a, &under, d).await);
    let shared = to_legacy(&a, &s_d, "col lide").await;
    std::fs::remove_file(&shared).unwrap();
    let shared2 = to_legacy(&a, &u_d, "col_lide").await;
    assert_eq!(shared, shared2);
    let s_e = row_of(&a, &spaced, e).await;
    to_legacy(&a, &s_e, "col lide").await;

    // `spaced` first (the daemon's order is by name, which collations sort differently).
    a.move_legacy_files(&spaced).await.unwrap();
    a.move_all_legacy_files().await;

    let u_d = row_of(&a, &under, d).await;
    assert!(Path::new(&u_d.path).starts_with(a.dir(under.id)), "{u_d:?}");
    assert_eq!(header_tenant(Path::new(&u_d.path)), under.id);
    assert_eq!(
        store::repo::archives::check_file(&u_d).unwrap(),
        archives::FileCheck::Matches
    );
    assert!(u_d.file_name.starts_with(&format!("{}_", under.id)));
    let s_e = row_of(&a, &spaced, e).await;
    assert!(
        Path::new(&s_e.path).starts_with(a.dir(spaced.id)),
        "{s_e:?}"
    );
    assert_eq!(
        format::verify(Path::new(&s_e.path)).unwrap().messages.len(),
        5
    );
    // `spaced`'s day `d` was written over before: not moved, and its row says so. Whatever
    // is at its old path is not served as its file.
    let s_d = row_of(&a, &spaced, d).await;
    assert_eq!(Path::new(&s_d.path), shared);
    assert!(
        s_d.error
            .as_deref()
            .is_some_and(|e| e.contains("does not match the checksum")),
        "{s_d:?}"
    );
    // Idempotent, and the old layout's directory is gone once empty.
    a.move_all_legacy_files().await;
    assert_eq!(row_of(&a, &under, d).await.path, u_d.path);
    assert!(!domain::archive::legacy_dir(&a.data_dir, "col_lide").exists());
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_files_move_and_collisions_are_flagged_sqlite() {
    legacy_files_move_and_collisions_are_flagged(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_files_move_and_collisions_are_flagged_postgres() {
    legacy_files_move_and_collisions_are_flagged(Kind::Postgres).await;
}
