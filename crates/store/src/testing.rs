//! Per-test databases for the tests of other crates (feature `testing`, enabled only as a
//! dev-dependency): a migrated SQLite file or PostgreSQL database made for one test and removed
//! afterwards, also when the test panics. PostgreSQL is the server at 127.0.0.1:5432 (user
//! postgres, trust auth) or `TEST_POSTGRES_URL`; an unreachable server fails the test, since a
//! skipped backend would hide exactly the portability bugs these tests look for.

use std::future::Future;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};

use crate::{Db, DbSettings, SslMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Runs one statement on the test server's admin database (`CREATE DATABASE …`).
pub async fn pg_admin(sql: &str) {
    let url = pg_admin_url();
    let mut opts = ConnectOptions::new(url.clone());
    opts.max_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    let admin = Database::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is needed by this test: {e}"));
    admin.execute_unprepared(sql).await.expect(sql);
}

/// Settings for database `name` on the test server.
pub fn pg_settings(name: &str) -> DbSettings {
    let url = url::Url::parse(&pg_admin_url()).expect("TEST_POSTGRES_URL is a URL");
    let user = match url.username() {
        "" => "postgres",
        user => user,
    };
    let mut s = DbSettings::postgres(
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432),
        name,
        user,
    );
    s.password = url.password().map(str::to_owned);
    s.sslmode = SslMode::Disable;
    s
}

/// Runs `body` on a migrated database of `kind` made for it alone; removed afterwards, also
/// when the body panics (the panic is passed on).
pub async fn with_database<F, Fut>(kind: Kind, body: F)
where
    F: FnOnce(Db) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let (settings, pg) = match kind {
        Kind::Sqlite => (DbSettings::sqlite(dir.path().join("im.sqlite3")), None),
        Kind::Postgres => {
            let name = format!("im_test_{}", uuid::Uuid::new_v4().simple());
            pg_admin(&format!("CREATE DATABASE \"{name}\"")).await;
            (pg_settings(&name), Some(name))
        }
    };
    let outcome = tokio::spawn(async move {
        let db = crate::connect(&settings).expect("connect");
        Migrator::up(db.conn(), None).await.expect("migrate");
        body(db.clone()).await;
        db.close().await;
    })
    .await;
    if let Some(name) = pg {
        pg_admin(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `on_both!(f)` makes the tests `f::sqlite` and `f::postgres`, each running the async
/// `f(db: Db)` on a fresh migrated database of its backend.
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::testing::with_database($crate::testing::Kind::Sqlite, super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::testing::with_database($crate::testing::Kind::Postgres, super::$name).await;
            }
        }
    };
}
