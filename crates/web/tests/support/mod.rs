//! The web app in-process: the real routes ([`integramon_web::app`]) over a migrated SQLite file
//! in a temporary directory and the in-process queue, driven with `actix_web::test`. No daemon,
//! no network: a handler or service change is checked in seconds.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use domain::user::Role;
use migration::{Migrator, MigratorTrait};
use queue::{InProcessQueue, QueueConfig, Shutdown};
use runtime::{Context, Health, Settings};
use store::Db;
use store::repo::users;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub ctx: Context<integramon_web::config::WebConfig>,
    /// An admin's API token (`Authorization: Bearer`).
    pub admin: String,
    /// The PostgreSQL database of [`env_with`]`(Backend::Postgres, …)`; last, so it is dropped
    /// after the connections to it.
    pub pg: Option<PgDb>,
}

impl Env {
    pub fn db(&self) -> &Db {
        &self.ctx.db
    }

    /// A user with `role` and access `groups`, and an API token for them.
    pub async fn user(&self, name: &str, role: Role, groups: &[&str]) -> String {
        let u = users::create(
            self.db(),
            &users::NewUser {
                username: name.into(),
                email: None,
                password_hash: integramon_web::auth::hash_password("a long enough password")
                    .await
                    .expect("hash"),
                role,
                groups: groups.iter().map(|g| g.to_string()).collect(),
                must_change_password: false,
            },
        )
        .await
        .expect("create user");
        let (secret, hash) = integramon_web::auth::new_token();
        users::create_token(self.db(), u.id, "test", &hash, None)
            .await
            .expect("create token");
        secret
    }
}

/// A fresh database with one admin, and the app's context over it.
pub async fn env() -> Env {
    env_with(Backend::Sqlite, &[]).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of its own on the machine's PostgreSQL (127.0.0.1:5432, trust auth, user
/// postgres), made with `psql` and dropped at the end. An unreachable server fails the test.
pub struct PgDb {
    pub name: String,
}

fn psql(sql: &str) {
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql must be installed");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgDb {
    fn create() -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "im_web_{}_{}_{}",
            std::process::id(),
            nanos,
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        psql(&format!("CREATE DATABASE {name}"));
        Self { name }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// [`env`] on `backend`, with extra settings (`WEB_MASK_ROLES`, …).
pub async fn env_with(backend: Backend, extra: &[(&str, &str)]) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = (backend == Backend::Postgres).then(PgDb::create);
    let mut vars: HashMap<String, String> = [
        ("DATA_DIR", dir.path().display().to_string()),
        ("DB_BACKEND", "sqlite".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(pg) = &pg {
        for (k, v) in [
            ("DB_BACKEND", "postgresql"),
            ("DB_HOST", "127.0.0.1"),
            ("DB_PORT", "5432"),
            ("DB_USER", "postgres"),
            ("DB_NAME", pg.name.as_str()),
            ("DB_POOL_MAX", "4"),
        ] {
            vars.insert(k.into(), v.into());
        }
    }
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let settings = Settings::from_env(vars).expect("settings");
    let db = store::connect(&settings.db).expect("connect");
    Migrator::up(db.conn(), None).await.expect("migrate");
    let health = Health::new("web", db.clone());
    health.set_gate_passed(&dir.path().join("migrated"));
    let queue = Arc::new(InProcessQueue::new(QueueConfig::default()).expect("queue"));
    let ctx = Context {
        config: integramon_web::config::WebConfig::from_settings(&settings).expect("web settings"),
        queue_config: QueueConfig::default(),
        settings,
        db,
        queue,
        health,
        shutdown: Shutdown::new(),
    };
    let mut env = Env {
        pg,
        dir,
        ctx,
        admin: String::new(),
    };
    env.admin = env.user("admin", Role::Admin, &[]).await;
    env
}

/// The routes as `integramon-web` serves them (same guard and extractor settings).
pub fn routes(env: &Env) -> runtime::Routes {
    integramon_web::app(&env.ctx).expect("routes")
}

/// `app!(env)`: the app as a test service.
macro_rules! app {
    ($env:expr) => {{
        let routes = $crate::support::routes(&$env);
        actix_web::test::init_service(actix_web::App::new().configure(move |c| routes(c))).await
    }};
}

/// A GET of `uri` with `token` as the bearer.
pub fn get_as(uri: &str, token: &str) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::get()
        .uri(uri)
        .insert_header(bearer(token))
}

pub fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}
