//! A fresh database on the machine's PostgreSQL (127.0.0.1:5432, trust auth) per test, dropped
//! when the test ends. Tests fail, never skip, when PostgreSQL is not there.

use std::process::Command;

use store::DbSettings;

pub const HOST: &str = "127.0.0.1";
pub const PORT: u16 = 5432;
pub const SUPERUSER: &str = "postgres";

pub struct PgDb {
    pub name: String,
}

impl PgDb {
    pub fn create() -> Self {
        let name = format!("im_t_{}", uuid::Uuid::new_v4().simple());
        psql(&format!("CREATE DATABASE {name}"));
        Self { name }
    }

    pub fn settings(&self) -> DbSettings {
        let mut s = DbSettings::postgres(HOST, PORT, &self.name, SUPERUSER);
        s.pool.max = 4;
        s
    }

    /// Environment for a binary using this database.
    pub fn env(&self, data_dir: &std::path::Path) -> Vec<(String, String)> {
        vec![
            ("DATA_DIR".into(), data_dir.display().to_string()),
            ("DB_BACKEND".into(), "postgresql".into()),
            ("DB_HOST".into(), HOST.into()),
            ("DB_PORT".into(), PORT.to_string()),
            ("DB_NAME".into(), self.name.clone()),
            ("DB_USER".into(), SUPERUSER.into()),
            ("DB_POOL_MAX".into(), "3".into()),
            ("RUST_LOG".into(), "info".into()),
        ]
    }

    /// Run SQL in this database.
    pub fn sql(&self, sql: &str) -> String {
        psql_in(&self.name, sql)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-h",
                HOST,
                "-p",
                &PORT.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ])
            .args([
                "-qAtc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

pub fn psql(sql: &str) -> String {
    psql_in("postgres", sql)
}

pub fn psql_in(db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-h",
            HOST,
            "-p",
            &PORT.to_string(),
            "-U",
            SUPERUSER,
            "-d",
            db,
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .expect("psql (PostgreSQL client) must be installed");
    assert!(
        out.status.success(),
        "psql {sql:?} failed (is PostgreSQL running on {HOST}:{PORT}?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
