//! Tenants and their per-job settings.
//!
//! Secrets are stored sealed. [`save`] takes the plaintext as a redacting [`Secret`] with the key
//! and seals it itself; [`secret`] opens it again for the callers that send it (the collector,
//! the connection test). Readers of settings get only [`Tenant::has_secret`]. [`create`] and
//! [`update_settings`] take an already sealed string (seeders, demos and tests).

use chrono::{DateTime, Utc};
use domain::Secret;
use domain::secret::{self as sealing, SecretError, SecretKey};
use domain::tenant::{
    Auth, AuthKind, CollectionSettings, ConnectionSettings, JobKind, JobSettings, PayloadStrategy,
    PlanTime, Retention, Tenant, TenantSettings, TenantStatus,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};

use super::{Sql, clean};
use crate::connect::Db;
use crate::entity::{tenant_jobs, tenants};
use crate::error::StoreError;

fn json_list(list: &[String]) -> String {
    let cleaned: Vec<String> = list.iter().map(|s| clean(s.trim())).collect();
    serde_json::to_string(&cleaned).unwrap_or_else(|_| "[]".into())
}

fn parse_list(table_col: &str, raw: &str) -> Result<Vec<String>, DbErr> {
    serde_json::from_str(raw).map_err(|e| DbErr::Json(format!("{table_col}: {e}")))
}

/// Fill the settings columns of a tenant row (everything but the secret, status and times).
fn apply_settings(am: &mut tenants::ActiveModel, s: &TenantSettings) {
    let (username, client_id, token_url) = match &s.connection.auth {
        Auth::Basic { username } => (Some(clean(username.trim())), None, None),
        Auth::OAuth2 {
            client_id,
            token_url,
        } => (
            None,
            Some(clean(client_id.trim())),
            Some(clean(token_url.trim())),
        ),
    };
    let c = &s.connection;
    let k = &s.collection;
    am.name = Set(clean(s.name.trim()));
    am.api_url = Set(clean(c.api_url.trim()));
    am.ui_url = Set(c.ui_url.as_deref().map(|u| clean(u.trim())));
    am.auth_kind = Set(c.auth.kind().as_str().to_owned());
    am.username = Set(username);
    am.client_id = Set(client_id);
    am.token_url = Set(token_url);
    am.tls_verify = Set(c.tls_verify);
    am.ca_cert = Set(c.ca_cert.as_deref().map(clean));
    am.enabled = Set(k.enabled);
    am.tags = Set(json_list(&k.tags));
    am.access_groups = Set(json_list(&s.access_groups));
    am.message_filter = Set(k.message_filter.as_deref().map(clean));
    am.collect_from = Set(k.collect_from);
    am.hot_window_secs = Set(i32::try_from(k.hot_window_secs).unwrap_or(i32::MAX));
    am.payload_strategy = Set(k.payload_strategy.as_str().to_owned());
    am.payload_max_bytes = Set(i64::try_from(k.payload_max_bytes).unwrap_or(i64::MAX));
    am.attachments_enabled = Set(k.attachments);
}

fn to_tenant(r: tenants::Model) -> Result<Tenant, DbErr> {
    let auth = match AuthKind::parse(&r.auth_kind) {
        Some(AuthKind::Basic) => Auth::Basic {
            username: r.username.unwrap_or_default(),
        },
        Some(AuthKind::OAuth2) => Auth::OAuth2 {
            client_id: r.client_id.unwrap_or_default(),
            token_url: r.token_url.unwrap_or_default(),
        },
        None => {
            return Err(DbErr::Type(format!(
                "tenant {}: unknown auth_kind {:?}",
                r.id, r.auth_kind
            )));
        }
    };
    let payload_strategy = PayloadStrategy::parse(&r.payload_strategy).ok_or_else(|| {
        DbErr::Type(format!(
            "tenant {}: unknown payload_strategy {:?}",
            r.id, r.payload_strategy
        ))
    })?;
    Ok(Tenant {
        id: r.id,
        has_secret: r.secret_enc.is_some(),
        status: TenantStatus::parse(&r.status),
        status_message: r.status_message,
        status_at: r.status_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
        settings: TenantSettings {
            name: r.name,
            access_groups: parse_list("tenants.access_groups", &r.access_groups)?,
            connection: ConnectionSettings {
                api_url: r.api_url,
                ui_url: r.ui_url,
                auth,
                tls_verify: r.tls_verify,
                ca_cert: r.ca_cert,
            },
            collection: CollectionSettings {
                enabled: r.enabled,
                tags: parse_list("tenants.tags", &r.tags)?,
                message_filter: r.message_filter,
                collect_from: r.collect_from,
                hot_window_secs: u32::try_from(r.hot_window_secs).unwrap_or(0),
                payload_strategy,
                payload_max_bytes: u64::try_from(r.payload_max_bytes).unwrap_or(0),
                attachments: r.attachments_enabled,
            },
        },
    })
}

/// Create a tenant with its default job settings ([`JobSettings::defaults`]) in one
/// transaction. `sealed_secret` is the output of `domain::secret::seal`. The caller validates
/// the settings ([`TenantSettings::validate`]); a taken name fails with a unique violation
/// ([`StoreError::is_unique_violation`]).
pub async fn create(
    db: &Db,
    settings: &TenantSettings,
    sealed_secret: Option<&str>,
) -> Result<Tenant, StoreError> {
    let txn = db.begin_write().await?;
    let tenant = create_in(&txn, settings, sealed_secret).await?;
    txn.commit().await?;
    Ok(tenant)
}

async fn create_in(
    txn: &DatabaseTransaction,
    settings: &TenantSettings,
    sealed_secret: Option<&str>,
) -> Result<Tenant, StoreError> {
    let now = Utc::now();
    let mut am = tenants::ActiveModel {
        secret_enc: Set(sealed_secret.map(str::to_owned)),
        status: Set(TenantStatus::Unknown.as_str().to_owned()),
        status_message: Set(None),
        status_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    apply_settings(&mut am, settings);
    let row = am.insert(txn).await?;
    for job in JobSettings::defaults() {
        upsert_job_in(txn, row.id, &job).await?;
    }
    Ok(to_tenant(row)?)
}

/// What saving or reading a tenant's secret can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing failed, or the stored secret does not open with this key (was `SECRET_KEY`
    /// changed?).
    #[error("tenant secret: {0}")]
    Key(#[from] SecretError),
}

/// Create (`id: None`) or update a tenant together with its job settings, in ONE transaction:
/// the settings, the secret (sealed here with `key`; `None` keeps the stored one) and every
/// job in `jobs` commit together or not at all, so a failed job write never leaves a tenant
/// half saved. A new tenant gets the default jobs first, which `jobs` then override.
pub async fn save(
    db: &Db,
    key: &SecretKey,
    id: Option<i64>,
    settings: &TenantSettings,
    secret: Option<&Secret>,
    jobs: &[JobSettings],
) -> Result<Tenant, CredentialError> {
    // Sealed before the transaction opens: no write lock is held while encrypting.
    let sealed = secret.map(|s| sealing::seal(key, s.expose())).transpose()?;
    let txn = db.begin_write().await?;
    let tenant = match id {
        None => create_in(&txn, settings, sealed.as_deref()).await?,
        Some(id) => update_in(&txn, id, settings, sealed.as_deref()).await?,
    };
    for job in jobs {
        upsert_job_in(&txn, tenant.id, job).await?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    Ok(tenant)
}

/// The tenant's stored secret, opened with `key`, for the callers that send it to the tenant.
/// `None`: none is stored.
pub async fn secret(db: &Db, key: &SecretKey, id: i64) -> Result<Option<Secret>, CredentialError> {
    match sealed_secret(db, id).await? {
        Some(sealed) => Ok(Some(Secret::new(sealing::open(key, &sealed)?))),
        None => Ok(None),
    }
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Tenant>, StoreError> {
    let row = tenants::Entity::find_by_id(id).one(db.conn()).await?;
    Ok(row.map(to_tenant).transpose()?)
}

pub async fn get_by_name(db: &Db, name: &str) -> Result<Option<Tenant>, StoreError> {
    let row = tenants::Entity::find()
        .filter(tenants::Column::Name.eq(name.trim()))
        .one(db.conn())
        .await?;
    Ok(row.map(to_tenant).transpose()?)
}

/// Every tenant, by name.
pub async fn list(db: &Db) -> Result<Vec<Tenant>, StoreError> {
    let rows = tenants::Entity::find()
        .order_by_asc(tenants::Column::Name)
        .all(db.conn())
        .await?;
    Ok(rows.into_iter().map(to_tenant).collect::<Result<_, _>>()?)
}

/// The tenants whose collection is enabled, by name: what the controller schedules.
pub async fn list_enabled(db: &Db) -> Result<Vec<Tenant>, StoreError> {
    let rows = tenants::Entity::find()
        .filter(tenants::Column::Enabled.eq(true))
        .order_by_asc(tenants::Column::Name)
        .all(db.conn())
        .await?;
    Ok(rows.into_iter().map(to_tenant).collect::<Result<_, _>>()?)
}

/// Replace a tenant's settings. `sealed_secret: None` keeps the stored secret (secrets are
/// write-only: a form that does not resend one must not erase it); `Some` replaces it.
pub async fn update_settings(
    db: &Db,
    id: i64,
    settings: &TenantSettings,
    sealed_secret: Option<&str>,
) -> Result<Tenant, StoreError> {
    let txn = db.begin_write().await?;
    let tenant = update_in(&txn, id, settings, sealed_secret).await?;
    txn.commit().await?;
    Ok(tenant)
}

async fn update_in(
    txn: &DatabaseTransaction,
    id: i64,
    settings: &TenantSettings,
    sealed_secret: Option<&str>,
) -> Result<Tenant, StoreError> {
    let Some(row) = tenants::Entity::find_by_id(id).one(txn).await? else {
        return Err(DbErr::RecordNotFound(format!("tenant {id}")).into());
    };
    let mut am = row.into_active_model();
    apply_settings(&mut am, settings);
    if let Some(secret) = sealed_secret {
        am.secret_enc = Set(Some(secret.to_owned()));
    }
    am.updated_at = Set(Utc::now());
    let row = am.update(txn).await?;
    Ok(to_tenant(row)?)
}

/// The sealed secret, as stored. Callers that need the value use [`secret`].
pub async fn sealed_secret(db: &Db, id: i64) -> Result<Option<String>, StoreError> {
    let row = tenants::Entity::find_by_id(id).one(db.conn()).await?;
    match row {
        Some(r) => Ok(r.secret_enc),
        None => Err(DbErr::RecordNotFound(format!("tenant {id}")).into()),
    }
}

/// Record whether the tenant was reachable, with the reason when it was not.
pub async fn set_status(
    db: &Db,
    id: i64,
    status: TenantStatus,
    message: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("UPDATE tenants SET status = ")
        .bind(status.as_str())
        .push(", status_message = ")
        .bind(message.map(clean))
        .push(", status_at = ")
        .bind(at)
        .push(" WHERE id = ")
        .bind(id);
    let n = db
        .conn()
        .execute_raw(sql.statement())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(DbErr::RecordNotFound(format!("tenant {id}")).into());
    }
    Ok(())
}

/// Delete a tenant and everything collected for it (foreign keys cascade; job history stays
/// with its tenant cleared). Returns whether it existed.
pub async fn delete(db: &Db, id: i64) -> Result<bool, StoreError> {
    let txn = db.begin_write().await?;
    let n = tenants::Entity::delete_by_id(id)
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(n > 0)
}

fn to_job(r: tenant_jobs::Model) -> Result<JobSettings, DbErr> {
    let retention: Retention = serde_json::from_str(&r.settings)
        .map_err(|e| DbErr::Json(format!("tenant_jobs {} settings: {e}", r.id)))?;
    let plan_time = match r.plan_time.as_deref() {
        Some(t) => Some(
            t.parse::<PlanTime>()
                .map_err(|e| DbErr::Type(format!("tenant_jobs {} plan_time: {e}", r.id)))?,
        ),
        None => None,
    };
    Ok(JobSettings {
        kind: JobKind::parse(&r.job_type),
        enabled: r.enabled,
        interval_secs: r.interval_secs.and_then(|s| u32::try_from(s).ok()),
        plan_time,
        retention,
    })
}

/// A tenant's job settings, in [`JobKind::ALL`] order (unknown kinds last, by name).
pub async fn jobs(db: &Db, tenant_id: i64) -> Result<Vec<JobSettings>, StoreError> {
    let rows = tenant_jobs::Entity::find()
        .filter(tenant_jobs::Column::TenantId.eq(tenant_id))
        .all(db.conn())
        .await?;
    let mut jobs: Vec<JobSettings> = rows.into_iter().map(to_job).collect::<Result<_, _>>()?;
    sort_jobs(&mut jobs);
    Ok(jobs)
}

/// [`JobKind::ALL`] order, unknown kinds last by name.
fn sort_jobs(jobs: &mut [JobSettings]) {
    jobs.sort_by_key(|j| {
        let rank = JobKind::ALL
            .iter()
            .position(|k| *k == j.kind)
            .unwrap_or(JobKind::ALL.len());
        (rank, j.kind.as_str().to_owned())
    });
}

/// The job settings of every tenant, by tenant id, in one query (for lists of tenants).
pub async fn all_jobs(
    db: &Db,
) -> Result<std::collections::HashMap<i64, Vec<JobSettings>>, StoreError> {
    let rows = tenant_jobs::Entity::find().all(db.conn()).await?;
    let mut out: std::collections::HashMap<i64, Vec<JobSettings>> = Default::default();
    for r in rows {
        let tenant = r.tenant_id;
        out.entry(tenant).or_default().push(to_job(r)?);
    }
    for jobs in out.values_mut() {
        sort_jobs(jobs);
    }
    Ok(out)
}

/// Every job setting of every tenant whose collection is enabled: the controller's schedule.
pub async fn enabled_jobs(db: &Db) -> Result<Vec<(i64, JobSettings)>, StoreError> {
    let rows = tenant_jobs::Entity::find()
        .inner_join(tenants::Entity)
        .filter(tenants::Column::Enabled.eq(true))
        .order_by_asc(tenant_jobs::Column::TenantId)
        .order_by_asc(tenant_jobs::Column::JobType)
        .all(db.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Ok((r.tenant_id, to_job(r)?)))
        .collect::<Result<_, DbErr>>()?)
}

/// Insert or replace one job's settings for a tenant.
pub async fn upsert_job(db: &Db, tenant_id: i64, job: &JobSettings) -> Result<(), StoreError> {
    let txn = db.begin_write().await?;
    upsert_job_in(&txn, tenant_id, job).await?;
    txn.commit().await?;
    Ok(())
}

/// [`upsert_job`] inside a transaction the caller holds.
pub async fn upsert_job_in<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    job: &JobSettings,
) -> Result<(), StoreError> {
    let settings = serde_json::to_string(&job.retention)
        .map_err(|e| DbErr::Json(format!("job settings: {e}")))?;
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push("INSERT INTO tenant_jobs (tenant_id, job_type, enabled, interval_secs, plan_time, settings) VALUES ")
        .tuple(|t| {
            t.bind(tenant_id)
                .bind(job.kind.as_str())
                .bind(job.enabled)
                .bind(job.interval_secs.map(|s| i32::try_from(s).unwrap_or(i32::MAX)))
                .bind(job.plan_time.map(|p| p.to_string()))
                .bind(settings);
        })
        .push(
            " ON CONFLICT (tenant_id, job_type) DO UPDATE SET enabled = excluded.enabled, \
             interval_secs = excluded.interval_secs, plan_time = excluded.plan_time, \
             settings = excluded.settings",
        );
    conn.execute_raw(sql.statement()).await?;
    Ok(())
}
