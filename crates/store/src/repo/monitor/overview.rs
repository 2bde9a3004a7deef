//! Key figures of one tenant for the overview page.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};

use super::OVERVIEW_LIST_LIMIT;
use super::counting::{FacetCount, count_with_rollup};
use super::filter::MessageFilter;
use crate::connect::Db;
use crate::entity::{keystore_entries, runtime_artifacts, sync_state, tenants};
use crate::error::StoreError;
use crate::repo::{Sql, get};

/// An iFlow with failed messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingIflow {
    pub iflow_id: String,
    pub iflow_name: Option<String>,
    pub failed: i64,
}

/// A deployed artifact in status ERROR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInError {
    pub artifact_id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub artifact_type: Option<String>,
    pub deployed_at: Option<DateTime<Utc>>,
    pub error_text: Option<String>,
}

/// A keystore entry whose validity ends within 30 days (or has ended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiringCertificate {
    pub alias: String,
    pub entry_type: Option<String>,
    pub subject_dn: Option<String>,
    pub valid_not_after: DateTime<Utc>,
}

/// Collection health of one job type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobHealth {
    pub job_type: String,
    /// From the collector's own record (`sync_state`), else from the job history.
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: i32,
    pub watermark: Option<DateTime<Utc>>,
}

/// The tenant overview's key figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantKpis {
    pub tenant_id: i64,
    pub name: String,
    /// 'unknown' | 'ok' | 'unreachable' | 'stuck'
    pub status: String,
    pub status_message: Option<String>,
    pub status_at: Option<DateTime<Utc>>,
    pub unreachable: bool,
    /// Messages by status with `log_end` in `[now - 1h, now)`.
    pub last_hour: Vec<FacetCount>,
    pub last_hour_total: i64,
    /// Messages by status with `log_end` in `[now - 24h, now)`.
    pub last_24h: Vec<FacetCount>,
    pub last_24h_total: i64,
    /// iFlows with FAILED messages in the last 24 hours, most failures first.
    pub failing_iflows: Vec<FailingIflow>,
    pub artifacts_in_error_count: i64,
    /// At most [`OVERVIEW_LIST_LIMIT`], by artifact id.
    pub artifacts_in_error: Vec<ArtifactInError>,
    /// Ending before `now + 30 days`, soonest first, at most [`OVERVIEW_LIST_LIMIT`].
    pub expiring_certificates: Vec<ExpiringCertificate>,
    /// Per job type that has run or has state, by job type.
    pub jobs: Vec<JobHealth>,
    /// `now` minus the hot message sync's watermark: how far behind collection is.
    pub collection_lag_secs: Option<i64>,
}

/// The watermark the collection lag is measured on (the ingest worker's hot sync).
const LAG_JOB: &str = "messages_hot";

/// Key figures of one tenant at `now`; `None` when the tenant does not exist. The caller
/// checks that the tenant is visible.
pub async fn overview(
    db: &Db,
    tenant_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<TenantKpis>, StoreError> {
    let conn = db.conn();
    let Some(tenant) = tenants::Entity::find_by_id(tenant_id).one(conn).await? else {
        return Ok(None);
    };
    let window = |hours: i64| MessageFilter {
        tenant_ids: vec![tenant_id],
        from: Some(now - Duration::hours(hours)),
        to: Some(now),
        ..Default::default()
    };
    let hour = count_with_rollup(conn, &[tenant_id], &window(1), None).await?;
    let day = count_with_rollup(conn, &[tenant_id], &window(24), None).await?;
    let failed = domain::MessageStatus::Failed.as_str();
    let failing_iflows = day
        .by_iflow(Some(failed))
        .into_iter()
        .map(|f| FailingIflow {
            iflow_name: day.names.get(&f.value).cloned(),
            iflow_id: f.value,
            failed: f.count,
        })
        .collect();

    let in_error = || {
        runtime_artifacts::Entity::find()
            .filter(runtime_artifacts::Column::TenantId.eq(tenant_id))
            .filter(runtime_artifacts::Column::Status.eq("ERROR"))
    };
    let artifacts_in_error_count = in_error().count(conn).await?;
    let artifacts_in_error = in_error()
        .order_by_asc(runtime_artifacts::Column::ArtifactId)
        .limit(OVERVIEW_LIST_LIMIT)
        .all(conn)
        .await?
        .into_iter()
        .map(|a| ArtifactInError {
            artifact_id: a.artifact_id,
            name: a.name,
            version: a.version,
            artifact_type: a.artifact_type,
            deployed_at: a.deployed_at,
            error_text: a.error_text,
        })
        .collect();

    let expiring_certificates = keystore_entries::Entity::find()
        .filter(keystore_entries::Column::TenantId.eq(tenant_id))
        .filter(keystore_entries::Column::ValidNotAfter.lt(now + Duration::days(30)))
        .order_by_asc(keystore_entries::Column::ValidNotAfter)
        .order_by_asc(keystore_entries::Column::Alias)
        .limit(OVERVIEW_LIST_LIMIT)
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|k| {
            Some(ExpiringCertificate {
                valid_not_after: k.valid_not_after?,
                alias: k.alias,
                entry_type: k.entry_type,
                subject_dn: k.subject_dn,
            })
        })
        .collect();

    let mut jobs: BTreeMap<String, JobHealth> = BTreeMap::new();
    let mut collection_lag_secs = None;
    for s in sync_state::Entity::find()
        .filter(sync_state::Column::TenantId.eq(tenant_id))
        .all(conn)
        .await?
    {
        if s.job_type == LAG_JOB {
            collection_lag_secs = s.watermark.map(|w| (now - w).num_seconds().max(0));
        }
        jobs.insert(
            s.job_type.clone(),
            JobHealth {
                job_type: s.job_type,
                last_success_at: s.last_success_at,
                last_attempt_at: s.last_attempt_at,
                last_error: s.last_error,
                consecutive_failures: s.consecutive_failures,
                watermark: s.watermark,
            },
        );
    }
    // Jobs that keep no sync state (artifacts, keystore) are known from their runs.
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT job_type, MAX(finished_at) AS finished_at FROM job_runs WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND state = 'succeeded' GROUP BY job_type");
    for r in conn.query_all_raw(sql.statement()).await? {
        let job_type: String = get(&r, "job_type")?;
        let finished: Option<DateTime<Utc>> = get(&r, "finished_at")?;
        let entry = jobs.entry(job_type.clone()).or_insert_with(|| JobHealth {
            job_type,
            last_success_at: None,
            last_attempt_at: None,
            last_error: None,
            consecutive_failures: 0,
            watermark: None,
        });
        if entry.last_success_at.is_none() || finished > entry.last_success_at {
            entry.last_success_at = finished;
        }
    }

    Ok(Some(TenantKpis {
        tenant_id,
        unreachable: tenant.status == domain::tenant::TenantStatus::Unreachable.as_str(),
        name: tenant.name,
        status: tenant.status,
        status_message: tenant.status_message,
        status_at: tenant.status_at,
        last_hour: hour.by_status(),
        last_hour_total: hour.total(),
        last_24h: day.by_status(),
        last_24h_total: day.total(),
        failing_iflows,
        artifacts_in_error_count: i64::try_from(artifacts_in_error_count).unwrap_or(i64::MAX),
        artifacts_in_error,
        expiring_certificates,
        jobs: jobs.into_values().collect(),
        collection_lag_secs,
    }))
}
