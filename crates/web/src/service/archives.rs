//! Archive files: the filtered list, download and delete, for `api::archives` and
//! `pages::archives`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use actix_web::HttpResponse;
use chrono::{DateTime, NaiveDate, Utc};
use domain::tenant::Tenant;
use domain::user::Role;
use serde::{Deserialize, Serialize};
use store::repo::archives::{self, ArchiveFilter, ArchiveRow, ArchiveStatus, ArchiveSummary};
use store::repo::job_runs;
use utoipa::ToSchema;

use crate::access;
use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;

pub const DEFAULT_LIMIT: u64 = 100;

pub const MAX_LIMIT: u64 = 1000;

#[derive(Serialize, ToSchema, Debug, Clone)]
pub struct ArchiveOut {
    pub id: i64,
    pub tenant_id: i64,
    pub tenant: String,
    /// The day (in the archive time zone) whose messages the file holds.
    pub day: NaiveDate,
    pub file_name: String,
    pub size_bytes: i64,
    pub message_count: i64,
    /// Hex SHA-256 of the file, as `sha256sum` prints it.
    pub checksum: Option<String>,
    /// `writing`, `archived` or `deleted`.
    pub status: String,
    /// Why the last run of this day failed, if it did.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

pub(crate) fn archive_out(r: ArchiveRow, names: &HashMap<i64, String>) -> ArchiveOut {
    ArchiveOut {
        tenant: names
            .get(&r.tenant_id)
            .cloned()
            .unwrap_or_else(|| format!("#{}", r.tenant_id)),
        id: r.id,
        tenant_id: r.tenant_id,
        day: r.day,
        file_name: r.file_name,
        size_bytes: r.size_bytes,
        message_count: r.message_count,
        checksum: r.checksum,
        status: r.status.as_str().into(),
        error: r.error,
        created_at: r.created_at,
        deleted_at: r.deleted_at,
    }
}

#[derive(Serialize, ToSchema, Debug, Clone)]
pub struct ArchiveSummaryOut {
    pub tenant_id: i64,
    pub tenant: String,
    /// Files on disk, their bytes and the messages they hold.
    pub archived_files: i64,
    pub archived_bytes: i64,
    pub archived_messages: i64,
    /// Files removed (retention or by hand) and the messages they held.
    pub deleted_files: i64,
    pub deleted_messages: i64,
    /// Days with a run in progress or interrupted.
    pub writing: i64,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
}

pub(crate) fn summary_out(s: ArchiveSummary, names: &HashMap<i64, String>) -> ArchiveSummaryOut {
    ArchiveSummaryOut {
        tenant: names
            .get(&s.tenant_id)
            .cloned()
            .unwrap_or_else(|| format!("#{}", s.tenant_id)),
        tenant_id: s.tenant_id,
        archived_files: s.archived_files,
        archived_bytes: s.archived_bytes,
        archived_messages: s.archived_messages,
        deleted_files: s.deleted_files,
        deleted_messages: s.deleted_messages,
        writing: s.writing,
        first_day: s.first_day,
        last_day: s.last_day,
    }
}

#[derive(Deserialize, Default, Clone, utoipa::IntoParams)]
pub struct ArchivesQuery {
    /// A tenant id (default: every tenant you may see).
    pub tenant: Option<String>,
    /// `writing`, `archived` or `deleted`.
    pub status: Option<String>,
    /// Days from this one on (`YYYY-MM-DD`, inclusive).
    pub from: Option<String>,
    /// Days up to this one (`YYYY-MM-DD`, inclusive).
    pub to: Option<String>,
    /// 1–1000 (default 100).
    pub limit: Option<String>,
    /// Rows to skip (default 0).
    pub offset: Option<String>,
}

/// A checked [`ArchivesQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Archives {
    pub tenant: Option<i64>,
    pub status: Option<ArchiveStatus>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub limit: u64,
    pub offset: u64,
}

fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn number(field: &str, raw: Option<&str>, default: u64, max: u64) -> Result<u64, AppError> {
    match given(raw) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(AppError::invalid(
                field,
                format!("must be a whole number up to {max}"),
            )),
        },
    }
}

fn day(field: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, AppError> {
    given(raw)
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| AppError::invalid(field, "must be a date (YYYY-MM-DD)"))
        })
        .transpose()
}

impl ArchivesQuery {
    pub fn parse(&self) -> Result<Archives, AppError> {
        let tenant = given(self.tenant.as_deref())
            .map(|t| {
                t.parse::<i64>()
                    .map_err(|_| AppError::invalid("tenant", "must be a tenant id"))
            })
            .transpose()?;
        let status = given(self.status.as_deref())
            .map(|s| {
                ArchiveStatus::parse(s).ok_or_else(|| {
                    AppError::invalid("status", "must be writing, archived or deleted")
                })
            })
            .transpose()?;
        let (from, to) = (
            day("from", self.from.as_deref())?,
            day("to", self.to.as_deref())?,
        );
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            return Err(AppError::invalid("to", "is before from"));
        }
        let limit = number("limit", self.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
        if limit == 0 {
            return Err(AppError::invalid("limit", "must be at least 1"));
        }
        Ok(Archives {
            tenant,
            status,
            from,
            to,
            limit,
            offset: number("offset", self.offset.as_deref(), 0, i64::MAX as u64)?,
        })
    }
}

/// The ids of the tenants `q` asks about among `visible` (404 for one you may not see).
fn tenant_ids(visible: &[Tenant], tenant: Option<i64>) -> Result<Vec<i64>, AppError> {
    match tenant {
        Some(t) if visible.iter().any(|v| v.id == t) => Ok(vec![t]),
        Some(t) => Err(AppError::not_found(format!("tenant {t}"))),
        None => Ok(visible.iter().map(|t| t.id).collect()),
    }
}

/// Archives and per-tenant summaries among the tenants the user may see.
pub async fn load(
    state: &AppState,
    visible: &[Tenant],
    q: &Archives,
) -> Result<(Vec<ArchiveOut>, Vec<ArchiveSummaryOut>), AppError> {
    let ids = tenant_ids(visible, q.tenant)?;
    let filter = ArchiveFilter {
        tenant_ids: Some(&ids),
        status: q.status,
        from: q.from,
        to: q.to,
        limit: q.limit,
        offset: q.offset,
    };
    let (rows, sums) = futures::try_join!(
        archives::list(&state.db, &filter),
        archives::summary(&state.db, Some(&ids)),
    )?;
    let names = crate::service::messages::tenant_names(visible);
    Ok((
        rows.into_iter().map(|r| archive_out(r, &names)).collect(),
        sums.into_iter().map(|s| summary_out(s, &names)).collect(),
    ))
}

/// One archive of a tenant the user may see, with that tenant (404 otherwise, the same answer
/// for both so ids cannot be probed).
pub async fn visible_archive(
    state: &AppState,
    p: &Principal,
    id: i64,
) -> Result<(ArchiveRow, Tenant), AppError> {
    let Some(row) = archives::get(&state.db, id).await? else {
        return Err(AppError::not_found(format!("archive {id}")));
    };
    match access::tenant(state, p, row.tenant_id).await {
        Ok(t) => Ok((row, t)),
        Err(_) => Err(AppError::not_found(format!("archive {id}"))),
    }
}

/// Only `archived` rows have a file to serve or delete.
fn require_archived(row: &ArchiveRow) -> Result<(), AppError> {
    if row.status == ArchiveStatus::Archived {
        return Ok(());
    }
    Err(AppError::Conflict(format!(
        "archive {} is {}; only archived files can be downloaded or deleted",
        row.id, row.status
    )))
}

/// The file of an archive, if it is one the archiver wrote: a path inside `DATA_DIR`, so that a
/// row pointing elsewhere can never serve or delete another file. `None` when it does not exist.
fn archive_file(state: &AppState, row: &ArchiveRow) -> Result<Option<PathBuf>, AppError> {
    let path = Path::new(&row.path);
    if !path.exists() {
        return Ok(None);
    }
    let inside = || -> Option<PathBuf> {
        let file = path.canonicalize().ok()?;
        let root = state.data_dir.canonicalize().ok()?;
        file.starts_with(&root).then_some(file)
    };
    inside().map(Some).ok_or_else(|| {
        tracing::warn!(archive = row.id, path = %row.path, "archive file outside DATA_DIR refused");
        AppError::forbidden(format!(
            "the file of archive {} is not under DATA_DIR",
            row.id
        ))
    })
}

/// The file must still be the one its row records (SHA-256): a file changed or replaced since
/// (another archive written over it) is neither served nor deleted.
async fn require_recorded(row: &ArchiveRow) -> Result<(), AppError> {
    let r = row.clone();
    let check = tokio::task::spawn_blocking(move || archives::check_file(&r))
        .await
        .map_err(|_| AppError::Internal)?
        .map_err(|e| {
            tracing::error!(archive = row.id, "reading {}: {e}", row.path);
            AppError::Internal
        })?;
    match check {
        archives::FileCheck::Differs { found } => {
            let why = archives::mismatch_message(row, &found, "serve or delete");
            tracing::error!(archive = row.id, "{why}");
            Err(AppError::Conflict(why))
        }
        archives::FileCheck::Matches | archives::FileCheck::Missing => Ok(()),
    }
}

/// Delete an archive's file and mark the row `deleted` (managers). Refused while an archive run
/// of the tenant is active: it may still be deleting that day's rows, which only the file holds.
pub async fn delete_archive(
    state: &AppState,
    p: &Principal,
    id: i64,
) -> Result<ArchiveRow, AppError> {
    p.require(Role::Manager)?;
    let (row, t) = visible_archive(state, p, id).await?;
    if job_runs::active_run_exists(&state.db, t.id, "archive").await? {
        return Err(AppError::Conflict(format!(
            "an archive run of tenant {} is in progress; delete the file when it has finished",
            t.settings.name
        )));
    }
    require_archived(&row)?;
    // A file already gone (removed by hand) only needs its row marked.
    if let Some(file) = archive_file(state, &row)? {
        require_recorded(&row).await?;
        match tokio::fs::remove_file(&file).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(archive = id, "deleting {}: {e}", file.display());
                return Err(AppError::Internal);
            }
        }
    }
    archives::mark_deleted(&state.db, id, Utc::now()).await?;
    tracing::info!(archive = id, tenant = %t.settings.name, day = %row.day, user = %p.user.username, "archive file deleted");
    Ok(row)
}

/// Stream an archive file as a download (403 when the tenant's payloads are masked for you).
pub async fn download_archive(
    state: &AppState,
    p: &Principal,
    id: i64,
) -> Result<HttpResponse, AppError> {
    let (row, t) = visible_archive(state, p, id).await?;
    if access::masked(state, &p.user, &t) {
        return Err(AppError::forbidden(
            "payloads of this tenant are masked for your role; archive downloads are refused",
        ));
    }
    require_archived(&row)?;
    let Some(path) = archive_file(state, &row)? else {
        return Err(AppError::not_found(format!("the file of archive {id}")));
    };
    require_recorded(&row).await?;
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        tracing::error!(archive = id, "opening {}: {e}", path.display());
        AppError::not_found(format!("the file of archive {id}"))
    })?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let mut res = HttpResponse::Ok();
    res.content_type("application/gzip")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}\"",
                crate::service::messages::safe_file_name(&row.file_name)
            ),
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; sandbox"));
    if let Some(len) = len {
        res.no_chunking(len);
    }
    Ok(res.streaming(tokio_util::io::ReaderStream::new(file)))
}

/// Archive figures per tenant you may see.
pub async fn summary(state: &AppState, p: &Principal) -> Result<Vec<ArchiveSummaryOut>, AppError> {
    let visible = access::visible_tenants(state, p).await?;
    let ids: Vec<i64> = visible.iter().map(|t| t.id).collect();
    let names = crate::service::messages::tenant_names(&visible);
    let sums = archives::summary(&state.db, Some(&ids)).await?;
    let out: Vec<ArchiveSummaryOut> = sums.into_iter().map(|s| summary_out(s, &names)).collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> ArchivesQuery {
        let mut q = ArchivesQuery::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "tenant" => q.tenant = v,
                "status" => q.status = v,
                "from" => q.from = v,
                "to" => q.to = v,
                "limit" => q.limit = v,
                "offset" => q.offset = v,
                _ => unreachable!(),
            }
        }
        q
    }

    #[test]
    fn a_query_is_checked_field_by_field() {
        let ok = q(&[
            ("tenant", "3"),
            ("status", "archived"),
            ("from", "2026-01-01"),
            ("to", "2026-01-31"),
        ])
        .parse()
        .unwrap();
        assert_eq!(ok.tenant, Some(3));
        assert_eq!(ok.status, Some(ArchiveStatus::Archived));
        assert_eq!(ok.limit, DEFAULT_LIMIT);
        for (pairs, field) in [
            (vec![("tenant", "x")], "tenant"),
            (vec![("status", "gone")], "status"),
            (vec![("from", "1.1.2026")], "from"),
            (vec![("from", "2026-02-01"), ("to", "2026-01-01")], "to"),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "1001")], "limit"),
            (vec![("offset", "-1")], "offset"),
        ] {
            let err = q(&pairs).parse().unwrap_err();
            assert_eq!(err.fields()[0].field, field, "{pairs:?}");
        }
    }
}
