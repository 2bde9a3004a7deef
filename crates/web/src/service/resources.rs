//! Tenant resources for the overview and `GET /api/tenants/{id}/resources`: the JMS broker's
//! usage against its limits and the data stores, as the last `resources` job stored them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::resources::{DataStore, JmsBroker, TenantResources};
use domain::tenant::Tenant;
use serde::Serialize;
use store::repo::resources;
use utoipa::ToSchema;

use crate::access;
use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;

/// A broker limit that is near or exceeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LimitOut {
    /// `capacity_error`, `capacity_warning`, `queues`, `transacted_sessions`, `consumers`,
    /// `producers`.
    pub reason: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JmsOut {
    /// Bytes used by all queues.
    pub capacity: Option<i64>,
    pub max_capacity: Option<i64>,
    /// Capacity used in percent of the maximum.
    pub capacity_percent: Option<f64>,
    pub queues: Option<i64>,
    pub max_queues: Option<i64>,
    pub queues_percent: Option<f64>,
    /// Queues whose fill level is fine / near / at their limit.
    pub queues_ok: Option<i64>,
    pub queues_warning: Option<i64>,
    pub queues_error: Option<i64>,
    pub transacted_sessions_high: Option<bool>,
    pub consumers_high: Option<bool>,
    pub producers_high: Option<bool>,
    /// Empty while the broker is within its limits.
    pub limits: Vec<LimitOut>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DataStoreOut {
    pub name: String,
    /// Empty for a global data store.
    pub iflow: String,
    pub store_type: String,
    pub visibility: Option<String>,
    pub messages: Option<i64>,
    /// Messages past their expiry that nobody fetched.
    pub overdue: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ResourcesOut {
    pub tenant_id: i64,
    /// When the last `resources` job read them; absent before its first run (then everything
    /// else is empty too).
    pub collected_at: Option<DateTime<Utc>>,
    /// False: the tenant has no JMS broker. Absent before the first run.
    pub has_jms: Option<bool>,
    pub jms: Option<JmsOut>,
    /// Sorted by name.
    pub data_stores: Vec<DataStoreOut>,
    /// How many data stores hold overdue messages.
    pub data_stores_with_overdue: usize,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn jms_out(b: &JmsBroker) -> JmsOut {
    JmsOut {
        capacity: b.capacity,
        max_capacity: b.max_capacity,
        capacity_percent: b.capacity_percent().map(round1),
        queues: b.queue_count,
        max_queues: b.max_queue_count,
        queues_percent: b.queue_percent().map(round1),
        queues_ok: b.queues_ok,
        queues_warning: b.queues_warning,
        queues_error: b.queues_error,
        transacted_sessions_high: b.transacted_sessions_high,
        consumers_high: b.consumers_high,
        producers_high: b.producers_high,
        limits: b
            .limit_reasons()
            .into_iter()
            .map(|r| LimitOut {
                reason: r.as_str().into(),
                text: r.describe().into(),
            })
            .collect(),
    }
}

fn store_out(d: &DataStore) -> DataStoreOut {
    DataStoreOut {
        name: d.name.clone(),
        iflow: d.iflow.clone(),
        store_type: d.store_type.clone(),
        visibility: d.visibility.clone(),
        messages: d.messages,
        overdue: d.overdue,
    }
}

pub fn resources_out(tenant_id: i64, r: Option<&TenantResources>) -> ResourcesOut {
    match r {
        None => ResourcesOut {
            tenant_id,
            collected_at: None,
            has_jms: None,
            jms: None,
            data_stores: Vec::new(),
            data_stores_with_overdue: 0,
        },
        Some(r) => ResourcesOut {
            tenant_id,
            collected_at: Some(r.collected_at),
            has_jms: Some(r.broker.is_some()),
            jms: r.broker.as_ref().map(jms_out),
            data_stores: r.data_stores.iter().map(store_out).collect(),
            data_stores_with_overdue: r.overdue_stores().count(),
        },
    }
}

/// One tenant's resources, if the caller may see the tenant.
pub async fn for_tenant(
    state: &AppState,
    p: &Principal,
    tenant_id: i64,
) -> Result<ResourcesOut, AppError> {
    let t = access::tenant(state, p, tenant_id).await?;
    let r = resources::get(&state.db, t.id).await?;
    Ok(resources_out(t.id, r.as_ref()))
}

/// The resources of tenants the caller already may see (the overview), by tenant id; tenants
/// whose job has not run yet are left out.
pub async fn for_tenants(
    state: &AppState,
    tenants: &[Tenant],
) -> Result<HashMap<i64, ResourcesOut>, AppError> {
    let mut out = HashMap::new();
    for t in tenants {
        if let Some(r) = resources::get(&state.db, t.id).await? {
            out.insert(t.id, resources_out(t.id, Some(&r)));
        }
    }
    Ok(out)
}
