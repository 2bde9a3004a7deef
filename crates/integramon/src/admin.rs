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
    /// PostgreSQL: print the pg_dump command instead of running it.
    pub print_only: bool,
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
    let db = integramon_migrate::wait_for_database(settings).await?;
    let result = backup::backup(
        &db,
        &BackupOptions {
            dest: dest.clone(),
            archives_from: args.with_archives.then(|| settings.data_dir.clone()),
            logs_from: args.with_logs.then(|| settings.log_dir.clone()),
        },
    )
    .await;
    db.close().await;
    let manifest = result?;
    let rows: u64 = manifest.row_counts.values().sum();
    println!(
        "backup written to {} ({} tables, {rows} rows)",
        dest.display(),
        manifest.row_counts.len()
    );
    Ok(())
}

/// Restore a backup into the configured database. SQLite: replaces the file (with `--force` if it
/// exists). PostgreSQL: `pg_restore` into the configured database, which should be empty.
pub async fn restore(settings: &Settings, dir: &Path, force: bool) -> anyhow::Result<()> {
    let manifest = backup::read_manifest(dir)?;
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
    let db = integramon_migrate::wait_for_database(settings).await?;
    let counts = maintenance::row_counts(&db).await;
    db.close().await;
    let counts = counts?;
    let mut mismatches = Vec::new();
    for (table, expected) in &manifest.row_counts {
        let got = counts.get(table).copied().unwrap_or(0);
        if got < *expected {
            mismatches.push(format!("{table}: {got} rows, backup recorded {expected}"));
        }
    }
    if !mismatches.is_empty() {
        bail!("restore incomplete: {}", mismatches.join("; "));
    }
    println!(
        "restored {} into {}; row counts match the backup manifest",
        dir.display(),
        settings.db.target()
    );
    Ok(())
}

/// The resolved settings, secrets masked.
pub fn show_config(settings: &Settings) {
    let db = &settings.db;
    let lines = [
        ("DATA_DIR", settings.data_dir.display().to_string()),
        ("LOG_DIR", settings.log_dir.display().to_string()),
        (
            "DB_BACKEND",
            format!("{} (from {})", db.backend.name(), db.backend_source),
        ),
        ("database", db.target()),
        (
            "DB_PASSWORD",
            if db.password.is_some() {
                "***".into()
            } else {
                "(unset)".into()
            },
        ),
        (
            "SQLITE_TIMEOUT",
            format!("{}s", db.sqlite_timeout.as_secs()),
        ),
        ("DB_POOL_MAX", db.pool.max.to_string()),
        ("DB_POOL_MIN", db.pool.min.to_string()),
        ("DB_PGBOUNCER", db.pool.pgbouncer.to_string()),
        (
            "MIGRATE_MARKER",
            settings.migrate_marker.display().to_string(),
        ),
        ("AMQP_URL", mask_url(&settings.amqp_url)),
        ("APP_BASE_PATH", settings.app_base_path.clone()),
        (
            "config file",
            settings
                .file_source
                .clone()
                .unwrap_or_else(|| "(none)".into()),
        ),
    ];
    for (k, v) in lines {
        println!("{k:<16} {v}");
    }
}

/// `amqp://user:secret@host` → `amqp://user:***@host`.
fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn amqp_passwords_are_masked() {
        assert_eq!(
            super::mask_url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(super::mask_url("amqp://host/"), "amqp://host/");
    }
}
