//! Tenants, their per-job settings, and the per-job sync state the collectors keep.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{create_all, drop_all, fk_cascade, pk, ref_id, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    ApiUrl,
    UiUrl,
    AuthKind,
    Username,
    ClientId,
    TokenUrl,
    SecretEnc,
    TlsVerify,
    CaCert,
    Enabled,
    Tags,
    AccessGroups,
    MessageFilter,
    CollectFrom,
    HotWindowSecs,
    PayloadStrategy,
    PayloadMaxBytes,
    AttachmentsEnabled,
    Status,
    StatusMessage,
    StatusAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TenantJobs {
    Table,
    Id,
    TenantId,
    JobType,
    Enabled,
    IntervalSecs,
    PlanTime,
    Settings,
}

#[derive(DeriveIden)]
enum SyncState {
    Table,
    Id,
    TenantId,
    JobType,
    Watermark,
    ResumeState,
    LastAttemptAt,
    LastSuccessAt,
    LastError,
    ConsecutiveFailures,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(Tenants::Table)
            .col(pk(Tenants::Id))
            .col(string(Tenants::Name))
            .col(string(Tenants::ApiUrl))
            .col(string_null(Tenants::UiUrl))
            // 'basic' | 'oauth2'; no CHECK constraint because SQLite cannot alter one later.
            .col(string(Tenants::AuthKind))
            .col(string_null(Tenants::Username))
            .col(string_null(Tenants::ClientId))
            .col(string_null(Tenants::TokenUrl))
            // Password or client secret, encrypted by the application; null only while a tenant
            // has never been given one.
            .col(text_null(Tenants::SecretEnc))
            .col(boolean(Tenants::TlsVerify).default(true))
            .col(text_null(Tenants::CaCert))
            .col(boolean(Tenants::Enabled).default(true))
            // JSON arrays of strings, stored as text so both backends read them the same way.
            .col(text(Tenants::Tags).default("[]"))
            .col(text(Tenants::AccessGroups).default("[]"))
            .col(text_null(Tenants::MessageFilter))
            .col(timestamp_with_time_zone_null(Tenants::CollectFrom))
            .col(integer(Tenants::HotWindowSecs))
            // 'none' | 'failed' | 'all'
            .col(string(Tenants::PayloadStrategy))
            .col(big_integer(Tenants::PayloadMaxBytes))
            .col(boolean(Tenants::AttachmentsEnabled).default(false))
            // 'unknown' | 'ok' | 'unreachable'
            .col(string(Tenants::Status).default("unknown"))
            .col(text_null(Tenants::StatusMessage))
            .col(timestamp_with_time_zone_null(Tenants::StatusAt))
            .col(timestamp_with_time_zone(Tenants::CreatedAt))
            .col(timestamp_with_time_zone(Tenants::UpdatedAt))
            .to_owned(),
        Table::create()
            .table(TenantJobs::Table)
            .col(pk(TenantJobs::Id))
            .col(ref_id(TenantJobs::TenantId))
            // packages | deep_sync | messages_hot | messages_cold | payloads | keystore | alerts
            // | archive | metrics; open set, so plain text.
            .col(string(TenantJobs::JobType))
            .col(boolean(TenantJobs::Enabled).default(true))
            .col(integer_null(TenantJobs::IntervalSecs))
            // 'HH:MM' in UTC for planned daily jobs (archive).
            .col(string_null(TenantJobs::PlanTime))
            // JSON object: retention days and other per-job values.
            .col(text(TenantJobs::Settings).default("{}"))
            .foreign_key(&mut fk_cascade(
                "fk_tenant_jobs_tenant_id",
                (TenantJobs::Table, TenantJobs::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
        Table::create()
            .table(SyncState::Table)
            .col(pk(SyncState::Id))
            .col(ref_id(SyncState::TenantId))
            .col(string(SyncState::JobType))
            // Upper bound of what has been collected (e.g. LogEnd of the newest window).
            .col(timestamp_with_time_zone_null(SyncState::Watermark))
            // JSON resume state a job needs besides the watermark (e.g. the cold backfill's
            // lower bound, a deep sync's position).
            .col(text_null(SyncState::ResumeState))
            .col(timestamp_with_time_zone_null(SyncState::LastAttemptAt))
            .col(timestamp_with_time_zone_null(SyncState::LastSuccessAt))
            .col(text_null(SyncState::LastError))
            .col(integer(SyncState::ConsecutiveFailures).default(0))
            .foreign_key(&mut fk_cascade(
                "fk_sync_state_tenant_id",
                (SyncState::Table, SyncState::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        unique("uq_tenants_name", Tenants::Table, [Tenants::Name]),
        unique(
            "uq_tenant_jobs_tenant_id_job_type",
            TenantJobs::Table,
            [TenantJobs::TenantId, TenantJobs::JobType],
        ),
        unique(
            "uq_sync_state_tenant_id_job_type",
            SyncState::Table,
            [SyncState::TenantId, SyncState::JobType],
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
        drop_all(
            manager,
            [
                SyncState::Table.into_iden(),
                TenantJobs::Table.into_iden(),
                Tenants::Table.into_iden(),
            ],
        )
        .await
    }
}
