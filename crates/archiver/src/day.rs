//! Archiving one tenant-day, safe to interrupt at any point and to run again.
//!
//! The archive row's status decides what a run does (see `store::repo::archives`):
//! - none or `writing`: no row of the day was deleted yet (deletion starts only after the row
//!   says `archived`), so the file is (re)written from the database: `<name>.partial`, synced,
//!   renamed, directory synced, re-read and verified, then recorded `archived`;
//! - `archived`: the file on disk is verified first (a missing or broken file stops the run;
//!   the day's remaining rows are not touched). Rows still in the database that the file holds
//!   in the same version are deleted (an interrupted delete is finished). Rows the file does
//!   not hold, or holds in an older version, are merged: a new file with the old file's other
//!   messages plus the database's rows replaces the old one (never a smaller one), and only
//!   then are they deleted;
//! - `deleted`: the file was removed by retention; rows of that day that came in since are
//!   reported and left alone.
//!
//! Rows are deleted only as the verified file holds them (id and version), in batches of
//! `ARCHIVE_DELETE_BATCH` messages, each its own short transaction.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use domain::archive::{self as fmt_domain, ArchivedMessage, FORMAT, Header, VERSION};
use serde::Serialize;
use store::repo::archive_data::{self, DayMessage};
use store::repo::archives::{self, ArchiveRow, ArchiveStatus};
use store::repo::monitor;
use tokio::sync::mpsc;

use crate::Archiver;
use crate::error::ArchiveError;
use crate::format::{self, Verified, Writer};

/// What happened to one day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayReport {
    pub day: NaiveDate,
    /// `written` (a new file), `merged` (an existing file grew), `resumed` (an interrupted
    /// delete was finished), `unchanged` (nothing left to do), `empty` (no messages),
    /// `skipped` (the day's file was deleted by retention).
    pub outcome: String,
    pub file: Option<String>,
    /// Messages in the file afterwards.
    pub archived: u64,
    /// Rows deleted from the database by this run.
    pub deleted: u64,
    /// Rows left because they changed after they were archived (the next run takes them).
    pub changed: u64,
    /// Rows of the day still in the database when the day was skipped.
    pub left: u64,
    /// Seconds spent writing and verifying the file, and deleting rows.
    pub write_secs: f64,
    pub delete_secs: f64,
}

/// The tenant a day belongs to.
#[derive(Debug, Clone)]
pub struct TenantRef {
    pub id: i64,
    pub name: String,
}

impl Archiver {
    /// `[from, to)` of a day in the archive time zone. A midnight that does not exist (a DST
    /// change at 00:00) starts the day at the first instant that does.
    pub fn bounds(&self, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            self.start_of(day),
            self.start_of(day + chrono::Days::new(1)),
        )
    }

    fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        crate::tz::start_of_day(self.tz, day)
    }

    /// `DATA_DIR/archives/<tenant id>` (the rule the metrics daemon measures by, too).
    pub fn dir(&self, tenant_id: i64) -> PathBuf {
        fmt_domain::dir(&self.data_dir, tenant_id)
    }

    /// Where the file of a tenant-day goes: `<dir>/<id>_<name>_YYYY_MM_DD.archive`.
    pub fn file_path(&self, tenant: &TenantRef, day: NaiveDate) -> PathBuf {
        self.dir(tenant.id)
            .join(fmt_domain::file_name(tenant.id, &tenant.name, day))
    }

    /// Archive one day of a tenant (see the module doc).
    pub async fn archive_day(
        &self,
        tenant: &TenantRef,
        day: NaiveDate,
    ) -> Result<DayReport, ArchiveError> {
        let (from, to) = self.bounds(day);
        let dir = self.dir(tenant.id);
        let name = fmt_domain::file_name(tenant.id, &tenant.name, day);
        let path = dir.join(&name);
        let mut report = DayReport {
            day,
            ..Default::default()
        };
        let existing = archives::find_day(&self.db, tenant.id, day).await?;
        match existing.as_ref().map(|r| r.status) {
            None | Some(ArchiveStatus::Writing) => {
                let ids = archive_data::day_messages(&self.db, tenant.id, from, to).await?;
                if ids.is_empty() {
                    report.outcome = "empty".into();
                    return Ok(report);
                }
                std::fs::create_dir_all(&dir).map_err(ArchiveError::io(&dir, "creating"))?;
                let path_text = path.to_string_lossy().into_owned();
                let row =
                    archives::begin_day(&self.db, tenant.id, day, &name, &path_text, Utc::now())
                        .await?;
                if row.status != ArchiveStatus::Writing {
                    // Another archiver finished it between our two reads: start over.
                    return Box::pin(self.archive_day(tenant, day)).await;
                }
                let ids: Vec<i64> = ids.iter().map(|m| m.id).collect();
                let header = self.header(tenant, day, from, to, ids.len() as u64);
                let clock = Instant::now();
                let replace = Replace::Unrecorded {
                    tenant_id: tenant.id,
                    day,
                };
                let verified = self.write_file(&path, header, None, replace, &ids).await?;
                report.write_secs = clock.elapsed().as_secs_f64();
                self.record(&row, &path, &verified).await?;
                self.failpoint("after_record");
                report.outcome = "written".into();
                report.file = Some(path.to_string_lossy().into_owned());
                report.archived = verified.messages.len() as u64;
                self.delete(tenant, &verified.messages, &mut report).await?;
            }
            Some(ArchiveStatus::Archived) => {
                let row = existing.expect("matched Some");
                let remaining = archive_data::day_messages(&self.db, tenant.id, from, to).await?;
                let recorded = PathBuf::from(&row.path);
                report.file = Some(row.path.clone());
                report.archived = u64::try_from(row.message_count).unwrap_or(0);
                if remaining.is_empty() {
                    // Done before; the file is not read again (days are revisited often).
                    report.outcome = "unchanged".into();
                    return Ok(report);
                }
                if !recorded.exists() {
                    return Err(ArchiveError::Fail(format!(
                        "the archive file {} of {} ({day}) is missing, and {} messages of that \
                         day are still in the database; refusing to touch them. Restore the \
                         file, or mark the archive deleted to archive them afresh",
                        recorded.display(),
                        tenant.name,
                        remaining.len()
                    )));
                }
                let verified = blocking_verify(&recorded).await?;
                if row.checksum.as_deref() != Some(verified.sha256.as_str()) {
                    // Only our own merged file, put in place before a crash kept it from being
                    // recorded, may differ: it names the file it replaced. Anything else is not
                    // the file the row vouches for, and the day's rows stay where they are.
                    if verified.header.replaces.is_none()
                        || verified.header.replaces != row.checksum
                    {
                        return Err(ArchiveError::Fail(archives::mismatch_message(
                            &row,
                            &verified.sha256,
                            "merge into or delete messages against",
                        )));
                    }
                    self.record(&row, &recorded, &verified).await?;
                }
                self.check_belongs(&verified, tenant, day, &recorded)?;
                report.archived = verified.messages.len() as u64;
                // By GUID: a restored message has a new id but is the same message.
                let held: HashMap<&str, _> = verified
                    .messages
                    .iter()
                    .map(|m| (m.guid.as_str(), m.version))
                    .collect();
                let uncovered = remaining
                    .iter()
                    .filter(|m| held.get(m.guid.as_str()) != Some(&m.version))
                    .count();
                if uncovered == 0 {
                    report.outcome = "resumed".into();
                    self.delete(tenant, &remaining, &mut report).await?;
                } else {
                    tracing::info!(
                        tenant = %tenant.name, %day, in_file = verified.messages.len(),
                        new_or_changed = uncovered,
                        "merging messages that arrived or changed after the day was archived"
                    );
                    let replace: HashSet<String> =
                        remaining.iter().map(|m| m.guid.clone()).collect();
                    let kept = verified
                        .messages
                        .iter()
                        .filter(|m| !replace.contains(&m.guid))
                        .count();
                    let ids: Vec<i64> = remaining.iter().map(|m| m.id).collect();
                    let mut header = self.header(tenant, day, from, to, (kept + ids.len()) as u64);
                    header.replaces = Some(verified.sha256.clone());
                    let clock = Instant::now();
                    let merged = self
                        .write_file(
                            &recorded,
                            header,
                            Some((&recorded, &replace)),
                            Replace::Recorded(&verified.sha256),
                            &ids,
                        )
                        .await?;
                    report.write_secs = clock.elapsed().as_secs_f64();
                    self.record(&row, &recorded, &merged).await?;
                    report.outcome = "merged".into();
                    report.archived = merged.messages.len() as u64;
                    // The database's rows, as the new file holds them (they come after the
                    // old file's lines, with their database ids).
                    let fresh: Vec<DayMessage> = merged.messages[kept..].to_vec();
                    self.delete(tenant, &fresh, &mut report).await?;
                }
            }
            Some(ArchiveStatus::Deleted) => {
                let remaining = archive_data::day_messages(&self.db, tenant.id, from, to).await?;
                report.outcome = "skipped".into();
                report.left = remaining.len() as u64;
                if !remaining.is_empty() {
                    tracing::warn!(
                        tenant = %tenant.name, %day, messages = remaining.len(),
                        "messages of a day whose archive file was deleted by retention are left \
                         in the database"
                    );
                }
                return Ok(report);
            }
        }
        Ok(report)
    }

    fn header(
        &self,
        tenant: &TenantRef,
        day: NaiveDate,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        count: u64,
    ) -> Header {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            tenant: tenant.name.clone(),
            tenant_id: tenant.id,
            day,
            time_zone: self.tz.name().to_string(),
            from,
            to,
            message_count: count,
            created_at: Utc::now(),
            writer: format!("integramon {}", env!("CARGO_PKG_VERSION")),
            replaces: None,
        }
    }

    fn check_belongs(
        &self,
        v: &Verified,
        tenant: &TenantRef,
        day: NaiveDate,
        path: &Path,
    ) -> Result<(), ArchiveError> {
        if v.header.tenant_id != tenant.id || v.header.day != day {
            return Err(ArchiveError::Fail(format!(
                "{} holds tenant {} ({}) day {}, not {} ({}) day {day}; refusing to use it",
                path.display(),
                v.header.tenant,
                v.header.tenant_id,
                v.header.day,
                tenant.name,
                tenant.id
            )));
        }
        Ok(())
    }

    async fn record(
        &self,
        row: &ArchiveRow,
        path: &Path,
        v: &Verified,
    ) -> Result<(), ArchiveError> {
        archives::mark_archived(
            &self.db,
            row.id,
            &path.to_string_lossy(),
            v.size,
            v.messages.len() as u64,
            &v.sha256,
            Utc::now(),
        )
        .await?;
        Ok(())
    }

    /// Write `target` through `<target>.partial`: the old file's message lines whose GUID is
    /// not in `merge.1` (when merging), then the database's messages `ids`; publish (only over
    /// the file `replace` allows) and verify.
    async fn write_file(
        &self,
        target: &Path,
        header: Header,
        merge: Option<(&Path, &HashSet<String>)>,
        replace: Replace<'_>,
        ids: &[i64],
    ) -> Result<Verified, ArchiveError> {
        let started = Instant::now();
        let mut partial = target.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let expected = header.message_count;
        let (tx, mut rx) = mpsc::channel::<Vec<ArchivedMessage>>(2);
        let writer_path = partial.clone();
        let old = merge.map(|(p, skip)| (p.to_owned(), skip.clone()));
        let failpoint = self.failpoint.clone();
        let writer = tokio::task::spawn_blocking(move || -> Result<u64, ArchiveError> {
            let mut w = Writer::create(&writer_path, &header)?;
            if let Some((old_path, skip)) = old {
                format::scan(&old_path, |line, m| {
                    if !skip.contains(&m.guid) {
                        w.write_raw(line)?;
                    }
                    Ok(())
                })?;
            }
            while let Some(batch) = rx.blocking_recv() {
                for m in &batch {
                    w.write(m)?;
                }
                if failpoint.as_deref() == Some("during_write") && w.written() * 2 >= expected {
                    crate::abort_at("during_write");
                }
            }
            let n = w.written();
            w.finish()?;
            Ok(n)
        });
        let mut sent = 0usize;
        let mut last_log = Instant::now();
        for chunk in ids.chunks(self.read_batch.max(1)) {
            if let Err(stopped) = ArchiveError::stop_point() {
                // The day stays "writing": the next run writes it again from the start.
                drop(tx);
                let _ = writer.await;
                let _ = std::fs::remove_file(&partial);
                return Err(stopped);
            }
            let batch = archive_data::read_messages(&self.db, chunk).await?;
            if batch.len() != chunk.len() {
                drop(tx);
                let _ = writer.await;
                let _ = std::fs::remove_file(&partial);
                return Err(ArchiveError::Retry(format!(
                    "{} of {} messages vanished from the database while they were archived",
                    chunk.len() - batch.len(),
                    chunk.len()
                )));
            }
            sent += batch.len();
            if tx.send(batch).await.is_err() {
                break; // the writer failed; its error is reported below
            }
            if last_log.elapsed() >= Duration::from_secs(10) {
                last_log = Instant::now();
                tracing::info!(
                    file = %target.display(), written = sent, total = ids.len(),
                    elapsed_secs = started.elapsed().as_secs(), "archiving"
                );
            }
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| ArchiveError::Fail(format!("the archive writer stopped: {e}")))??;
        debug_assert_eq!(written, expected);
        self.failpoint("before_publish");
        let (p, t) = (partial.clone(), target.to_owned());
        let replace = replace.owned();
        tokio::task::spawn_blocking(move || -> Result<(), ArchiveError> {
            if let Err(e) = guard_target(&t, &replace) {
                let _ = std::fs::remove_file(&p);
                return Err(e);
            }
            Ok(format::publish(&p, &t)?)
        })
        .await
        .map_err(|e| ArchiveError::Fail(format!("publishing stopped: {e}")))??;
        self.failpoint("after_publish");
        let verified = blocking_verify(target).await?;
        if verified.messages.len() as u64 != expected {
            return Err(ArchiveError::Fail(format!(
                "{} holds {} messages after writing {expected}",
                target.display(),
                verified.messages.len()
            )));
        }
        tracing::info!(
            file = %target.display(), messages = expected, bytes = verified.size,
            secs = format!("{:.1}", started.elapsed().as_secs_f64()),
            "archive file written and verified"
        );
        Ok(verified)
    }

    /// Delete what the verified file holds, in batches, then refresh the rollup of the day.
    async fn delete(
        &self,
        tenant: &TenantRef,
        held: &[DayMessage],
        report: &mut DayReport,
    ) -> Result<(), ArchiveError> {
        let started = Instant::now();
        let mut last_log = Instant::now();
        let mut first_batch = true;
        for batch in held.chunks(self.delete_batch.max(1)) {
            // The file is verified and recorded: the next run deletes what is left.
            ArchiveError::stop_point()?;
            let out = archive_data::delete_archived(&self.db, tenant.id, batch).await?;
            report.deleted += out.deleted;
            report.changed += out.changed;
            if first_batch {
                first_batch = false;
                self.failpoint("during_delete");
            }
            if last_log.elapsed() >= Duration::from_secs(10) {
                last_log = Instant::now();
                tracing::info!(
                    tenant = %tenant.name, deleted = report.deleted, total = held.len(),
                    "deleting archived messages"
                );
            }
            // Let writers in between batches (SQLite has one write lock).
            if self.delete_pause.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(self.delete_pause).await;
            }
        }
        let (from, to) = self.bounds(report.day);
        monitor::refresh_counts_between(
            &self.db,
            tenant.id,
            from,
            to - chrono::Duration::microseconds(1),
        )
        .await?;
        report.delete_secs += started.elapsed().as_secs_f64();
        tracing::info!(
            tenant = %tenant.name, day = %report.day, deleted = report.deleted,
            changed = report.changed, secs = format!("{:.1}", started.elapsed().as_secs_f64()),
            "archived messages deleted from the database"
        );
        Ok(())
    }

    fn failpoint(&self, name: &str) {
        if self.failpoint.as_deref() == Some(name) {
            crate::abort_at(name);
        }
    }
}

/// Which file, if any, a new archive file may replace.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Replace<'a> {
    /// The day has no recorded file: only a file of this tenant-day that a run put in place
    /// before it was interrupted (the row says `writing`, nothing was deleted against it).
    Unrecorded { tenant_id: i64, day: NaiveDate },
    /// Exactly the recorded file with this SHA-256 (a merge).
    Recorded(&'a str),
}

enum OwnedReplace {
    Unrecorded { tenant_id: i64, day: NaiveDate },
    Recorded(String),
}

impl Replace<'_> {
    fn owned(self) -> OwnedReplace {
        match self {
            Self::Unrecorded { tenant_id, day } => OwnedReplace::Unrecorded { tenant_id, day },
            Self::Recorded(sum) => OwnedReplace::Recorded(sum.to_owned()),
        }
    }
}

/// Never put a file over one that its row vouches for with another checksum, or over a file
/// of another tenant or day (blocking).
fn guard_target(target: &Path, replace: &OwnedReplace) -> Result<(), ArchiveError> {
    if !target.exists() {
        return Ok(());
    }
    let refuse = |why: String| {
        ArchiveError::Fail(format!(
            "{} exists and {why}; refusing to overwrite it",
            target.display()
        ))
    };
    match replace {
        OwnedReplace::Recorded(expected) => {
            let found = store::repo::archives::file_sha256(target)
                .map_err(ArchiveError::io(target, "reading"))?;
            if &found != expected {
                return Err(refuse(format!(
                    "is not the recorded file (SHA-256 {found}, recorded {expected})"
                )));
            }
        }
        OwnedReplace::Unrecorded { tenant_id, day } => match format::verify(target) {
            Ok(v) if v.header.tenant_id == *tenant_id && v.header.day == *day => {}
            Ok(v) => {
                return Err(refuse(format!(
                    "holds tenant {} ({}) day {}",
                    v.header.tenant, v.header.tenant_id, v.header.day
                )));
            }
            Err(e) => return Err(refuse(format!("is not a readable archive ({e})"))),
        },
    }
    Ok(())
}

async fn blocking_verify(path: &Path) -> Result<Verified, ArchiveError> {
    let p = path.to_owned();
    tokio::task::spawn_blocking(move || format::verify(&p))
        .await
        .map_err(|e| ArchiveError::Fail(format!("verification stopped: {e}")))?
        .map_err(ArchiveError::from)
}
