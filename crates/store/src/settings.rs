//! Database settings: which backend, where it is, and how the pool behaves. Parsing is pure so that
//! every rule (aliases, neon defaults, channel binding) is unit tested without a database.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Every accepted spelling of `DB_BACKEND`, in the order the docs list them.
pub const BACKEND_VALUES: &[&str] = &[
    "sqlite",
    "postgresql",
    "postgres",
    "postgres_neon",
    "postgresql_neon",
    "neon",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// PostgreSQL; `neon` marks the hosted variants, which require TLS unless told otherwise.
    Postgres {
        neon: bool,
    },
}

impl Backend {
    pub fn parse(raw: &str) -> Result<Self, SettingsError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Self::Sqlite),
            "postgresql" | "postgres" => Ok(Self::Postgres { neon: false }),
            "postgres_neon" | "postgresql_neon" | "neon" => Ok(Self::Postgres { neon: true }),
            _ => Err(SettingsError::UnknownBackend(raw.to_string())),
        }
    }

    pub fn is_postgres(self) -> bool {
        matches!(self, Self::Postgres { .. })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres { neon: false } => "postgresql",
            Self::Postgres { neon: true } => "postgresql (neon)",
        }
    }
}

/// Where a setting's value came from; every daemon logs it for `DB_BACKEND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Environment,
    ConfigFile(String),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Environment => f.write_str("environment"),
            Self::ConfigFile(name) => write!(f, "config file {name}"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub const VALUES: &'static [&'static str] =
        &["disable", "prefer", "require", "verify-ca", "verify-full"];

    pub fn parse(raw: &str) -> Result<Self, SettingsError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" | "verify_ca" => Ok(Self::VerifyCa),
            "verify-full" | "verify_full" => Ok(Self::VerifyFull),
            _ => Err(SettingsError::Invalid {
                key: "DB_SSLMODE",
                value: raw.to_string(),
                expected: Self::VALUES.join(", "),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// libpq's `channel_binding` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBinding {
    Disable,
    Prefer,
    Require,
}

impl ChannelBinding {
    pub const VALUES: &'static [&'static str] = &["disable", "prefer", "require"];

    pub fn parse(raw: &str) -> Result<Self, SettingsError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            _ => Err(SettingsError::Invalid {
                key: "DB_CHANNEL_BINDING",
                value: raw.to_string(),
                expected: Self::VALUES.join(", "),
            }),
        }
    }
}

/// Everything `connect` needs. Built by the runtime from layered settings; tests build it directly.
#[derive(Clone)]
pub struct DbSettings {
    pub backend: Backend,
    pub backend_source: Source,
    /// SQLite file (default `${DATA_DIR}/integramon.sqlite3`).
    pub sqlite_path: PathBuf,
    /// `SQLITE_TIMEOUT`: how long a writer waits for the lock before giving up.
    pub sqlite_timeout: Duration,
    pub local: bool,
    pub host: String,
    pub port: u16,
    pub name: String,
    pub user: String,
    pub password: Option<String>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub channel_binding: ChannelBinding,
    /// `DB_CONNECT_TIMEOUT`: bound on one connection attempt and on readiness checks.
    pub connect_timeout: Duration,
    /// `DB_WAIT_TIMEOUT`: how long `migrate` waits for the database to answer.
    pub wait_timeout: Duration,
    pub pool: PoolSettings,
}

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max: u32,
    pub min: u32,
    pub acquire_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    pub max_lifetime: Option<Duration>,
    /// Behind PgBouncer in transaction mode or a hosted pooler: no prepared-statement cache,
    /// since the next statement may run on another server connection.
    pub pgbouncer: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max: 10,
            min: 0,
            acquire_timeout: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            pgbouncer: false,
        }
    }
}

impl DbSettings {
    /// SQLite at the given path, everything else at its default: what tests and tools start from.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Self {
            backend: Backend::Sqlite,
            backend_source: Source::Default,
            sqlite_path: path.into(),
            sqlite_timeout: Duration::from_secs(20),
            local: false,
            host: "127.0.0.1".into(),
            port: 5432,
            name: "integramon".into(),
            user: "integramon".into(),
            password: None,
            sslmode: SslMode::Prefer,
            sslrootcert: None,
            channel_binding: ChannelBinding::Prefer,
            connect_timeout: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(60),
            pool: PoolSettings::default(),
        }
    }

    /// PostgreSQL with the given coordinates, everything else at its default.
    pub fn postgres(host: &str, port: u16, name: &str, user: &str) -> Self {
        Self {
            backend: Backend::Postgres { neon: false },
            host: host.into(),
            port,
            name: name.into(),
            user: user.into(),
            ..Self::sqlite("unused.sqlite3")
        }
    }

    /// The target in words for logs: host/db or file, never the password.
    pub fn target(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("file {}", self.sqlite_path.display()),
            Backend::Postgres { .. } => format!(
                "{}@{}:{}/{} (sslmode={}{})",
                self.user,
                self.host,
                self.port,
                self.name,
                self.sslmode.as_str(),
                if self.local { ", local cluster" } else { "" }
            ),
        }
    }
}

impl fmt::Debug for DbSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbSettings")
            .field("backend", &self.backend)
            .field("backend_source", &self.backend_source)
            .field("target", &self.target())
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("channel_binding", &self.channel_binding)
            .field("pool", &self.pool)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("DB_BACKEND={0:?} is not a known backend; valid values are: {list}", list = BACKEND_VALUES.join(", "))]
    UnknownBackend(String),
    #[error("{key}={value:?} is not valid; expected {expected}")]
    Invalid {
        key: &'static str,
        value: String,
        expected: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_alias_is_accepted_case_insensitively() {
        assert_eq!(Backend::parse("sqlite").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::parse("SQLite").unwrap(), Backend::Sqlite);
        for pg in ["postgresql", "postgres", "PostgreSQL", " postgres "] {
            assert_eq!(
                Backend::parse(pg).unwrap(),
                Backend::Postgres { neon: false }
            );
        }
        for neon in ["postgres_neon", "postgresql_neon", "neon", "NEON"] {
            assert_eq!(
                Backend::parse(neon).unwrap(),
                Backend::Postgres { neon: true }
            );
        }
        for v in BACKEND_VALUES {
            assert!(Backend::parse(v).is_ok(), "{v}");
        }
    }

    #[test]
    fn an_unknown_backend_names_the_value_and_lists_the_valid_ones() {
        let err = Backend::parse("mysql").unwrap_err().to_string();
        assert!(err.contains("\"mysql\""), "{err}");
        for v in BACKEND_VALUES {
            assert!(err.contains(v), "{err} should list {v}");
        }
    }

    #[test]
    fn sslmode_and_channel_binding_reject_unknown_values() {
        assert_eq!(SslMode::parse("verify-full").unwrap(), SslMode::VerifyFull);
        assert!(
            SslMode::parse("required")
                .unwrap_err()
                .to_string()
                .contains("verify-ca")
        );
        assert_eq!(
            ChannelBinding::parse("REQUIRE").unwrap(),
            ChannelBinding::Require
        );
        assert!(ChannelBinding::parse("yes").is_err());
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let mut s = DbSettings::postgres("db", 5432, "im", "im");
        s.password = Some("hunter2".into());
        let shown = format!("{s:?} {}", s.target());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
