//! The archive table: one row per tenant-day whose messages were (or are being) written to an
//! archive file. What the web lists, summarises and deletes, and the archiver's bookkeeping.
//!
//! A row moves `writing` → `archived` → `deleted`:
//! - `writing`: a run started on the day; no database row of that day has been deleted yet
//!   (deletion starts only once the row says `archived`), so whatever file exists may be redone;
//! - `archived`: the file at `path` was written, synced, re-read and verified with
//!   `message_count` messages and `checksum`; the day's rows may be (partly) deleted;
//! - `deleted`: the file was removed (retention or by hand); the row stays as metadata.

use std::fmt;
use std::io::Read as _;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, FromQueryResult,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};

use super::Sql;
use crate::connect::Db;
use crate::entity::archives;
use crate::error::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveStatus {
    Writing,
    Archived,
    Deleted,
}

impl ArchiveStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Writing => "writing",
            Self::Archived => "archived",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "writing" => Self::Writing,
            "archived" => Self::Archived,
            "deleted" => Self::Deleted,
            _ => return None,
        })
    }
}

impl fmt::Display for ArchiveStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One archive file as the table records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveRow {
    pub id: i64,
    pub tenant_id: i64,
    /// The day in the archive time zone whose messages the file holds.
    pub day: NaiveDate,
    /// `<tenant id>_<tenant>_YYYY_MM_DD.archive` (`<tenant>_YYYY_MM_DD.archive` before the
    /// archiver moved an older file into the tenant-id layout).
    pub file_name: String,
    /// Absolute path of the file (under `DATA_DIR/archives/<tenant id>/`).
    pub path: String,
    pub size_bytes: i64,
    pub message_count: i64,
    /// Hex SHA-256 of the file (`sha256sum` prints the same); `None` while writing.
    pub checksum: Option<String>,
    pub status: ArchiveStatus,
    /// Why the last run of this day failed, if it did.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the file was deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

fn to_row(r: archives::Model) -> Result<ArchiveRow, DbErr> {
    let status = ArchiveStatus::parse(&r.status)
        .ok_or_else(|| DbErr::Type(format!("archives {}: unknown status {:?}", r.id, r.status)))?;
    Ok(ArchiveRow {
        id: r.id,
        tenant_id: r.tenant_id,
        day: r.day,
        file_name: r.file_name,
        path: r.path,
        size_bytes: r.size_bytes,
        message_count: r.message_count,
        checksum: r.checksum,
        status,
        error: r.error,
        created_at: r.created_at,
        updated_at: r.updated_at,
        deleted_at: r.deleted_at,
    })
}

/// Which archives [`list`] returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveFilter<'a> {
    /// Only archives of these tenants (empty: none). `None`: every tenant's.
    pub tenant_ids: Option<&'a [i64]>,
    pub status: Option<ArchiveStatus>,
    /// Days from this one on (inclusive).
    pub from: Option<NaiveDate>,
    /// Days up to this one (inclusive).
    pub to: Option<NaiveDate>,
    /// At most this many rows (0: no limit).
    pub limit: u64,
    /// Rows skipped first (the list is short: one row per tenant-day).
    pub offset: u64,
}

/// Archives matching `filter`, newest day first, then by tenant.
pub async fn list(db: &Db, filter: &ArchiveFilter<'_>) -> Result<Vec<ArchiveRow>, StoreError> {
    let mut q = archives::Entity::find();
    if let Some(ids) = filter.tenant_ids {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        q = q.filter(archives::Column::TenantId.is_in(ids.iter().copied()));
    }
    if let Some(s) = filter.status {
        q = q.filter(archives::Column::Status.eq(s.as_str()));
    }
    if let Some(d) = filter.from {
        q = q.filter(archives::Column::Day.gte(d));
    }
    if let Some(d) = filter.to {
        q = q.filter(archives::Column::Day.lte(d));
    }
    let mut q = q
        .order_by_desc(archives::Column::Day)
        .order_by_asc(archives::Column::TenantId);
    // SQLite accepts OFFSET only after a LIMIT.
    if filter.limit > 0 || filter.offset > 0 {
        let limit = if filter.limit > 0 {
            filter.limit
        } else {
            i64::MAX as u64
        };
        q = q.limit(limit).offset(filter.offset);
    }
    let rows = q.all(db.conn()).await?;
    Ok(rows.into_iter().map(to_row).collect::<Result<_, _>>()?)
}

/// One archive by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<ArchiveRow>, StoreError> {
    let row = archives::Entity::find_by_id(id).one(db.conn()).await?;
    Ok(row.map(to_row).transpose()?)
}

/// The archive of one tenant-day.
pub async fn find_day(
    db: &Db,
    tenant_id: i64,
    day: NaiveDate,
) -> Result<Option<ArchiveRow>, StoreError> {
    let row = archives::Entity::find()
        .filter(archives::Column::TenantId.eq(tenant_id))
        .filter(archives::Column::Day.eq(day))
        .one(db.conn())
        .await?;
    Ok(row.map(to_row).transpose()?)
}

/// Archive figures of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, FromQueryResult)]
pub struct ArchiveSummary {
    pub tenant_id: i64,
    /// Files on disk (`archived`), their bytes and messages.
    pub archived_files: i64,
    pub archived_bytes: i64,
    pub archived_messages: i64,
    /// Files removed by retention or by hand; the messages they held.
    pub deleted_files: i64,
    pub deleted_messages: i64,
    /// Days with a run in progress or interrupted.
    pub writing: i64,
    /// Oldest and newest day with an `archived` file.
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
}

/// Per-tenant figures, by tenant id; tenants without archives are left out. `tenant_ids` as in
/// [`ArchiveFilter::tenant_ids`]. One statement.
pub async fn summary(
    db: &Db,
    tenant_ids: Option<&[i64]>,
) -> Result<Vec<ArchiveSummary>, StoreError> {
    if tenant_ids.is_some_and(|ids| ids.is_empty()) {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(db.db_backend());
    sql.push(
        "SELECT tenant_id, \
         CAST(SUM(CASE WHEN status = 'archived' THEN 1 ELSE 0 END) AS BIGINT) AS archived_files, \
         CAST(SUM(CASE WHEN status = 'archived' THEN size_bytes ELSE 0 END) AS BIGINT) AS archived_bytes, \
         CAST(SUM(CASE WHEN status = 'archived' THEN message_count ELSE 0 END) AS BIGINT) AS archived_messages, \
         CAST(SUM(CASE WHEN status = 'deleted' THEN 1 ELSE 0 END) AS BIGINT) AS deleted_files, \
         CAST(SUM(CASE WHEN status = 'deleted' THEN message_count ELSE 0 END) AS BIGINT) AS deleted_messages, \
         CAST(SUM(CASE WHEN status = 'writing' THEN 1 ELSE 0 END) AS BIGINT) AS writing, \
         MIN(CASE WHEN status = 'archived' THEN day END) AS first_day, \
         MAX(CASE WHEN status = 'archived' THEN day END) AS last_day \
         FROM archives",
    );
    if let Some(ids) = tenant_ids {
        sql.push(" WHERE tenant_id IN ")
            .bind_list(ids.iter().copied());
    }
    sql.push(" GROUP BY tenant_id ORDER BY tenant_id");
    Ok(ArchiveSummary::find_by_statement(sql.statement())
        .all(db.conn())
        .await?)
}

/// Record that the file of an archive was deleted (status `deleted`, `deleted_at` = `now`).
/// Remove the file first, then call this: a crash in between leaves an `archived` row without
/// its file, which the archiver's retention sweep marks deleted on its next run. Returns whether
/// the row existed and was not already deleted.
pub async fn mark_deleted(db: &Db, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let res = archives::Entity::update_many()
        .col_expr(
            archives::Column::Status,
            Expr::value(ArchiveStatus::Deleted.as_str()),
        )
        .col_expr(archives::Column::DeletedAt, Expr::value(now))
        .col_expr(archives::Column::UpdatedAt, Expr::value(now))
        .filter(archives::Column::Id.eq(id))
        .filter(archives::Column::Status.ne(ArchiveStatus::Deleted.as_str()))
        .exec(db.conn())
        .await?;
    Ok(res.rows_affected > 0)
}

/// The archiver starts (or redoes) a day: a new row in `writing`, or the existing row as it
/// is. An `archived` or `deleted` row is returned unchanged: only the archiver's own logic may
/// move a day back, and it never does for those (see the archiver's docs).
pub async fn begin_day(
    db: &Db,
    tenant_id: i64,
    day: NaiveDate,
    file_name: &str,
    path: &str,
    now: DateTime<Utc>,
) -> Result<ArchiveRow, StoreError> {
    if let Some(row) = find_day(db, tenant_id, day).await? {
        return Ok(row);
    }
    let model = archives::ActiveModel {
        tenant_id: Set(tenant_id),
        day: Set(day),
        file_name: Set(file_name.to_owned()),
        path: Set(path.to_owned()),
        size_bytes: Set(0),
        message_count: Set(0),
        checksum: Set(None),
        status: Set(ArchiveStatus::Writing.as_str().to_owned()),
        error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    };
    match archives::Entity::insert(model).exec(db.conn()).await {
        Ok(_) => {}
        // Another archiver inserted it between our read and write: use theirs.
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) => {}
        Err(e) => return Err(e.into()),
    }
    find_day(db, tenant_id, day)
        .await?
        .ok_or_else(|| StoreError::Db(DbErr::RecordNotFound(format!("archive of {day}"))))
}

/// A verified file: status `archived` with its size, message count and checksum. Also used
/// when a day's file is replaced by a merged one.
pub async fn mark_archived(
    db: &Db,
    id: i64,
    path: &str,
    size_bytes: u64,
    message_count: u64,
    checksum: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = archives::Entity::find_by_id(id)
        .one(db.conn())
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("archive {id}")))?;
    let mut a = row.into_active_model();
    a.status = Set(ArchiveStatus::Archived.as_str().to_owned());
    a.path = Set(path.to_owned());
    a.size_bytes = Set(i64::try_from(size_bytes).unwrap_or(i64::MAX));
    a.message_count = Set(i64::try_from(message_count).unwrap_or(i64::MAX));
    a.checksum = Set(Some(checksum.to_owned()));
    a.error = Set(None);
    a.updated_at = Set(now);
    a.deleted_at = Set(None);
    a.update(db.conn()).await?;
    Ok(())
}

/// Remember why the last run of a day failed (shown in the UI); `None` clears it.
pub async fn record_error(
    db: &Db,
    id: i64,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    archives::Entity::update_many()
        .col_expr(
            archives::Column::Error,
            Expr::value(error.map(super::clean)),
        )
        .col_expr(archives::Column::UpdatedAt, Expr::value(now))
        .filter(archives::Column::Id.eq(id))
        .exec(db.conn())
        .await?;
    Ok(())
}

/// `archived` files of a tenant for days before `before`: what retention deletes.
pub async fn archived_before(
    db: &Db,
    tenant_id: i64,
    before: NaiveDate,
) -> Result<Vec<ArchiveRow>, StoreError> {
    let rows = archives::Entity::find()
        .filter(archives::Column::TenantId.eq(tenant_id))
        .filter(archives::Column::Status.eq(ArchiveStatus::Archived.as_str()))
        .filter(archives::Column::Day.lt(before))
        .order_by_asc(archives::Column::Day)
        .all(db.conn())
        .await?;
    Ok(rows.into_iter().map(to_row).collect::<Result<_, _>>()?)
}

/// Hex SHA-256 of a file, as `sha256sum` prints it. Blocking: reads the whole file.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::Digest as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// What the file of an archive row is, compared with what the row records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileCheck {
    /// No file at the row's path.
    Missing,
    /// The file is the one the row records (same SHA-256).
    Matches,
    /// The file was changed or replaced since it was recorded (or the row records none).
    Differs { found: String },
}

/// Compare the file at the row's path with the checksum the row records. Blocking. Run it
/// before serving, restoring or deleting a file: a file that differs is not the one its row
/// vouches for (tampered with, or another archive written over it).
pub fn check_file(row: &ArchiveRow) -> std::io::Result<FileCheck> {
    let found = match file_sha256(Path::new(&row.path)) {
        Ok(sum) => sum,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileCheck::Missing),
        Err(e) => return Err(e),
    };
    Ok(if row.checksum.as_deref() == Some(found.as_str()) {
        FileCheck::Matches
    } else {
        FileCheck::Differs { found }
    })
}

/// The one wording of a file that does not match its row, for logs, the UI and the CLI.
pub fn mismatch_message(row: &ArchiveRow, found: &str, refused: &str) -> String {
    format!(
        "the file of archive {} (tenant {}, {}) does not match the checksum recorded when it \
         was written (recorded {}, file {found}): it was changed or replaced since; refusing to \
         {refused} it. Restore the file from a backup, or mark the archive deleted",
        row.id,
        row.tenant_id,
        row.day,
        row.checksum.as_deref().unwrap_or("none"),
    )
}

/// The `archived` row that records `path`, if any (how a restore of a file from `DATA_DIR`
/// finds the checksum to compare with).
pub async fn find_by_path(db: &Db, path: &str) -> Result<Option<ArchiveRow>, StoreError> {
    let row = archives::Entity::find()
        .filter(archives::Column::Path.eq(path))
        .filter(archives::Column::Status.eq(ArchiveStatus::Archived.as_str()))
        .one(db.conn())
        .await?;
    Ok(row.map(to_row).transpose()?)
}

/// Every `archived` row of a tenant (the archiver's move into the tenant-id layout).
pub async fn archived_of(db: &Db, tenant_id: i64) -> Result<Vec<ArchiveRow>, StoreError> {
    let rows = archives::Entity::find()
        .filter(archives::Column::TenantId.eq(tenant_id))
        .filter(archives::Column::Status.eq(ArchiveStatus::Archived.as_str()))
        .order_by_asc(archives::Column::Day)
        .all(db.conn())
        .await?;
    Ok(rows.into_iter().map(to_row).collect::<Result<_, _>>()?)
}

/// A file moved to `path` (named `file_name`), its content unchanged.
pub async fn record_moved(
    db: &Db,
    id: i64,
    path: &str,
    file_name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    archives::Entity::update_many()
        .col_expr(archives::Column::Path, Expr::value(path))
        .col_expr(archives::Column::FileName, Expr::value(file_name))
        .col_expr(archives::Column::UpdatedAt, Expr::value(now))
        .filter(archives::Column::Id.eq(id))
        .exec(db.conn())
        .await?;
    Ok(())
}
