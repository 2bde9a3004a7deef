//! The history of queued jobs: one row per job id, updated as the job moves through its states
//! and attempts.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{create_all, drop_all, fk_set_null, index, pk, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum JobRuns {
    Table,
    Id,
    JobId,
    TenantId,
    JobType,
    Queue,
    State,
    Attempt,
    Params,
    Error,
    Worker,
    Counts,
    QueuedAt,
    StartedAt,
    FinishedAt,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(JobRuns::Table)
            .col(pk(JobRuns::Id))
            // The envelope's job id (a UUID as text, so both backends store it alike).
            .col(string(JobRuns::JobId))
            // Null for jobs that are not about one tenant, and once the tenant is deleted: the
            // history stays.
            .col(big_integer_null(JobRuns::TenantId))
            .col(string(JobRuns::JobType))
            .col(string(JobRuns::Queue))
            // 'queued' | 'running' | 'succeeded' | 'failed' | 'retried' | 'dead'
            .col(string(JobRuns::State))
            .col(integer(JobRuns::Attempt))
            // JSON object: the envelope's parameters.
            .col(text(JobRuns::Params).default("{}"))
            .col(text_null(JobRuns::Error))
            // Which process ran it (host/pid/replica).
            .col(string_null(JobRuns::Worker))
            // JSON object of what the job did (rows fetched, inserted, updated, …).
            .col(text_null(JobRuns::Counts))
            .col(timestamp_with_time_zone(JobRuns::QueuedAt))
            .col(timestamp_with_time_zone_null(JobRuns::StartedAt))
            .col(timestamp_with_time_zone_null(JobRuns::FinishedAt))
            .foreign_key(&mut fk_set_null(
                "fk_job_runs_tenant_id",
                (JobRuns::Table, JobRuns::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        unique("uq_job_runs_job_id", JobRuns::Table, [JobRuns::JobId]),
        index(
            "idx_job_runs_tenant_id_job_type_queued_at",
            JobRuns::Table,
            [JobRuns::TenantId, JobRuns::JobType, JobRuns::QueuedAt],
        ),
        index(
            "idx_job_runs_state_queued_at",
            JobRuns::Table,
            [JobRuns::State, JobRuns::QueuedAt],
        ),
        // The job list across all tenants, and the retention sweep of old rows.
        index(
            "idx_job_runs_queued_at",
            JobRuns::Table,
            [JobRuns::QueuedAt],
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
        drop_all(manager, [JobRuns::Table.into_iden()]).await
    }
}
