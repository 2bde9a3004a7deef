//! The shared settings as `integramon config` shows them: typed values, secrets masked, each
//! with where it came from.

use domain::setting::{Entry, mask_url};
use store::settings::Source;

use super::Settings;

impl Settings {
    /// Every shared setting, resolved (secrets masked).
    pub fn entries(&self) -> Vec<Entry> {
        let db = &self.db;
        let path = |p: &std::path::Path| p.display().to_string();
        vec![
            Entry::new("DATA_DIR", path(&self.data_dir)),
            Entry::new("LOG_DIR", path(&self.log_dir)),
            Entry::new(
                "LOG_FORMAT",
                match self.log_format {
                    super::LogFormat::Text => "text",
                    super::LogFormat::Json => "json",
                },
            ),
            Entry::new("LOG_TO_FILE", self.log_to_file),
            Entry::optional("RUST_LOG", self.log_filter.as_deref()),
            Entry::secs("SHUTDOWN_GRACE_SECS", self.shutdown_grace),
            Entry::new("MIGRATE_MARKER", path(&self.migrate_marker)),
            Entry::new("APP_BASE_PATH", &self.app_base_path),
            Entry::optional("FRONTEND_BASE_URL", self.frontend_base_url.as_deref()),
            Entry::new("OUTBOUND_DENY_PRIVATE", self.outbound_deny_private),
            Entry::secret("SECRET_KEY", self.secret_key_from_env()),
            Entry::new("SECRET_KEY_FILE", path(&self.secret_key_file())),
            Entry::new("DB_BACKEND", db.backend.name()),
            Entry::new("DB_LOCAL", db.local),
            Entry::new("SQLITE_PATH", path(&db.sqlite_path)),
            Entry::secs("SQLITE_TIMEOUT", db.sqlite_timeout),
            Entry::new("DB_HOST", &db.host),
            Entry::new("DB_PORT", db.port),
            Entry::new("DB_NAME", &db.name),
            Entry::new("DB_USER", &db.user),
            Entry::secret("DB_PASSWORD", db.password.is_some()),
            Entry::new("DB_SSLMODE", db.sslmode.as_str()),
            Entry::optional(
                "DB_SSLROOTCERT",
                db.sslrootcert.as_deref().map(|p| p.display().to_string()),
            ),
            Entry::new(
                "DB_CHANNEL_BINDING",
                format!("{:?}", db.channel_binding).to_lowercase(),
            ),
            Entry::secs("DB_CONNECT_TIMEOUT", db.connect_timeout),
            Entry::secs("DB_WAIT_TIMEOUT", db.wait_timeout),
            Entry::new("DB_POOL_MAX", db.pool.max),
            Entry::new("DB_POOL_MIN", db.pool.min),
            Entry::secs("DB_POOL_ACQUIRE_TIMEOUT", db.pool.acquire_timeout),
            Entry::secs(
                "DB_POOL_IDLE_TIMEOUT",
                db.pool.idle_timeout.unwrap_or_default(),
            ),
            Entry::secs(
                "DB_POOL_MAX_LIFETIME",
                db.pool.max_lifetime.unwrap_or_default(),
            ),
            Entry::new("DB_PGBOUNCER", db.pool.pgbouncer),
            // Already combined with AMQP_PASSWORD; the queue's own entries repeat it masked.
            Entry::new("AMQP_URL", mask_url(&self.amqp_url)),
        ]
    }

    /// Where a shown value came from, in words (`default`, `environment`, `config file …`). A
    /// secret read from `KEY_FILE` counts as that variable's.
    pub fn source_label(&self, key: &str) -> String {
        let file_key = format!("{key}_FILE");
        match self.source_of(key) {
            Source::Default if self.raw(&file_key).is_some() => {
                format!("{} ({file_key})", self.source_of(&file_key))
            }
            source => source.to_string(),
        }
    }

    /// Every line of `integramon config`: the shared settings and then `more` (the daemons'
    /// own), each `KEY = value (source)`, aligned.
    pub fn render(&self, more: &[Entry]) -> String {
        let mut entries = self.entries();
        for e in more {
            // The queue's entries repeat AMQP_URL; one line per variable.
            if !entries.iter().any(|x| x.key == e.key) {
                entries.push(e.clone());
            }
        }
        let width = entries.iter().map(|e| e.key.len()).max().unwrap_or(0);
        let mut out = String::new();
        if let Some(file) = &self.file_source {
            out.push_str(&format!("# config file: {file}\n"));
        }
        // What the DB_* lines add up to, as every daemon logs it at start.
        out.push_str(&format!("# database: {}\n", self.db.target()));
        for e in entries {
            out.push_str(&format!(
                "{:<width$} = {}  ({})\n",
                e.key,
                e.value,
                self.source_label(e.key)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_sources_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("im.toml");
        std::fs::write(
            &file,
            "DB_BACKEND = \"postgresql\"\nDB_PASSWORD = \"file-pw\"\n",
        )
        .unwrap();
        let pw = dir.path().join("amqp");
        std::fs::write(&pw, "amqp-pw\n").unwrap();
        let env = [
            ("INTEGRAMON_CONFIG", file.display().to_string()),
            ("DB_PORT", "6543".to_string()),
            ("AMQP_URL", "amqp://im@rabbit/%2f".to_string()),
            ("AMQP_PASSWORD_FILE", pw.display().to_string()),
            ("SECRET_KEY", "k".repeat(44)),
        ];
        let s = Settings::from_env(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
        .unwrap();
        let text = s.render(&[Entry::new("EXTRA", 1)]);
        for secret in ["file-pw", "amqp-pw", &"k".repeat(44)] {
            assert!(!text.contains(secret), "{text}");
        }
        let line = |key: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("{key} ")))
                .unwrap_or_else(|| panic!("{key} missing:\n{text}"))
                .to_string()
        };
        assert!(line("DB_BACKEND").contains("= postgresql  (config file INTEGRAMON_CONFIG="));
        assert!(line("DB_PASSWORD").contains("= ***  (config file"));
        assert!(line("DB_PORT").ends_with("= 6543  (environment)"));
        assert!(line("DB_NAME").ends_with("= integramon  (default)"));
        assert!(line("SECRET_KEY").contains("= ***  (environment)"));
        assert!(line("AMQP_URL").contains("amqp://im:***@rabbit/%2f"));
        assert!(line("EXTRA").ends_with("= 1  (default)"));
    }
}
