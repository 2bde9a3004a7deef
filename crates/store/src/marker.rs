//! The migration marker: a small JSON file that `migrate` writes after a successful run and every
//! other daemon waits for. It is written atomically (temp file, fsync, rename) so a reader never
//! sees half a marker.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// Name of the last applied migration: the schema version.
    pub schema_version: String,
    pub migrations_applied: usize,
    pub written_at: DateTime<Utc>,
    /// Version of the `integramon-migrate` binary that wrote it.
    pub written_by: String,
    /// Backend and target in words (never a password).
    pub database: String,
}

pub fn write(path: &Path, marker: &Marker) -> Result<(), StoreError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(StoreError::io(format!(
        "creating the marker directory {}",
        dir.display()
    )))?;
    let body = serde_json::to_vec_pretty(marker).map_err(|e| StoreError::BadMarker {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let tmp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        StoreError::Io {
            what: format!("writing the migration marker {}", path.display()),
            source,
        }
    })
}

/// `Ok(None)` when there is no marker yet.
pub fn read(path: &Path) -> Result<Option<Marker>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::BadMarker {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io {
            what: format!("reading the migration marker {}", path.display()),
            source,
        }),
    }
}

/// Remove the marker before migrating, so nobody is released by the previous run's marker while
/// this run changes the schema.
pub fn remove(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            what: format!("removing the migration marker {}", path.display()),
            source,
        }),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Marker {
        Marker {
            schema_version: "m20260101_000001_core".into(),
            migrations_applied: 1,
            written_at: Utc::now(),
            written_by: "0.1.0".into(),
            database: "file x".into(),
        }
    }

    #[test]
    fn a_written_marker_reads_back_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/migrate.done");
        assert_eq!(read(&path).unwrap(), None);
        let m = sample();
        write(&path, &m).unwrap();
        assert_eq!(read(&path).unwrap(), Some(m));
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("migrate.done")]);
        remove(&path).unwrap();
        assert_eq!(read(&path).unwrap(), None);
    }

    #[test]
    fn a_garbled_marker_is_an_error_not_a_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("migrate.done");
        std::fs::write(&path, b"{\"schema_version\": ").unwrap();
        assert!(matches!(read(&path), Err(StoreError::BadMarker { .. })));
    }
}
