//! Backend-specific upkeep after large deletes (archiving): reclaim space and refresh planner
//! statistics. SQLite: `wal_checkpoint(TRUNCATE)` then `VACUUM`. PostgreSQL: plain
//! `VACUUM (ANALYZE)` by default, which runs beside writers; `VACUUM (FULL, ANALYZE)` only when
//! asked, because it takes an ACCESS EXCLUSIVE lock on each table for the whole rewrite.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, Statement};

use crate::connect::Db;
use crate::error::StoreError;
use crate::settings::Backend;

#[derive(Debug, Clone, Default)]
pub struct MaintenanceOptions {
    /// Tables to vacuum on PostgreSQL; empty means every IntegraMon table.
    pub tables: Vec<String>,
    /// PostgreSQL `VACUUM FULL`: rewrites tables and returns space to the OS, but blocks every
    /// read and write of each table while it runs.
    pub full: bool,
}

#[derive(Debug, Clone)]
pub struct MaintenanceReport {
    pub steps: Vec<String>,
    pub size_before: u64,
    pub size_after: u64,
}

pub async fn maintain(db: &Db, opts: &MaintenanceOptions) -> Result<MaintenanceReport, StoreError> {
    let size_before = database_size(db).await?;
    let mut steps = Vec::new();
    match db.backend() {
        Backend::Sqlite => {
            // VACUUM rewrites the file and needs the write lock; checkpoint first so the WAL
            // does not hold the old pages.
            exec(db, "PRAGMA wal_checkpoint(TRUNCATE)").await?;
            steps.push("PRAGMA wal_checkpoint(TRUNCATE)".to_string());
            exec(db, "VACUUM").await?;
            steps.push("VACUUM".to_string());
            exec(db, "PRAGMA wal_checkpoint(TRUNCATE)").await?;
            exec(db, "PRAGMA optimize").await?;
            steps.push("PRAGMA optimize".to_string());
        }
        Backend::Postgres { .. } => {
            let known = table_names(db).await?;
            let tables = if opts.tables.is_empty() {
                known
            } else {
                for t in &opts.tables {
                    if !known.contains(t) {
                        return Err(StoreError::Command(format!(
                            "unknown table {t:?}; known tables: {}",
                            known.join(", ")
                        )));
                    }
                }
                opts.tables.clone()
            };
            let how = if opts.full {
                "FULL, ANALYZE"
            } else {
                "ANALYZE"
            };
            for t in tables {
                // Names come from the catalogue (checked above), quoted as identifiers.
                let sql = format!("VACUUM ({how}) \"{}\"", t.replace('"', "\"\""));
                exec(db, &sql).await?;
                steps.push(sql);
            }
        }
    }
    let size_after = database_size(db).await?;
    Ok(MaintenanceReport {
        steps,
        size_before,
        size_after,
    })
}

/// SQLite: `wal_checkpoint(TRUNCATE)`, which copies the WAL into the database file and
/// empties it (writers wait only while pages are copied). PostgreSQL: nothing to do.
pub async fn checkpoint(db: &Db) -> Result<(), StoreError> {
    if db.backend() == Backend::Sqlite {
        exec(db, "PRAGMA wal_checkpoint(TRUNCATE)").await?;
    }
    Ok(())
}

async fn exec(db: &Db, sql: &str) -> Result<(), StoreError> {
    db.conn().execute_unprepared(sql).await?;
    Ok(())
}

async fn scalar_i64(db: &Db, sql: &str) -> Result<i64, StoreError> {
    let row = db
        .conn()
        .query_one_raw(Statement::from_string(db.db_backend(), sql.to_string()))
        .await?
        .ok_or_else(|| StoreError::Command(format!("no row from {sql}")))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// Bytes the database occupies: the SQLite file plus its WAL, or `pg_database_size`.
pub async fn database_size(db: &Db) -> Result<u64, StoreError> {
    match db.backend() {
        Backend::Sqlite => {
            let path = &db.settings().sqlite_path;
            let mut wal = path.clone().into_os_string();
            wal.push("-wal");
            let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            Ok(size(path) + size(std::path::Path::new(&wal)))
        }
        Backend::Postgres { .. } => {
            Ok(scalar_i64(db, "SELECT pg_database_size(current_database())::bigint").await? as u64)
        }
    }
}

/// IntegraMon's tables (including the migration bookkeeping), sorted.
pub async fn table_names(db: &Db) -> Result<Vec<String>, StoreError> {
    table_names_on(db.conn(), db.db_backend()).await
}

async fn table_names_on<C: ConnectionTrait>(
    conn: &C,
    backend: sea_orm::DbBackend,
) -> Result<Vec<String>, StoreError> {
    let sql = match backend {
        sea_orm::DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name"
        }
        _ => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             ORDER BY table_name"
        }
    };
    let rows = conn
        .query_all_raw(Statement::from_string(backend, sql.to_string()))
        .await?;
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).map_err(StoreError::from))
        .collect()
}

/// Exact row count of every table: what backup manifests record and restore tests compare.
pub async fn row_counts(db: &Db) -> Result<BTreeMap<String, u64>, StoreError> {
    row_counts_on(db.conn(), db.db_backend()).await
}

/// [`row_counts`] on any connection or transaction (a backup counts inside the snapshot it
/// copies, or in the copy itself).
pub async fn row_counts_on<C: ConnectionTrait>(
    conn: &C,
    backend: sea_orm::DbBackend,
) -> Result<BTreeMap<String, u64>, StoreError> {
    let mut counts = BTreeMap::new();
    for t in table_names_on(conn, backend).await? {
        let sql = format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM \"{}\"",
            t.replace('"', "\"\"")
        );
        let row = conn
            .query_one_raw(Statement::from_string(backend, sql.clone()))
            .await?
            .ok_or_else(|| StoreError::Command(format!("no row from {sql}")))?;
        counts.insert(t, row.try_get_by_index::<i64>(0)? as u64);
    }
    Ok(counts)
}
