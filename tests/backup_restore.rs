//! Backup while writers run, restore into a fresh location, compare row counts; maintenance on
//! both backends.

use integramon_tests::proc::run;
use integramon_tests::{PgDb, Proc, Target, bin, temp_dir};

fn migrate(t: &Target) {
    let (status, out) = run(&bin("integramon-migrate"), &[], &t.env(), 120);
    assert!(status.success(), "{out}");
}

/// Some rows in the big tables, written by the load tool (the same code path as the writers).
fn seed(t: &Target, secs: &str) {
    let (status, out) = run(
        &bin("integramon-sqlite-load"),
        &["--role", "writer", "--secs", secs],
        &t.env_with(&[("RUST_LOG", "warn")]),
        120,
    );
    assert!(status.success(), "{out}");
}

fn counts(t: &Target) -> Vec<(String, u64)> {
    ["tenants", "message_logs", "custom_header_properties"]
        .iter()
        .map(|table| {
            (
                table.to_string(),
                t.sql(&format!("SELECT COUNT(*) FROM {table}"))
                    .parse()
                    .unwrap(),
            )
        })
        .collect()
}

#[test]
fn sqlite_backup_while_writing_then_restore_elsewhere() {
    let t = Target::sqlite();
    migrate(&t);
    seed(&t, "2");
    let archive = t.data_dir().join("tenant-a").join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::write(archive.join("tenant-a_2026_01_01.archive"), b"archived day").unwrap();
    std::fs::create_dir_all(t.data_dir().join("logs")).unwrap();
    std::fs::write(t.data_dir().join("logs").join("web.log"), b"log line").unwrap();

    // A writer keeps going during the backup: VACUUM INTO must still give a consistent copy.
    let mut writer = Proc::spawn(
        &bin("integramon-sqlite-load"),
        &["--role", "writer", "--id", "9", "--secs", "6"],
        &t.env_with(&[("RUST_LOG", "warn")]),
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let dest = temp_dir().keep().join("backup");
    let (status, out) = run(
        &bin("integramon"),
        &[
            "db",
            "backup",
            "--dest",
            dest.to_str().unwrap(),
            "--with-archives",
            "--with-logs",
        ],
        &t.env(),
        120,
    );
    assert!(status.success(), "{out}");
    assert!(out.contains("backup written to"), "{out}");
    assert!(writer.wait(60).success(), "{}", writer.output());
    assert!(dest.join("integramon.sqlite3").is_file());
    assert_eq!(
        std::fs::read(dest.join("data/tenant-a/archive/tenant-a_2026_01_01.archive")).unwrap(),
        b"archived day"
    );
    assert!(dest.join("logs/web.log").is_file());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join("manifest.json")).unwrap()).unwrap();

    let fresh = Target::sqlite();
    let (status, out) = run(
        &bin("integramon"),
        &["db", "restore", dest.to_str().unwrap()],
        &fresh.env(),
        120,
    );
    assert!(status.success(), "{out}");
    assert!(out.contains("row counts match"), "{out}");
    assert_eq!(fresh.sql("PRAGMA integrity_check"), "ok");
    for (table, n) in counts(&fresh) {
        let recorded = manifest["row_counts"][&table].as_u64().unwrap();
        assert!(n >= recorded, "{table}: restored {n} < manifest {recorded}");
        assert!(n > 0, "{table} restored empty");
    }
    let headers: u64 = fresh
        .sql("SELECT COUNT(*) FROM custom_header_properties")
        .parse()
        .unwrap();
    let messages: u64 = fresh
        .sql("SELECT COUNT(*) FROM message_logs")
        .parse()
        .unwrap();
    assert_eq!(headers, messages * 5, "the copy is one consistent snapshot");

    // A second restore over the now-existing database is refused without --force.
    let (status, out) = run(
        &bin("integramon"),
        &["db", "restore", dest.to_str().unwrap()],
        &fresh.env(),
        60,
    );
    assert!(!status.success(), "{out}");
    assert!(out.contains("--force"), "{out}");
}

#[test]
fn postgres_backup_then_restore_into_a_fresh_database_matches_row_counts() {
    let t = Target::postgres();
    migrate(&t);
    seed(&t, "2");
    let dest = temp_dir().keep().join("backup");
    let (status, out) = run(
        &bin("integramon"),
        &["db", "backup", "--dest", dest.to_str().unwrap()],
        &t.env(),
        120,
    );
    assert!(status.success(), "{out}");
    assert!(dest.join("integramon.pgdump").is_file());

    let empty = PgDb::create();
    let mut env = t.env();
    env.retain(|(k, _)| k != "DB_NAME");
    env.push(("DB_NAME".into(), empty.name.clone()));
    let (status, out) = run(
        &bin("integramon"),
        &["db", "restore", dest.to_str().unwrap()],
        &env,
        120,
    );
    assert!(status.success(), "{out}");
    let original = counts(&t);
    for (table, n) in &original {
        let restored: u64 = empty
            .sql(&format!("SELECT COUNT(*) FROM {table}"))
            .parse()
            .unwrap();
        assert_eq!(restored, *n, "{table}");
        assert!(*n > 0, "{table} was seeded");
    }
    let migrations: u64 = empty
        .sql("SELECT COUNT(*) FROM seaql_migrations")
        .parse()
        .unwrap();
    assert_eq!(migrations as usize, migration::all_versions().len());
}

#[test]
fn postgres_backup_can_be_printed_without_the_password() {
    let pg = PgDb::create();
    let data = temp_dir();
    let mut env = pg.env(data.path());
    env.push(("DB_PASSWORD".into(), "very-secret".into()));
    let (status, out) = run(&bin("integramon"), &["db", "backup", "--print"], &env, 30);
    assert!(status.success(), "{out}");
    assert!(out.contains("pg_dump"), "{out}");
    assert!(out.contains(&format!("--dbname {}", pg.name)), "{out}");
    assert!(!out.contains("very-secret"), "{out}");
}

#[test]
fn sqlite_maintenance_reclaims_space_after_deletes() {
    let t = Target::sqlite();
    migrate(&t);
    seed(&t, "3");
    t.sql("DELETE FROM message_logs");
    let (status, out) = run(&bin("integramon"), &["db", "maintain"], &t.env(), 120);
    assert!(status.success(), "{out}");
    assert!(
        out.contains("done: PRAGMA wal_checkpoint(TRUNCATE)"),
        "{out}"
    );
    assert!(out.contains("done: VACUUM"), "{out}");
    let sizes = out
        .lines()
        .find_map(|l| l.strip_prefix("database size: "))
        .expect("size line");
    let (before, after) = sizes.trim_end_matches(" bytes").split_once(" -> ").unwrap();
    let (before, after): (u64, u64) = (before.parse().unwrap(), after.parse().unwrap());
    assert!(after < before, "{before} -> {after}");
}

#[test]
fn postgres_maintenance_vacuums_and_warns_before_full() {
    let t = Target::postgres();
    migrate(&t);
    let (status, out) = run(&bin("integramon"), &["db", "maintain"], &t.env(), 120);
    assert!(status.success(), "{out}");
    assert!(
        out.contains("done: VACUUM (ANALYZE) \"message_logs\""),
        "{out}"
    );
    assert!(!out.contains("FULL"), "{out}");
    let (status, out) = run(
        &bin("integramon"),
        &["db", "maintain", "--full", "--table", "message_logs"],
        &t.env(),
        120,
    );
    assert!(status.success(), "{out}");
    assert!(out.contains("ACCESS EXCLUSIVE"), "{out}");
    assert!(
        out.contains("done: VACUUM (FULL, ANALYZE) \"message_logs\""),
        "{out}"
    );
    let (status, out) = run(
        &bin("integramon"),
        &["db", "maintain", "--table", "no_such_table"],
        &t.env(),
        60,
    );
    assert!(!status.success(), "{out}");
    assert!(out.contains("unknown table"), "{out}");
}
