//! The internal PostgreSQL of `DB_LOCAL=true`: a cluster in `${DATA_DIR}/postgres` run with the
//! machine's PostgreSQL binaries. `ensure` is idempotent: it creates the cluster if missing,
//! closes its access rules ([`access`]), starts it if stopped, sets the `DB_USER` password to
//! `DB_PASSWORD` and creates `DB_NAME`. [`LocalCluster::supervise`] keeps it running for its
//! owner. PostgreSQL refuses to run as root, so as root every server command runs as an
//! unprivileged OS user (`DB_LOCAL_OS_USER`, default `postgres`) through `runuser`.

mod access;
mod supervise;

pub use access::{load_or_create_password, password_file};

use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::{ConnectionTrait, SqlxPostgresConnector, Statement};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::error::StoreError;
use crate::settings::DbSettings;

#[derive(Debug, Clone)]
pub struct LocalCluster {
    pub data_dir: PathBuf,
    /// Unix socket directory; kept short because socket paths are limited to ~100 bytes.
    pub socket_dir: PathBuf,
    pub log_file: PathBuf,
    pub bin_dir: Option<PathBuf>,
    pub os_user: String,
    pub listen_addresses: String,
}

impl LocalCluster {
    pub fn under(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.join("postgres"),
            socket_dir: data_dir.join("pg-run"),
            log_file: data_dir.join("postgres.log"),
            bin_dir: None,
            os_user: "postgres".into(),
            listen_addresses: "127.0.0.1".into(),
        }
    }

    fn program(&self, name: &str) -> Result<PathBuf, StoreError> {
        if let Some(dir) = &self.bin_dir {
            return Ok(dir.join(name));
        }
        if let Some(p) = find_on_path(name) {
            return Ok(p);
        }
        // Debian keeps server binaries out of PATH, one directory per major version.
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin").join(name))
            .filter(|p| p.is_file())
            .collect();
        versions.sort();
        versions.pop().ok_or_else(|| {
            StoreError::Command(format!(
                "DB_LOCAL=true needs the PostgreSQL server binaries, but {name} was not found on \
                 PATH or under /usr/lib/postgresql/*/bin; install PostgreSQL or set PG_BIN_DIR"
            ))
        })
    }

    fn as_root(&self) -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// Run a server binary, as the unprivileged OS user when we are root.
    async fn run(&self, name: &str, args: &[String]) -> Result<std::process::Output, StoreError> {
        let program = self.program(name)?;
        let mut cmd = if self.as_root() {
            let mut c = tokio::process::Command::new("runuser");
            c.arg("-u").arg(&self.os_user).arg("--").arg(&program);
            c
        } else {
            tokio::process::Command::new(&program)
        };
        cmd.args(args).current_dir("/");
        cmd.output()
            .await
            .map_err(StoreError::io(format!("running {}", program.display())))
    }

    async fn run_ok(&self, name: &str, args: &[String]) -> Result<(), StoreError> {
        let out = self.run(name, args).await?;
        if out.status.success() {
            Ok(())
        } else {
            Err(StoreError::Command(format!(
                "{name} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            )))
        }
    }

    /// The OS user that runs the server, when we are root (otherwise we are that user).
    fn server_user(&self) -> Result<Option<nix::unistd::User>, StoreError> {
        if !self.as_root() {
            return Ok(None);
        }
        nix::unistd::User::from_name(&self.os_user)
            .ok()
            .flatten()
            .map(Some)
            .ok_or_else(|| {
                StoreError::Command(format!(
                    "running as root, DB_LOCAL needs the OS user {:?} to own the cluster, and \
                     it does not exist (set DB_LOCAL_OS_USER)",
                    self.os_user
                ))
            })
    }

    /// Hand a file or directory to the server's OS user (a no-op unless we are root).
    fn give_to_os_user(&self, p: &Path) -> Result<(), StoreError> {
        if let Some(user) = self.server_user()? {
            nix::unistd::chown(p, Some(user.uid), Some(user.gid))
                .map_err(|e| StoreError::Command(format!("chown {}: {e}", p.display())))?;
        }
        Ok(())
    }

    fn prepare_dirs(&self) -> Result<(), StoreError> {
        for dir in [&self.data_dir, &self.socket_dir] {
            std::fs::create_dir_all(dir)
                .map_err(StoreError::io(format!("creating {}", dir.display())))?;
        }
        if self.as_root() && !self.log_file.exists() {
            std::fs::write(&self.log_file, b"").map_err(StoreError::io("creating log"))?;
        }
        for p in [&self.data_dir, &self.socket_dir] {
            self.give_to_os_user(p)?;
        }
        if self.log_file.exists() {
            self.give_to_os_user(&self.log_file)?;
        }
        use std::os::unix::fs::PermissionsExt;
        // The socket directory is the server user's alone: no other local user reaches the
        // socket at all (the socket itself is 0700 too, see `start`).
        for dir in [&self.data_dir, &self.socket_dir] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
                StoreError::io(format!("setting permissions of {}", dir.display())),
            )?;
        }
        Ok(())
    }

    pub fn is_initialised(&self) -> bool {
        self.data_dir.join("PG_VERSION").is_file()
    }

    pub async fn is_running(&self) -> Result<bool, StoreError> {
        let out = self
            .run(
                "pg_ctl",
                &["status".into(), "-D".into(), path(&self.data_dir)],
            )
            .await?;
        Ok(out.status.success())
    }

    /// Make sure the cluster exists and runs on `settings.port`, and that `DB_USER`/`DB_NAME`
    /// exist with `DB_PASSWORD`. Safe to call again and again.
    pub async fn ensure(&self, settings: &DbSettings) -> Result<Vec<String>, StoreError> {
        if settings.password.as_deref().is_none_or(str::is_empty) {
            // TCP sign-in needs a password; without one the application could never connect.
            return Err(StoreError::Command(format!(
                "DB_LOCAL=true needs a password for {}: set DB_PASSWORD (or let the settings \
                 generate {})",
                settings.user,
                password_file(self.data_dir.parent().unwrap_or(&self.data_dir)).display()
            )));
        }
        let mut done = Vec::new();
        self.prepare_dirs()?;
        if !self.is_initialised() {
            self.run_ok(
                "initdb",
                &[
                    "-D".into(),
                    path(&self.data_dir),
                    "--username=postgres".into(),
                    "--encoding=UTF8".into(),
                    "--auth-local=peer".into(),
                    "--auth-host=scram-sha-256".into(),
                ],
            )
            .await?;
            done.push(format!("created cluster in {}", self.data_dir.display()));
        }
        self.write_access_rules()?;
        if self.is_running().await? {
            // A server started by an older version reads the new rules now.
            self.run_ok(
                "pg_ctl",
                &["reload".into(), "-D".into(), path(&self.data_dir)],
            )
            .await?;
        } else {
            self.start(settings).await?;
            done.push(format!("started PostgreSQL on port {}", settings.port));
        }
        done.extend(self.provision(settings).await?);
        Ok(done)
    }

    /// Start the server (it must be initialised) and wait until it accepts connections.
    pub(crate) async fn start(&self, settings: &DbSettings) -> Result<(), StoreError> {
        // pg_ctl hands -o to the shell: every value is quoted, so a DATA_DIR with spaces or a
        // listen list like "127.0.0.1, ::1" works.
        let quote = |v: &str| format!("'{}'", v.replace('\'', r"'\''"));
        let opts = format!(
            "-p {} -k {} -c unix_socket_permissions=0700 -c listen_addresses={}",
            settings.port,
            quote(&path(&self.socket_dir)),
            quote(&self.listen_addresses)
        );
        self.run_ok(
            "pg_ctl",
            &[
                "start".into(),
                "-w".into(),
                "-t".into(),
                "60".into(),
                "-D".into(),
                path(&self.data_dir),
                "-l".into(),
                path(&self.log_file),
                "-o".into(),
                opts,
            ],
        )
        .await
    }

    /// Role and database, over the Unix socket as the cluster's superuser (peer authentication:
    /// this process runs as the server's OS user or as root).
    async fn provision(&self, settings: &DbSettings) -> Result<Vec<String>, StoreError> {
        let opts = PgConnectOptions::new_without_pgpass()
            .socket(&self.socket_dir)
            .port(settings.port)
            .username("postgres")
            .database("postgres");
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Unreachable(format!("local cluster socket: {e}")))?;
        let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        let mut done = Vec::new();
        let ident = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let exists = |sql: String| {
            let db = &db;
            async move {
                Ok::<bool, StoreError>(
                    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                        .await?
                        .is_some(),
                )
            }
        };
        let role_exists = exists(format!(
            "SELECT 1 FROM pg_roles WHERE rolname = {}",
            literal(&settings.user)
        ))
        .await?;
        let password = format!(
            "PASSWORD {}",
            literal(settings.password.as_deref().unwrap_or_default())
        );
        let verb = if role_exists { "ALTER" } else { "CREATE" };
        db.execute_unprepared(&format!(
            "{verb} ROLE {} WITH LOGIN {password}",
            ident(&settings.user)
        ))
        .await?;
        done.push(format!(
            "{} role {} and set its password",
            if role_exists { "updated" } else { "created" },
            settings.user
        ));
        let db_exists = exists(format!(
            "SELECT 1 FROM pg_database WHERE datname = {}",
            literal(&settings.name)
        ))
        .await?;
        if !db_exists {
            db.execute_unprepared(&format!(
                "CREATE DATABASE {} OWNER {}",
                ident(&settings.name),
                ident(&settings.user)
            ))
            .await?;
            done.push(format!("created database {}", settings.name));
        }
        let _ = db.close().await;
        Ok(done)
    }

    pub async fn stop(&self) -> Result<(), StoreError> {
        if self.is_running().await? {
            self.run_ok(
                "pg_ctl",
                &[
                    "stop".into(),
                    "-w".into(),
                    "-m".into(),
                    "fast".into(),
                    "-D".into(),
                    path(&self.data_dir),
                ],
            )
            .await?;
        }
        Ok(())
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}
