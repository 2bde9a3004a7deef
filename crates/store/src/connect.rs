//! Opening the database: a bounded sqlx pool per process, adopted by SeaORM. We build the sqlx
//! pools ourselves because SQLite needs pragmas on every connection and PostgreSQL needs the
//! statement cache switch for PgBouncer, neither of which a URL can say.

use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqlxPostgresConnector,
    SqlxSqliteConnector, TransactionOptions, TransactionTrait,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::StoreError;
use crate::settings::{Backend, ChannelBinding, DbSettings, SslMode};

/// A process's handle on the database: the pool plus what it was opened with.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    settings: DbSettings,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("target", &self.settings.target())
            .finish()
    }
}

/// One failed attempt to reach the database: what went wrong, and whether the server said
/// nothing at all within the attempt's time (as opposed to refusing or failing).
struct Failure {
    reason: String,
    silent: bool,
}

/// Open the pool without touching the server: processes start (and report "not ready") while the
/// database is still down, and connections are made on first use.
pub fn connect(settings: &DbSettings) -> Result<Db, StoreError> {
    let conn = match settings.backend {
        Backend::Sqlite => {
            if let Some(dir) = settings.sqlite_path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                    what: format!("creating the database directory {}", dir.display()),
                    source,
                })?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.pool.max.max(1))
                .min_connections(settings.pool.min)
                .acquire_timeout(settings.pool.acquire_timeout)
                .idle_timeout(settings.pool.idle_timeout)
                .max_lifetime(settings.pool.max_lifetime)
                .connect_lazy_with(sqlite_options(settings));
            SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)
        }
        Backend::Postgres { .. } => {
            let tcp_port = (!settings.host.starts_with('/')).then_some(settings.port);
            let pool = PgPoolOptions::new()
                .max_connections(settings.pool.max.max(1))
                .min_connections(settings.pool.min)
                .acquire_timeout(settings.pool.acquire_timeout)
                .idle_timeout(settings.pool.idle_timeout)
                .max_lifetime(postgres_max_lifetime(settings))
                .after_connect(move |_conn, _meta| {
                    Box::pin(async move {
                        if let Some(port) = tcp_port {
                            crate::nodelay::disable_nagle_to_port(port);
                        }
                        Ok(())
                    })
                })
                .connect_lazy_with(postgres_options(settings)?);
            SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
        }
    };
    Ok(Db {
        conn,
        settings: settings.clone(),
    })
}

/// sqlx prepares every statement under a name. With the cache off (behind a pooler) those names
/// are never closed, so connections are recycled often enough to keep the server's (and the
/// pooler's) per-connection statement list short.
fn postgres_max_lifetime(settings: &DbSettings) -> Option<Duration> {
    const POOLER_MAX_LIFETIME: Duration = Duration::from_secs(300);
    match (settings.pool.pgbouncer, settings.pool.max_lifetime) {
        (true, Some(d)) => Some(d.min(POOLER_MAX_LIFETIME)),
        (true, None) => Some(POOLER_MAX_LIFETIME),
        (false, d) => d,
    }
}

pub(crate) fn sqlite_options(settings: &DbSettings) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(&settings.sqlite_path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(settings.sqlite_timeout)
        .foreign_keys(true)
}

/// PostgreSQL connect options from settings. Refuses `DB_CHANNEL_BINDING=require`: the driver
/// (sqlx) speaks SCRAM-SHA-256 but not SCRAM-SHA-256-PLUS, so honouring `require` is impossible
/// and connecting anyway would silently drop the protection the operator asked for.
pub fn postgres_options(settings: &DbSettings) -> Result<PgConnectOptions, StoreError> {
    if settings.channel_binding == ChannelBinding::Require {
        return Err(StoreError::ChannelBindingUnsupported);
    }
    let mut opts = PgConnectOptions::new_without_pgpass()
        .host(&settings.host)
        .port(settings.port)
        .username(&settings.user)
        .database(&settings.name)
        .application_name("integramon")
        .ssl_mode(match settings.sslmode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require => PgSslMode::Require,
            SslMode::VerifyCa => PgSslMode::VerifyCa,
            SslMode::VerifyFull => PgSslMode::VerifyFull,
        });
    if let Some(password) = &settings.password {
        opts = opts.password(password);
    }
    if let Some(ca) = &settings.sslrootcert {
        opts = opts.ssl_root_cert(ca);
    }
    if settings.pool.pgbouncer {
        opts = opts.statement_cache_capacity(0);
    }
    Ok(opts)
}

/// Connections of this process's pool right now, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (in use plus idle).
    pub open: u32,
    pub idle: u32,
    /// `DB_POOL_MAX`.
    pub max: u32,
}

impl PoolStats {
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

impl Db {
    /// Reads the pool's counters (no I/O). The pool is the one [`connect`] built for the
    /// configured backend, so the backend's accessor below always matches.
    pub fn pool_stats(&self) -> PoolStats {
        let (open, idle, max) = match self.settings.backend {
            Backend::Sqlite => {
                let p = self.conn.get_sqlite_connection_pool();
                (p.size(), p.num_idle(), p.options().get_max_connections())
            }
            Backend::Postgres { .. } => {
                let p = self.conn.get_postgres_connection_pool();
                (p.size(), p.num_idle(), p.options().get_max_connections())
            }
        };
        PoolStats {
            open,
            idle: idle_within(open, idle),
            max,
        }
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn settings(&self) -> &DbSettings {
        &self.settings
    }

    pub fn backend(&self) -> Backend {
        self.settings.backend
    }

    pub fn db_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// One round trip, bounded by `DB_CONNECT_TIMEOUT`: what readiness checks call.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.ping_within(self.settings.connect_timeout).await
    }

    async fn ping_within(&self, limit: Duration) -> Result<(), StoreError> {
        self.attempt(limit)
            .await
            .map_err(|f| StoreError::Unreachable(f.reason))
    }

    async fn attempt(&self, limit: Duration) -> Result<(), Failure> {
        let pooled = tokio::time::timeout(limit, self.conn.execute_unprepared("SELECT 1")).await;
        match pooled {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if self.settings.backend == Backend::Sqlite => Err(Failure {
                reason: e.to_string(),
                silent: false,
            }),
            _ => Err(self.diagnose(limit).await),
        }
    }

    /// The pool retries refused connections until its own time-out and then reports only that
    /// it timed out; one direct connection attempt names the real cause (refused, DNS, TLS,
    /// authentication).
    async fn diagnose(&self, limit: Duration) -> Failure {
        use sqlx::Connection;
        let answered = |reason: String| Failure {
            reason,
            silent: false,
        };
        let opts = match postgres_options(&self.settings) {
            Ok(o) => o,
            Err(e) => return answered(e.to_string()),
        };
        match tokio::time::timeout(limit, sqlx::PgConnection::connect_with(&opts)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                answered(format!(
                    "the server accepts connections but the pool got none within {}s \
                     (all {} in use? raise DB_POOL_MAX)",
                    limit.as_secs(),
                    self.settings.pool.max
                ))
            }
            Ok(Err(e)) => answered(e.to_string()),
            Err(_) => Failure {
                reason: format!("no answer within {:.1}s", limit.as_secs_f64()),
                silent: true,
            },
        }
    }

    /// Wait until the database answers, retrying, for at most `DB_WAIT_TIMEOUT`. `on_wait` is
    /// called with each failure so the caller can say why it is still waiting.
    pub async fn wait_until_reachable(
        &self,
        mut on_wait: impl FnMut(&StoreError, Duration),
    ) -> Result<(), StoreError> {
        let started = tokio::time::Instant::now();
        let limit = self.settings.wait_timeout;
        let mut delay = Duration::from_millis(250);
        // The last thing the server said: the final attempt's budget is only what is left of the
        // wait, so its time-out must not hide a refusal seen before (a wrong password).
        let mut said: Option<String> = None;
        loop {
            let remaining = limit.saturating_sub(started.elapsed());
            let attempt = self
                .attempt(
                    self.settings
                        .connect_timeout
                        .min(remaining)
                        .max(Duration::from_millis(200)),
                )
                .await;
            match attempt {
                Ok(()) => return Ok(()),
                Err(failure) => {
                    let waited = started.elapsed();
                    if waited + delay >= limit {
                        return Err(StoreError::WaitTimedOut {
                            waited_secs: waited.as_secs(),
                            limit_secs: limit.as_secs(),
                            last_error: match (failure.silent, said) {
                                (true, Some(said)) => {
                                    format!("{}; before that: {said}", failure.reason)
                                }
                                _ => failure.reason,
                            },
                        });
                    }
                    if !failure.silent {
                        said = Some(failure.reason.clone());
                    }
                    let e = StoreError::Unreachable(failure.reason);
                    on_wait(&e, waited);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Start a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later cannot wait
    /// for the lock and fails with "database is locked" at once, whatever `busy_timeout` says.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = match self.settings.backend {
            Backend::Sqlite => TransactionOptions {
                sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                ..Default::default()
            },
            Backend::Postgres { .. } => TransactionOptions::default(),
        };
        Ok(self.conn.begin_with_options(options).await?)
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// The pool's idle count, read apart from its size: while a connection is being taken or
/// returned the two disagree for a moment, and the idle counter was seen wrapped below zero
/// (`/metrics` then reported 4294967295 idle connections). Never more than are open.
fn idle_within(open: u32, idle: usize) -> u32 {
    u32::try_from(idle).map_or(open, |i| i.min(open))
}

#[cfg(test)]
mod idle_tests {
    use super::idle_within;

    #[test]
    fn an_idle_count_above_the_open_ones_or_wrapped_is_bounded_by_them() {
        assert_eq!(idle_within(4, 3), 3);
        assert_eq!(idle_within(4, 9), 4);
        assert_eq!(idle_within(4, usize::MAX), 4);
    }
}
