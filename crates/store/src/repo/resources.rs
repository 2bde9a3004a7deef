//! Tenant resources (the `resources` job): the JMS broker snapshot and the data stores of a
//! tenant. Each run replaces both in one transaction, so a reader never sees half a run and
//! running the job twice leaves the same rows.

use chrono::{DateTime, Utc};
use domain::resources::{DataStore, JmsBroker, TenantResources};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::Db;
use crate::entity::{tenant_data_stores, tenant_jms_brokers};
use crate::error::StoreError;

/// Rows per insert statement: 9 columns each, far below either backend's bind limit.
const CHUNK: usize = 500;

/// What [`replace`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaced {
    pub data_stores: usize,
    /// Data stores the previous run had stored.
    pub previous_data_stores: usize,
}

/// Replace the tenant's broker snapshot (`None`: the tenant has no JMS broker) and its data
/// stores. Data stores with the same key (name, iFlow, type) are stored once, the last wins.
pub async fn replace(
    db: &Db,
    tenant_id: i64,
    broker: Option<&JmsBroker>,
    stores: &[DataStore],
    collected_at: DateTime<Utc>,
) -> Result<Replaced, StoreError> {
    let mut unique: Vec<&DataStore> = Vec::with_capacity(stores.len());
    for s in stores {
        match unique
            .iter_mut()
            .find(|u| (&u.name, &u.iflow, &u.store_type) == (&s.name, &s.iflow, &s.store_type))
        {
            Some(slot) => *slot = s,
            None => unique.push(s),
        }
    }
    let txn = db.begin_write().await?;
    tenant_jms_brokers::Entity::delete_many()
        .filter(tenant_jms_brokers::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?;
    let b = broker.cloned().unwrap_or_default();
    tenant_jms_brokers::Entity::insert(tenant_jms_brokers::ActiveModel {
        tenant_id: Set(tenant_id),
        has_jms: Set(broker.is_some()),
        capacity: Set(b.capacity),
        max_capacity: Set(b.max_capacity),
        queue_count: Set(b.queue_count),
        max_queue_count: Set(b.max_queue_count),
        queues_ok: Set(b.queues_ok),
        queues_warning: Set(b.queues_warning),
        queues_error: Set(b.queues_error),
        transacted_sessions_high: Set(b.transacted_sessions_high),
        consumers_high: Set(b.consumers_high),
        producers_high: Set(b.producers_high),
        collected_at: Set(collected_at),
        ..Default::default()
    })
    .exec_without_returning(&txn)
    .await?;
    let previous = tenant_data_stores::Entity::delete_many()
        .filter(tenant_data_stores::Column::TenantId.eq(tenant_id))
        .exec(&txn)
        .await?
        .rows_affected as usize;
    for chunk in unique.chunks(CHUNK) {
        let rows = chunk.iter().map(|s| tenant_data_stores::ActiveModel {
            tenant_id: Set(tenant_id),
            name: Set(s.name.clone()),
            iflow: Set(s.iflow.clone()),
            store_type: Set(s.store_type.clone()),
            visibility: Set(s.visibility.clone()),
            messages: Set(s.messages),
            overdue: Set(s.overdue),
            collected_at: Set(collected_at),
            ..Default::default()
        });
        tenant_data_stores::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(Replaced {
        data_stores: unique.len(),
        previous_data_stores: previous,
    })
}

/// What the last run stored; `None` before the first run.
pub async fn get(db: &Db, tenant_id: i64) -> Result<Option<TenantResources>, StoreError> {
    let Some(b) = tenant_jms_brokers::Entity::find()
        .filter(tenant_jms_brokers::Column::TenantId.eq(tenant_id))
        .one(db.conn())
        .await?
    else {
        return Ok(None);
    };
    let stores = tenant_data_stores::Entity::find()
        .filter(tenant_data_stores::Column::TenantId.eq(tenant_id))
        .order_by_asc(tenant_data_stores::Column::Name)
        .order_by_asc(tenant_data_stores::Column::Iflow)
        .order_by_asc(tenant_data_stores::Column::StoreType)
        .all(db.conn())
        .await?;
    Ok(Some(TenantResources {
        collected_at: b.collected_at,
        broker: b.has_jms.then_some(JmsBroker {
            capacity: b.capacity,
            max_capacity: b.max_capacity,
            queue_count: b.queue_count,
            max_queue_count: b.max_queue_count,
            queues_ok: b.queues_ok,
            queues_warning: b.queues_warning,
            queues_error: b.queues_error,
            transacted_sessions_high: b.transacted_sessions_high,
            consumers_high: b.consumers_high,
            producers_high: b.producers_high,
        }),
        data_stores: stores
            .into_iter()
            .map(|s| DataStore {
                name: s.name,
                iflow: s.iflow,
                store_type: s.store_type,
                visibility: s.visibility,
                messages: s.messages,
                overdue: s.overdue,
            })
            .collect(),
    }))
}
