//! Message processing logs and everything collected per message: error text, runs and run
//! steps, custom header properties, adapter attributes, payloads, attachments, and the
//! per-tenant correlation counts.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{create_all, drop_all, fk_cascade, index, pk, ref_id, unique};

/// Characters of a custom header value kept in `custom_header_properties.value_prefix`, the
/// column the header search index covers. A btree entry on PostgreSQL must stay under about
/// 2.7 kB, and a header value can be any length; 200 characters are at most 800 bytes in UTF-8,
/// which leaves room for the tenant id and a header name of a few hundred characters.
pub const HEADER_VALUE_PREFIX_CHARS: u32 = 200;

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
    Id,
    TenantId,
    MessageGuid,
    CorrelationId,
    ApplicationMessageId,
    ApplicationMessageType,
    PredecessorMessageGuid,
    LogStart,
    LogEnd,
    Sender,
    Receiver,
    IflowId,
    IflowName,
    ArtifactType,
    PackageId,
    PackageName,
    Status,
    CustomStatus,
    LogLevel,
    AlternateWebLink,
    TransactionId,
    ArchivingStatus,
    OriginComponentName,
    LocalComponentName,
    PreviousComponentName,
    DurationMs,
    DetailsStatus,
    DetailsFetchedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MessageErrors {
    Table,
    MessageId,
    ErrorType,
    LastErrorModelStepId,
    Text,
    FetchedAt,
}

#[derive(DeriveIden)]
enum MessageRuns {
    Table,
    Id,
    MessageId,
    RunId,
    RunStart,
    RunStop,
    LogLevel,
    OverallState,
    ProcessId,
}

#[derive(DeriveIden)]
enum MessageRunSteps {
    Table,
    Id,
    RunPk,
    ChildCount,
    StepStart,
    StepStop,
    StepId,
    ModelStepId,
    BranchId,
    Status,
    Error,
    Activity,
    Properties,
}

#[derive(DeriveIden)]
enum CustomHeaderProperties {
    Table,
    Id,
    MessageId,
    TenantId,
    CpiId,
    Name,
    Value,
    ValuePrefix,
}

#[derive(DeriveIden)]
enum AdapterAttributes {
    Table,
    Id,
    MessageId,
    CpiId,
    AdapterId,
    AdapterMessageId,
    Name,
    Value,
}

#[derive(DeriveIden)]
enum Payloads {
    Table,
    Id,
    MessageId,
    EntryId,
    MessageStoreId,
    EntryTimestamp,
    HasAttachments,
    ContentType,
    Size,
    Content,
    Sha256,
    RetainUntil,
    Status,
    Error,
    DownloadedAt,
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Id,
    MessageId,
    AttachmentId,
    Name,
    ContentType,
    Size,
    Timestamp,
    Content,
    Sha256,
    Status,
    Error,
    DownloadedAt,
}

#[derive(DeriveIden)]
enum Correlations {
    Table,
    Id,
    TenantId,
    CorrelationId,
    MessageCount,
    FirstSeen,
    LastSeen,
}

fn message_fk(name: &str, table: impl IntoIden, col: impl IntoIden) -> ForeignKeyCreateStatement {
    fk_cascade(name, (table, col), (MessageLogs::Table, MessageLogs::Id))
}

fn tenant_fk(name: &str, table: impl IntoIden, col: impl IntoIden) -> ForeignKeyCreateStatement {
    fk_cascade(name, (table, col), (Tenants::Table, Tenants::Id))
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    vec![
        // CPI fields are nullable because the API omits them freely; only the key and what we
        // set ourselves are NOT NULL.
        Table::create()
            .table(MessageLogs::Table)
            .col(pk(MessageLogs::Id))
            .col(ref_id(MessageLogs::TenantId))
            .col(string(MessageLogs::MessageGuid))
            .col(string_null(MessageLogs::CorrelationId))
            .col(string_null(MessageLogs::ApplicationMessageId))
            .col(string_null(MessageLogs::ApplicationMessageType))
            .col(string_null(MessageLogs::PredecessorMessageGuid))
            .col(timestamp_with_time_zone_null(MessageLogs::LogStart))
            .col(timestamp_with_time_zone_null(MessageLogs::LogEnd))
            .col(string_null(MessageLogs::Sender))
            .col(string_null(MessageLogs::Receiver))
            // IntegrationArtifact.Id / .Name / .Type / .PackageId / .PackageName
            .col(string_null(MessageLogs::IflowId))
            .col(string_null(MessageLogs::IflowName))
            .col(string_null(MessageLogs::ArtifactType))
            .col(string_null(MessageLogs::PackageId))
            .col(string_null(MessageLogs::PackageName))
            .col(string_null(MessageLogs::Status))
            .col(string_null(MessageLogs::CustomStatus))
            .col(string_null(MessageLogs::LogLevel))
            .col(text_null(MessageLogs::AlternateWebLink))
            .col(string_null(MessageLogs::TransactionId))
            .col(string_null(MessageLogs::ArchivingStatus))
            .col(string_null(MessageLogs::OriginComponentName))
            .col(string_null(MessageLogs::LocalComponentName))
            .col(string_null(MessageLogs::PreviousComponentName))
            .col(big_integer_null(MessageLogs::DurationMs))
            // Status the message had when its details (runs, headers, error) were last fetched:
            // details are fetched again when the status moves on.
            .col(string_null(MessageLogs::DetailsStatus))
            .col(timestamp_with_time_zone_null(MessageLogs::DetailsFetchedAt))
            .col(timestamp_with_time_zone(MessageLogs::CreatedAt))
            .col(timestamp_with_time_zone(MessageLogs::UpdatedAt))
            .foreign_key(&mut tenant_fk(
                "fk_message_logs_tenant_id",
                MessageLogs::Table,
                MessageLogs::TenantId,
            ))
            .to_owned(),
        // One row per message: the message id is the key.
        Table::create()
            .table(MessageErrors::Table)
            .col(
                ColumnDef::new(MessageErrors::MessageId)
                    .big_integer()
                    .not_null()
                    .primary_key(),
            )
            // ErrorInformation.Type, a mime type such as text/plain.
            .col(string_null(MessageErrors::ErrorType))
            .col(string_null(MessageErrors::LastErrorModelStepId))
            .col(text_null(MessageErrors::Text))
            .col(timestamp_with_time_zone(MessageErrors::FetchedAt))
            .foreign_key(&mut message_fk(
                "fk_message_errors_message_id",
                MessageErrors::Table,
                MessageErrors::MessageId,
            ))
            .to_owned(),
        Table::create()
            .table(MessageRuns::Table)
            .col(pk(MessageRuns::Id))
            .col(ref_id(MessageRuns::MessageId))
            .col(string(MessageRuns::RunId))
            .col(timestamp_with_time_zone_null(MessageRuns::RunStart))
            .col(timestamp_with_time_zone_null(MessageRuns::RunStop))
            .col(string_null(MessageRuns::LogLevel))
            .col(string_null(MessageRuns::OverallState))
            .col(string_null(MessageRuns::ProcessId))
            .foreign_key(&mut message_fk(
                "fk_message_runs_message_id",
                MessageRuns::Table,
                MessageRuns::MessageId,
            ))
            .to_owned(),
        Table::create()
            .table(MessageRunSteps::Table)
            .col(pk(MessageRunSteps::Id))
            // Our message_runs.id, not CPI's RunId (which is a string).
            .col(ref_id(MessageRunSteps::RunPk))
            .col(integer(MessageRunSteps::ChildCount))
            .col(timestamp_with_time_zone_null(MessageRunSteps::StepStart))
            .col(timestamp_with_time_zone_null(MessageRunSteps::StepStop))
            .col(string_null(MessageRunSteps::StepId))
            .col(string_null(MessageRunSteps::ModelStepId))
            .col(string_null(MessageRunSteps::BranchId))
            .col(string_null(MessageRunSteps::Status))
            .col(text_null(MessageRunSteps::Error))
            .col(string_null(MessageRunSteps::Activity))
            // JSON object of RunStepProperties (Name -> Value).
            .col(text_null(MessageRunSteps::Properties))
            .foreign_key(&mut fk_cascade(
                "fk_message_run_steps_run_pk",
                (MessageRunSteps::Table, MessageRunSteps::RunPk),
                (MessageRuns::Table, MessageRuns::Id),
            ))
            .to_owned(),
        Table::create()
            .table(CustomHeaderProperties::Table)
            .col(pk(CustomHeaderProperties::Id))
            .col(ref_id(CustomHeaderProperties::MessageId))
            // Copied from the message so the header search needs no join.
            .col(ref_id(CustomHeaderProperties::TenantId))
            .col(string_null(CustomHeaderProperties::CpiId))
            .col(string(CustomHeaderProperties::Name))
            .col(text_null(CustomHeaderProperties::Value))
            // The first HEADER_VALUE_PREFIX_CHARS characters of `value`; the search index covers
            // this instead of `value` (see HEADER_VALUE_PREFIX_CHARS).
            .col(string_len_null(
                CustomHeaderProperties::ValuePrefix,
                HEADER_VALUE_PREFIX_CHARS,
            ))
            .foreign_key(&mut message_fk(
                "fk_custom_header_properties_message_id",
                CustomHeaderProperties::Table,
                CustomHeaderProperties::MessageId,
            ))
            .foreign_key(&mut tenant_fk(
                "fk_custom_header_properties_tenant_id",
                CustomHeaderProperties::Table,
                CustomHeaderProperties::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(AdapterAttributes::Table)
            .col(pk(AdapterAttributes::Id))
            .col(ref_id(AdapterAttributes::MessageId))
            .col(string_null(AdapterAttributes::CpiId))
            .col(string_null(AdapterAttributes::AdapterId))
            .col(string_null(AdapterAttributes::AdapterMessageId))
            .col(string(AdapterAttributes::Name))
            .col(text_null(AdapterAttributes::Value))
            .foreign_key(&mut message_fk(
                "fk_adapter_attributes_message_id",
                AdapterAttributes::Table,
                AdapterAttributes::MessageId,
            ))
            .to_owned(),
        Table::create()
            .table(Payloads::Table)
            .col(pk(Payloads::Id))
            .col(ref_id(Payloads::MessageId))
            // MessageStoreEntry.Id
            .col(string(Payloads::EntryId))
            // MessageStoreEntry.MessageStoreId, the id of the Persist step
            .col(string_null(Payloads::MessageStoreId))
            .col(timestamp_with_time_zone_null(Payloads::EntryTimestamp))
            .col(boolean_null(Payloads::HasAttachments))
            .col(string_null(Payloads::ContentType))
            .col(big_integer_null(Payloads::Size))
            // bytea on PostgreSQL, blob on SQLite; null until downloaded or when not kept.
            .col(blob_null(Payloads::Content))
            // Hex SHA-256 of the content.
            .col(string_null(Payloads::Sha256))
            .col(timestamp_with_time_zone_null(Payloads::RetainUntil))
            // 'pending' | 'downloaded' | 'too_large' | 'error' | 'skipped'
            .col(string(Payloads::Status).default("pending"))
            .col(text_null(Payloads::Error))
            .col(timestamp_with_time_zone_null(Payloads::DownloadedAt))
            .foreign_key(&mut message_fk(
                "fk_payloads_message_id",
                Payloads::Table,
                Payloads::MessageId,
            ))
            .to_owned(),
        Table::create()
            .table(Attachments::Table)
            .col(pk(Attachments::Id))
            .col(ref_id(Attachments::MessageId))
            // MessageProcessingLogAttachment.Id (`sap-it-res:msg:<node>:<uuid>`)
            .col(string(Attachments::AttachmentId))
            .col(string_null(Attachments::Name))
            .col(string_null(Attachments::ContentType))
            .col(big_integer_null(Attachments::Size))
            .col(timestamp_with_time_zone_null(Attachments::Timestamp))
            .col(blob_null(Attachments::Content))
            .col(string_null(Attachments::Sha256))
            // same values as payloads.status
            .col(string(Attachments::Status).default("pending"))
            .col(text_null(Attachments::Error))
            .col(timestamp_with_time_zone_null(Attachments::DownloadedAt))
            .foreign_key(&mut message_fk(
                "fk_attachments_message_id",
                Attachments::Table,
                Attachments::MessageId,
            ))
            .to_owned(),
        Table::create()
            .table(Correlations::Table)
            .col(pk(Correlations::Id))
            .col(ref_id(Correlations::TenantId))
            .col(string(Correlations::CorrelationId))
            .col(integer(Correlations::MessageCount).default(0))
            .col(timestamp_with_time_zone_null(Correlations::FirstSeen))
            .col(timestamp_with_time_zone_null(Correlations::LastSeen))
            .foreign_key(&mut tenant_fk(
                "fk_correlations_tenant_id",
                Correlations::Table,
                Correlations::TenantId,
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    use MessageLogs as M;
    vec![
        unique(
            "uq_message_logs_tenant_id_message_guid",
            M::Table,
            [M::TenantId, M::MessageGuid],
        ),
        // The message monitor's queries: a time range, optionally narrowed by status, iFlow or
        // package, newest first; and exact lookups by correlation or application id.
        index(
            "idx_message_logs_tenant_id_log_end",
            M::Table,
            [M::TenantId, M::LogEnd],
        ),
        index(
            "idx_message_logs_tenant_id_status_log_end",
            M::Table,
            [M::TenantId, M::Status, M::LogEnd],
        ),
        index(
            "idx_message_logs_tenant_id_iflow_id_log_end",
            M::Table,
            [M::TenantId, M::IflowId, M::LogEnd],
        ),
        index(
            "idx_message_logs_tenant_id_package_id_log_end",
            M::Table,
            [M::TenantId, M::PackageId, M::LogEnd],
        ),
        index(
            "idx_message_logs_tenant_id_correlation_id",
            M::Table,
            [M::TenantId, M::CorrelationId],
        ),
        index(
            "idx_message_logs_tenant_id_application_message_id",
            M::Table,
            [M::TenantId, M::ApplicationMessageId],
        ),
        index(
            "idx_message_logs_tenant_id_log_start",
            M::Table,
            [M::TenantId, M::LogStart],
        ),
        unique(
            "uq_message_runs_message_id_run_id",
            MessageRuns::Table,
            [MessageRuns::MessageId, MessageRuns::RunId],
        ),
        unique(
            "uq_message_run_steps_run_pk_child_count",
            MessageRunSteps::Table,
            [MessageRunSteps::RunPk, MessageRunSteps::ChildCount],
        ),
        index(
            "idx_custom_header_properties_tenant_id_name_value_prefix",
            CustomHeaderProperties::Table,
            [
                CustomHeaderProperties::TenantId,
                CustomHeaderProperties::Name,
                CustomHeaderProperties::ValuePrefix,
            ],
        ),
        index(
            "idx_custom_header_properties_message_id",
            CustomHeaderProperties::Table,
            [CustomHeaderProperties::MessageId],
        ),
        // Foreign-key columns get an index so deleting a message (archive) does not scan.
        index(
            "idx_adapter_attributes_message_id",
            AdapterAttributes::Table,
            [AdapterAttributes::MessageId],
        ),
        unique(
            "uq_payloads_message_id_entry_id",
            Payloads::Table,
            [Payloads::MessageId, Payloads::EntryId],
        ),
        // The payload job looks for 'pending' rows, the retention sweep for expired ones.
        index("idx_payloads_status", Payloads::Table, [Payloads::Status]),
        index(
            "idx_payloads_retain_until",
            Payloads::Table,
            [Payloads::RetainUntil],
        ),
        unique(
            "uq_attachments_message_id_attachment_id",
            Attachments::Table,
            [Attachments::MessageId, Attachments::AttachmentId],
        ),
        index(
            "idx_attachments_status",
            Attachments::Table,
            [Attachments::Status],
        ),
        unique(
            "uq_correlations_tenant_id_correlation_id",
            Correlations::Table,
            [Correlations::TenantId, Correlations::CorrelationId],
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
                Correlations::Table.into_iden(),
                Attachments::Table.into_iden(),
                Payloads::Table.into_iden(),
                AdapterAttributes::Table.into_iden(),
                CustomHeaderProperties::Table.into_iden(),
                MessageRunSteps::Table.into_iden(),
                MessageRuns::Table.into_iden(),
                MessageErrors::Table.into_iden(),
                MessageLogs::Table.into_iden(),
            ],
        )
        .await
    }
}
