//! Backup while writers run, restore into a fresh location, compare row counts exactly; the
//! tenant-secret key travels with the backup; a failed backup leaves nothing; a backup of one
//! backend is refused by the other; `verify-full` setups back up; maintenance on both backends.

use std::path::Path;

use integramon_tests::private_pg::{Options, PrivateCluster, set};
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
    // The manifest counts the copy itself, though a writer kept going during the backup.
    for (table, n) in counts(&fresh) {
        let recorded = manifest["row_counts"][&table].as_u64().unwrap();
        assert_eq!(n, recorded, "{table}: restored {n}, manifest {recorded}");
        assert!(n > 0, "{table} restored empty");
    }
    // The archive files came back to where they were.
    assert_eq!(
        std::fs::read(
            fresh
                .data_dir()
                .join("tenant-a/archive/tenant-a_2026_01_01.archive")
        )
        .unwrap(),
        b"archived day"
    );
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

/// A tenant whose password is sealed with the installation's key (created here, as the daemons
/// would on first use).
fn tenant_with_secret(t: &Target, password: &str) -> i64 {
    let key = domain::secret::SecretKey::generate().unwrap();
    std::fs::write(t.data_dir().join("secret.key"), key.to_base64()).unwrap();
    let sealed = domain::secret::seal(&key, password).unwrap();
    let settings = t.store_settings();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let db = store::connect(&settings).unwrap();
            let tenant = domain::tenant::TenantSettings::new(
                "sealed",
                "https://tenant.example.com",
                domain::tenant::Auth::Basic {
                    username: "u".into(),
                },
            );
            let t = store::repo::tenants::create(&db, &tenant, Some(sealed.as_str()))
                .await
                .unwrap();
            db.close().await;
            t.id
        })
}

fn open_secret(t: &Target, id: i64) -> Result<String, String> {
    let key_text = std::fs::read_to_string(t.data_dir().join("secret.key"))
        .map_err(|e| format!("no key in the restored DATA_DIR: {e}"))?;
    let key = domain::secret::SecretKey::from_base64(key_text.trim()).map_err(|e| e.to_string())?;
    let settings = t.store_settings();
    let sealed = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let db = store::connect(&settings).unwrap();
            let s = store::repo::tenants::sealed_secret(&db, id).await.unwrap();
            db.close().await;
            s
        });
    let sealed = sealed.ok_or("no sealed secret")?;
    domain::secret::open(&key, &sealed).map_err(|e| e.to_string())
}

fn backup_to(t: &Target, args: &[&str]) -> std::path::PathBuf {
    let dest = temp_dir().keep().join("backup");
    let mut all = vec!["db", "backup", "--dest", dest.to_str().unwrap()];
    all.extend_from_slice(args);
    let (status, out) = run(&bin("integramon"), &all, &t.env(), 120);
    assert!(status.success(), "{out}");
    dest
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn restore_into_a_fresh_data_dir_decrypts_tenant_secrets(t: Target, fresh: Target) {
    migrate(&t);
    let id = tenant_with_secret(&t, "tenant-password");
    let dest = backup_to(&t, &[]);
    assert_eq!(mode(&dest.join("secret.key")), 0o600);
    assert_eq!(mode(&dest), 0o700);

    let (status, out) = run(
        &bin("integramon"),
        &["db", "restore", dest.to_str().unwrap()],
        &fresh.env(),
        120,
    );
    assert!(status.success(), "{out}");
    assert!(
        out.contains("integramon-migrate"),
        "says what comes next: {out}"
    );
    assert_eq!(open_secret(&fresh, id).as_deref(), Ok("tenant-password"));
    assert_eq!(mode(&fresh.data_dir().join("secret.key")), 0o600);
}

#[test]
fn sqlite_restore_into_a_fresh_data_dir_decrypts_tenant_secrets() {
    restore_into_a_fresh_data_dir_decrypts_tenant_secrets(Target::sqlite(), Target::sqlite());
}

#[test]
fn postgres_restore_into_a_fresh_data_dir_decrypts_tenant_secrets() {
    restore_into_a_fresh_data_dir_decrypts_tenant_secrets(Target::postgres(), Target::postgres());
}

#[test]
fn a_restore_refuses_an_installation_with_another_key() {
    let t = Target::sqlite();
    migrate(&t);
    tenant_with_secret(&t, "pw");
    let dest = backup_to(&t, &[]);
    let fresh = Target::sqlite();
    let other = domain::secret::SecretKey::generate().unwrap().to_base64();
    let (status, out) = run(
        &bin("integramon"),
        &["db", "restore", dest.to_str().unwrap()],
        &fresh.env_with(&[("SECRET_KEY", other.as_str())]),
        60,
    );
    assert!(!status.success(), "{out}");
    assert!(out.contains("is not the backup's"), "{out}");
    assert!(!out.contains(&other), "the key is never printed");
    assert!(
        !fresh.data_dir().join("integramon.sqlite3").exists(),
        "nothing was changed"
    );
}

fn lowered_manifest_is_refused(t: Target, fresh: Target) {
    migrate(&t);
    seed(&t, "1");
    let dest = backup_to(&t, &[]);
    let path = dest.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let n = manifest["row_counts"]["message_logs"].as_u64().unwrap();
    assert!(n > 0);
    manifest["row_counts"]["message_logs"] = (n - 1).into();
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let (status, out) = run(
        &bin("integramon"),
        &["db", "restore", dest.to_str().unwrap()],
        &fresh.env(),
        120,
    );
    assert!(!status.success(), "a lowered count was accepted:\n{out}");
    assert!(
        out.contains(&format!(
            "message_logs: {n} rows, backup recorded {}",
            n - 1
        )),
        "{out}"
    );
}

#[test]
fn sqlite_lowered_manifest_count_is_refused() {
    lowered_manifest_is_refused(Target::sqlite(), Target::sqlite());
}

#[test]
fn postgres_lowered_manifest_count_is_refused() {
    lowered_manifest_is_refused(Target::postgres(), Target::postgres());
}

#[test]
fn a_backup_of_one_backend_is_refused_by_the_other() {
    let lite = Target::sqlite();
    migrate(&lite);
    let lite_backup = backup_to(&lite, &[]);
    let pg = Target::postgres();
    let (status, out) = run(
        &bin("integramon"),
        &["db", "restore", lite_backup.to_str().unwrap()],
        &pg.env(),
        60,
    );
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("is a SQLite backup") && out.contains("the configured database is PostgreSQL"),
        "{out}"
    );
    assert!(out.contains("Nothing was changed"), "{out}");

    migrate(&pg);
    let pg_backup = backup_to(&pg, &[]);
    let (status, out) = run(
        &bin("integramon"),
        &["db", "restore", pg_backup.to_str().unwrap()],
        &Target::sqlite().env(),
        60,
    );
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("is a PostgreSQL backup") && out.contains("the configured database is SQLite"),
        "{out}"
    );
}

#[test]
fn a_failed_pg_dump_leaves_no_backup_behind() {
    let t = Target::postgres();
    migrate(&t);
    // A role that may read the tables (and so count them) but not the sequences: pg_dump fails.
    let role = format!("im_ro_{}", uuid::Uuid::new_v4().simple());
    t.sql(&format!(
        "CREATE ROLE {role} LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"
    ));
    let dest = temp_dir().keep().join("backup");
    let (status, out) = run(
        &bin("integramon"),
        &["db", "backup", "--dest", dest.to_str().unwrap()],
        &t.env_with(&[("DB_USER", role.as_str())]),
        120,
    );
    t.sql(&format!("DROP OWNED BY {role}; DROP ROLE {role}"));
    assert!(!status.success(), "{out}");
    assert!(out.contains("pg_dump failed"), "{out}");
    assert!(!dest.exists(), "no backup directory is left behind");
    assert!(
        std::fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .next()
            .is_none(),
        "nothing at all is left behind"
    );
}

#[test]
fn postgres_verify_full_setups_can_back_up() {
    let pg = PrivateCluster::start(Options {
        tls: true,
        ..Options::default()
    });
    let data = temp_dir();
    let mut env = pg.env(data.path());
    set(&mut env, "DB_SSLMODE", "verify-full");
    set(
        &mut env,
        "DB_SSLROOTCERT",
        &pg.ca_cert_path().display().to_string(),
    );
    let (status, out) = run(&bin("integramon-migrate"), &[], &env, 60);
    assert!(status.success(), "{out}");
    let dest = temp_dir().keep().join("backup");
    let (status, out) = run(
        &bin("integramon"),
        &["db", "backup", "--dest", dest.to_str().unwrap()],
        &env,
        120,
    );
    assert!(status.success(), "{out}");
    let dump = std::fs::metadata(dest.join("integramon.pgdump")).unwrap();
    assert!(dump.len() > 1000, "a real dump: {} bytes", dump.len());
}
