//! The `resources` job: reads the tenant's JMS broker (`JmsBrokers('Broker1')`) and its data
//! stores (`DataStores`) and replaces what the store holds for the tenant. Idempotent: a run
//! writes the same rows whenever it is repeated against the same answers.

use chrono::Utc;
use cpi::CpiClient;
use domain::resources::{DataStore, JmsBroker};
use domain::tenant::Tenant;
use serde::Serialize;
use store::Db;
use store::repo::resources;

use crate::error::JobError;

/// The run's summary (shown with the job run).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourcesReport {
    pub has_jms: bool,
    /// Capacity used in percent of the maximum, rounded to one decimal.
    pub jms_capacity_percent: Option<f64>,
    pub jms_queues: Option<i64>,
    pub jms_max_queues: Option<i64>,
    /// The broker limits it is near or over (`capacity_error`, `queues`, `consumers`, …).
    pub jms_limits: Vec<&'static str>,
    pub data_stores: u64,
    pub data_stores_with_overdue: u64,
}

pub async fn sync(
    db: &Db,
    client: &CpiClient,
    tenant: &Tenant,
) -> Result<ResourcesReport, JobError> {
    let broker = client.jms_broker().await?.map(|b| broker_of(&b));
    crate::error::stop_point()?;
    let stores: Vec<DataStore> = client.data_stores().await?.iter().map(store_of).collect();
    resources::replace(db, tenant.id, broker.as_ref(), &stores, Utc::now()).await?;
    Ok(ResourcesReport {
        has_jms: broker.is_some(),
        jms_capacity_percent: broker
            .as_ref()
            .and_then(JmsBroker::capacity_percent)
            .map(|p| (p * 10.0).round() / 10.0),
        jms_queues: broker.as_ref().and_then(|b| b.queue_count),
        jms_max_queues: broker.as_ref().and_then(|b| b.max_queue_count),
        jms_limits: broker
            .as_ref()
            .map(|b| b.limit_reasons().into_iter().map(|r| r.as_str()).collect())
            .unwrap_or_default(),
        data_stores: stores.len() as u64,
        data_stores_with_overdue: stores.iter().filter(|s| s.has_overdue()).count() as u64,
    })
}

/// CPI's `0`/`1` flags; anything else non-zero counts as high too.
fn flag(v: Option<i64>) -> Option<bool> {
    v.map(|n| n != 0)
}

pub fn broker_of(b: &cpi::JmsBroker) -> JmsBroker {
    JmsBroker {
        capacity: b.capacity,
        max_capacity: b.max_capacity,
        queue_count: b.queue_number,
        max_queue_count: b.max_queue_number,
        queues_ok: b.capacity_ok,
        queues_warning: b.capacity_warning,
        queues_error: b.capacity_error,
        transacted_sessions_high: flag(b.is_transacted_sessions_high),
        consumers_high: flag(b.is_consumers_high),
        producers_high: flag(b.is_producers_high),
    }
}

pub fn store_of(s: &cpi::DataStore) -> DataStore {
    DataStore {
        name: s.data_store_name.clone(),
        iflow: s.integration_flow.clone().unwrap_or_default(),
        store_type: s.store_type.clone().unwrap_or_default(),
        visibility: s.visibility.clone(),
        messages: s.number_of_messages,
        overdue: s.number_of_overdue_messages,
    }
}
