//! A CPI client per tenant, built from its stored settings and its decrypted secret, and kept
//! while the tenant's settings do not change (token cache and connection pool are reused).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use cpi::{CpiClient, RateLimits, TenantConfig};
use domain::job::TenantRef;
use domain::secret::SecretKey;
use domain::tenant::Tenant;
use store::Db;
use store::repo::tenants;

use crate::error::JobError;

/// How politely IntegraMon talks to tenants.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Requests in flight per tenant (`CPI_MAX_CONCURRENCY`). SAP limits requests per second,
    /// not in flight: at a real tenant's 150–200 ms a request, 20 in flight are needed to reach
    /// the MPL API's 100 per second that the rate limiter allows (4 reached about 25).
    pub max_concurrent_requests: usize,
    /// SAP's published per-user rates; off only for the simulator and benchmarks.
    pub sap_rate_limits: bool,
    /// Which targets may be called (`OUTBOUND_DENY_PRIVATE`).
    pub outbound: cpi::OutboundPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            max_concurrent_requests: 20,
            sap_rate_limits: true,
            outbound: cpi::OutboundPolicy::default(),
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
        let secret = match tenants::secret(db, &self.key, tenant.id).await {
            Ok(Some(secret)) => secret,
            Ok(None) => {
                return Err(JobError::Fail(format!(
                    "tenant {} has no stored credentials; set them in its settings",
                    tenant.settings.name
                )));
            }
            Err(tenants::CredentialError::Store(e)) => return Err(e.into()),
            Err(tenants::CredentialError::Key(e)) => {
                return Err(JobError::Fail(format!(
                    "the credentials of tenant {} cannot be decrypted ({e}); was SECRET_KEY changed?",
                    tenant.settings.name
                )));
            }
        };
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

/// A client for the tenant's connection settings and its opened secret.
pub fn build_client(
    tenant: &Tenant,
    secret: impl Into<cpi::Secret>,
    options: &ClientOptions,
) -> Result<CpiClient, JobError> {
    let mut config = TenantConfig::from_connection(&tenant.settings.connection, secret.into())
        .map_err(|e| JobError::Fail(format!("tenant {}: {e}", tenant.settings.name)))?;
    config.metrics_tenant = tenant.settings.name.clone();
    config.outbound = options.outbound;
    config.limits.max_concurrent_requests = options.max_concurrent_requests.max(1);
    if !options.sap_rate_limits {
        config.limits.rate = RateLimits::unlimited();
    }
    CpiClient::new(config)
        .map_err(|e| JobError::Fail(format!("tenant {}: {e}", tenant.settings.name)))
}
