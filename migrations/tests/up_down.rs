//! Applies every migration up, down and up again on a fresh SQLite file and on a fresh
//! PostgreSQL database, step by step and all at once, and checks that the schema behaves
//! (foreign-key actions, unique indexes) the same on both.
//!
//! PostgreSQL is expected at 127.0.0.1:5432 (user postgres, trust auth); set
//! `TEST_POSTGRES_URL` to point elsewhere. When it is unreachable the test fails: a skipped
//! backend would hide exactly the portability bugs these tests exist for.

use std::time::Duration;

use migration::{Migrator, MigratorTrait, all_versions, latest_version};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

/// Every table the migrations create, parents before children.
const TABLES: &[&str] = &[
    "tenants",
    "tenant_jobs",
    "sync_state",
    "message_logs",
    "message_errors",
    "message_runs",
    "message_run_steps",
    "custom_header_properties",
    "adapter_attributes",
    "payloads",
    "attachments",
    "correlations",
    "packages",
    "design_artifacts",
    "artifact_versions",
    "runtime_artifacts",
    "keystore_entries",
    "job_runs",
    "users",
    "sessions",
    "api_tokens",
    "job_firings",
    "message_counts",
];

fn pg_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn connect(url: &str) -> DatabaseConnection {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(2)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// Runs `body` against a database created for it alone, then drops that database whether the
/// body passed or panicked.
async fn with_postgres<F, Fut>(body: F)
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let admin_url = pg_admin_url();
    let admin = connect(&admin_url).await;
    let name = format!("im_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("TEST_POSTGRES_URL ends with /<database>");
    let db = connect(&format!("{base}/{name}")).await;
    // A spawned task turns a panic into a JoinError, so the database is dropped either way.
    let outcome = tokio::spawn(body(db)).await;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .expect("drop test database");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn sqlite_file() -> (tempfile::TempDir, DatabaseConnection) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("integramon.db");
    let db = connect(&format!("sqlite://{}?mode=rwc", path.display())).await;
    (dir, db)
}

async fn existing_tables(db: &DatabaseConnection) -> Vec<&'static str> {
    let manager = SchemaManager::new(db);
    let mut found = Vec::new();
    for table in TABLES {
        if manager.has_table(*table).await.expect("has_table") {
            found.push(*table);
        }
    }
    found
}

async fn applied_versions(db: &DatabaseConnection) -> Vec<String> {
    Migrator::get_applied_migrations(db)
        .await
        .expect("applied migrations")
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect(sql)
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("count")
}

async fn exec(db: &DatabaseConnection, stmt: &InsertStatement) {
    db.execute(stmt).await.expect("insert");
}

/// Inserts a tenant with one message (runs, steps, header, error), a job run and a user with a
/// session, then checks what the foreign keys and unique indexes do.
async fn check_constraints(db: &DatabaseConnection) {
    let now = || Expr::current_timestamp();
    exec(
        db,
        Query::insert()
            .into_table("tenants")
            .columns([
                "id",
                "name",
                "api_url",
                "auth_kind",
                "hot_window_secs",
                "payload_strategy",
                "payload_max_bytes",
                "created_at",
                "updated_at",
            ])
            .values_panic([
                1.into(),
                "t1".into(),
                "https://t1.example/api/v1".into(),
                "basic".into(),
                3600.into(),
                "failed".into(),
                1_000_000i64.into(),
                now(),
                now(),
            ]),
    )
    .await;
    // Server-side defaults the application may rely on.
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM tenants WHERE tls_verify AND enabled AND NOT attachments_enabled \
             AND status = 'unknown' AND tags = '[]' AND access_groups = '[]'"
        )
        .await,
        1
    );
    let message = |id: i64, guid: &str| {
        Query::insert()
            .into_table("message_logs")
            .columns([
                "id",
                "tenant_id",
                "message_guid",
                "created_at",
                "updated_at",
            ])
            .values_panic([id.into(), 1.into(), guid.into(), now(), now()])
            .to_owned()
    };
    exec(db, &message(1, "AGk_xKgivsDaGSUpuvz-eEFzhKZO")).await;
    assert!(
        db.execute(&message(2, "AGk_xKgivsDaGSUpuvz-eEFzhKZO"))
            .await
            .is_err(),
        "uq_message_logs_tenant_id_message_guid must reject a second copy"
    );
    exec(
        db,
        Query::insert()
            .into_table("message_runs")
            .columns(["id", "message_id", "run_id"])
            .values_panic([1.into(), 1.into(), "run-1".into()]),
    )
    .await;
    exec(
        db,
        Query::insert()
            .into_table("message_run_steps")
            .columns(["run_pk", "child_count", "properties"])
            .values_panic([1.into(), 1.into(), "{}".into()]),
    )
    .await;
    exec(
        db,
        Query::insert()
            .into_table("custom_header_properties")
            .columns(["message_id", "tenant_id", "name", "value", "value_prefix"])
            .values_panic([
                1.into(),
                1.into(),
                "po_number".into(),
                "12345".into(),
                "12345".into(),
            ]),
    )
    .await;
    exec(
        db,
        Query::insert()
            .into_table("message_errors")
            .columns(["message_id", "text", "fetched_at"])
            .values_panic([1.into(), "boom".into(), now()]),
    )
    .await;
    exec(
        db,
        Query::insert()
            .into_table("payloads")
            .columns(["message_id", "entry_id", "content"])
            .values_panic([1.into(), "entry-1".into(), vec![0u8, 159, 146, 150].into()]),
    )
    .await;
    exec(
        db,
        Query::insert()
            .into_table("job_runs")
            .columns([
                "job_id",
                "tenant_id",
                "job_type",
                "queue",
                "state",
                "attempt",
                "queued_at",
            ])
            .values_panic([
                "0b8f3c1e-6a53-4c1e-9d8e-0c1f6c1d2e3f".into(),
                1.into(),
                "messages_hot".into(),
                "messages_hot".into(),
                "queued".into(),
                1.into(),
                now(),
            ]),
    )
    .await;
    exec(
        db,
        Query::insert()
            .into_table("users")
            .columns([
                "id",
                "username",
                "password_hash",
                "created_at",
                "updated_at",
            ])
            .values_panic([1.into(), "admin".into(), "$argon2id$…".into(), now(), now()]),
    )
    .await;
    exec(
        db,
        Query::insert()
            .into_table("sessions")
            .columns([
                "id",
                "user_id",
                "csrf_token",
                "created_at",
                "expires_at",
                "last_seen_at",
            ])
            .values_panic([
                "hash-of-token".into(),
                1.into(),
                "csrf".into(),
                now(),
                now(),
                now(),
            ]),
    )
    .await;
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM users WHERE role = 'user' AND active AND NOT must_change_password"
        )
        .await,
        1
    );

    // A child whose parent does not exist is refused (SQLite enforces this only with
    // `PRAGMA foreign_keys = ON`, which sqlx sets on every connection).
    assert!(
        db.execute(
            Query::insert()
                .into_table("message_runs")
                .columns(["message_id", "run_id"])
                .values_panic([999.into(), "orphan".into()])
        )
        .await
        .is_err(),
        "fk_message_runs_message_id must refuse an orphan"
    );

    let firing = |slot: &str| {
        Query::insert()
            .into_table("job_firings")
            .columns(["tenant_id", "job_type", "slot_key", "fired_at", "job_id"])
            .values_panic([
                1.into(),
                "messages_hot".into(),
                slot.into(),
                now(),
                "0b8f3c1e-6a53-4c1e-9d8e-0c1f6c1d2e3f".into(),
            ])
            .to_owned()
    };
    exec(db, &firing("2026-11-26T04:00:00Z")).await;
    assert!(
        db.execute(&firing("2026-11-26T04:00:00Z")).await.is_err(),
        "uq_job_firings_tenant_id_job_type_slot_key must reject a second firing of a slot"
    );

    let hour_count = |iflow: &str| {
        Query::insert()
            .into_table("message_counts")
            .columns([
                "tenant_id",
                "hour_start",
                "iflow_id",
                "package_id",
                "status",
                "count",
            ])
            .values_panic([
                1.into(),
                // Not now(): PostgreSQL's CURRENT_TIMESTAMP differs between the two inserts.
                Expr::cust("CURRENT_DATE"),
                iflow.into(),
                "".into(),
                "FAILED".into(),
                3.into(),
            ])
            .to_owned()
    };
    exec(db, &hour_count("")).await;
    exec(db, &hour_count("flow")).await;
    assert!(
        db.execute(&hour_count("")).await.is_err(),
        "uq_message_counts_tenant_id_hour_start_iflow_package_status must reject a second row \
         for a key, also with '' standing for a missing iFlow"
    );

    db.execute_unprepared("DELETE FROM tenants WHERE id = 1")
        .await
        .expect("delete tenant");
    for table in [
        "message_logs",
        "message_runs",
        "message_run_steps",
        "custom_header_properties",
        "message_errors",
        "payloads",
        "job_firings",
        "message_counts",
    ] {
        assert_eq!(
            count(db, &format!("SELECT COUNT(*) FROM {table}")).await,
            0,
            "{table} rows must go with their tenant"
        );
    }
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM job_runs WHERE tenant_id IS NULL").await,
        1,
        "job history stays when its tenant goes"
    );
    db.execute_unprepared("DELETE FROM users WHERE id = 1")
        .await
        .expect("delete user");
    assert_eq!(count(db, "SELECT COUNT(*) FROM sessions").await, 0);
}

/// The whole cycle, run on each backend.
async fn up_down_up(db: DatabaseConnection) {
    assert!(existing_tables(&db).await.is_empty(), "fresh database");

    // Each migration alone: up, down, up again, so every `down` undoes exactly its own `up`.
    for (i, version) in all_versions().into_iter().enumerate() {
        Migrator::up(&db, Some(1)).await.expect(version);
        let after_up = existing_tables(&db).await;
        Migrator::down(&db, Some(1)).await.expect(version);
        assert_eq!(applied_versions(&db).await, all_versions()[..i]);
        Migrator::up(&db, Some(1)).await.expect(version);
        assert_eq!(existing_tables(&db).await, after_up, "{version} re-applied");
        assert_eq!(applied_versions(&db).await, all_versions()[..=i]);
    }
    assert_eq!(existing_tables(&db).await, TABLES);
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .expect("pending")
            .is_empty()
    );
    assert_eq!(
        applied_versions(&db).await.last().map(String::as_str),
        Some(latest_version())
    );
    check_constraints(&db).await;

    // All down, then all up.
    Migrator::down(&db, None).await.expect("all down");
    assert!(existing_tables(&db).await.is_empty(), "down leaves nothing");
    assert!(applied_versions(&db).await.is_empty());
    Migrator::up(&db, None).await.expect("all up again");
    assert_eq!(existing_tables(&db).await, TABLES);
    assert_eq!(applied_versions(&db).await, all_versions());
    check_constraints(&db).await;
    db.close().await.expect("close");
}

#[tokio::test]
async fn sqlite_up_down_up() {
    let (_dir, db) = sqlite_file().await;
    assert_eq!(db.get_database_backend(), DbBackend::Sqlite);
    up_down_up(db).await;
}

#[tokio::test]
async fn postgres_up_down_up() {
    with_postgres(|db| async move {
        assert_eq!(db.get_database_backend(), DbBackend::Postgres);
        up_down_up(db).await;
    })
    .await;
}

/// On SQLite the surrogate keys must be rowid aliases with AUTOINCREMENT, as stored in the
/// schema itself (not only as the builder renders them).
#[tokio::test]
async fn sqlite_keys_are_rowid_autoincrement() {
    let (_dir, db) = sqlite_file().await;
    Migrator::up(&db, None).await.expect("up");
    for table in TABLES {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                [(*table).into()],
            ))
            .await
            .expect("sqlite_master")
            .expect("table exists");
        let sql: String = row.try_get_by_index(0).expect("sql");
        match *table {
            "message_errors" => assert!(
                sql.contains("\"message_id\" integer NOT NULL PRIMARY KEY,"),
                "{sql}"
            ),
            "sessions" => {
                assert!(
                    sql.contains("\"id\" varchar NOT NULL PRIMARY KEY,"),
                    "{sql}"
                )
            }
            _ => assert!(
                sql.contains("\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT"),
                "{sql}"
            ),
        }
    }
    // AUTOINCREMENT tables keep their high-water mark here, so ids are never reused.
    db.execute_unprepared(
        "INSERT INTO users (username, password_hash, created_at, updated_at) \
         VALUES ('a', 'h', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    .await
    .expect("insert");
    db.execute_unprepared("DELETE FROM users")
        .await
        .expect("delete");
    db.execute_unprepared(
        "INSERT INTO users (username, password_hash, created_at, updated_at) \
         VALUES ('b', 'h', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    .await
    .expect("insert");
    assert_eq!(count(&db, "SELECT MAX(id) FROM users").await, 2);
    assert_eq!(
        count(&db, "SELECT seq FROM sqlite_sequence WHERE name = 'users'").await,
        2
    );
}

/// `m20261208_000016_error_group_days` fills the daily table from the hours already there: one
/// row per group and UTC day holding the sum of that day's hours.
/// How many migrations apply before `name` (later migrations may follow it).
fn before_migration(name: &str) -> u32 {
    let at = all_versions()
        .iter()
        .position(|v| *v == name)
        .unwrap_or_else(|| panic!("{name} is not a migration"));
    at as u32
}

async fn error_group_days_filled_from_hours(db: DatabaseConnection) {
    let before = before_migration("m20261208_000016_error_group_days");
    Migrator::up(&db, Some(before))
        .await
        .expect("up to before the days");
    // The text form each backend stores a timestamp in (SQLite: as the driver writes it).
    let ts = |day: u32, hour: u32| match db.get_database_backend() {
        DbBackend::Postgres => format!("'2026-12-{day:02} {hour:02}:00:00+00'"),
        _ => format!("'2026-12-{day:02}T{hour:02}:00:00+00:00'"),
    };
    let now = ts(7, 0);
    db.execute_unprepared(&format!(
        "INSERT INTO tenants (id, name, api_url, auth_kind, hot_window_secs, payload_strategy, \
         payload_max_bytes, created_at, updated_at) VALUES (1, 't1', 'https://t1.example/api/v1', \
         'basic', 3600, 'failed', 1000000, {now}, {now})"
    ))
    .await
    .expect("tenant");
    for g in [1, 2] {
        db.execute_unprepared(&format!(
            "INSERT INTO error_groups (id, tenant_id, iflow_id, fingerprint, grouping_version, \
             title, template, state, state_changed_at, ignored_occurrences, total_occurrences, \
             first_seen, last_seen, created_at) VALUES ({g}, 1, 'flow', 'fp{g}', 1, 'title', \
             'template', 'new', {now}, 0, 0, {now}, {now}, {now})"
        ))
        .await
        .expect("group");
    }
    // Group 1: 3 + 4 on Dec 1 (first and last hour), 5 on Dec 2; group 2: 7 on Dec 1.
    for (g, day, hour, count) in [(1, 1, 0, 3), (1, 1, 23, 4), (1, 2, 5, 5), (2, 1, 12, 7)] {
        db.execute_unprepared(&format!(
            "INSERT INTO error_group_hours (group_id, hour, count) VALUES ({g}, {}, {count})",
            ts(day, hour)
        ))
        .await
        .expect("hour");
    }
    Migrator::up(&db, Some(1))
        .await
        .expect("the days migration");
    for (g, day, want) in [(1, 1, 7), (1, 2, 5), (2, 1, 7)] {
        assert_eq!(
            count(
                &db,
                &format!(
                    "SELECT CAST(SUM(count) AS BIGINT) FROM error_group_days WHERE group_id = {g} AND day = {}",
                    ts(day, 0)
                )
            )
            .await,
            want,
            "group {g} on Dec {day}"
        );
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM error_group_days").await, 3);
    // Down drops the table; up again fills it again.
    Migrator::down(&db, Some(1)).await.expect("down");
    assert!(
        !SchemaManager::new(&db)
            .has_table("error_group_days")
            .await
            .unwrap()
    );
    Migrator::up(&db, Some(1)).await.expect("up again");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM error_group_days").await, 3);
    db.close().await.expect("close");
}

#[tokio::test]
async fn sqlite_error_group_days_filled_from_hours() {
    let (_dir, db) = sqlite_file().await;
    error_group_days_filled_from_hours(db).await;
}

#[tokio::test]
async fn postgres_error_group_days_filled_from_hours() {
    with_postgres(error_group_days_filled_from_hours).await;
}

/// `m20261208_000019_tenant_resources` gives tenants made before it the `resources` job at its
/// default (every 300 s), once, and its down removes that setting with the tables.
async fn tenant_resources_job_added_to_existing_tenants(db: DatabaseConnection) {
    let before = before_migration("m20261208_000019_tenant_resources");
    Migrator::up(&db, Some(before))
        .await
        .expect("up to before the resources tables");
    let now = match db.get_database_backend() {
        DbBackend::Postgres => "'2026-12-08 00:00:00+00'",
        _ => "'2026-12-08T00:00:00+00:00'",
    };
    for id in [1, 2] {
        db.execute_unprepared(&format!(
            "INSERT INTO tenants (id, name, api_url, auth_kind, hot_window_secs, payload_strategy, \
             payload_max_bytes, created_at, updated_at) VALUES ({id}, 't{id}', 'https://t.example/api/v1', \
             'basic', 3600, 'failed', 1000000, {now}, {now})"
        ))
        .await
        .expect("tenant");
    }
    Migrator::up(&db, Some(1))
        .await
        .expect("the resources migration");
    let resources_jobs = "SELECT COUNT(*) FROM tenant_jobs WHERE job_type = 'resources' \
         AND interval_secs = 300 AND enabled = TRUE AND plan_time IS NULL";
    assert_eq!(count(&db, resources_jobs).await, 2);
    Migrator::down(&db, Some(1)).await.expect("down");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM tenant_jobs WHERE job_type = 'resources'"
        )
        .await,
        0
    );
    assert!(
        !SchemaManager::new(&db)
            .has_table("tenant_jms_brokers")
            .await
            .unwrap()
    );
    Migrator::up(&db, None).await.expect("up again");
    assert_eq!(count(&db, resources_jobs).await, 2);
    db.close().await.expect("close");
}

#[tokio::test]
async fn sqlite_tenant_resources_job_added_to_existing_tenants() {
    let (_dir, db) = sqlite_file().await;
    tenant_resources_job_added_to_existing_tenants(db).await;
}

#[tokio::test]
async fn postgres_tenant_resources_job_added_to_existing_tenants() {
    with_postgres(tenant_resources_job_added_to_existing_tenants).await;
}
