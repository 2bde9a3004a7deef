//! What collection needs besides the data it collects: `job_firings`, one row per scheduled slot
//! a controller fired, so that two controllers (a failover overlap, a split brain) never fire
//! the same slot twice. The unique index does the arbitration on both backends.

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
enum JobFirings {
    Table,
    Id,
    TenantId,
    JobType,
    SlotKey,
    FiredAt,
    JobId,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(JobFirings::Table)
            .col(pk(JobFirings::Id))
            .col(ref_id(JobFirings::TenantId))
            .col(string(JobFirings::JobType))
            // The slot in the controller's words, e.g. the interval's start as RFC 3339 or a
            // planned day `2026-11-26`; text so any scheme fits.
            .col(text(JobFirings::SlotKey))
            .col(timestamp_with_time_zone(JobFirings::FiredAt))
            // The job id the winner published, to trace a firing to its job run.
            .col(string(JobFirings::JobId))
            .foreign_key(&mut fk_cascade(
                "fk_job_firings_tenant_id",
                (JobFirings::Table, JobFirings::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        unique(
            "uq_job_firings_tenant_id_job_type_slot_key",
            JobFirings::Table,
            [
                JobFirings::TenantId,
                JobFirings::JobType,
                JobFirings::SlotKey,
            ],
        ),
        // The sweep that forgets old firings.
        index(
            "idx_job_firings_fired_at",
            JobFirings::Table,
            [JobFirings::FiredAt],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // SQLite runs DDL in transactions too, so a failed migration leaves nothing half applied.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_all(manager, tables(), indexes()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, [JobFirings::Table.into_iden()]).await
    }
}
