//! Retention of archive files, and the per-tenant lock archive runs hold.

use std::fs::File;
use std::path::Path;

use chrono::{NaiveDate, Utc};
use store::repo::archives;

use crate::error::ArchiveError;
use crate::{Archiver, TenantRef};

/// Held while a run works on a tenant: an exclusive lock on `<archive dir>/.lock`, shared by
/// every archiver that sees the same `DATA_DIR` (they must, to find the files). Released when
/// dropped, and by the OS when the process dies.
pub struct TenantLock(#[allow(dead_code)] File);

pub fn lock(dir: &Path) -> Result<TenantLock, ArchiveError> {
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(ArchiveError::io(&path, "opening"))?;
    match file.try_lock() {
        Ok(()) => Ok(TenantLock(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(ArchiveError::Retry(format!(
            "another archive run holds {}; this one will be retried",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(ArchiveError::io(&path, "locking")(e)),
    }
}

impl Archiver {
    /// Delete the files of days before `before` and mark their rows `deleted` (the rows stay).
    /// A file already gone is only marked; a file that is not the one its row records is kept
    /// and the row's error says so. Returns the number of rows marked.
    pub async fn delete_old_files(
        &self,
        tenant: &TenantRef,
        before: NaiveDate,
    ) -> Result<u64, ArchiveError> {
        let mut n = 0;
        for row in archives::archived_before(&self.db, tenant.id, before).await? {
            let path = Path::new(&row.path);
            let r = row.clone();
            let check = tokio::task::spawn_blocking(move || archives::check_file(&r))
                .await
                .map_err(|e| ArchiveError::Fail(format!("checking stopped: {e}")))?
                .map_err(ArchiveError::io(path, "reading"))?;
            if let archives::FileCheck::Differs { found } = check {
                // Not the file the row vouches for: whoever put it there decides about it.
                let why = archives::mismatch_message(&row, &found, "delete");
                tracing::error!(tenant = %tenant.name, day = %row.day, "{why}");
                archives::record_error(&self.db, row.id, Some(&why), Utc::now()).await?;
                continue;
            }
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::warn!(tenant = %tenant.name, file = %path.display(), "archive file was already gone");
                }
                Err(e) => return Err(ArchiveError::io(path, "deleting")(e)),
            }
            if archives::mark_deleted(&self.db, row.id, Utc::now()).await? {
                n += 1;
                tracing::info!(
                    tenant = %tenant.name, day = %row.day, file = %path.display(),
                    "archive file deleted (retention)"
                );
            }
        }
        Ok(n)
    }
}
