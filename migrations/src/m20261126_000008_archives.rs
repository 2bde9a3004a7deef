//! Archive files of old messages (the earlier version's `cpiArchive`): one row per tenant-day,
//! written before the file so an interrupted run is visible (`writing`), and kept as metadata
//! after the file is deleted by retention (`deleted`).

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
enum Archives {
    Table,
    Id,
    TenantId,
    Day,
    FileName,
    Path,
    SizeBytes,
    MessageCount,
    Checksum,
    Status,
    Error,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(Archives::Table)
            .col(pk(Archives::Id))
            .col(ref_id(Archives::TenantId))
            // The day in the archive time zone (ARCHIVE_TIME_ZONE) whose messages the file holds.
            .col(date(Archives::Day))
            .col(string(Archives::FileName))
            // Absolute path of the file when it was written.
            .col(text(Archives::Path))
            .col(big_integer(Archives::SizeBytes).default(0))
            .col(big_integer(Archives::MessageCount).default(0))
            // Hex SHA-256 of the file's bytes (what `sha256sum` prints); null while writing.
            .col(string_null(Archives::Checksum))
            // 'writing' | 'archived' | 'deleted'
            .col(string(Archives::Status))
            // Why the last run of this day failed, if it did.
            .col(text_null(Archives::Error))
            .col(timestamp_with_time_zone(Archives::CreatedAt))
            .col(timestamp_with_time_zone(Archives::UpdatedAt))
            .col(timestamp_with_time_zone_null(Archives::DeletedAt))
            .foreign_key(&mut fk_cascade(
                "fk_archives_tenant_id",
                (Archives::Table, Archives::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        unique(
            "uq_archives_tenant_id_day",
            Archives::Table,
            [Archives::TenantId, Archives::Day],
        ),
        // The list page filters by status across tenants, newest day first.
        index(
            "idx_archives_status_day",
            Archives::Table,
            [Archives::Status, Archives::Day],
        ),
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
        drop_all(manager, [Archives::Table.into_iden()]).await
    }
}
