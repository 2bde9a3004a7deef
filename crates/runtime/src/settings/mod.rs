//! Layered settings: compiled-in defaults < one optional file < environment. The file is the first
//! present of `INTEGRAMON_CONFIG` (TOML, YAML or JSON by extension), `CONFIG_JSON_B64` (the
//! earlier version's bootstrap JSON, base64) and `/run/secrets/app-config.json`. Keys in a file
//! are the variable names (any case), flat. Values are parsed here, so a bad one names its
//! variable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::setting;
use store::settings::{Backend, ChannelBinding, DbSettings, PoolSettings, Source, SslMode};

mod file;
mod show;
mod values;

pub use domain::setting::{Entry, mask_url};
use file::file_layer;

pub const SECRETS_FILE: &str = "/run/secrets/app-config.json";

/// `SHUTDOWN_GRACE_SECS` default.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 20;

/// A value that does not parse, as a [`SettingsError`].
pub fn invalid(
    key: impl Into<String>,
    value: impl Into<String>,
    expected: impl Into<String>,
) -> SettingsError {
    SettingsError::Invalid(setting::Invalid {
        key: key.into(),
        value: value.into(),
        expected: expected.into(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Db(#[from] store::settings::SettingsError),
    #[error("{0}")]
    Invalid(#[from] setting::Invalid),
    #[error("CONFIG_JSON_B64 is not valid base64: {0}")]
    BadBase64(String),
    #[error("{source_name} is not valid {format}: {reason}")]
    BadFile {
        source_name: String,
        format: &'static str,
        reason: String,
    },
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{0}")]
    SecretKey(String),
    #[error("{0}")]
    LocalDb(String),
    #[error("{0}")]
    Queue(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the daemons share. Daemon-specific values are read with [`Settings::get`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
    pub log_format: LogFormat,
    /// Also write a daily log file per process under `LOG_DIR`.
    pub log_to_file: bool,
    pub db: DbSettings,
    pub migrate_marker: PathBuf,
    pub amqp_url: String,
    pub app_base_path: String,
    pub frontend_base_url: Option<String>,
    /// `RUST_LOG`, checked: the log filter (default `info` with quieter database crates).
    pub log_filter: Option<String>,
    /// `SHUTDOWN_GRACE_SECS`: after SIGTERM/Ctrl-C, how long running jobs may go on before they
    /// are stopped between pages and handed back to their queue.
    pub shutdown_grace: Duration,
    /// Things that work but are probably not what was meant; logged at start and shown in
    /// `/readyz`.
    pub warnings: Vec<String>,
    /// Which file layer was used, in words.
    pub file_source: Option<String>,
    /// `OUTBOUND_DENY_PRIVATE`: refuse private, loopback and link-local targets for every
    /// outbound call (tenants, webhooks, SMTP). Off by default.
    pub outbound_deny_private: bool,
    /// Layered raw values, keys lower-cased.
    values: HashMap<String, String>,
    env: HashMap<String, String>,
}

impl Settings {
    /// From this process's environment.
    pub fn load() -> Result<Self, SettingsError> {
        Self::from_env(std::env::vars().collect())
    }

    /// From a given environment: what tests use.
    pub fn from_env(env: HashMap<String, String>) -> Result<Self, SettingsError> {
        let (file_values, file_source) = file_layer(&env)?;
        let mut values = file_values;
        for (k, v) in &env {
            values.insert(k.to_ascii_lowercase(), v.clone());
        }
        let mut s = Self {
            data_dir: PathBuf::new(),
            log_dir: PathBuf::new(),
            log_format: LogFormat::Text,
            log_to_file: false,
            db: DbSettings::sqlite(""),
            migrate_marker: PathBuf::new(),
            amqp_url: String::new(),
            app_base_path: String::new(),
            frontend_base_url: None,
            log_filter: None,
            shutdown_grace: Duration::ZERO,
            warnings: Vec::new(),
            file_source,
            outbound_deny_private: false,
            values,
            env,
        };
        s.resolve()?;
        Ok(s)
    }

    /// A raw value by variable name (case-insensitive), after layering.
    pub fn raw(&self, key: &str) -> Option<String> {
        self.values
            .get(&key.to_ascii_lowercase())
            .filter(|v| !v.trim().is_empty())
            .cloned()
    }

    /// A value parsed by `parse` (a [`domain::setting`] parser), or `default` when unset.
    pub fn parsed<T>(
        &self,
        key: &str,
        default: T,
        parse: impl FnOnce(&str, &str) -> Result<T, setting::Invalid>,
    ) -> Result<T, SettingsError> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => Ok(parse(key, &v)?),
        }
    }

    /// A whole number of any integer type, `default` when unset.
    pub fn whole_or<T: std::str::FromStr>(
        &self,
        key: &str,
        default: T,
        expected: &str,
    ) -> Result<T, SettingsError> {
        self.parsed(key, default, |k, v| setting::whole(k, v, expected))
    }

    /// `true/1/yes/on` or `false/0/no/off`, `default` when unset.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, SettingsError> {
        self.parsed(key, default, setting::flag)
    }

    fn get_or<T: std::str::FromStr>(
        &self,
        key: &str,
        default: T,
        expected: &str,
    ) -> Result<T, SettingsError> {
        self.whole_or(key, default, expected)
    }

    fn secs(&self, key: &str, default: u64) -> Result<Duration, SettingsError> {
        self.parsed(key, Duration::from_secs(default), |k, v| {
            setting::seconds_in(k, v, 0, u64::MAX)
        })
    }

    /// Where a variable's value came from.
    pub fn source_of(&self, key: &str) -> Source {
        if self.env.get(key).is_some_and(|v| !v.is_empty()) {
            Source::Environment
        } else if self.raw(key).is_some() {
            Source::ConfigFile(self.file_source.clone().unwrap_or_default())
        } else {
            Source::Default
        }
    }

    fn resolve(&mut self) -> Result<(), SettingsError> {
        self.data_dir = self
            .raw("DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("./data"));
        self.log_dir = self
            .raw("LOG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.data_dir.join("logs"));
        self.log_format = match self
            .raw("LOG_FORMAT")
            .as_deref()
            .map(str::to_ascii_lowercase)
        {
            None => LogFormat::Text,
            Some(v) if v == "text" => LogFormat::Text,
            Some(v) if v == "json" => LogFormat::Json,
            Some(v) => {
                return Err(invalid("LOG_FORMAT", v, "text or json"));
            }
        };
        self.log_to_file = self.flag("LOG_TO_FILE", false)?;
        self.log_filter = self.raw("RUST_LOG");
        if let Some(v) = &self.log_filter
            && tracing_subscriber::EnvFilter::builder().parse(v).is_err()
        {
            return Err(invalid(
                "RUST_LOG",
                v.clone(),
                "a log filter such as info, warn or info,store=debug \
                           (levels: error, warn, info, debug, trace, off)",
            ));
        }
        let grace: u64 = self.get_or(
            "SHUTDOWN_GRACE_SECS",
            DEFAULT_SHUTDOWN_GRACE_SECS,
            "a whole number of seconds from 0 to 3600",
        )?;
        if grace > 3600 {
            return Err(invalid(
                "SHUTDOWN_GRACE_SECS",
                grace.to_string(),
                "a whole number of seconds from 0 to 3600",
            ));
        }
        self.shutdown_grace = Duration::from_secs(grace);
        self.migrate_marker = self
            .raw("MIGRATE_MARKER")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.data_dir.join("run").join("migrate.done"));
        self.amqp_url = self
            .raw("AMQP_URL")
            .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
        // AMQP_PASSWORD (or AMQP_PASSWORD_FILE) goes into the URL, so the URL itself can be
        // committed without its secret; the queue settings read the combined URL.
        if let Some(password) = self.secret("AMQP_PASSWORD")? {
            self.amqp_url = url_with_password(&self.amqp_url, &password).ok_or_else(|| {
                invalid(
                    "AMQP_URL",
                    "(with AMQP_PASSWORD)",
                    "amqp://USER@HOST:PORT/VHOST, with a user when AMQP_PASSWORD is set",
                )
            })?;
            self.values.insert("amqp_url".into(), self.amqp_url.clone());
        }
        self.app_base_path = normalise_base_path(&self.raw("APP_BASE_PATH").unwrap_or_default());
        self.frontend_base_url = self.raw("FRONTEND_BASE_URL");
        self.outbound_deny_private = self.flag("OUTBOUND_DENY_PRIVATE", false)?;
        self.db = self.db_settings()?;
        self.warnings = self.unlikely_choices();
        Ok(())
    }

    /// A secret: `KEY` itself, else the contents of the file `KEY_FILE` (a trailing newline
    /// dropped), as container secrets are handed over.
    pub fn secret(&self, key: &str) -> Result<Option<String>, SettingsError> {
        if let Some(v) = self.raw(key) {
            return Ok(Some(v));
        }
        let file_key = format!("{key}_FILE");
        let Some(path) = self.raw(&file_key) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path.trim()).map_err(|e| SettingsError::Unreadable {
            path: format!("{file_key}={path}"),
            reason: e.to_string(),
        })?;
        let value = text.trim_end_matches(['\n', '\r']).to_string();
        if value.is_empty() {
            return Err(invalid(
                file_key,
                path,
                "a file holding the secret (it is empty)",
            ));
        }
        Ok(Some(value))
    }

    /// Settings that are valid but probably not what the operator meant.
    fn unlikely_choices(&self) -> Vec<String> {
        let mut out = Vec::new();
        let pg_hints: Vec<&str> = ["DB_HOST", "DB_PASSWORD"]
            .into_iter()
            .filter(|k| self.raw(k).is_some())
            .collect();
        if self.raw("DB_BACKEND").is_none() && !pg_hints.is_empty() {
            // The earlier version's boot script chose PostgreSQL from these; we do not guess.
            let names = pg_hints.join(" and ");
            let verb = if pg_hints.len() > 1 { "are" } else { "is" };
            out.push(format!(
                "{names} {verb} set but DB_BACKEND is not: using SQLite at {}, not PostgreSQL; \
                 set DB_BACKEND=postgresql to use PostgreSQL, or unset {names} to silence this",
                self.db.sqlite_path.display(),
            ));
        }
        out
    }

    fn db_settings(&self) -> Result<DbSettings, SettingsError> {
        let backend = match self.raw("DB_BACKEND") {
            Some(v) => Backend::parse(&v)?,
            None => Backend::Sqlite,
        };
        let local = self.flag("DB_LOCAL", false)?;
        let mut password = self.secret("DB_PASSWORD")?;
        if password.is_none() && local && backend.is_postgres() {
            // The internal cluster is ours: it gets a generated password every process reads.
            password = Some(
                store::pg_local::load_or_create_password(&self.data_dir)
                    .map_err(|e| SettingsError::LocalDb(e.to_string()))?,
            );
        }
        let neon = matches!(backend, Backend::Postgres { neon: true });
        let sslmode = match self.raw("DB_SSLMODE") {
            Some(v) => SslMode::parse(&v)?,
            // Hosted PostgreSQL is reached over the internet: TLS unless told otherwise.
            None if neon => SslMode::Require,
            None => SslMode::Prefer,
        };
        let channel_binding = match self.raw("DB_CHANNEL_BINDING") {
            Some(v) => ChannelBinding::parse(&v)?,
            None => ChannelBinding::Prefer,
        };
        let pool = PoolSettings {
            max: self.get_or("DB_POOL_MAX", 10, "a positive whole number")?,
            min: self.get_or("DB_POOL_MIN", 0, "a whole number")?,
            acquire_timeout: self.secs("DB_POOL_ACQUIRE_TIMEOUT", 30)?,
            idle_timeout: Some(self.secs("DB_POOL_IDLE_TIMEOUT", 600)?).filter(|d| !d.is_zero()),
            max_lifetime: Some(self.secs("DB_POOL_MAX_LIFETIME", 1800)?).filter(|d| !d.is_zero()),
            pgbouncer: self.flag("DB_PGBOUNCER", false)?,
        };
        if pool.max == 0 || pool.min > pool.max {
            return Err(invalid(
                "DB_POOL_MAX",
                format!("{} (DB_POOL_MIN={})", pool.max, pool.min),
                "at least 1 and at least DB_POOL_MIN",
            ));
        }
        Ok(DbSettings {
            backend,
            backend_source: self.source_of("DB_BACKEND"),
            sqlite_path: self
                .raw("SQLITE_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| self.data_dir.join("integramon.sqlite3")),
            sqlite_timeout: self.secs("SQLITE_TIMEOUT", 20)?,
            local,
            host: self.raw("DB_HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port: self.get_or("DB_PORT", 5432, "a port number (1-65535)")?,
            name: self.raw("DB_NAME").unwrap_or_else(|| "integramon".into()),
            user: self.raw("DB_USER").unwrap_or_else(|| "integramon".into()),
            password,
            sslmode,
            sslrootcert: self.raw("DB_SSLROOTCERT").map(PathBuf::from),
            channel_binding,
            connect_timeout: self.secs("DB_CONNECT_TIMEOUT", 10)?,
            wait_timeout: self.secs("DB_WAIT_TIMEOUT", 60)?,
            pool,
        })
    }

    /// Where the tenant-secret key file is (`SECRET_KEY_FILE`, default `${DATA_DIR}/secret.key`);
    /// used unless `SECRET_KEY` is set (see [`Self::secret_key_from_env`]).
    pub fn secret_key_file(&self) -> PathBuf {
        self.raw("SECRET_KEY_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.data_dir.join("secret.key"))
    }

    /// Whether the key comes from `SECRET_KEY` rather than a file.
    pub fn secret_key_from_env(&self) -> bool {
        self.raw("SECRET_KEY").is_some()
    }

    /// The key that encrypts tenant secrets at rest: `SECRET_KEY` (32 bytes, base64), else the
    /// file `SECRET_KEY_FILE` (default `${DATA_DIR}/secret.key`), created with mode 0600 on first
    /// use. Every process of an installation must see the same key (compose shares `DATA_DIR`).
    pub fn secret_key(&self) -> Result<domain::secret::SecretKey, SettingsError> {
        use domain::secret::SecretKey;
        let bad = |e: String| SettingsError::SecretKey(e);
        if let Some(text) = self.raw("SECRET_KEY") {
            return SecretKey::from_base64(text.trim())
                .map_err(|e| bad(format!("SECRET_KEY is not usable: {e}")));
        }
        let path = self.secret_key_file();
        let read = |path: &Path| -> Result<SecretKey, SettingsError> {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
            SecretKey::from_base64(text.trim()).map_err(|e| {
                bad(format!(
                    "{} does not hold a usable key: {e}",
                    path.display()
                ))
            })
        };
        if path.exists() {
            return read(&path);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
        }
        let key = SecretKey::generate().map_err(|e| bad(e.to_string()))?;
        // Written whole under a name of its own, then linked into place: when two processes
        // start at once, one link wins and the other reads a complete key (never an empty file).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
        let written = write_private(&tmp, key.to_base64().as_bytes());
        let linked = written.and_then(|()| std::fs::hard_link(&tmp, &path));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created the secret key for tenant credentials");
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
            Err(e) => Err(bad(format!("cannot create {}: {e}", path.display()))),
        }
    }

    /// The internal PostgreSQL of `DB_LOCAL=true`, as configured.
    pub fn local_cluster(&self) -> Result<store::pg_local::LocalCluster, SettingsError> {
        let mut c = store::pg_local::LocalCluster::under(&self.data_dir);
        c.bin_dir = self.raw("PG_BIN_DIR").map(PathBuf::from);
        if let Some(u) = self.raw("DB_LOCAL_OS_USER") {
            c.os_user = u;
        }
        if let Some(l) = self.raw("DB_LOCAL_LISTEN") {
            c.listen_addresses = l;
        }
        Ok(c)
    }
}

/// A new file readable by its owner only, written and synced.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// `scheme://user[:old]@host…` with the password set (percent-encoded).
fn url_with_password(url: &str, password: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, host) = authority.rsplit_once('@')?;
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    if user.is_empty() {
        return None;
    }
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Some(format!("{scheme}://{user}:{encoded}@{host}{tail}"))
}

fn normalise_base_path(raw: &str) -> String {
    let trimmed = raw.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_env(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn processes_starting_at_once_all_read_the_one_complete_key() {
        // A second process used to find the file created but still empty ("0 bytes after
        // base64 decoding") and stop.
        for _ in 0..200 {
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().to_string_lossy().to_string();
            let keys: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..16)
                    .map(|_| {
                        s.spawn(|| {
                            let settings = load(&[("DATA_DIR", &data)]).unwrap();
                            settings.secret_key().map(|k| k.to_base64())
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap().expect("every start reads a usable key"))
                    .collect()
            });
            assert!(keys.iter().all(|k| k == &keys[0]), "one key for all");
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");
        }
    }

    #[test]
    fn defaults_are_sqlite_under_data_dir_with_documented_values() {
        let s = load(&[("APP_CONFIG_FILE", "/nonexistent/app-config.json")]).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.log_dir, PathBuf::from("./data/logs"));
        assert_eq!(s.db.backend, Backend::Sqlite);
        assert_eq!(s.db.backend_source, Source::Default);
        assert_eq!(s.db.sqlite_path, PathBuf::from("./data/integramon.sqlite3"));
        assert_eq!(s.db.sqlite_timeout, Duration::from_secs(20));
        assert_eq!(s.db.wait_timeout, Duration::from_secs(60));
        assert_eq!(s.db.pool.max, 10);
        assert!(!s.db.pool.pgbouncer);
        assert!(!s.db.local);
        assert_eq!(s.migrate_marker, PathBuf::from("./data/run/migrate.done"));
        assert_eq!(s.amqp_url, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(s.log_format, LogFormat::Text);
    }

    #[test]
    fn data_dir_moves_everything_that_derives_from_it() {
        let s = load(&[("DATA_DIR", "/srv/im")]).unwrap();
        assert_eq!(s.log_dir, PathBuf::from("/srv/im/logs"));
        assert_eq!(
            s.db.sqlite_path,
            PathBuf::from("/srv/im/integramon.sqlite3")
        );
        assert_eq!(s.migrate_marker, PathBuf::from("/srv/im/run/migrate.done"));
    }

    #[test]
    fn neon_defaults_to_tls_and_explicit_sslmode_wins() {
        let s = load(&[("DB_BACKEND", "neon")]).unwrap();
        assert_eq!(s.db.sslmode, SslMode::Require);
        assert_eq!(s.db.backend_source, Source::Environment);
        let s = load(&[("DB_BACKEND", "postgres")]).unwrap();
        assert_eq!(s.db.sslmode, SslMode::Prefer);
        let s = load(&[("DB_BACKEND", "neon"), ("DB_SSLMODE", "verify-full")]).unwrap();
        assert_eq!(s.db.sslmode, SslMode::VerifyFull);
    }

    #[test]
    fn a_bootstrap_json_is_a_config_file_layer_under_the_environment() {
        use base64::Engine as _;
        let json = r#"{"DB_BACKEND": "postgresql", "DB_PORT": 6543, "db_pgbouncer": true}"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(json);
        let s = load(&[("CONFIG_JSON_B64", &b64)]).unwrap();
        assert_eq!(s.db.backend, Backend::Postgres { neon: false });
        assert_eq!(
            s.db.backend_source,
            Source::ConfigFile("CONFIG_JSON_B64".into())
        );
        assert_eq!(s.db.port, 6543);
        assert!(s.db.pool.pgbouncer);
        let s = load(&[("CONFIG_JSON_B64", &b64), ("DB_PORT", "7000")]).unwrap();
        assert_eq!(s.db.port, 7000);
    }

    #[test]
    fn bad_values_name_the_variable_and_what_was_expected() {
        let err = load(&[("DB_PORT", "99999")]).unwrap_err().to_string();
        assert!(
            err.contains("DB_PORT=\"99999\"") && err.contains("port"),
            "{err}"
        );
        let err = load(&[("LOG_FORMAT", "xml")]).unwrap_err().to_string();
        assert!(
            err.contains("LOG_FORMAT") && err.contains("text or json"),
            "{err}"
        );
        let err = load(&[("DB_POOL_MIN", "5"), ("DB_POOL_MAX", "2")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DB_POOL_MAX"), "{err}");
    }

    #[test]
    fn secrets_come_from_their_files_and_the_variable_wins() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let amqp = dir.path().join("amqp");
        std::fs::write(&db, "from-file\n").unwrap();
        std::fs::write(&amqp, "p@ss/word\n").unwrap();
        let (db, amqp) = (db.display().to_string(), amqp.display().to_string());
        let s = load(&[
            ("DB_PASSWORD_FILE", &db),
            ("AMQP_URL", "amqp://im@rabbitmq:5672/%2f"),
            ("AMQP_PASSWORD_FILE", &amqp),
        ])
        .unwrap();
        assert_eq!(s.db.password.as_deref(), Some("from-file"));
        assert_eq!(s.amqp_url, "amqp://im:p%40ss%2Fword@rabbitmq:5672/%2f");
        assert_eq!(s.raw("AMQP_URL").as_deref(), Some(s.amqp_url.as_str()));
        let s = load(&[("DB_PASSWORD", "env"), ("DB_PASSWORD_FILE", &db)]).unwrap();
        assert_eq!(s.db.password.as_deref(), Some("env"));
        let err = load(&[("DB_PASSWORD_FILE", "/nonexistent/db")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DB_PASSWORD_FILE"), "{err}");
        let err = load(&[("AMQP_URL", "amqp://rabbitmq/%2f"), ("AMQP_PASSWORD", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("AMQP_URL"), "{err}");
    }

    #[test]
    fn a_bad_log_filter_or_grace_is_refused_and_the_grace_has_a_default() {
        let s = load(&[]).unwrap();
        assert_eq!(s.shutdown_grace, Duration::from_secs(20));
        let s = load(&[
            ("SHUTDOWN_GRACE_SECS", "0"),
            ("RUST_LOG", "warn,sqlx=error"),
        ])
        .unwrap();
        assert_eq!(s.shutdown_grace, Duration::ZERO);
        assert_eq!(s.log_filter.as_deref(), Some("warn,sqlx=error"));
        for (key, value) in [
            ("RUST_LOG", "info,sqlx=loud"),
            ("RUST_LOG", "=info"),
            ("SHUTDOWN_GRACE_SECS", "soon"),
            ("SHUTDOWN_GRACE_SECS", "3601"),
            ("SHUTDOWN_GRACE_SECS", "-1"),
        ] {
            let err = load(&[(key, value)]).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{key}=\"{value}\" is not valid; expected")),
                "{err}"
            );
        }
    }

    #[test]
    fn postgres_settings_without_a_backend_warn_that_sqlite_is_used() {
        let s = load(&[("DB_HOST", "db.example"), ("DB_PASSWORD", "pw")]).unwrap();
        assert_eq!(s.db.backend, Backend::Sqlite);
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        let w = &s.warnings[0];
        assert!(
            w.contains("DB_HOST and DB_PASSWORD are set but DB_BACKEND is not")
                && w.contains("using SQLite")
                && w.contains("DB_BACKEND=postgresql"),
            "{w}"
        );
        assert!(!w.contains("pw\""), "no secret values: {w}");
        let s = load(&[("DB_HOST", "db.example")]).unwrap();
        assert!(
            s.warnings[0].starts_with("DB_HOST is set"),
            "{:?}",
            s.warnings
        );
        let s = load(&[("DB_HOST", "db.example"), ("DB_BACKEND", "postgresql")]).unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let s = load(&[("DB_BACKEND", "sqlite"), ("DB_PASSWORD", "pw")]).unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert!(load(&[]).unwrap().warnings.is_empty());
    }

    #[test]
    fn the_base_path_is_normalised() {
        assert_eq!(normalise_base_path(""), "");
        assert_eq!(normalise_base_path("/"), "");
        assert_eq!(normalise_base_path("integramon/"), "/integramon");
        assert_eq!(normalise_base_path("/a/b/"), "/a/b");
    }

    #[test]
    fn zero_pool_timeouts_mean_never() {
        let s = load(&[("DB_POOL_IDLE_TIMEOUT", "0"), ("DB_POOL_MAX_LIFETIME", "0")]).unwrap();
        assert_eq!(s.db.pool.idle_timeout, None);
        assert_eq!(s.db.pool.max_lifetime, None);
    }
}
