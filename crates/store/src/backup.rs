//! Backups that do not stop the application. SQLite: `VACUUM INTO` makes a consistent copy while
//! writers keep going (it reads one snapshot). PostgreSQL: `pg_dump --format=custom` of an
//! exported snapshot, printed for the operator's own tooling or run directly. The key that seals
//! tenant secrets, archive and log directories ride along.
//!
//! The manifest records what was copied: row counts of the copy itself (SQLite: counted in the
//! copied file; PostgreSQL: counted inside the very snapshot `pg_dump` dumps), the copy's
//! SHA-256 and the key's fingerprint, so a restore can check it exactly. A backup is written to
//! `<dest>.partial` and renamed into place when complete: a failed one leaves nothing behind.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sea_orm::{AccessMode, ConnectionTrait, IsolationLevel, TransactionTrait};
use serde::{Deserialize, Serialize};

use crate::connect::Db;
use crate::error::StoreError;
use crate::maintenance::row_counts_on;
use crate::settings::{Backend, DbSettings};

pub const SQLITE_FILE: &str = "integramon.sqlite3";
pub const PG_DUMP_FILE: &str = "integramon.pgdump";
pub const MANIFEST_FILE: &str = "manifest.json";
/// The tenant-secret key in a backup (base64, as in `DATA_DIR/secret.key`), mode 0600.
pub const KEY_FILE: &str = "secret.key";
/// Manifests this code writes: 2 counts the copy; 1 counted before it (at least that many).
pub const MANIFEST_VERSION: u32 = 2;

#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Directory to create; it must not exist yet (a backup never overwrites another).
    pub dest: PathBuf,
    /// `DATA_DIR`, to copy its archive files (`archives/`, and directories of the old
    /// `<tenant>/archive/` layout not moved yet).
    pub archives_from: Option<PathBuf>,
    /// Copy the log directory.
    pub logs_from: Option<PathBuf>,
    /// The key that seals tenant secrets, base64: without it a restored database's tenant
    /// credentials cannot be decrypted.
    pub secret_key: Option<String>,
}

fn version_1() -> u32 {
    1
}

/// What a backup holds, written beside it so a restore can be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default = "version_1")]
    pub version: u32,
    pub created_at: DateTime<Utc>,
    pub backend: String,
    pub database_file: String,
    /// Hex SHA-256 of `database_file`.
    #[serde(default)]
    pub database_sha256: Option<String>,
    /// Rows per table in the copy.
    pub row_counts: BTreeMap<String, u64>,
    pub archives: bool,
    /// Archive files copied.
    #[serde(default)]
    pub archive_files: u64,
    pub logs: bool,
    /// Whether `secret.key` is in the backup.
    #[serde(default)]
    pub secret_key: bool,
    /// SHA-256 of the key text: tells whether an installation's key is the backup's, without
    /// holding the key.
    #[serde(default)]
    pub secret_key_sha256: Option<String>,
}

impl Manifest {
    pub fn is_sqlite(&self) -> bool {
        self.backend == Backend::Sqlite.name()
    }
}

pub async fn backup(db: &Db, opts: &BackupOptions) -> Result<Manifest, StoreError> {
    if opts.dest.exists() {
        return Err(StoreError::Command(format!(
            "{} already exists; a backup never overwrites another, choose a new directory",
            opts.dest.display()
        )));
    }
    let work = partial_dir(&opts.dest);
    if work.exists() {
        return Err(StoreError::Command(format!(
            "{} exists: an interrupted backup; remove it, then try again",
            work.display()
        )));
    }
    if let Some(parent) = opts.dest.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(StoreError::io(format!(
            "creating the directory of the backup {}",
            parent.display()
        )))?;
    }
    // Owner only: the backup holds the key and, with it, every tenant's credentials.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&work)
        .map_err(StoreError::io(format!(
            "creating backup directory {}",
            work.display()
        )))?;
    let result = match write_backup(db, opts, &work).await {
        Ok(m) => std::fs::rename(&work, &opts.dest)
            .map(|()| m)
            .map_err(StoreError::io(format!(
                "moving the backup into place at {}",
                opts.dest.display()
            ))),
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

fn partial_dir(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

async fn write_backup(db: &Db, opts: &BackupOptions, work: &Path) -> Result<Manifest, StoreError> {
    let (database_file, row_counts) = match db.backend() {
        Backend::Sqlite => {
            let target = work.join(SQLITE_FILE);
            let sql = format!(
                "VACUUM INTO '{}'",
                target.display().to_string().replace('\'', "''")
            );
            db.conn().execute_unprepared(&sql).await?;
            (SQLITE_FILE.to_string(), sqlite_file_counts(&target).await?)
        }
        Backend::Postgres { .. } => {
            let target = work.join(PG_DUMP_FILE);
            (
                PG_DUMP_FILE.to_string(),
                pg_dump_counted(db, &target).await?,
            )
        }
    };
    let database_sha256 = Some(file_sha256(&work.join(&database_file))?);
    let secret_key_sha256 = match &opts.secret_key {
        Some(key) => {
            write_private(&work.join(KEY_FILE), key.trim().as_bytes())?;
            Some(text_sha256(key.trim()))
        }
        None => None,
    };
    let mut archive_files = 0;
    if let Some(data_dir) = &opts.archives_from {
        archive_files = copy_archives(data_dir, &work.join("data"))?;
    }
    if let Some(logs) = &opts.logs_from
        && logs.is_dir()
    {
        copy_dir(logs, &work.join("logs"))?;
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        created_at: Utc::now(),
        backend: db.backend().name().to_string(),
        database_file,
        database_sha256,
        row_counts,
        archives: opts.archives_from.is_some(),
        archive_files,
        logs: opts.logs_from.is_some(),
        secret_key: opts.secret_key.is_some(),
        secret_key_sha256,
    };
    let body = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| StoreError::Command(format!("encoding the manifest: {e}")))?;
    write_private(&work.join(MANIFEST_FILE), &body)?;
    Ok(manifest)
}

/// Rows per table of the SQLite copy, opened read-only (nothing in it changes).
async fn sqlite_file_counts(path: &Path) -> Result<BTreeMap<String, u64>, StoreError> {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .map_err(|e| StoreError::Command(format!("opening the copy {}: {e}", path.display())))?;
    let conn = sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
    let counts = row_counts_on(&conn, sea_orm::DbBackend::Sqlite).await;
    let _ = conn.close().await;
    counts
}

/// `pg_dump` of a snapshot exported by a read-only repeatable-read transaction, and the rows
/// counted in that same transaction: the counts are exactly what the dump holds.
async fn pg_dump_counted(db: &Db, target: &Path) -> Result<BTreeMap<String, u64>, StoreError> {
    let txn = db
        .conn()
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await?;
    let row = txn
        .query_one_raw(sea_orm::Statement::from_string(
            db.db_backend(),
            "SELECT pg_export_snapshot()".to_string(),
        ))
        .await?
        .ok_or_else(|| StoreError::Command("pg_export_snapshot returned nothing".into()))?;
    let snapshot: String = row.try_get_by_index(0)?;
    let mut cmd = pg_dump_command(db.settings(), target);
    cmd.args.push(format!("--snapshot={snapshot}"));
    run(cmd).await?;
    let counts = row_counts_on(&txn, db.db_backend()).await?;
    txn.commit().await?;
    Ok(counts)
}

/// Write a file only its owner can read, and sync it.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let what = format!("writing {}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(StoreError::io(what.clone()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(StoreError::io(what))
}

/// Hex SHA-256 of a file.
pub fn file_sha256(path: &Path) -> Result<String, StoreError> {
    crate::repo::archives::file_sha256(path)
        .map_err(StoreError::io(format!("reading {}", path.display())))
}

/// Hex SHA-256 of a key's text: its fingerprint in a manifest.
pub fn text_sha256(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.trim().as_bytes()))
}

/// Check a backup before anything is restored from it: it is one of `backend`'s, and its
/// database file is the one the manifest records.
pub fn check_backup(dir: &Path, manifest: &Manifest, backend: Backend) -> Result<(), StoreError> {
    let wanted_sqlite = matches!(backend, Backend::Sqlite);
    if manifest.is_sqlite() != wanted_sqlite {
        let (from, into) = if manifest.is_sqlite() {
            ("SQLite", "PostgreSQL")
        } else {
            ("PostgreSQL", "SQLite")
        };
        return Err(StoreError::Command(format!(
            "{} is a {from} backup ({}), but the configured database is {into}: a backup \
             restores only into the backend it was taken from. Restore it with the {from} \
             settings it came from (DB_BACKEND={}); IntegraMon has no conversion between \
             backends. Nothing was changed",
            dir.display(),
            manifest.database_file,
            if manifest.is_sqlite() {
                "sqlite"
            } else {
                "postgres"
            },
        )));
    }
    let file = dir.join(&manifest.database_file);
    if !file.is_file() {
        return Err(StoreError::Command(format!(
            "{} is missing from the backup; nothing was changed",
            file.display()
        )));
    }
    if let Some(expected) = &manifest.database_sha256 {
        let found = file_sha256(&file)?;
        if &found != expected {
            return Err(StoreError::Command(format!(
                "{} does not match the manifest (SHA-256 {found}, recorded {expected}): the \
                 backup is damaged or was changed; nothing was changed",
                file.display()
            )));
        }
    }
    Ok(())
}

/// Differences between the restored database's row counts and the manifest's: every table
/// must hold exactly the recorded rows (a version-1 manifest counted before its copy, so at
/// least them). Empty when they match.
pub fn count_mismatches(manifest: &Manifest, restored: &BTreeMap<String, u64>) -> Vec<String> {
    let mut out = Vec::new();
    let tables: std::collections::BTreeSet<&String> =
        manifest.row_counts.keys().chain(restored.keys()).collect();
    for table in tables {
        let got = restored.get(table).copied().unwrap_or(0);
        let expected = manifest.row_counts.get(table).copied().unwrap_or(0);
        let ok = if manifest.version >= 2 {
            got == expected
        } else {
            got >= expected
        };
        if !ok {
            out.push(format!("{table}: {got} rows, backup recorded {expected}"));
        }
    }
    out
}

/// Copy a backup's archive files into `data_dir`, where they were: `archives/…` (and old
/// `<tenant>/archive/…` directories). A file already there with the same bytes is skipped; one
/// with other bytes is never overwritten (an error names it). Returns files copied.
pub fn restore_archives(backup_dir: &Path, data_dir: &Path) -> Result<u64, StoreError> {
    let from = backup_dir.join("data");
    if !from.is_dir() {
        return Ok(0);
    }
    let mut files = Vec::new();
    list_files(&from, &mut files)?;
    let mut copied = 0;
    for file in files {
        let rel = file.strip_prefix(&from).unwrap_or(&file);
        let target = data_dir.join(rel);
        if target.exists() {
            if file_sha256(&target)? == file_sha256(&file)? {
                continue;
            }
            return Err(StoreError::Command(format!(
                "{} exists with other content than the backup's copy; it is not overwritten. \
                 Move it aside and restore again",
                target.display()
            )));
        }
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)
                .map_err(StoreError::io(format!("creating {}", dir.display())))?;
        }
        let mut tmp = target.as_os_str().to_owned();
        tmp.push(".restoring");
        let tmp = PathBuf::from(tmp);
        std::fs::copy(&file, &tmp)
            .map_err(StoreError::io(format!("copying {}", file.display())))?;
        std::fs::rename(&tmp, &target).map_err(StoreError::io(format!(
            "moving {} in place",
            target.display()
        )))?;
        copied += 1;
    }
    Ok(copied)
}

fn list_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    let entries =
        std::fs::read_dir(dir).map_err(StoreError::io(format!("reading {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(StoreError::io(format!("reading {}", dir.display())))?;
        let path = entry.path();
        if path.is_dir() {
            list_files(&path, out)?;
        } else if path.file_name().is_some_and(|n| n != ".lock") {
            out.push(path);
        }
    }
    Ok(())
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
    let mut env = vec![(
        "PGSSLMODE".to_string(),
        settings.sslmode.as_str().to_string(),
    )];
    // verify-ca/verify-full need the CA: libpq looks in ~/.postgresql/root.crt otherwise.
    if let Some(cert) = &settings.sslrootcert {
        env.push(("PGSSLROOTCERT".to_string(), cert.display().to_string()));
    }
    env.push((
        "PGCONNECT_TIMEOUT".to_string(),
        settings.connect_timeout.as_secs().max(1).to_string(),
    ));
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

/// `DATA_DIR/archives/` and any old-layout `DATA_DIR/<tenant>/archive/`; returns files copied.
fn copy_archives(data_dir: &Path, dest: &Path) -> Result<u64, StoreError> {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return Ok(0);
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name == domain::archive::ARCHIVES_DIR {
            n += copy_dir(&entry.path(), &dest.join(&name))?;
            continue;
        }
        let archive = entry.path().join("archive");
        if archive.is_dir() {
            n += copy_dir(&archive, &dest.join(&name).join("archive"))?;
        }
    }
    Ok(n)
}

/// Copy a directory tree (lock files left out); returns files copied.
fn copy_dir(from: &Path, to: &Path) -> Result<u64, StoreError> {
    std::fs::create_dir_all(to).map_err(StoreError::io(format!("creating {}", to.display())))?;
    let entries =
        std::fs::read_dir(from).map_err(StoreError::io(format!("reading {}", from.display())))?;
    let mut n = 0;
    for entry in entries {
        let entry = entry.map_err(StoreError::io(format!("reading {}", from.display())))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            n += copy_dir(&path, &target)?;
        } else if entry.file_name() != ".lock" {
            std::fs::copy(&path, &target)
                .map_err(StoreError::io(format!("copying {}", path.display())))?;
            n += 1;
        }
    }
    Ok(n)
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

    #[test]
    fn pg_tools_get_the_root_certificate() {
        let mut s = DbSettings::postgres("db.example", 5433, "im", "im_user");
        s.sslrootcert = Some(PathBuf::from("/certs/ca.pem"));
        for cmd in [
            pg_dump_command(&s, Path::new("/b/x.pgdump")),
            pg_restore_command(&s, Path::new("/b/x.pgdump")),
        ] {
            assert!(
                cmd.env
                    .contains(&("PGSSLROOTCERT".into(), "/certs/ca.pem".into())),
                "{:?}",
                cmd.env
            );
        }
    }

    #[test]
    fn counts_must_match_exactly_and_version_1_at_least() {
        let mut m = Manifest {
            version: MANIFEST_VERSION,
            created_at: Utc::now(),
            backend: "sqlite".into(),
            database_file: SQLITE_FILE.into(),
            database_sha256: None,
            row_counts: BTreeMap::from([("a".into(), 5), ("b".into(), 0)]),
            archives: false,
            archive_files: 0,
            logs: false,
            secret_key: false,
            secret_key_sha256: None,
        };
        let exact = BTreeMap::from([("a".into(), 5), ("b".into(), 0)]);
        assert!(count_mismatches(&m, &exact).is_empty());
        let more = BTreeMap::from([("a".into(), 6), ("b".into(), 0), ("c".into(), 1)]);
        assert_eq!(count_mismatches(&m, &more).len(), 2);
        m.version = 1;
        assert!(
            count_mismatches(&m, &more).is_empty(),
            "at least, for version 1"
        );
        let fewer = BTreeMap::from([("a".into(), 4)]);
        assert_eq!(count_mismatches(&m, &fewer).len(), 1);
    }
}
