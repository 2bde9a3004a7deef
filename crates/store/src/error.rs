use std::path::PathBuf;

/// Everything the store can fail with, worded for an operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "DB_CHANNEL_BINDING=require cannot be honoured: IntegraMon's PostgreSQL driver (sqlx) \
         authenticates with SCRAM-SHA-256 but does not implement channel binding \
         (SCRAM-SHA-256-PLUS). Refusing to connect without it. Use DB_SSLMODE=verify-full with \
         DB_SSLROOTCERT to authenticate the server instead, and set DB_CHANNEL_BINDING=prefer or \
         disable"
    )]
    ChannelBindingUnsupported,
    #[error("database unreachable: {0}")]
    Unreachable(String),
    #[error(
        "gave up waiting for the database after {waited_secs}s \
         (DB_WAIT_TIMEOUT={limit_secs}s): {last_error}"
    )]
    WaitTimedOut {
        waited_secs: u64,
        limit_secs: u64,
        last_error: String,
    },
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("migration marker {path} is unreadable: {reason}")]
    BadMarker { path: PathBuf, reason: String },
    #[error("migration {name} failed: {reason}")]
    MigrationFailed { name: String, reason: String },
    #[error("{0}")]
    Command(String),
    /// A caller-supplied argument is unusable (for example a tampered paging cursor). `field`
    /// names the argument, so an HTTP layer can answer 400 pointing at it.
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
}

impl StoreError {
    /// PostgreSQL picked this transaction as the victim of a deadlock (SQLSTATE 40P01): it was
    /// rolled back whole and can simply run again.
    pub fn is_deadlock(&self) -> bool {
        use sea_orm::{DbErr, RuntimeErr};
        let Self::Db(
            DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)),
        ) = self
        else {
            return false;
        };
        e.as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|code| code == "40P01")
    }

    /// The database refused the data itself (PostgreSQL SQLSTATE classes 22 data exception,
    /// 23 integrity constraint, 54 program limit such as "index row size exceeds btree
    /// maximum"; SQLite's too big, constraint and mismatch): writing it again will fail again,
    /// unlike a lost connection or a lock time-out.
    pub fn is_data_error(&self) -> bool {
        use sea_orm::{DbErr, RuntimeErr};
        let Self::Db(
            DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)),
        ) = self
        else {
            return false;
        };
        let Some(code) = e.as_database_error().and_then(|d| d.code()) else {
            return false;
        };
        // PostgreSQL: a five-character SQLSTATE. SQLite: its (extended) result code as a
        // number of at most four digits; the low byte is the primary code.
        if code.len() == 5 {
            return ["22", "23", "54"].iter().any(|c| code.starts_with(c));
        }
        code.parse::<i32>()
            .is_ok_and(|n| matches!(n & 0xff, 18..=20))
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
