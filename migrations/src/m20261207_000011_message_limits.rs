//! A tenant must not stall on one bad message (issue 12):
//! - `message_detail_failures`: a message whose details could not be fetched or stored is kept
//!   (its page is committed) and its failure recorded here, retried a bounded number of times
//!   with growing pauses, and shown with the message;
//! - indexes for the message monitor's `sender` and `receiver` filters, which scanned every
//!   message of the tenant on PostgreSQL. Like the other filter indexes they lead with the
//!   tenant and end with `log_end`, so a filtered page is read newest first from the index;
//! - the correlation and application id indexes get `log_end` too (they replace the two-column
//!   ones): with only `(tenant_id, <id>)` SQLite's planner preferred walking the tenant's
//!   messages by `log_end` for the page order and filtering them, a scan of the whole tenant
//!   for an id that matches nothing.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{create_all, drop_all, fk_cascade, index, ref_id};

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
    Sender,
    Receiver,
    CorrelationId,
    ApplicationMessageId,
    LogEnd,
}

/// The two-column id indexes of `m20261126_000002_messages` these replace, with their columns.
fn replaced() -> [(&'static str, MessageLogs); 2] {
    [
        (
            "idx_message_logs_tenant_id_correlation_id",
            MessageLogs::CorrelationId,
        ),
        (
            "idx_message_logs_tenant_id_application_message_id",
            MessageLogs::ApplicationMessageId,
        ),
    ]
}

#[derive(DeriveIden)]
enum MessageDetailFailures {
    Table,
    MessageId,
    TenantId,
    Attempts,
    Error,
    FirstFailedAt,
    LastFailedAt,
    NextAttemptAt,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    use MessageDetailFailures as F;
    vec![
        Table::create()
            .table(F::Table)
            // One row per message at most: keyed by it, gone with it.
            .col(
                ColumnDef::new(F::MessageId)
                    .big_integer()
                    .not_null()
                    .primary_key(),
            )
            .col(ref_id(F::TenantId))
            .col(integer(F::Attempts))
            .col(text(F::Error))
            .col(timestamp_with_time_zone(F::FirstFailedAt))
            .col(timestamp_with_time_zone(F::LastFailedAt))
            // NULL: no more automatic tries (given up, or a failure a retry cannot fix).
            .col(timestamp_with_time_zone_null(F::NextAttemptAt))
            .foreign_key(&mut fk_cascade(
                "fk_message_detail_failures_message_id",
                (F::Table, F::MessageId),
                (MessageLogs::Table, MessageLogs::Id),
            ))
            .foreign_key(&mut fk_cascade(
                "fk_message_detail_failures_tenant_id",
                (F::Table, F::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    use MessageLogs as M;
    vec![
        // The collector's look-up of a tenant's failures that are due for another try.
        index(
            "idx_message_detail_failures_tenant_id_next_attempt_at",
            MessageDetailFailures::Table,
            [
                MessageDetailFailures::TenantId,
                MessageDetailFailures::NextAttemptAt,
            ],
        ),
        index(
            "idx_message_logs_tenant_id_sender_log_end",
            M::Table,
            [M::TenantId, M::Sender, M::LogEnd],
        ),
        index(
            "idx_message_logs_tenant_id_receiver_log_end",
            M::Table,
            [M::TenantId, M::Receiver, M::LogEnd],
        ),
        index(
            "idx_message_logs_tenant_id_correlation_id_log_end",
            M::Table,
            [M::TenantId, M::CorrelationId, M::LogEnd],
        ),
        index(
            "idx_message_logs_tenant_id_application_message_id_log_end",
            M::Table,
            [M::TenantId, M::ApplicationMessageId, M::LogEnd],
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
        for (name, _) in replaced() {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(MessageLogs::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, col) in replaced() {
            manager
                .create_index(index(
                    name,
                    MessageLogs::Table,
                    [MessageLogs::TenantId, col],
                ))
                .await?;
        }
        for name in [
            "idx_message_logs_tenant_id_application_message_id_log_end",
            "idx_message_logs_tenant_id_correlation_id_log_end",
            "idx_message_logs_tenant_id_receiver_log_end",
            "idx_message_logs_tenant_id_sender_log_end",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(MessageLogs::Table)
                        .to_owned(),
                )
                .await?;
        }
        drop_all(manager, [MessageDetailFailures::Table.into_iden()]).await
    }
}
