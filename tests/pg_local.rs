//! `DB_LOCAL=true`: `integramon-migrate` creates, starts and provisions an internal PostgreSQL in
//! `${DATA_DIR}/postgres`, again and again safely; with `DB_LOCAL=false` it starts nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use integramon_tests::private_pg::{as_postgres, set};
use integramon_tests::proc::run;
use integramon_tests::{bin, free_port, temp_dir};
use migration::MigratorTrait;

const MIGRATE: &str = "integramon-migrate";

/// Stops the cluster migrate started, whatever happens to the test: it outlives migrate.
struct StopOnDrop {
    cluster: PathBuf,
}

impl StopOnDrop {
    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        let dir = self.cluster.display().to_string();
        all.extend(["-D", &dir]);
        as_postgres("pg_ctl", &all)
            .output()
            .expect("running pg_ctl")
    }

    fn stop(&self) {
        let out = self.pg_ctl(&["stop", "-w", "-t", "60", "-m", "fast"]);
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.cluster.join("postmaster.pid").exists() {
            let _ = self.pg_ctl(&["stop", "-w", "-m", "immediate"]);
        }
    }
}

/// psql over TCP with a password, as a client of the application would connect.
fn psql_tcp(port: u16, user: &str, password: &str, db: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            user,
            "-d",
            db,
        ])
        .args(["-X", "-w", "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .env("PGPASSWORD", password)
        .env("PGPASSFILE", "/nonexistent")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql (PostgreSQL client) must be installed");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Every table in `public`, each read as the application role: `(table, rows)`.
fn read_every_table(port: u16, password: &str) -> Vec<(String, String)> {
    let q = |sql: &str| {
        psql_tcp(port, "im_app", password, "im_local", sql)
            .unwrap_or_else(|e| panic!("as im_app: {sql}: {e}"))
    };
    let tables = q("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    tables
        .lines()
        .map(|t| (t.to_string(), q(&format!("SELECT count(*) FROM \"{t}\""))))
        .collect()
}

fn local_env(data: &Path, port: u16, password: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (k, v) in [
        ("DATA_DIR", data.display().to_string()),
        ("DB_BACKEND", "postgresql".into()),
        ("DB_LOCAL", "true".into()),
        ("DB_PORT", port.to_string()),
        ("DB_NAME", "im_local".into()),
        ("DB_USER", "im_app".into()),
        ("DB_PASSWORD", password.into()),
        ("DB_POOL_MAX", "3".into()),
        ("RUST_LOG", "info".into()),
    ] {
        set(&mut env, k, &v);
    }
    env
}

#[test]
fn db_local_creates_starts_and_provisions_a_cluster_on_a_free_port() {
    let root = temp_dir();
    // A space in DATA_DIR: its paths reach pg_ctl, which passes server options through a shell.
    let data = root.path().join("data dir");
    let guard = StopOnDrop {
        cluster: data.join("postgres"),
    };
    let port = free_port();

    let (status, out) = run(&bin(MIGRATE), &[], &local_env(&data, port, "first"), 120);
    assert!(status.success(), "first DB_LOCAL migrate failed:\n{out}");
    assert!(
        guard.cluster.join("PG_VERSION").is_file(),
        "no cluster in DATA_DIR/postgres"
    );

    let migrations = migration::Migrator::migrations().len().to_string();
    let count = |password: &str| {
        psql_tcp(
            port,
            "im_app",
            password,
            "im_local",
            "SELECT count(*) FROM seaql_migrations",
        )
    };
    assert_eq!(count("first").unwrap(), migrations);
    let tables = read_every_table(port, "first");
    assert!(tables.len() > 1, "expected the migrated tables: {tables:?}");

    // Again with the same settings: nothing to create, nothing broken.
    let (status, out) = run(&bin(MIGRATE), &[], &local_env(&data, port, "first"), 120);
    assert!(status.success(), "second DB_LOCAL migrate failed:\n{out}");
    assert!(
        !out.contains("created cluster"),
        "the cluster was re-created:\n{out}"
    );
    assert_eq!(count("first").unwrap(), migrations);
    assert_eq!(read_every_table(port, "first"), tables);

    // A new DB_PASSWORD replaces the old one.
    let (status, out) = run(&bin(MIGRATE), &[], &local_env(&data, port, "second"), 120);
    assert!(
        status.success(),
        "DB_LOCAL migrate with a new password failed:\n{out}"
    );
    assert_eq!(count("second").unwrap(), migrations);
    let refused = count("first").expect_err("the old password still works");
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );

    guard.stop();
    assert!(
        !guard.pg_ctl(&["status"]).status.success(),
        "the cluster still runs after pg_ctl stop"
    );
}

#[test]
fn db_local_false_starts_nothing() {
    let data = temp_dir();
    let mut env = local_env(data.path(), free_port(), "first");
    set(&mut env, "DB_LOCAL", "false");
    set(&mut env, "DB_WAIT_TIMEOUT", "2");
    set(&mut env, "DB_CONNECT_TIMEOUT", "2");
    let _guard = StopOnDrop {
        cluster: data.path().join("postgres"),
    };

    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(
        !status.success(),
        "migrate succeeded against a closed port:\n{out}"
    );
    assert!(
        !data.path().join("postgres").exists(),
        "DB_LOCAL=false created ${{DATA_DIR}}/postgres"
    );
    assert!(
        !data.path().join("pg-run").exists(),
        "DB_LOCAL=false created a socket dir"
    );
}
