//! IntegraMon archiver: consumes `archive` jobs. Per tenant it writes every day older than the
//! tenant's `archive_older_than_days` to an archive file and deletes it from the database
//! ([`day`]), deletes archive files older than `delete_older_than_days` ([`retention`]), and
//! then lets the database reclaim the space ([`cleanup`]). `integramon archive …` uses the same
//! code for one-shot runs, restores and reads ([`restore`]).

pub mod cleanup;
pub mod day;
pub mod error;
pub mod format;
pub mod jobs;
pub mod layout;
pub mod restore;
pub mod retention;
pub mod settings;
pub mod tz;

use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;
use domain::job::JobType;
use domain::tenant::{JobKind, Retention};
use runtime::{Context, Settings, Spec};
use serde::Serialize;
use store::Db;
use store::repo::{archive_data, tenants};

pub use cleanup::VacuumPolicy;
pub use day::{DayReport, TenantRef};
pub use error::ArchiveError;
pub use settings::ArchiverSettings;

pub const SPEC: Spec<ArchiverSettings> = Spec {
    component: "archiver",
    default_listen: "127.0.0.1:9103",
    listen_env: "ARCHIVER_LISTEN",
    settings: ArchiverSettings::from_settings,
    http: None,
};

pub const ABOUT: &str = "IntegraMon archiver: archive files of old messages, retention and \
                         database upkeep";

/// `ARCHIVE_DELETE_BATCH` default: messages deleted per transaction.
pub const DEFAULT_DELETE_BATCH: usize = 2_000;
/// `ARCHIVE_DELETE_PAUSE_MS` default: on the 2-CPU benchmark machine it kept ingestion at 76%
/// of its rate during a 1M-message archive (68% without), for 15 s more per million messages.
pub const DEFAULT_DELETE_PAUSE_MS: u64 = 30;
/// `ARCHIVE_READ_BATCH` default: messages read from the database per round trip.
pub const DEFAULT_READ_BATCH: usize = 5_000;
/// The archive job's retention when its settings say nothing (as `JobSettings::default_for`).
pub const DEFAULT_ARCHIVE_OLDER_THAN_DAYS: u32 = 30;
pub const DEFAULT_DELETE_OLDER_THAN_DAYS: u32 = 365;

/// Everything archiving needs.
#[derive(Clone)]
pub struct Archiver {
    pub db: Db,
    /// `DATA_DIR`: files go to `DATA_DIR/archives/<tenant id>/`.
    pub data_dir: PathBuf,
    /// `ARCHIVE_TIME_ZONE`: days (and the job's planned time) are in this zone.
    pub tz: Tz,
    pub delete_batch: usize,
    /// `ARCHIVE_DELETE_PAUSE_MS`: a pause after each delete batch (0: none).
    pub delete_pause: std::time::Duration,
    pub read_batch: usize,
    pub vacuum: VacuumPolicy,
    /// `ARCHIVE_FAILPOINT` (tests only): abort the process at this named point.
    pub failpoint: Option<String>,
}

impl Archiver {
    pub fn from_settings(db: Db, settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self::new(
            db,
            settings,
            ArchiverSettings::from_settings(settings)?,
        ))
    }

    /// From the settings built at start.
    pub fn new(db: Db, settings: &Settings, t: ArchiverSettings) -> Self {
        Self {
            db,
            data_dir: settings.data_dir.clone(),
            tz: t.tz,
            delete_batch: t.delete_batch,
            delete_pause: t.delete_pause,
            read_batch: t.read_batch,
            vacuum: t.vacuum,
            failpoint: t.failpoint,
        }
    }
}

/// Abort the process at a named point: the kill tests' stand-in for `kill -9`.
pub fn abort_at(name: &str) -> ! {
    eprintln!("ARCHIVE_FAILPOINT={name}: aborting");
    std::process::abort()
}

/// What one archive run of a tenant did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TenantReport {
    pub tenant: String,
    /// Days before this one (in the archive time zone) were due.
    pub cutoff: Option<NaiveDate>,
    pub days: Vec<DayReport>,
    pub files_deleted: u64,
    pub cleanup: Option<cleanup::CleanupReport>,
}

impl TenantReport {
    pub fn deleted(&self) -> u64 {
        self.days.iter().map(|d| d.deleted).sum()
    }
}

/// The tenant's archive retention, defaults filled in.
pub async fn retention_of(db: &Db, tenant_id: i64) -> Result<(u32, u32), ArchiveError> {
    let jobs = tenants::jobs(db, tenant_id).await?;
    let r: Retention = jobs
        .into_iter()
        .find(|j| j.kind == JobKind::Archive)
        .map(|j| j.retention)
        .unwrap_or_default();
    Ok((
        r.archive_older_than_days
            .unwrap_or(DEFAULT_ARCHIVE_OLDER_THAN_DAYS),
        r.delete_older_than_days
            .unwrap_or(DEFAULT_DELETE_OLDER_THAN_DAYS),
    ))
}

impl Archiver {
    /// Resolve a tenant by id or name.
    pub async fn tenant(&self, r: &domain::job::TenantRef) -> Result<TenantRef, ArchiveError> {
        let found = match r {
            domain::job::TenantRef::Id(id) => tenants::get(&self.db, *id).await?,
            domain::job::TenantRef::Name(name) => tenants::get_by_name(&self.db, name).await?,
        };
        let t = found.ok_or_else(|| ArchiveError::Fail(format!("tenant {r} does not exist")))?;
        Ok(TenantRef {
            id: t.id,
            name: t.settings.name,
        })
    }

    /// One archive run of a tenant: `only` that day, or every day past `archive_older_than`;
    /// then retention and cleanup. One run per tenant at a time (a lock file in the tenant's
    /// archive directory); a second gets `Retry`.
    pub async fn run_tenant(
        &self,
        tenant: &TenantRef,
        only: Option<NaiveDate>,
    ) -> Result<TenantReport, ArchiveError> {
        let (archive_after, delete_after) = retention_of(&self.db, tenant.id).await?;
        let today = tz::day_of(self.tz, Utc::now());
        let cutoff = today - chrono::Days::new(u64::from(archive_after));
        let dir = self.dir(tenant.id);
        std::fs::create_dir_all(&dir).map_err(ArchiveError::io(&dir, "creating"))?;
        let _lock = retention::lock(&dir)?;
        self.move_legacy_files(tenant).await?;
        let mut report = TenantReport {
            tenant: tenant.name.clone(),
            cutoff: Some(cutoff),
            ..Default::default()
        };
        let days: Vec<NaiveDate> = match only {
            Some(day) if day >= cutoff => {
                return Err(ArchiveError::Fail(format!(
                    "{day} is not older than the tenant's archive_older_than_days \
                     ({archive_after}): only days before {cutoff} can be archived"
                )));
            }
            Some(day) => vec![day],
            None => self.due_days(tenant.id, cutoff).await?,
        };
        for day in days {
            ArchiveError::stop_point()?;
            let r = self.archive_day(tenant, day).await;
            match r {
                Ok(d) => {
                    tracing::info!(
                        tenant = %tenant.name, %day, outcome = %d.outcome, archived = d.archived,
                        deleted = d.deleted, "day done"
                    );
                    report.days.push(d);
                }
                Err(e) => {
                    if let Ok(Some(row)) =
                        store::repo::archives::find_day(&self.db, tenant.id, day).await
                    {
                        let _ = store::repo::archives::record_error(
                            &self.db,
                            row.id,
                            Some(&e.to_string()),
                            Utc::now(),
                        )
                        .await;
                    }
                    return Err(e);
                }
            }
        }
        report.files_deleted = self
            .delete_old_files(tenant, today - chrono::Days::new(u64::from(delete_after)))
            .await?;
        if report.deleted() > 0 {
            archive_data::drop_unused_correlations(&self.db, tenant.id).await?;
            report.cleanup = Some(cleanup::run(&self.db, self.vacuum).await?);
        }
        Ok(report)
    }

    /// Days from the one of the oldest message before `cutoff` up to the day before it,
    /// oldest first; days without messages cost one indexed query each in `archive_day`.
    async fn due_days(
        &self,
        tenant_id: i64,
        cutoff: NaiveDate,
    ) -> Result<Vec<NaiveDate>, ArchiveError> {
        let end = tz::start_of_day(self.tz, cutoff);
        let mut days = Vec::new();
        if let Some(oldest) = archive_data::oldest_before(&self.db, tenant_id, end).await? {
            let mut day = tz::day_of(self.tz, oldest);
            while day < cutoff {
                days.push(day);
                day = day + chrono::Days::new(1);
            }
        }
        Ok(days)
    }
}

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context<ArchiverSettings>) -> anyhow::Result<()> {
    let archiver = Archiver::new(ctx.db.clone(), &ctx.settings, ctx.config.clone());
    let queue_config = &ctx.queue_config;
    let name = ctx.settings.worker_name("archiver");
    tracing::info!(
        component = SPEC.component,
        time_zone = %archiver.tz,
        delete_batch = archiver.delete_batch,
        vacuum = ?archiver.vacuum,
        "consuming archive jobs"
    );
    archiver.move_all_legacy_files().await;
    let handler = jobs::handler(jobs::Worker {
        archiver,
        name,
        max_attempts: queue_config.max_attempts,
        retry_tiers: queue_config.retry_tiers.clone(),
    });
    ctx.queue
        .consume(&[JobType::Archive], 1, handler, ctx.shutdown.clone())
        .await
        .context("consuming archive jobs")?;
    Ok(())
}
