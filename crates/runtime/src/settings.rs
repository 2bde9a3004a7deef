//! Layered settings: compiled-in defaults < one optional file < environment. The file is the first
//! present of `INTEGRAMON_CONFIG` (TOML, YAML or JSON by extension), `CONFIG_JSON_B64` (the
//! earlier version's bootstrap JSON, base64) and `/run/secrets/app-config.json`. Keys in a file
//! are the variable names (any case), flat. Values are parsed here, so a bad one names its
//! variable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use config::{Config, File, FileFormat};
use store::settings::{Backend, ChannelBinding, DbSettings, PoolSettings, Source, SslMode};

pub const SECRETS_FILE: &str = "/run/secrets/app-config.json";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Db(#[from] store::settings::SettingsError),
    #[error("{key}={value:?} is not valid; expected {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: &'static str,
    },
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
    /// Which file layer was used, in words.
    pub file_source: Option<String>,
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
            file_source,
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

    /// A typed daemon-specific value; `Ok(None)` when unset.
    pub fn get<T: std::str::FromStr>(
        &self,
        key: &str,
        expected: &'static str,
    ) -> Result<Option<T>, SettingsError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| SettingsError::Invalid {
                    key: key.to_string(),
                    value: v,
                    expected,
                }),
        }
    }

    fn get_or<T: std::str::FromStr>(
        &self,
        key: &str,
        default: T,
        expected: &'static str,
    ) -> Result<T, SettingsError> {
        Ok(self.get(key, expected)?.unwrap_or(default))
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool, SettingsError> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(SettingsError::Invalid {
                    key: key.to_string(),
                    value: v,
                    expected: "true or false",
                }),
            },
        }
    }

    fn secs(&self, key: &str, default: u64) -> Result<Duration, SettingsError> {
        Ok(Duration::from_secs(self.get_or(
            key,
            default,
            "a whole number of seconds",
        )?))
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
                return Err(SettingsError::Invalid {
                    key: "LOG_FORMAT".into(),
                    value: v,
                    expected: "text or json",
                });
            }
        };
        self.log_to_file = self.flag("LOG_TO_FILE", false)?;
        self.migrate_marker = self
            .raw("MIGRATE_MARKER")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.data_dir.join("run").join("migrate.done"));
        self.amqp_url = self
            .raw("AMQP_URL")
            .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
        self.app_base_path = normalise_base_path(&self.raw("APP_BASE_PATH").unwrap_or_default());
        self.frontend_base_url = self.raw("FRONTEND_BASE_URL");
        self.db = self.db_settings()?;
        Ok(())
    }

    fn db_settings(&self) -> Result<DbSettings, SettingsError> {
        let backend = match self.raw("DB_BACKEND") {
            Some(v) => Backend::parse(&v)?,
            None => Backend::Sqlite,
        };
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
            return Err(SettingsError::Invalid {
                key: "DB_POOL_MAX".into(),
                value: format!("{} (DB_POOL_MIN={})", pool.max, pool.min),
                expected: "at least 1 and at least DB_POOL_MIN",
            });
        }
        Ok(DbSettings {
            backend,
            backend_source: self.source_of("DB_BACKEND"),
            sqlite_path: self
                .raw("SQLITE_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| self.data_dir.join("integramon.sqlite3")),
            sqlite_timeout: self.secs("SQLITE_TIMEOUT", 20)?,
            local: self.flag("DB_LOCAL", false)?,
            host: self.raw("DB_HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port: self.get_or("DB_PORT", 5432, "a port number (1-65535)")?,
            name: self.raw("DB_NAME").unwrap_or_else(|| "integramon".into()),
            user: self.raw("DB_USER").unwrap_or_else(|| "integramon".into()),
            password: self.raw("DB_PASSWORD"),
            sslmode,
            sslrootcert: self.raw("DB_SSLROOTCERT").map(PathBuf::from),
            channel_binding,
            connect_timeout: self.secs("DB_CONNECT_TIMEOUT", 10)?,
            wait_timeout: self.secs("DB_WAIT_TIMEOUT", 60)?,
            pool,
        })
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
        let path = self
            .raw("SECRET_KEY_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.data_dir.join("secret.key"));
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
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // create_new: when two processes start at once, one writes and the other reads its key.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(key.to_base64().as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| bad(format!("cannot write {}: {e}", path.display())))?;
                tracing::info!(path = %path.display(), "created the secret key for tenant credentials");
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // The other process may still be writing it.
                std::thread::sleep(std::time::Duration::from_millis(50));
                read(&path)
            }
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

fn normalise_base_path(raw: &str) -> String {
    let trimmed = raw.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

type FileLayer = (HashMap<String, String>, Option<String>);

fn file_layer(env: &HashMap<String, String>) -> Result<FileLayer, SettingsError> {
    let nonempty = |k: &str| env.get(k).filter(|v| !v.trim().is_empty()).cloned();
    if let Some(path) = nonempty("INTEGRAMON_CONFIG") {
        let format = match Path::new(&path).extension().and_then(|e| e.to_str()) {
            Some("toml") => FileFormat::Toml,
            Some("yaml" | "yml") => FileFormat::Yaml,
            Some("json") => FileFormat::Json,
            _ => {
                return Err(SettingsError::Invalid {
                    key: "INTEGRAMON_CONFIG".into(),
                    value: path,
                    expected: "a .toml, .yaml, .yml or .json file",
                });
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|e| SettingsError::Unreadable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let name = format!("INTEGRAMON_CONFIG={path}");
        return Ok((flat_values(text, format, &name)?, Some(name)));
    }
    if let Some(b64) = nonempty("CONFIG_JSON_B64") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| SettingsError::BadBase64(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| SettingsError::BadFile {
            source_name: "CONFIG_JSON_B64".into(),
            format: "JSON",
            reason: "not UTF-8".into(),
        })?;
        let name = "CONFIG_JSON_B64".to_string();
        return Ok((flat_values(text, FileFormat::Json, &name)?, Some(name)));
    }
    let secrets = nonempty("APP_CONFIG_FILE").unwrap_or_else(|| SECRETS_FILE.to_string());
    if Path::new(&secrets).is_file() {
        let text = std::fs::read_to_string(&secrets).map_err(|e| SettingsError::Unreadable {
            path: secrets.clone(),
            reason: e.to_string(),
        })?;
        return Ok((
            flat_values(text, FileFormat::Json, &secrets)?,
            Some(secrets),
        ));
    }
    Ok((HashMap::new(), None))
}

/// Parse a settings file with the `config` crate into flat, lower-cased keys. A broken file stops
/// start-up with its own error rather than a vague one later.
fn flat_values(
    text: String,
    format: FileFormat,
    name: &str,
) -> Result<HashMap<String, String>, SettingsError> {
    let bad = |reason: String| SettingsError::BadFile {
        source_name: name.to_string(),
        format: match format {
            FileFormat::Toml => "TOML",
            FileFormat::Yaml => "YAML",
            _ => "JSON",
        },
        reason,
    };
    if format == FileFormat::Json {
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if !value.is_object() {
            return Err(bad("expected a JSON object of settings".into()));
        }
    }
    let parsed = Config::builder()
        .add_source(File::from_str(&text, format))
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let table: HashMap<String, config::Value> =
        parsed.try_deserialize().map_err(|e| bad(e.to_string()))?;
    let mut values = HashMap::new();
    for (key, value) in table {
        let text = value.into_string().map_err(|_| {
            bad(format!(
                "{key} must be a plain value (text, number or boolean), not a list or table"
            ))
        })?;
        values.insert(key.to_ascii_lowercase(), text);
    }
    Ok(values)
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
