//! Letting the database reclaim space after an archive run deleted rows, per backend and
//! without blocking ingestion by default:
//! - PostgreSQL: `VACUUM (ANALYZE)` of the message tables (runs beside readers and writers;
//!   freed space is reused by new rows). `VACUUM (FULL, ANALYZE)` only with
//!   `ARCHIVE_VACUUM_FULL=true`: it returns space to the OS but holds an ACCESS EXCLUSIVE lock
//!   on each table while it rewrites it, which blocks every read and write of that table.
//! - SQLite: `wal_checkpoint(TRUNCATE)` (shrinks the WAL; readers and writers carry on) and
//!   `PRAGMA incremental_vacuum` is not available without auto_vacuum, so freed pages are reused
//!   by new rows. A full `VACUUM` rewrites the whole file under the write lock (ingestion waits
//!   for its whole duration, longer than `SQLITE_TIMEOUT` on a large file) and runs only with
//!   `ARCHIVE_SQLITE_VACUUM=true`.

use serde::Serialize;
use store::Db;
use store::maintenance::{self, MaintenanceOptions};
use store::settings::Backend;

use crate::error::ArchiveError;

/// The tables archiving deletes from (PostgreSQL vacuums only these).
pub const TABLES: [&str; 10] = [
    "message_logs",
    "custom_header_properties",
    "message_errors",
    "message_runs",
    "message_run_steps",
    "adapter_attributes",
    "payloads",
    "attachments",
    "correlations",
    "message_counts",
];

/// Built with the archiver's settings ([`crate::ArchiverSettings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VacuumPolicy {
    /// PostgreSQL `VACUUM FULL` (`ARCHIVE_VACUUM_FULL`).
    pub pg_full: bool,
    /// SQLite `VACUUM` (`ARCHIVE_SQLITE_VACUUM`).
    pub sqlite_vacuum: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CleanupReport {
    pub steps: Vec<String>,
    pub size_before: u64,
    pub size_after: u64,
}

pub async fn run(db: &Db, policy: VacuumPolicy) -> Result<CleanupReport, ArchiveError> {
    let started = std::time::Instant::now();
    let report = match db.backend() {
        Backend::Sqlite if !policy.sqlite_vacuum => {
            let size_before = maintenance::database_size(db).await?;
            maintenance::checkpoint(db).await?;
            CleanupReport {
                steps: vec!["PRAGMA wal_checkpoint(TRUNCATE)".into()],
                size_before,
                size_after: maintenance::database_size(db).await?,
            }
        }
        _ => {
            let r = maintenance::maintain(
                db,
                &MaintenanceOptions {
                    tables: TABLES.iter().map(|t| t.to_string()).collect(),
                    full: policy.pg_full,
                },
            )
            .await?;
            CleanupReport {
                steps: r.steps,
                size_before: r.size_before,
                size_after: r.size_after,
            }
        }
    };
    tracing::info!(
        steps = %report.steps.join("; "), size_before = report.size_before,
        size_after = report.size_after, secs = format!("{:.1}", started.elapsed().as_secs_f64()),
        "database cleanup after archiving"
    );
    Ok(report)
}
