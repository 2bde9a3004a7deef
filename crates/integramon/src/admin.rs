//! Admin commands over the store: database status, maintenance, backup and restore, settings.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use migration::Migrator;
use runtime::Settings;
use store::backup::{self, BackupOptions};
use store::maintenance::{self, MaintenanceOptions};
use store::schema;

pub async fn status(settings: &Settings) -> anyhow::Result<()> {
    let db = integramon_migrate::wait_for_database(settings).await?;
    let rows = schema::status::<Migrator>(&db).await?;
    let pending = rows.iter().filter(|r| !r.applied).count();
    println!(
        "backend:  {} ({})",
        settings.db.backend.name(),
        settings.db.target()
    );
    println!("chosen by {}", settings.db.backend_source);
    println!(
        "schema:   {} applied, {pending} pending",
        rows.len() - pending
    );
    println!("size:     {} bytes", maintenance::database_size(&db).await?);
    for (table, n) in maintenance::row_counts(&db).await? {
        println!("  {table:<32} {n:>12} rows");
    }
    db.close().await;
    Ok(())
}

pub async fn maintain(settings: &Settings, opts: MaintenanceOptions) -> anyhow::Result<()> {
    if opts.full && settings.db.backend.is_postgres() {
        eprintln!(
            "VACUUM FULL takes an ACCESS EXCLUSIVE lock on each table while it rewrites it: \
             ingestion and the UI wait on those tables until it finishes."
        );
    }
    let db = integramon_migrate::wait_for_database(settings).await?;
    let report = maintenance::maintain(&db, &opts).await;
    db.close().await;
    let report = report?;
    for step in &report.steps {
        println!("done: {step}");
    }
    println!(
        "database size: {} -> {} bytes",
        report.size_before, report.size_after
    );
    Ok(())
}

pub struct BackupArgs {
    pub dest: Option<PathBuf>,
    pub with_archives: bool,
    pub with_logs: bool,
    /// Leave `secret.key` out (the operator keeps the key elsewhere).
    pub without_secret_key: bool,
    /// PostgreSQL: print the pg_dump command instead of running it.
    pub print_only: bool,
}

/// The installation's tenant-secret key as text, if it has one (`SECRET_KEY`, or the key file
/// when it exists: a backup never creates one).
fn current_key(settings: &Settings) -> anyhow::Result<Option<String>> {
    if settings.secret_key_from_env() || settings.secret_key_file().exists() {
        return Ok(Some(settings.secret_key()?.to_base64()));
    }
    Ok(None)
}

pub async fn backup(settings: &Settings, args: BackupArgs) -> anyhow::Result<()> {
    let dest = args.dest.unwrap_or_else(|| {
        settings.data_dir.join("backups").join(
            chrono::Utc::now()
                .format("integramon-%Y%m%dT%H%M%SZ")
                .to_string(),
        )
    });
    if args.print_only {
        if !settings.db.backend.is_postgres() {
            bail!("--print applies to PostgreSQL; a SQLite backup is made with VACUUM INTO");
        }
        let cmd = backup::pg_dump_command(&settings.db, &dest.join(backup::PG_DUMP_FILE));
        println!("{}", cmd.display());
        return Ok(());
    }
    let secret_key = if args.without_secret_key {
        None
    } else {
        current_key(settings)?
    };
    let db = integramon_migrate::wait_for_database(settings).await?;
    let result = backup::backup(
        &db,
        &BackupOptions {
            dest: dest.clone(),
            archives_from: args.with_archives.then(|| settings.data_dir.clone()),
            logs_from: args.with_logs.then(|| settings.log_dir.clone()),
            secret_key,
        },
    )
    .await;
    db.close().await;
    let manifest = result?;
    let rows: u64 = manifest.row_counts.values().sum();
    println!(
        "backup written to {} ({} tables, {rows} rows{})",
        dest.display(),
        manifest.row_counts.len(),
        if manifest.archives {
            format!(", {} archive files", manifest.archive_files)
        } else {
            String::new()
        }
    );
    if manifest.secret_key {
        println!(
            "it holds {} (mode 0600, directory 0700): whoever can read the backup can decrypt \
             the tenants' credentials; keep it as protected as DATA_DIR",
            backup::KEY_FILE
        );
    } else {
        println!(
            "it holds no tenant-secret key: keep SECRET_KEY / secret.key safe elsewhere, a \
             restore needs it to decrypt the tenants' credentials"
        );
    }
    Ok(())
}

/// Restore a backup into the configured installation (stop IntegraMon first): checks that the
/// backup is one of this backend's and undamaged, and that its tenant-secret key can be used,
/// before changing anything; then the database (SQLite: replaces the file, with `--force` if it
/// exists; PostgreSQL: `pg_restore` into the configured database, which must be empty), the key
/// (written to the key file when the installation has none) and the archive files (into
/// `DATA_DIR`, never over a different file); finally the row counts are compared exactly.
/// `integramon-migrate` then brings the schema up to date and writes the marker.
pub async fn restore(settings: &Settings, dir: &Path, force: bool) -> anyhow::Result<()> {
    let manifest = backup::read_manifest(dir)?;
    backup::check_backup(dir, &manifest, settings.db.backend)?;
    let key_to_install = check_key(settings, dir, &manifest)?;
    match settings.db.backend {
        store::Backend::Sqlite => {
            backup::restore_sqlite(dir, &settings.db.sqlite_path, force)?;
        }
        store::Backend::Postgres { .. } => {
            backup::run(backup::pg_restore_command(
                &settings.db,
                &dir.join(backup::PG_DUMP_FILE),
            ))
            .await
            .context("pg_restore")?;
        }
    }
    if let Some(key) = key_to_install {
        let path = settings.secret_key_file();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        f.write_all(key.as_bytes())?;
        f.sync_all()?;
        println!(
            "tenant-secret key written to {} (mode 0600)",
            path.display()
        );
    }
    if manifest.archives {
        let n = backup::restore_archives(dir, &settings.data_dir)?;
        println!(
            "{n} archive files copied into {}",
            settings.data_dir.display()
        );
    }
    let db = integramon_migrate::wait_for_database(settings).await?;
    let counts = maintenance::row_counts(&db).await;
    db.close().await;
    let mismatches = backup::count_mismatches(&manifest, &counts?);
    if !mismatches.is_empty() {
        bail!(
            "restore incomplete: the restored database does not hold what the backup recorded: {}",
            mismatches.join("; ")
        );
    }
    println!(
        "restored {} into {}; row counts match the backup manifest{}",
        dir.display(),
        settings.db.target(),
        if manifest.version < 2 {
            " (an older backup: counted before its copy, so at least those rows)"
        } else {
            ""
        }
    );
    println!(
        "next: run integramon-migrate (brings the schema up to date and writes the marker the \
         daemons wait for), then start IntegraMon"
    );
    Ok(())
}

/// The backup's key must be the one the installation will use: returns the key to write to the
/// key file (the installation has none), or an error before anything was changed.
fn check_key(
    settings: &Settings,
    dir: &Path,
    manifest: &backup::Manifest,
) -> anyhow::Result<Option<String>> {
    if !manifest.secret_key {
        eprintln!(
            "this backup holds no tenant-secret key: the installation's key must be the one the \
             backup was taken with, or the tenants' credentials must be entered again"
        );
        return Ok(None);
    }
    let path = dir.join(backup::KEY_FILE);
    let key =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let key = key.trim().to_string();
    domain::secret::SecretKey::from_base64(&key)
        .map_err(|e| anyhow::anyhow!("{} is not a usable key: {e}", path.display()))?;
    if manifest
        .secret_key_sha256
        .as_deref()
        .is_some_and(|f| f != backup::text_sha256(&key))
    {
        bail!(
            "{} does not match the manifest's fingerprint; nothing was changed",
            path.display()
        );
    }
    match current_key(settings)? {
        None => Ok(Some(key)),
        Some(current) if current == key => Ok(None),
        Some(_) => {
            let source = if settings.secret_key_from_env() {
                "SECRET_KEY".to_string()
            } else {
                settings.secret_key_file().display().to_string()
            };
            bail!(
                "the installation's tenant-secret key ({source}) is not the backup's: the \
                 restored tenants' credentials could not be decrypted. Use the backup's key \
                 ({}) instead (move the key file aside, or set SECRET_KEY to its content); \
                 nothing was changed",
                path.display()
            )
        }
    }
}
