//! Metric and storage snapshots (the metrics daemon): `metric_snapshots`, one row per tenant,
//! iFlow and fixed interval with message counts by status, duration percentiles and payload
//! volume; `storage_snapshots`, the database's size per table and in total and each tenant's
//! archive directory, taken at most every `METRICS_STORAGE_SECS`. Both have their own retention
//! (`METRICS_SNAPSHOT_RETENTION_DAYS`), so each is indexed on its time for the purge.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{create_all, drop_all, fk_cascade, index, pk, ref_id, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum MetricSnapshots {
    Table,
    Id,
    TenantId,
    BucketStart,
    BucketSecs,
    IflowId,
    IflowName,
    Messages,
    StatusCounts,
    DurationP50Ms,
    DurationP95Ms,
    DurationP99Ms,
    DurationMaxMs,
    PayloadCount,
    PayloadBytes,
    ComputedAt,
}

#[derive(DeriveIden)]
enum StorageSnapshots {
    Table,
    Id,
    TakenAt,
    Kind,
    Name,
    TenantId,
    Bytes,
    RowCount,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    use MetricSnapshots as M;
    use StorageSnapshots as S;
    vec![
        Table::create()
            .table(M::Table)
            .col(pk(M::Id))
            .col(ref_id(M::TenantId))
            // Start of the interval the messages' LogEnd falls in (a multiple of bucket_secs
            // since the Unix epoch).
            .col(timestamp_with_time_zone(M::BucketStart))
            .col(integer(M::BucketSecs))
            // '' for messages without an iFlow (key columns are never NULL).
            .col(string(M::IflowId))
            .col(string_null(M::IflowName))
            .col(big_integer(M::Messages))
            // JSON object: status -> count (statuses are an open set).
            .col(text(M::StatusCounts))
            // LogEnd - LogStart; NULL when no message of the row had both.
            .col(big_integer_null(M::DurationP50Ms))
            .col(big_integer_null(M::DurationP95Ms))
            .col(big_integer_null(M::DurationP99Ms))
            .col(big_integer_null(M::DurationMaxMs))
            .col(big_integer(M::PayloadCount))
            .col(big_integer(M::PayloadBytes))
            .col(timestamp_with_time_zone(M::ComputedAt))
            .foreign_key(&mut fk_cascade(
                "fk_metric_snapshots_tenant_id",
                (M::Table, M::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
        Table::create()
            .table(S::Table)
            .col(pk(S::Id))
            .col(timestamp_with_time_zone(S::TakenAt))
            // 'database' (name ''), 'table' (name = table), 'archive' (name = tenant name).
            .col(string(S::Kind))
            .col(string(S::Name))
            .col(big_integer_null(S::TenantId))
            // NULL when the backend cannot tell (SQLite without the dbstat table).
            .col(big_integer_null(S::Bytes))
            // Tables only; an estimate on PostgreSQL, exact on SQLite.
            .col(big_integer_null(S::RowCount))
            .foreign_key(&mut fk_cascade(
                "fk_storage_snapshots_tenant_id",
                (S::Table, S::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    use MetricSnapshots as M;
    use StorageSnapshots as S;
    vec![
        unique(
            "uq_metric_snapshots_tenant_id_bucket_start_iflow_id",
            M::Table,
            [M::TenantId, M::BucketStart, M::IflowId],
        ),
        index(
            "idx_metric_snapshots_bucket_start",
            M::Table,
            [M::BucketStart],
        ),
        index(
            "idx_storage_snapshots_kind_taken_at",
            S::Table,
            [S::Kind, S::TakenAt],
        ),
        index("idx_storage_snapshots_taken_at", S::Table, [S::TakenAt]),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_all(manager, tables(), indexes()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(
            manager,
            [
                StorageSnapshots::Table.into_iden(),
                MetricSnapshots::Table.into_iden(),
            ],
        )
        .await
    }
}
