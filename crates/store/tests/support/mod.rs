//! Shared by the `repo_*` tests: a migrated database per test on each backend.
//!
//! SQLite is a file in a temporary directory. PostgreSQL is a database `im_test_<uuid>` created
//! on the server at 127.0.0.1:5432 (user postgres, trust auth; `TEST_POSTGRES_URL` points
//! elsewhere) and dropped afterwards, also when the test panics. An unreachable server fails
//! the test: a skipped backend would hide exactly the portability bugs these tests look for.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use store::{Db, DbSettings, SslMode, connect};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Settings for database `name` on the test server.
pub fn pg_settings(name: &str) -> DbSettings {
    let url = url::Url::parse(&pg_admin_url()).expect("TEST_POSTGRES_URL is a URL");
    let mut s = DbSettings::postgres(
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432),
        name,
        if url.username().is_empty() {
            "postgres"
        } else {
            url.username()
        },
    );
    s.password = url.password().map(str::to_owned);
    s.sslmode = SslMode::Disable;
    s.connect_timeout = Duration::from_secs(5);
    s.pool.acquire_timeout = Duration::from_secs(30);
    s
}

pub async fn admin() -> DatabaseConnection {
    let url = pg_admin_url();
    let mut opts = ConnectOptions::new(url.clone());
    opts.max_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is needed by this test: {e}"))
}

/// A fresh PostgreSQL database; dropped by [`drop_pg`].
pub async fn create_pg() -> String {
    let name = format!("im_test_{}", uuid::Uuid::new_v4().simple());
    admin()
        .await
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    name
}

pub async fn drop_pg(name: &str) {
    admin()
        .await
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .expect("drop test database");
}

pub async fn open(settings: &DbSettings) -> Db {
    let db = connect(settings).expect("connect");
    Migrator::up(db.conn(), None).await.expect("migrate up");
    db
}

/// Where a test's database lives, for tests that open more connections (other processes).
#[derive(Debug, Clone)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Target {
    pub fn settings(&self) -> DbSettings {
        match self {
            Target::Sqlite(path) => DbSettings::sqlite(path),
            Target::Postgres(name) => pg_settings(name),
        }
    }

    /// One string for a child process's environment.
    pub fn encode(&self) -> String {
        match self {
            Target::Sqlite(path) => format!("sqlite:{}", path.display()),
            Target::Postgres(name) => format!("postgres:{name}"),
        }
    }

    pub fn decode(s: &str) -> Self {
        match s.split_once(':') {
            Some(("sqlite", p)) => Target::Sqlite(PathBuf::from(p)),
            Some(("postgres", n)) => Target::Postgres(n.to_owned()),
            _ => panic!("bad target {s:?}"),
        }
    }
}

/// Run `body` against a migrated database of `kind` made for it alone, then remove that
/// database whether the body passed or panicked.
pub async fn run<F, Fut>(kind: Kind, body: F)
where
    F: FnOnce(Db, Target) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("integramon.sqlite3");
            let target = Target::Sqlite(path.clone());
            let db = open(&DbSettings::sqlite(&path)).await;
            let outcome = tokio::spawn(async move {
                body(db.clone(), target).await;
                db.close().await;
            })
            .await;
            drop(dir);
            if let Err(e) = outcome {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        Kind::Postgres => {
            let name = create_pg().await;
            let target = Target::Postgres(name.clone());
            let settings = pg_settings(&name);
            // A spawned task turns a panic into a JoinError, so the database is dropped either way.
            let outcome = tokio::spawn(async move {
                let db = open(&settings).await;
                body(db.clone(), target).await;
                db.close().await;
            })
            .await;
            drop_pg(&name).await;
            if let Err(e) = outcome {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}

/// One test per backend from an `async fn(Db, Target)`; needs `#[macro_use] mod support;`.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::support::run($crate::support::Kind::Sqlite, super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::support::run($crate::support::Kind::Postgres, super::$name).await;
            }
        }
    };
}

/// A fixed instant plus `secs` seconds: tests compare timestamps exactly, and PostgreSQL keeps
/// microseconds.
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// A tenant to hang data on.
pub async fn tenant(db: &Db, name: &str) -> i64 {
    use domain::tenant::{Auth, TenantSettings};
    let settings = TenantSettings::new(
        name,
        "https://tenant.example.com",
        Auth::Basic {
            username: "user".into(),
        },
    );
    store::repo::tenants::create(db, &settings, None)
        .await
        .expect("create tenant")
        .id
}
