//! Backups that do not stop the application. SQLite: `VACUUM INTO` makes a consistent copy while
//! writers keep going (it reads one snapshot). PostgreSQL: `pg_dump --format=custom`, printed for
//! the operator's own tooling or run directly. Archive and log directories can ride along.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::connect::Db;
use crate::error::StoreError;
use crate::maintenance::row_counts;
use crate::settings::{Backend, DbSettings};

pub const SQLITE_FILE: &str = "integramon.sqlite3";
pub const PG_DUMP_FILE: &str = "integramon.pgdump";
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Directory to create; it must not exist yet (a backup never overwrites another).
    pub dest: PathBuf,
    /// Copy `${DATA_DIR}/<tenant>/archive/` directories.
    pub archives_from: Option<PathBuf>,
    /// Copy the log directory.
    pub logs_from: Option<PathBuf>,
}

/// What a backup holds, written beside it so a restore can be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at: DateTime<Utc>,
    pub backend: String,
    pub database_file: String,
    pub row_counts: BTreeMap<String, u64>,
    pub archives: bool,
    pub logs: bool,
}

pub async fn backup(db: &Db, opts: &BackupOptions) -> Result<Manifest, StoreError> {
    if opts.dest.exists() {
        return Err(StoreError::Command(format!(
            "{} already exists; a backup never overwrites another, choose a new directory",
            opts.dest.display()
        )));
    }
    std::fs::create_dir_all(&opts.dest).map_err(StoreError::io(format!(
        "creating backup directory {}",
        opts.dest.display()
    )))?;
    // Counted before the copy: with writers running the copy may hold more rows, never fewer
    // committed ones than at this point.
    let counts = row_counts(db).await?;
    let database_file = match db.backend() {
        Backend::Sqlite => {
            let target = opts.dest.join(SQLITE_FILE);
            let sql = format!(
                "VACUUM INTO '{}'",
                target.display().to_string().replace('\'', "''")
            );
            sea_orm::ConnectionTrait::execute_unprepared(db.conn(), &sql).await?;
            SQLITE_FILE.to_string()
        }
        Backend::Postgres { .. } => {
            let target = opts.dest.join(PG_DUMP_FILE);
            run(pg_dump_command(db.settings(), &target)).await?;
            PG_DUMP_FILE.to_string()
        }
    };
    if let Some(data_dir) = &opts.archives_from {
        copy_archives(data_dir, &opts.dest.join("data"))?;
    }
    if let Some(logs) = &opts.logs_from
        && logs.is_dir()
    {
        copy_dir(logs, &opts.dest.join("logs"))?;
    }
    let manifest = Manifest {
        created_at: Utc::now(),
        backend: db.backend().name().to_string(),
        database_file,
        row_counts: counts,
        archives: opts.archives_from.is_some(),
        logs: opts.logs_from.is_some(),
    };
    let body = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| StoreError::Command(format!("encoding the manifest: {e}")))?;
    std::fs::write(opts.dest.join(MANIFEST_FILE), body)
        .map_err(StoreError::io("writing the backup manifest"))?;
    Ok(manifest)
}

pub fn read_manifest(dir: &Path) -> Result<Manifest, StoreError> {
    let bytes = std::fs::read(dir.join(MANIFEST_FILE)).map_err(StoreError::io(format!(
        "reading {}",
        dir.join(MANIFEST_FILE).display()
    )))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        StoreError::Command(format!("{} is not a backup manifest: {e}", dir.display()))
    })
}

/// A command ready to run, with secrets only in its environment (so printing `args` is safe).
#[derive(Debug, Clone)]
pub struct ExternalCommand {
    pub program: String,
    pub args: Vec<String>,
    secret_env: EnvVars,
    pub env: EnvVars,
}

impl ExternalCommand {
    /// The command line as an operator would type it; the password is referred to, never shown.
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .collect();
        if !self.secret_env.is_empty() {
            parts.insert(0, "PGPASSWORD=\"$DB_PASSWORD\"".to_string());
        }
        parts.push(self.program.clone());
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        parts.join(" ")
    }
}

type EnvVars = Vec<(String, String)>;

/// (plain environment, secret environment) for the PostgreSQL client tools.
fn pg_env(settings: &DbSettings) -> (EnvVars, EnvVars) {
    let env = vec![(
        "PGSSLMODE".to_string(),
        settings.sslmode.as_str().to_string(),
    )];
    let secret = settings
        .password
        .iter()
        .map(|p| ("PGPASSWORD".to_string(), p.clone()))
        .collect();
    (env, secret)
}

fn pg_conn_args(settings: &DbSettings) -> Vec<String> {
    vec![
        "--host".into(),
        settings.host.clone(),
        "--port".into(),
        settings.port.to_string(),
        "--username".into(),
        settings.user.clone(),
    ]
}

pub fn pg_dump_command(settings: &DbSettings, target: &Path) -> ExternalCommand {
    let (env, secret_env) = pg_env(settings);
    let mut args = pg_conn_args(settings);
    args.extend([
        "--dbname".into(),
        settings.name.clone(),
        "--format=custom".into(),
        "--no-owner".into(),
        "--file".into(),
        target.display().to_string(),
    ]);
    ExternalCommand {
        program: "pg_dump".into(),
        args,
        secret_env,
        env,
    }
}

pub fn pg_restore_command(settings: &DbSettings, dump: &Path) -> ExternalCommand {
    let (env, secret_env) = pg_env(settings);
    let mut args = pg_conn_args(settings);
    args.extend([
        "--dbname".into(),
        settings.name.clone(),
        "--no-owner".into(),
        "--exit-on-error".into(),
        dump.display().to_string(),
    ]);
    ExternalCommand {
        program: "pg_restore".into(),
        args,
        secret_env,
        env,
    }
}

pub async fn run(cmd: ExternalCommand) -> Result<(), StoreError> {
    let output = tokio::process::Command::new(&cmd.program)
        .args(&cmd.args)
        .envs(cmd.env.iter().cloned())
        .envs(cmd.secret_env.iter().cloned())
        .output()
        .await
        .map_err(StoreError::io(format!(
            "starting {} (is the PostgreSQL client installed?)",
            cmd.program
        )))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(StoreError::Command(format!(
            "{} failed ({}): {}",
            cmd.program,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Restore a SQLite backup into `target`. Refuses to replace an existing database unless
/// `force`; the daemons must be stopped (the file is swapped underneath any open connection).
pub fn restore_sqlite(backup_dir: &Path, target: &Path, force: bool) -> Result<(), StoreError> {
    let source = backup_dir.join(SQLITE_FILE);
    if !source.is_file() {
        return Err(StoreError::Command(format!(
            "{} holds no {SQLITE_FILE}; is it a SQLite backup?",
            backup_dir.display()
        )));
    }
    if target.exists() && !force {
        return Err(StoreError::Command(format!(
            "{} exists; stop IntegraMon and pass --force to replace it",
            target.display()
        )));
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(StoreError::io("creating the database directory"))?;
    }
    let mut tmp = target.as_os_str().to_owned();
    tmp.push(".restoring");
    let tmp = PathBuf::from(tmp);
    std::fs::copy(&source, &tmp).map_err(StoreError::io("copying the backup"))?;
    for suffix in ["-wal", "-shm"] {
        let mut side = target.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
    std::fs::rename(&tmp, target).map_err(StoreError::io("moving the restored database in place"))
}

fn copy_archives(data_dir: &Path, dest: &Path) -> Result<(), StoreError> {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let archive = entry.path().join("archive");
        if archive.is_dir() {
            copy_dir(&archive, &dest.join(entry.file_name()).join("archive"))?;
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(to).map_err(StoreError::io(format!("creating {}", to.display())))?;
    let entries =
        std::fs::read_dir(from).map_err(StoreError::io(format!("reading {}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(StoreError::io(format!("reading {}", from.display())))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)
                .map_err(StoreError::io(format!("copying {}", path.display())))?;
        }
    }
    Ok(())
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_pg_dump_command_never_contains_the_password() {
        let mut s = DbSettings::postgres("db.example", 5433, "im", "im_user");
        s.password = Some("s3cr3t!".into());
        let cmd = pg_dump_command(&s, Path::new("/backups/x/integramon.pgdump"));
        let shown = cmd.display();
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("PGPASSWORD=\"$DB_PASSWORD\""), "{shown}");
        assert!(shown.contains("--host db.example --port 5433"), "{shown}");
        assert!(shown.contains("--format=custom"), "{shown}");
        assert_eq!(
            cmd.secret_env,
            vec![("PGPASSWORD".into(), "s3cr3t!".into())]
        );
    }
}
