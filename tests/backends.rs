//! Backend choice and settings layering on the real binaries, and the pool/SQLite behaviour the
//! database runtime promises.

use base64::Engine as _;
use integramon_tests::proc::run;
use integramon_tests::{PgDb, bin, temp_dir};

const ALL_BINARIES: [&str; 7] = [
    "integramon-migrate",
    "integramon-web",
    "integramon-ingest-worker",
    "integramon-controller",
    "integramon-archiver",
    "integramon-metrics",
    "integramon",
];

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn an_unknown_backend_stops_every_binary_with_the_valid_list() {
    let data = temp_dir();
    let e = env(&[
        ("DATA_DIR", data.path().to_str().unwrap()),
        ("DB_BACKEND", "mongodb"),
    ]);
    for name in ALL_BINARIES {
        let args: &[&str] = if name == "integramon" {
            &["db", "status"]
        } else {
            &[]
        };
        let (status, out) = run(&bin(name), args, &e, 30);
        assert_eq!(status.code(), Some(2), "{name}: {out}");
        let line = out.trim();
        assert_eq!(line.lines().count(), 1, "{name} prints one line: {out}");
        assert!(line.contains("DB_BACKEND=\"mongodb\""), "{name}: {line}");
        assert!(
            line.contains("sqlite, postgresql, postgres, postgres_neon, postgresql_neon, neon"),
            "{name}: {line}"
        );
    }
    assert!(
        !data.path().join("integramon.sqlite3").exists(),
        "nothing was created"
    );
}

#[test]
fn unset_backend_means_sqlite_under_data_dir_and_says_why() {
    let data = temp_dir();
    let (status, out) = run(
        &bin("integramon-migrate"),
        &[],
        &env(&[("DATA_DIR", data.path().to_str().unwrap())]),
        60,
    );
    assert!(status.success(), "{out}");
    let file = data.path().join("integramon.sqlite3");
    assert!(file.is_file(), "{out}");
    assert!(
        out.contains(&format!(
            "database backend sqlite at file {} (chosen by default)",
            file.display()
        )),
        "{out}"
    );
}

fn config_line(e: &[(String, String)]) -> (i32, String) {
    let (status, out) = run(&bin("integramon"), &["config"], e, 30);
    (status.code().unwrap_or(-1), out)
}

/// What `integramon config` says of one variable: `value  (source)`.
fn setting<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(" = ")?;
            (k.trim_end() == key).then_some(v)
        })
        .unwrap_or_else(|| panic!("no {key} line in:\n{out}"))
}

#[test]
fn every_backend_alias_resolves_and_neon_requires_tls() {
    for (value, name, ssl) in [
        ("sqlite", "sqlite", None),
        ("SQLITE", "sqlite", None),
        ("postgresql", "postgresql", Some("sslmode=prefer")),
        ("postgres", "postgresql", Some("sslmode=prefer")),
        ("Postgres", "postgresql", Some("sslmode=prefer")),
        (
            "postgres_neon",
            "postgresql (neon)",
            Some("sslmode=require"),
        ),
        (
            "postgresql_neon",
            "postgresql (neon)",
            Some("sslmode=require"),
        ),
        ("neon", "postgresql (neon)", Some("sslmode=require")),
    ] {
        let (code, out) = config_line(&env(&[("DB_BACKEND", value)]));
        assert_eq!(code, 0, "{value}: {out}");
        assert_eq!(
            setting(&out, "DB_BACKEND"),
            format!("{name}  (environment)"),
            "{value}: {out}"
        );
        if let Some(ssl) = ssl {
            assert!(out.contains(ssl), "{value}: {out}");
        }
    }
    // An explicit DB_SSLMODE still wins over the neon default.
    let (_, out) = config_line(&env(&[
        ("DB_BACKEND", "neon"),
        ("DB_SSLMODE", "verify-full"),
    ]));
    assert!(out.contains("sslmode=verify-full"), "{out}");
}

#[test]
fn settings_layer_defaults_then_file_then_environment() {
    let dir = temp_dir();
    let toml = dir.path().join("integramon.toml");
    std::fs::write(
        &toml,
        "DB_BACKEND = \"postgresql\"\nDB_HOST = \"db.internal\"\nDB_PASSWORD = \"from-file\"\n",
    )
    .unwrap();
    let (code, out) = config_line(&env(&[("INTEGRAMON_CONFIG", toml.to_str().unwrap())]));
    assert_eq!(code, 0, "{out}");
    assert!(
        setting(&out, "DB_BACKEND").starts_with("postgresql  (config file INTEGRAMON_CONFIG="),
        "{out}"
    );
    assert!(out.contains("@db.internal:5432/integramon"), "{out}");
    assert!(!out.contains("from-file"), "password shown: {out}");
    assert!(
        setting(&out, "DB_PASSWORD").starts_with("***  (config file"),
        "{out}"
    );
    // Environment beats the file.
    let (_, out) = config_line(&env(&[
        ("INTEGRAMON_CONFIG", toml.to_str().unwrap()),
        ("DB_BACKEND", "sqlite"),
    ]));
    assert_eq!(
        setting(&out, "DB_BACKEND"),
        "sqlite  (environment)",
        "{out}"
    );
}

#[test]
fn bootstrap_json_is_read_and_a_bad_one_stops_start_up() {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let good = b64(r#"{"DB_BACKEND": "postgres", "DB_NAME": "from_bootstrap", "DB_PORT": 6543}"#);
    let (code, out) = config_line(&env(&[("CONFIG_JSON_B64", &good)]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(":6543/from_bootstrap"), "{out}");
    assert_eq!(
        setting(&out, "DB_BACKEND"),
        "postgresql  (config file CONFIG_JSON_B64)",
        "{out}"
    );

    let (code, out) = config_line(&env(&[("CONFIG_JSON_B64", "not base64!!")]));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("CONFIG_JSON_B64 is not valid base64"), "{out}");

    let (code, out) = config_line(&env(&[("CONFIG_JSON_B64", &b64("{\"DB_BACKEND\": "))]));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("CONFIG_JSON_B64 is not valid JSON"), "{out}");

    // The secrets file of the earlier version's containers.
    let dir = temp_dir();
    let secrets = dir.path().join("app-config.json");
    std::fs::write(&secrets, "[1, 2]").unwrap();
    for binary in ["integramon-migrate", "integramon-web"] {
        let (status, out) = run(
            &bin(binary),
            &[],
            &env(&[("APP_CONFIG_FILE", secrets.to_str().unwrap())]),
            30,
        );
        assert_eq!(status.code(), Some(2), "{binary}: {out}");
        assert!(out.contains("expected a JSON object"), "{binary}: {out}");
    }
}

#[test]
fn bad_numbers_name_their_variable() {
    for (k, v) in [
        ("DB_PORT", "fivefourthreetwo"),
        ("SQLITE_TIMEOUT", "-3"),
        ("DB_POOL_MAX", "0"),
        ("DB_LOCAL", "maybe"),
        ("DB_SSLMODE", "required"),
        ("DB_CHANNEL_BINDING", "always"),
    ] {
        let (status, out) = run(&bin("integramon-web"), &[], &env(&[(k, v)]), 30);
        assert_eq!(status.code(), Some(2), "{k}: {out}");
        assert!(out.contains(k), "{k}: {out}");
    }
}

/// The pool is bounded: DB_POOL_MAX connections at most, however many queries wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pool_never_opens_more_than_db_pool_max_connections() {
    use sea_orm::ConnectionTrait;
    let pg = PgDb::create();
    let mut settings = pg.settings();
    settings.pool.max = 3;
    let db = store::connect(&settings).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.conn().execute_unprepared("SELECT pg_sleep(0.3)").await
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let open: i64 = pg
        .sql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'integramon'",
            pg.name
        ))
        .parse()
        .unwrap();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!((1..=3).contains(&open), "{open} connections open");
    db.close().await;
}

/// With DB_PGBOUNCER=true statements are not cached: the same query is parsed afresh each time
/// instead of being reused by name on the server (which a transaction-mode pooler may not have).
#[tokio::test]
async fn the_pgbouncer_switch_turns_off_prepared_statement_caching() {
    use sea_orm::{ConnectionTrait, Statement};
    let pg = PgDb::create();
    for (pgbouncer, expected) in [(false, 1), (true, 3)] {
        let mut settings = pg.settings();
        settings.pool.max = 1;
        settings.pool.pgbouncer = pgbouncer;
        let db = store::connect(&settings).unwrap();
        let be = db.db_backend();
        for i in 0..3i64 {
            db.conn()
                .query_one_raw(Statement::from_sql_and_values(
                    be,
                    "SELECT $1::bigint + 41",
                    [i.into()],
                ))
                .await
                .unwrap();
        }
        let row = db
            .conn()
            .query_one_raw(Statement::from_string(
                be,
                "SELECT count(*)::bigint FROM pg_prepared_statements \
                 WHERE statement = 'SELECT $1::bigint + 41'",
            ))
            .await
            .unwrap()
            .unwrap();
        let prepared: i64 = row.try_get_by_index(0).unwrap();
        assert_eq!(prepared, expected, "pgbouncer={pgbouncer}");
        db.close().await;
    }
}

#[tokio::test]
async fn sqlite_connections_use_wal_busy_timeout_foreign_keys_and_normal_sync() {
    use sea_orm::{ConnectionTrait, Statement};
    let dir = temp_dir();
    let mut settings = store::DbSettings::sqlite(dir.path().join("x.sqlite3"));
    settings.sqlite_timeout = std::time::Duration::from_secs(7);
    let db = store::connect(&settings).unwrap();
    let be = db.db_backend();
    let get = |sql: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .conn()
                .query_one_raw(Statement::from_string(be, sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<String>(0)
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
                .unwrap()
        }
    };
    assert_eq!(get("PRAGMA journal_mode").await, "wal");
    assert_eq!(get("PRAGMA busy_timeout").await, "7000");
    assert_eq!(get("PRAGMA foreign_keys").await, "1");
    assert_eq!(get("PRAGMA synchronous").await, "1", "NORMAL");
    db.close().await;
}
