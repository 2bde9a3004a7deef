//! The message monitor at volume: `message_counts`, an hourly rollup of `message_logs` per
//! tenant, iFlow, package and status that facets, charts and the tenant overview read instead of
//! counting millions of rows; and the `(tenant_id, log_end, id)` index the monitor's keyset
//! paging walks; and a header index that also serves prefix searches on PostgreSQL.

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
enum MessageLogs {
    Table,
    TenantId,
    LogEnd,
    Id,
}

#[derive(DeriveIden)]
enum CustomHeaderProperties {
    Table,
    TenantId,
    Name,
    ValuePrefix,
}

/// The header index of m20261126_000002, which this migration replaces.
const OLD_HEADER_INDEX: &str = "idx_custom_header_properties_tenant_id_name_value_prefix";

#[derive(DeriveIden)]
enum MessageCounts {
    Table,
    Id,
    TenantId,
    HourStart,
    IflowId,
    PackageId,
    Status,
    IflowName,
    Count,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(MessageCounts::Table)
            .col(pk(MessageCounts::Id))
            .col(ref_id(MessageCounts::TenantId))
            // Start of the UTC hour the messages' LogEnd falls in.
            .col(timestamp_with_time_zone(MessageCounts::HourStart))
            // Key columns hold '' for a NULL in message_logs: NULLs are distinct in a unique
            // index on both backends, so they could not be upserted.
            .col(string(MessageCounts::IflowId))
            .col(string(MessageCounts::PackageId))
            .col(string(MessageCounts::Status))
            // A label for facets and charts; not part of the key.
            .col(string_null(MessageCounts::IflowName))
            .col(big_integer(MessageCounts::Count))
            .foreign_key(&mut fk_cascade(
                "fk_message_counts_tenant_id",
                (MessageCounts::Table, MessageCounts::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    use MessageCounts as C;
    vec![
        // The package is in the key too: an iFlow moved between packages within an hour
        // would otherwise be counted under one of them only.
        unique(
            "uq_message_counts_tenant_id_hour_start_iflow_package_status",
            C::Table,
            [
                C::TenantId,
                C::HourStart,
                C::IflowId,
                C::PackageId,
                C::Status,
            ],
        ),
        // Keyset paging on (log_end, id): ties in log_end are resolved inside the index instead
        // of by fetching and sorting every row of that instant.
        index(
            "idx_message_logs_tenant_id_log_end_id",
            MessageLogs::Table,
            [MessageLogs::TenantId, MessageLogs::LogEnd, MessageLogs::Id],
        ),
        // Replaces OLD_HEADER_INDEX. With the pattern operator class PostgreSQL can answer
        // `value_prefix LIKE 'abc%'` from the index whatever the database's collation (a plain
        // btree serves LIKE only under the C collation). SQLite has no operator classes and
        // gets the same plain index as before; it searches prefixes with a range instead.
        Index::create()
            .name("idx_custom_header_properties_tenant_name_value_prefix_pattern")
            .table(CustomHeaderProperties::Table)
            .col(CustomHeaderProperties::TenantId)
            .col(CustomHeaderProperties::Name)
            .col(
                IndexColumn::from(CustomHeaderProperties::ValuePrefix)
                    .with_operator_class(Alias::new("varchar_pattern_ops")),
            )
            .to_owned(),
    ]
}

fn old_header_index() -> IndexCreateStatement {
    index(
        OLD_HEADER_INDEX,
        CustomHeaderProperties::Table,
        [
            CustomHeaderProperties::TenantId,
            CustomHeaderProperties::Name,
            CustomHeaderProperties::ValuePrefix,
        ],
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // SQLite runs DDL in transactions too, so a failed migration leaves nothing half applied.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(OLD_HEADER_INDEX)
                    .table(CustomHeaderProperties::Table)
                    .to_owned(),
            )
            .await?;
        create_all(manager, tables(), indexes()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_message_logs_tenant_id_log_end_id")
                    .table(MessageLogs::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_custom_header_properties_tenant_name_value_prefix_pattern")
                    .table(CustomHeaderProperties::Table)
                    .to_owned(),
            )
            .await?;
        manager.create_index(old_header_index()).await?;
        drop_all(manager, [MessageCounts::Table.into_iden()]).await
    }
}
