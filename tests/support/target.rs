//! A database for one test, on either backend, with the environment a binary needs to use it.

use std::path::{Path, PathBuf};

use crate::{PgDb, sqlite_env, temp_dir};

pub enum Target {
    Sqlite { data: tempfile::TempDir },
    Postgres { data: tempfile::TempDir, db: PgDb },
}

impl Target {
    pub fn sqlite() -> Self {
        Self::Sqlite { data: temp_dir() }
    }

    pub fn postgres() -> Self {
        Self::Postgres {
            data: temp_dir(),
            db: PgDb::create(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        match self {
            Self::Sqlite { data } | Self::Postgres { data, .. } => data.path(),
        }
    }

    pub fn marker(&self) -> PathBuf {
        self.data_dir().join("run").join("migrate.done")
    }

    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Self::Sqlite { data } => sqlite_env(data.path()),
            Self::Postgres { data, db } => db.env(data.path()),
        }
    }

    pub fn env_with(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.env();
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push((k.to_string(), v.to_string()));
        }
        env
    }

    /// Run SQL through the backend's own client; returns its text output.
    pub fn sql(&self, sql: &str) -> String {
        match self {
            Self::Postgres { db, .. } => db.sql(sql),
            Self::Sqlite { data } => {
                let out = std::process::Command::new("sqlite3")
                    .arg(data.path().join("integramon.sqlite3"))
                    .arg(sql)
                    .output()
                    .expect("sqlite3 CLI must be installed");
                assert!(
                    out.status.success(),
                    "sqlite3 {sql:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            }
        }
    }

    pub fn store_settings(&self) -> store::DbSettings {
        match self {
            Self::Sqlite { data } => {
                let mut s = store::DbSettings::sqlite(data.path().join("integramon.sqlite3"));
                s.pool.max = 4;
                s
            }
            Self::Postgres { db, .. } => db.settings(),
        }
    }
}
