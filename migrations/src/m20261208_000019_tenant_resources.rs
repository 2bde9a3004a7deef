//! Tenant resources, as the `resources` job last read them: `tenant_jms_brokers` (one row per
//! tenant: the JMS broker's usage against its limits, or `has_jms = false` for a tenant without
//! a broker) and `tenant_data_stores` (the data stores with their message counts). Each run
//! replaces both for its tenant. Existing tenants get the job's default setting (every 5 min).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{create_all, drop_all, fk_cascade, index, pk, ref_id, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TenantJmsBrokers {
    Table,
    Id,
    TenantId,
    HasJms,
    Capacity,
    MaxCapacity,
    QueueCount,
    MaxQueueCount,
    QueuesOk,
    QueuesWarning,
    QueuesError,
    TransactedSessionsHigh,
    ConsumersHigh,
    ProducersHigh,
    CollectedAt,
}

#[derive(DeriveIden)]
enum TenantDataStores {
    Table,
    Id,
    TenantId,
    Name,
    Iflow,
    StoreType,
    Visibility,
    Messages,
    Overdue,
    CollectedAt,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    use TenantDataStores as D;
    use TenantJmsBrokers as B;
    vec![
        Table::create()
            .table(B::Table)
            .col(pk(B::Id))
            .col(ref_id(B::TenantId))
            .col(boolean(B::HasJms))
            // Bytes.
            .col(big_integer_null(B::Capacity))
            .col(big_integer_null(B::MaxCapacity))
            .col(big_integer_null(B::QueueCount))
            .col(big_integer_null(B::MaxQueueCount))
            // Queues per fill level (CPI's CapacityOk/Warning/Error).
            .col(big_integer_null(B::QueuesOk))
            .col(big_integer_null(B::QueuesWarning))
            .col(big_integer_null(B::QueuesError))
            .col(boolean_null(B::TransactedSessionsHigh))
            .col(boolean_null(B::ConsumersHigh))
            .col(boolean_null(B::ProducersHigh))
            .col(timestamp_with_time_zone(B::CollectedAt))
            .foreign_key(&mut fk_cascade(
                "fk_tenant_jms_brokers_tenant_id",
                (B::Table, B::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
        Table::create()
            .table(D::Table)
            .col(pk(D::Id))
            .col(ref_id(D::TenantId))
            .col(string(D::Name))
            // Empty for a global data store.
            .col(string(D::Iflow))
            .col(string(D::StoreType))
            .col(string_null(D::Visibility))
            .col(big_integer_null(D::Messages))
            .col(big_integer_null(D::Overdue))
            .col(timestamp_with_time_zone(D::CollectedAt))
            .foreign_key(&mut fk_cascade(
                "fk_tenant_data_stores_tenant_id",
                (D::Table, D::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    use TenantDataStores as D;
    use TenantJmsBrokers as B;
    vec![
        unique("uq_tenant_jms_brokers_tenant_id", B::Table, [B::TenantId]),
        unique(
            "uq_tenant_data_stores_tenant_id_name_iflow_store_type",
            D::Table,
            [D::TenantId, D::Name, D::Iflow, D::StoreType],
        ),
        // The overview's "data stores with overdue messages".
        index(
            "idx_tenant_data_stores_tenant_id_overdue",
            D::Table,
            [D::TenantId, D::Overdue],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_all(manager, tables(), indexes()).await?;
        // The job's default (JobSettings::default_for(JobKind::Resources)) for tenants made
        // before it existed; new tenants get it from the defaults.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO tenant_jobs (tenant_id, job_type, enabled, interval_secs, plan_time, settings) \
                 SELECT id, 'resources', TRUE, 300, NULL, '{}' FROM tenants t WHERE NOT EXISTS \
                 (SELECT 1 FROM tenant_jobs j WHERE j.tenant_id = t.id AND j.job_type = 'resources')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM tenant_jobs WHERE job_type = 'resources'")
            .await?;
        drop_all(
            manager,
            [
                TenantDataStores::Table.into_iden(),
                TenantJmsBrokers::Table.into_iden(),
            ],
        )
        .await
    }
}
