//! Restoring an archive file into the database, and reading one without importing (the
//! `integramon archive restore|read` commands).

use std::io::Write;
use std::path::Path;

use domain::archive::{ArchivedMessage, Header, Trailer};
use serde::Serialize;
use store::Db;
use store::repo::{archive_data, archives, monitor, tenants};

use crate::error::ArchiveError;
use crate::format::{self, FormatError};

/// Messages restored per transaction.
const RESTORE_BATCH: usize = 1_000;

#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub file: String,
    pub tenant: String,
    pub day: chrono::NaiveDate,
    pub messages: u64,
    pub inserted: u64,
    /// Already in the database (by GUID), left as they are.
    pub existing: u64,
}

/// Import `path` into the tenant it was written for (`tenant` overrides the name in the
/// file). The whole file is verified before anything is written; then messages not in the
/// database (by GUID) are inserted with everything archived about them, and the rollup of
/// their hours is refreshed. Running it twice inserts nothing the second time.
pub async fn restore(
    db: &Db,
    path: &Path,
    tenant: Option<&str>,
    mut progress: impl FnMut(u64, u64),
) -> Result<RestoreReport, ArchiveError> {
    let p = path.to_owned();
    let verified = tokio::task::spawn_blocking(move || format::verify(&p))
        .await
        .map_err(|e| ArchiveError::Fail(format!("verification stopped: {e}")))??;
    check_recorded(db, path, &verified).await?;
    let name = tenant.unwrap_or(&verified.header.tenant).to_string();
    let target = tenants::get_by_name(db, &name).await?.ok_or_else(|| {
        ArchiveError::Fail(format!(
            "tenant {name:?} does not exist in this database; create it first, or name \
             another with --tenant"
        ))
    })?;
    let total = verified.messages.len() as u64;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<ArchivedMessage>>(2);
    let p = path.to_owned();
    let reader = tokio::task::spawn_blocking(move || -> Result<(), FormatError> {
        let mut batch = Vec::with_capacity(RESTORE_BATCH);
        format::scan(&p, |line, _| {
            batch.push(format::decode_message(&p, line)?);
            if batch.len() >= RESTORE_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(RESTORE_BATCH));
                tx.blocking_send(full)
                    .map_err(|_| FormatError::Other("restore stopped".into()))?;
            }
            Ok(())
        })?;
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        Ok(())
    });
    let mut report = RestoreReport {
        file: path.to_string_lossy().into_owned(),
        tenant: name,
        day: verified.header.day,
        messages: total,
        inserted: 0,
        existing: 0,
    };
    let mut range: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> = None;
    while let Some(batch) = rx.recv().await {
        let out = archive_data::restore_messages(db, target.id, &batch).await?;
        report.inserted += out.inserted;
        report.existing += out.existing;
        if let (Some(a), Some(b)) = (out.first, out.last) {
            range = Some(match range {
                Some((x, y)) => (x.min(a), y.max(b)),
                None => (a, b),
            });
        }
        progress(report.inserted + report.existing, total);
    }
    reader
        .await
        .map_err(|e| ArchiveError::Fail(format!("reading stopped: {e}")))??;
    if let Some((from, to)) = range {
        monitor::refresh_counts_between(db, target.id, from, to).await?;
    }
    Ok(report)
}

/// A file that an archive row records (the file under `DATA_DIR` itself, not a copy elsewhere)
/// must still be the one recorded: otherwise it was changed, or another archive was written
/// over it, and restoring it would bring back someone else's messages.
async fn check_recorded(db: &Db, path: &Path, v: &format::Verified) -> Result<(), ArchiveError> {
    let given = path.canonicalize().ok();
    let same = |row: &archives::ArchiveRow| {
        row.path == path.to_string_lossy()
            || (given.is_some() && Path::new(&row.path).canonicalize().ok() == given)
    };
    let mut rows = Vec::new();
    rows.extend(archives::find_by_path(db, &path.to_string_lossy()).await?);
    rows.extend(archives::find_day(db, v.header.tenant_id, v.header.day).await?);
    for row in rows
        .iter()
        .filter(|r| r.status == archives::ArchiveStatus::Archived)
    {
        if same(row) && row.checksum.as_deref() != Some(v.sha256.as_str()) {
            return Err(ArchiveError::Fail(archives::mismatch_message(
                row, &v.sha256, "restore",
            )));
        }
    }
    Ok(())
}

/// What `archive read --summary` prints.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub header: Header,
    pub trailer: Trailer,
    pub size_bytes: u64,
    pub sha256: String,
    /// Messages per status.
    pub statuses: std::collections::BTreeMap<String, u64>,
}

/// What to print of a file.
pub enum ReadWhat<'a> {
    /// Header, trailer, checksum and counts per status.
    Summary,
    /// One message as pretty JSON.
    Message(&'a str),
    /// Every line, decompressed (like `zcat`, after checking the file).
    All,
}

/// Read a file without importing it, writing to `out`. The file is checked completely, so a
/// truncated or corrupt file is an error, never a partial answer.
pub fn read(path: &Path, what: ReadWhat<'_>, out: &mut dyn Write) -> Result<(), ArchiveError> {
    let write_err = |e: std::io::Error| ArchiveError::Fail(format!("writing the output: {e}"));
    match what {
        ReadWhat::Summary => {
            let mut statuses = std::collections::BTreeMap::new();
            let v = format::scan(path, |line, _| {
                let m = format::decode_message(path, line)?;
                *statuses.entry(m.status.unwrap_or_default()).or_insert(0u64) += 1;
                Ok(())
            })?;
            let s = FileSummary {
                header: v.header,
                trailer: v.trailer,
                size_bytes: v.size,
                sha256: v.sha256,
                statuses,
            };
            serde_json::to_writer_pretty(&mut *out, &s)
                .map_err(|e| ArchiveError::Fail(e.to_string()))?;
            writeln!(out).map_err(write_err)?;
        }
        ReadWhat::Message(guid) => {
            let mut found = None;
            format::scan(path, |line, _| {
                if found.is_none() && contains(line, guid.as_bytes()) {
                    let m = format::decode_message(path, line)?;
                    if m.guid == guid {
                        found = Some(m);
                    }
                }
                Ok(())
            })?;
            let m = found.ok_or_else(|| {
                ArchiveError::Fail(format!("message {guid} is not in {}", path.display()))
            })?;
            serde_json::to_writer_pretty(&mut *out, &m)
                .map_err(|e| ArchiveError::Fail(e.to_string()))?;
            writeln!(out).map_err(write_err)?;
        }
        ReadWhat::All => {
            // Check first, then print: a broken file prints nothing.
            let v = format::verify(path)?;
            serde_json::to_writer(&mut *out, &domain::archive::Line::Header(v.header))
                .map_err(|e| ArchiveError::Fail(e.to_string()))?;
            writeln!(out).map_err(write_err)?;
            let mut failed = None;
            format::scan(path, |line, _| {
                if failed.is_none()
                    && let Err(e) = out.write_all(line)
                {
                    failed = Some(e);
                }
                Ok(())
            })?;
            if let Some(e) = failed {
                return Err(write_err(e));
            }
            serde_json::to_writer(&mut *out, &domain::archive::Line::Trailer(v.trailer))
                .map_err(|e| ArchiveError::Fail(e.to_string()))?;
            writeln!(out).map_err(write_err)?;
        }
    }
    Ok(())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
