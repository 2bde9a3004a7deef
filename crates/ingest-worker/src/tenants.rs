//! A CPI client per tenant, built from its stored settings and its decrypted secret, and kept
//! while the tenant's settings do not change (token cache and connection pool are reused).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use cpi::{CpiClient, RateLimits, TenantConfig};
use domain::job::TenantRef;
use domain::secret::{self, SecretKey};
use domain::tenant::Tenant;
use store::Db;
use store::repo::tenants;

use crate::error::JobError;

/// How politely IntegraMon talks to tenants.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub max_concurrent_requests: usize,
    /// SAP's published per-user rates; off only for the simulator and benchmarks.
    pub sap_rate_limits: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            max_concurrent_requests: 4,
            sap_rate_limits: true,
        }
    }
}

pub struct Clients {
    key: SecretKey,
    options: ClientOptions,
    cache: Mutex<HashMap<i64, (DateTime<Utc>, CpiClient)>>,
}

impl Clients {
    pub fn new(key: SecretKey, options: ClientOptions) -> Self {
        Self {
            key,
            options,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn tenant(&self, db: &Db, r: &TenantRef) -> Result<Tenant, JobError> {
        let found = match r {
            TenantRef::Id(id) => tenants::get(db, *id).await?,
            TenantRef::Name(name) => tenants::get_by_name(db, name).await?,
        };
        found.ok_or_else(|| JobError::Fail(format!("tenant {r} does not exist")))
    }

    pub async fn client(&self, db: &Db, tenant: &Tenant) -> Result<CpiClient, JobError> {
        if let Some(client) = self.cached(tenant) {
            return Ok(client);
        }
        let sealed = tenants::sealed_secret(db, tenant.id)
            .await?
            .ok_or_else(|| {
                JobError::Fail(format!(
                    "tenant {} has no stored credentials; set them in its settings",
                    tenant.settings.name
                ))
            })?;
        let secret = secret::open(&self.key, &sealed).map_err(|e| {
            JobError::Fail(format!(
                "the credentials of tenant {} cannot be decrypted ({e}); was SECRET_KEY changed?",
                tenant.settings.name
            ))
        })?;
        let client = build_client(tenant, secret, &self.options)?;
        self.lock()
            .insert(tenant.id, (tenant.updated_at, client.clone()));
        Ok(client)
    }

    /// Kept in its own function so the lock guard never lives across an await.
    fn cached(&self, tenant: &Tenant) -> Option<CpiClient> {
        let cache = self.lock();
        match cache.get(&tenant.id) {
            Some((at, client)) if *at == tenant.updated_at => Some(client.clone()),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (DateTime<Utc>, CpiClient)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A client for the tenant's connection settings and its plaintext secret.
pub fn build_client(
    tenant: &Tenant,
    secret: String,
    options: &ClientOptions,
) -> Result<CpiClient, JobError> {
    let mut config =
        TenantConfig::from_connection(&tenant.settings.connection, cpi::Secret::new(secret))
            .map_err(|e| JobError::Fail(format!("tenant {}: {e}", tenant.settings.name)))?;
    config.metrics_tenant = tenant.settings.name.clone();
    config.limits.max_concurrent_requests = options.max_concurrent_requests.max(1);
    if !options.sap_rate_limits {
        config.limits.rate = RateLimits::unlimited();
    }
    CpiClient::new(config)
        .map_err(|e| JobError::Fail(format!("tenant {}: {e}", tenant.settings.name)))
}
