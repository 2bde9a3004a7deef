//! Moving archive files of older versions into the tenant-id layout.
//!
//! Before, a tenant's files were `DATA_DIR/<file-safe name>/archive/<name>_YYYY_MM_DD.archive`,
//! so tenants whose names are the same once made file-safe ("col lide", "col_lide") shared
//! them, and one tenant's run could write over the other's file. Now they are
//! `DATA_DIR/archives/<tenant id>/<tenant id>_<name>_YYYY_MM_DD.archive` ([`domain::archive`]).
//!
//! Each run of a tenant (under its lock) first moves every `archived` file of the tenant that
//! lives elsewhere, and only a file whose SHA-256 is the one its row records: a file another
//! tenant's run wrote over is left where it is and its row says so (those messages are in no
//! file any more; a backup may hold it). A move is a rename (a copy on another file system),
//! then the row; after a crash in between, the file is found at its new place by its checksum.
//! The same finds files whose `DATA_DIR` moved (a backup restored elsewhere).

use std::path::{Path, PathBuf};

use chrono::Utc;
use store::repo::archives::{self, ArchiveRow, FileCheck};

use crate::error::ArchiveError;
use crate::{Archiver, TenantRef};

/// What the move of one row found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MoveOutcome {
    Moved,
    /// The file is not the one the row records: left alone, the row's error says why.
    Mismatch(String),
    /// No file at the old place nor at the new one (retention marks the row).
    Missing,
}

impl Archiver {
    /// Move the tenant's `archived` files that are not in its directory into it (see the
    /// module doc). Returns how many were moved. Call it holding the tenant's lock.
    pub async fn move_legacy_files(&self, tenant: &TenantRef) -> Result<u64, ArchiveError> {
        let dir = self.dir(tenant.id);
        let mut moved = 0;
        for row in archives::archived_of(&self.db, tenant.id).await? {
            let target = dir.join(new_name(tenant.id, &row.path, &row.file_name));
            if Path::new(&row.path) == target {
                continue;
            }
            let mut r = row.clone();
            // A backup restored into another DATA_DIR put old-layout files under this one.
            let here =
                domain::archive::legacy_dir(&self.data_dir, &tenant.name).join(&row.file_name);
            if !Path::new(&row.path).exists() && here.exists() {
                r.path = here.to_string_lossy().into_owned();
            }
            let t = target.clone();
            let outcome = tokio::task::spawn_blocking(move || move_file(&r, &t))
                .await
                .map_err(|e| ArchiveError::Fail(format!("moving stopped: {e}")))??;
            match outcome {
                MoveOutcome::Moved => {
                    let name = target
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    archives::record_moved(
                        &self.db,
                        row.id,
                        &target.to_string_lossy(),
                        &name,
                        Utc::now(),
                    )
                    .await?;
                    moved += 1;
                    tracing::info!(
                        tenant = %tenant.name, day = %row.day, from = %row.path,
                        to = %target.display(), "archive file moved into the tenant-id layout"
                    );
                }
                MoveOutcome::Mismatch(why) => {
                    tracing::error!(tenant = %tenant.name, day = %row.day, "{why}");
                    archives::record_error(&self.db, row.id, Some(&why), Utc::now()).await?;
                }
                MoveOutcome::Missing => {}
            }
        }
        remove_if_only_lock(&domain::archive::legacy_dir(&self.data_dir, &tenant.name));
        Ok(moved)
    }
}

impl Archiver {
    /// At start: move every tenant's old-layout files, so downloads find them before the
    /// tenant's next run. A tenant whose run holds its lock is left to that run.
    pub async fn move_all_legacy_files(&self) {
        let tenants = match store::repo::tenants::list(&self.db).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("listing tenants to move old archive files: {e}");
                return;
            }
        };
        for t in tenants {
            let tenant = TenantRef {
                id: t.id,
                name: t.settings.name,
            };
            let dir = self.dir(tenant.id);
            let moved = async {
                std::fs::create_dir_all(&dir).map_err(ArchiveError::io(&dir, "creating"))?;
                let _lock = crate::retention::lock(&dir)?;
                self.move_legacy_files(&tenant).await
            };
            if let Err(e) = moved.await {
                tracing::warn!(tenant = %tenant.name, "moving old archive files: {e}");
            }
        }
    }
}

/// The row's file name in the tenant-id layout: `<id>_<old name>` for a file of the old layout;
/// as it is for a file already named by the new one (whose `DATA_DIR` moved).
fn new_name(tenant_id: i64, row_path: &str, file_name: &str) -> String {
    let parent = Path::new(row_path).parent();
    let id_dir = parent.and_then(Path::file_name) == Some(tenant_id.to_string().as_ref())
        && parent.and_then(Path::parent).and_then(Path::file_name)
            == Some(domain::archive::ARCHIVES_DIR.as_ref());
    if id_dir {
        file_name.to_owned()
    } else {
        format!("{tenant_id}_{file_name}")
    }
}

fn move_file(row: &ArchiveRow, target: &Path) -> Result<MoveOutcome, ArchiveError> {
    let from = PathBuf::from(&row.path);
    let sum_of = |p: &Path| -> Result<Option<String>, ArchiveError> {
        match archives::file_sha256(p) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ArchiveError::io(p, "reading")(e)),
        }
    };
    let check = archives::check_file(row).map_err(ArchiveError::io(&from, "reading"))?;
    let at_target = sum_of(target)?;
    match check {
        FileCheck::Missing => {
            // Moved before a crash kept the row from saying so, or DATA_DIR moved.
            if at_target.is_some() && at_target == row.checksum {
                return Ok(MoveOutcome::Moved);
            }
            Ok(MoveOutcome::Missing)
        }
        FileCheck::Differs { found } => Ok(MoveOutcome::Mismatch(archives::mismatch_message(
            row,
            &found,
            "move or serve",
        ))),
        FileCheck::Matches => {
            if let Some(existing) = at_target {
                if Some(&existing) != row.checksum.as_ref() {
                    return Ok(MoveOutcome::Mismatch(format!(
                        "{} exists with other content than the recorded file {}; refusing \
                         to overwrite it",
                        target.display(),
                        row.path
                    )));
                }
                // The same bytes are at both places already: the old one is a duplicate.
                let _ = std::fs::remove_file(&from);
                return Ok(MoveOutcome::Moved);
            }
            let dir = target.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(ArchiveError::io(dir, "creating"))?;
            if std::fs::rename(&from, target).is_err() {
                // Another file system: copy under a temporary name, sync, rename, then remove.
                let mut tmp = target.as_os_str().to_owned();
                tmp.push(".moving");
                let tmp = PathBuf::from(tmp);
                std::fs::copy(&from, &tmp).map_err(ArchiveError::io(&from, "copying"))?;
                std::fs::File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .map_err(ArchiveError::io(&tmp, "syncing"))?;
                std::fs::rename(&tmp, target).map_err(ArchiveError::io(target, "renaming"))?;
                std::fs::remove_file(&from).map_err(ArchiveError::io(&from, "removing"))?;
            }
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(ArchiveError::io(dir, "syncing"))?;
            Ok(MoveOutcome::Moved)
        }
    }
}

/// Remove an old-layout directory that holds nothing but the lock file of old runs (and its
/// parent when that is then empty). Best effort: anything else in it stays.
fn remove_if_only_lock(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
    if names.iter().all(|n| n == ".lock") {
        let _ = std::fs::remove_file(dir.join(".lock"));
        if std::fs::remove_dir(dir).is_ok()
            && let Some(parent) = dir.parent()
        {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn old_layout_names_get_the_tenant_id_new_ones_keep_theirs() {
        let old = "/d/4_x/archive/4_x_2026_01_02.archive";
        assert_eq!(
            super::new_name(4, old, "4_x_2026_01_02.archive"),
            "4_4_x_2026_01_02.archive",
            "a legacy tenant named 4_x"
        );
        let moved = "/old/archives/4/4_x_2026_01_02.archive";
        assert_eq!(
            super::new_name(4, moved, "4_x_2026_01_02.archive"),
            "4_x_2026_01_02.archive"
        );
    }
}
