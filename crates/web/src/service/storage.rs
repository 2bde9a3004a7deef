//! Storage use over time and tenant metrics, for `api::storage` and `pages::storage`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::user::Role;
use serde::{Deserialize, Serialize};
use store::repo::snapshots::{self, MetricSnapshot, StorageKind, StorageRow};
use utoipa::ToSchema;

use crate::access;
use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;

/// Days of storage history returned when none are asked for, and the most.
pub const DEFAULT_DAYS: i64 = 30;

pub const MAX_DAYS: i64 = 3650;

/// Metric snapshot rows one call returns at most.
pub const MAX_METRIC_ROWS: u64 = 20_000;

#[derive(Deserialize, Default, utoipa::IntoParams)]
pub struct StorageQuery {
    /// Days of history (1–3650, default 30).
    pub days: Option<String>,
}

#[derive(Serialize, ToSchema, Debug, Clone, PartialEq)]
pub struct TableOut {
    pub table: String,
    /// Table, indexes and TOAST; absent where the backend cannot tell.
    pub bytes: Option<i64>,
    /// Exact on SQLite, the statistics' estimate on PostgreSQL.
    pub rows: Option<i64>,
}

#[derive(Serialize, ToSchema, Debug, Clone, PartialEq)]
pub struct ArchiveOut {
    pub tenant_id: i64,
    pub tenant: String,
    /// Bytes under `${DATA_DIR}/<tenant>/archive/`; absent when it could not be measured.
    pub bytes: Option<i64>,
}

/// One measurement of the history.
#[derive(Serialize, ToSchema, Debug, Clone, PartialEq)]
pub struct StoragePointOut {
    pub taken_at: DateTime<Utc>,
    /// `database`, `table` or `archive`.
    pub kind: String,
    /// The table, the tenant (archive), or empty (database).
    pub name: String,
    pub tenant_id: Option<i64>,
    pub bytes: Option<i64>,
    pub rows: Option<i64>,
}

#[derive(Serialize, ToSchema, Debug, Clone, PartialEq)]
pub struct StorageOut {
    /// When the newest snapshot was taken (absent before the first).
    pub taken_at: Option<DateTime<Utc>>,
    /// The database's size then: the SQLite file and its WAL, or `pg_database_size`.
    pub database_bytes: Option<i64>,
    /// Every table then, largest first.
    pub tables: Vec<TableOut>,
    /// Archive directories then, of the tenants you may see.
    pub archives: Vec<ArchiveOut>,
    /// Everything since `from`, oldest first.
    pub history: Vec<StoragePointOut>,
    pub from: DateTime<Utc>,
    /// True when no snapshot exists yet (a fresh installation's first hour): `tables` were
    /// measured for this answer instead.
    pub live: bool,
}

/// The storage figures for a user: archive rows of tenants they may not see are dropped.
pub async fn load_storage(
    state: &AppState,
    p: &Principal,
    days: i64,
) -> Result<StorageOut, AppError> {
    p.require(Role::Manager)?;
    let visible = access::visible_tenants(state, p).await?;
    let names = crate::service::messages::tenant_names(&visible);
    let from = Utc::now() - chrono::Duration::days(days);
    let rows: Vec<StorageRow> = snapshots::storage_since(&state.db, from)
        .await?
        .into_iter()
        .filter(|r| {
            r.kind != StorageKind::Archive || r.tenant_id.is_some_and(|t| names.contains_key(&t))
        })
        .collect();
    let taken_at = rows
        .iter()
        .filter(|r| r.kind == StorageKind::Database)
        .map(|r| r.taken_at)
        .max();
    let latest: Vec<&StorageRow> = rows
        .iter()
        .filter(|r| Some(r.taken_at) == taken_at)
        .collect();
    let database_bytes = latest
        .iter()
        .find(|r| r.kind == StorageKind::Database)
        .and_then(|r| r.bytes);
    let mut tables: Vec<TableOut> = latest
        .iter()
        .filter(|r| r.kind == StorageKind::Table)
        .map(|r| TableOut {
            table: r.name.clone(),
            bytes: r.bytes,
            rows: r.row_count,
        })
        .collect();
    tables.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.table.cmp(&b.table)));
    let archives = latest
        .iter()
        .filter(|r| r.kind == StorageKind::Archive)
        .filter_map(|r| {
            let id = r.tenant_id?;
            Some(ArchiveOut {
                tenant_id: id,
                tenant: names.get(&id).cloned().unwrap_or_else(|| r.name.clone()),
                bytes: r.bytes,
            })
        })
        .collect();
    let history = rows
        .into_iter()
        .map(|r| StoragePointOut {
            taken_at: r.taken_at,
            kind: r.kind.as_str().to_string(),
            name: r.name,
            tenant_id: r.tenant_id,
            bytes: r.bytes,
            rows: r.row_count,
        })
        .collect();
    // Before the metrics daemon's first snapshot the page would be empty: measure the tables
    // now (a fresh installation's tables are small, so this is quick).
    let live = taken_at.is_none();
    if live {
        tables = snapshots::table_stats(&state.db)
            .await?
            .into_iter()
            .map(|t| TableOut {
                table: t.table,
                bytes: t.bytes,
                rows: t.rows,
            })
            .collect();
        tables.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.table.cmp(&b.table)));
    }
    Ok(StorageOut {
        taken_at,
        database_bytes,
        tables,
        archives,
        history,
        from,
        live,
    })
}

pub fn parse_days(raw: Option<&str>) -> Result<i64, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(DEFAULT_DAYS),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=MAX_DAYS).contains(&n) => Ok(n),
            _ => Err(AppError::invalid("days", "must be a number from 1 to 3650")),
        },
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
pub struct MetricsQuery {
    /// RFC 3339; default 24 hours before `to`.
    pub from: Option<String>,
    /// RFC 3339; default now.
    pub to: Option<String>,
    /// Only this iFlow (its id; empty for messages without one).
    pub iflow: Option<String>,
}

#[derive(Serialize, ToSchema, Debug, Clone, PartialEq)]
pub struct MetricSnapshotOut {
    pub bucket_start: DateTime<Utc>,
    pub bucket_secs: i32,
    /// Empty for messages without an iFlow.
    pub iflow_id: String,
    pub iflow_name: Option<String>,
    pub messages: i64,
    /// Status → messages.
    pub status_counts: BTreeMap<String, i64>,
    /// LogEnd − LogStart percentiles (nearest rank) and maximum, in milliseconds.
    pub duration_p50_ms: Option<i64>,
    pub duration_p95_ms: Option<i64>,
    pub duration_p99_ms: Option<i64>,
    pub duration_max_ms: Option<i64>,
    /// Payload entries (with a known size) of these messages, and their bytes.
    pub payload_count: i64,
    pub payload_bytes: i64,
}

#[derive(Serialize, ToSchema, Debug, Clone, PartialEq)]
pub struct TenantMetricsOut {
    pub tenant_id: i64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Oldest first; at most 20000 rows.
    pub snapshots: Vec<MetricSnapshotOut>,
}

fn snapshot_out(s: MetricSnapshot) -> MetricSnapshotOut {
    MetricSnapshotOut {
        bucket_start: s.bucket_start,
        bucket_secs: s.bucket_secs,
        iflow_id: s.iflow_id,
        iflow_name: s.iflow_name,
        messages: s.messages,
        status_counts: s.status_counts,
        duration_p50_ms: s.duration_p50_ms,
        duration_p95_ms: s.duration_p95_ms,
        duration_p99_ms: s.duration_p99_ms,
        duration_max_ms: s.duration_max_ms,
        payload_count: s.payload_count,
        payload_bytes: s.payload_bytes,
    }
}

pub(crate) fn time(raw: Option<&str>, field: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => crate::query::parse_time(s)
            .map(Some)
            .ok_or_else(|| AppError::invalid(field, "must be RFC 3339")),
    }
}

/// A tenant's metric snapshots per interval and iFlow; `path` is the tenant id as written in
/// the address (anything else is "no such tenant").
pub async fn tenant_metrics(
    state: &AppState,
    p: &Principal,
    path: &str,
    q: &MetricsQuery,
) -> Result<TenantMetricsOut, AppError> {
    let id = path
        .trim()
        .parse::<i64>()
        .map_err(|_| AppError::not_found(format!("tenant {path}")))?;
    let tenant = access::tenant(state, p, id).await?;
    let to = time(q.to.as_deref(), "to")?.unwrap_or_else(Utc::now);
    let from = match time(q.from.as_deref(), "from")? {
        Some(f) => f,
        None => to
            .checked_sub_signed(chrono::Duration::hours(24))
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    };
    if from > to {
        return Err(AppError::invalid("from", "must not be after to"));
    }
    let iflow = q.iflow.as_deref().map(str::trim);
    // Ids are short printable text; anything else (a NUL would fail on PostgreSQL) is refused.
    if iflow.is_some_and(|i| i.chars().count() > 1000 || i.chars().any(char::is_control)) {
        return Err(AppError::invalid("iflow", "is not an iFlow id"));
    }
    let rows = match iflow {
        Some(iflow) => {
            snapshots::metric_snapshots_of_iflow(
                &state.db,
                tenant.id,
                iflow,
                from,
                to,
                MAX_METRIC_ROWS,
            )
            .await?
        }
        None => {
            snapshots::metric_snapshots(&state.db, &[tenant.id], from, to, MAX_METRIC_ROWS).await?
        }
    };
    let snapshots = rows.into_iter().map(snapshot_out).collect();
    Ok(TenantMetricsOut {
        tenant_id: tenant.id,
        from,
        to,
        snapshots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_checked() {
        assert_eq!(parse_days(None).unwrap(), DEFAULT_DAYS);
        assert_eq!(parse_days(Some(" 7 ")).unwrap(), 7);
        assert!(parse_days(Some("0")).is_err());
        assert!(parse_days(Some("x")).is_err());
        assert!(parse_days(Some("3651")).is_err());
    }
}
