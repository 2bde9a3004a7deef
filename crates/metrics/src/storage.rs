//! Storage snapshots: the database's size, each table's size and rows, and each tenant's
//! archive directory (`domain::archive::dir`: `${DATA_DIR}/archives/<tenant id>/`, written by
//! the archiver; only measured here). Not per tenant for tables, so they are taken by the
//! daemon's own clock, at most every `METRICS_STORAGE_SECS` across restarts and replicas (the
//! newest snapshot's time is read from the database first).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::tenant::Tenant;
use store::repo::snapshots::{self, StorageKind, StorageRow};
use store::{Db, StoreError, maintenance};

/// Bytes of the regular files under `dir` (0 when it does not exist); symlinks are not followed.
pub fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Measure everything and write one snapshot; returns its rows.
pub async fn take(
    db: &Db,
    data_dir: &Path,
    tenants: &[Tenant],
    now: DateTime<Utc>,
) -> Result<Vec<StorageRow>, StoreError> {
    let mut rows = vec![StorageRow {
        taken_at: now,
        kind: StorageKind::Database,
        name: String::new(),
        tenant_id: None,
        bytes: Some(to_i64(maintenance::database_size(db).await?)),
        row_count: None,
    }];
    for t in snapshots::table_stats(db).await? {
        rows.push(StorageRow {
            taken_at: now,
            kind: StorageKind::Table,
            name: t.table,
            tenant_id: None,
            bytes: t.bytes,
            row_count: t.rows,
        });
    }
    let dirs: Vec<(i64, String, PathBuf)> = tenants
        .iter()
        .map(|t| {
            (
                t.id,
                t.settings.name.clone(),
                domain::archive::dir(data_dir, t.id),
            )
        })
        .collect();
    // Walking directories is blocking file I/O.
    let sizes = tokio::task::spawn_blocking(move || {
        dirs.into_iter()
            .map(|(id, name, dir)| {
                let bytes = match dir_size(&dir) {
                    Ok(n) => Some(to_i64(n)),
                    Err(e) => {
                        tracing::warn!(tenant = %name, dir = %dir.display(), "archive size: {e}");
                        None
                    }
                };
                (id, name, bytes)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for (id, name, bytes) in sizes {
        rows.push(StorageRow {
            taken_at: now,
            kind: StorageKind::Archive,
            name,
            tenant_id: Some(id),
            bytes,
            row_count: None,
        });
    }
    snapshots::insert_storage(db, &rows).await?;
    Ok(rows)
}

/// Take a snapshot unless the newest is younger than `every`. Returns whether it took one.
pub async fn take_if_due(
    db: &Db,
    data_dir: &Path,
    every: Duration,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let every = chrono::Duration::seconds(i64::try_from(every.as_secs()).unwrap_or(i64::MAX));
    if let Some(last) = snapshots::last_storage_at(db).await?
        && now - last < every
    {
        return Ok(false);
    }
    let tenants = store::repo::tenants::list(db).await?;
    take(db, data_dir, &tenants, now).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_dirs_are_the_archivers_by_tenant_id_under_the_data_dir() {
        let d = Path::new("/data");
        assert_eq!(
            domain::archive::dir(d, 12),
            PathBuf::from("/data/archives/12")
        );
    }

    #[test]
    fn directory_sizes_add_up_files_below() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(dir_size(&tmp.path().join("missing")).unwrap(), 0);
        std::fs::write(tmp.path().join("a"), [0u8; 100]).unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        std::fs::write(tmp.path().join("sub/b"), [0u8; 23]).unwrap();
        assert_eq!(dir_size(tmp.path()).unwrap(), 123);
    }
}
