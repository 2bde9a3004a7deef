//! The archiver's settings (`ARCHIVE_*`), built once at start from the layered settings and
//! handed to the daemon on its context (and to `integramon archive`).

use chrono_tz::Tz;
use domain::setting::{self, Entry};
use runtime::Settings;

use crate::{DEFAULT_DELETE_BATCH, DEFAULT_DELETE_PAUSE_MS, DEFAULT_READ_BATCH, VacuumPolicy};

/// The archiver's own settings (`ARCHIVE_*`), built once at start without a database.
#[derive(Debug, Clone)]
pub struct ArchiverSettings {
    pub tz: Tz,
    pub delete_batch: usize,
    pub delete_pause: std::time::Duration,
    pub read_batch: usize,
    pub vacuum: VacuumPolicy,
    pub failpoint: Option<String>,
}

impl ArchiverSettings {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let positive = |key: &str, default: usize| {
            settings.parsed(key, default, |k, v| {
                setting::whole_in(k, v, 1, usize::MAX)
                    .map_err(|_| setting::Invalid::new(k, v, "a positive whole number"))
            })
        };
        Ok(Self {
            tz: settings.parsed("ARCHIVE_TIME_ZONE", Tz::UTC, setting::time_zone)?,
            delete_batch: positive("ARCHIVE_DELETE_BATCH", DEFAULT_DELETE_BATCH)?,
            delete_pause: std::time::Duration::from_millis(settings.whole_or(
                "ARCHIVE_DELETE_PAUSE_MS",
                DEFAULT_DELETE_PAUSE_MS,
                "a whole number of milliseconds",
            )?),
            read_batch: positive("ARCHIVE_READ_BATCH", DEFAULT_READ_BATCH)?,
            vacuum: VacuumPolicy {
                pg_full: settings.flag("ARCHIVE_VACUUM_FULL", false)?,
                sqlite_vacuum: settings.flag("ARCHIVE_SQLITE_VACUUM", false)?,
            },
            failpoint: settings.raw("ARCHIVE_FAILPOINT"),
        })
    }

    /// The resolved settings for `integramon config`.
    pub fn entries(&self) -> Vec<Entry> {
        vec![
            Entry::new("ARCHIVE_TIME_ZONE", self.tz),
            Entry::new("ARCHIVE_DELETE_BATCH", self.delete_batch),
            Entry::new("ARCHIVE_DELETE_PAUSE_MS", self.delete_pause.as_millis()),
            Entry::new("ARCHIVE_READ_BATCH", self.read_batch),
            Entry::new("ARCHIVE_VACUUM_FULL", self.vacuum.pg_full),
            Entry::new("ARCHIVE_SQLITE_VACUUM", self.vacuum.sqlite_vacuum),
        ]
    }
}
