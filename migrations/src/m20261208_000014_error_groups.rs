//! Error groups (issue 14): every failed message belongs to one group keyed by tenant, iFlow,
//! the fingerprint of its normalised error text and the grouping version.
//!
//! - `error_groups`: the group, its lifecycle state and its counts. The counts (total, first
//!   and last seen) live here and in `error_group_hours`, not in the messages, so a group stays
//!   whole after its messages are archived. A group merged into another keeps its row
//!   (`merged_into`), its own counts and its own hours: its occurrences are counted in both, so
//!   unmerging subtracts what it brought and nothing has to be recomputed from messages.
//! - `error_group_hours`: occurrences per group and hour (the hour of the message's `LogEnd`),
//!   pruned by `ERROR_GROUP_HISTORY_DAYS`.
//! - `error_group_events`: every state change, merge and unmerge with who, when and why.
//! - `error_rules`: the manager's custom fingerprint rules, in order.
//! - `message_logs.error_group_id` / `error_group_hour`: the group a message is counted in (by
//!   its own fingerprint, never the merge target) and the hour it was counted under, so a
//!   message whose text changes is counted down exactly where it was counted up. No foreign
//!   key: SQLite cannot add one to an existing table, and the group outlives nothing it needs.

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
    ErrorGroupId,
    ErrorGroupHour,
    LogEnd,
}

#[derive(DeriveIden)]
enum ErrorGroups {
    Table,
    Id,
    TenantId,
    IflowId,
    PackageId,
    Fingerprint,
    GroupingVersion,
    RuleId,
    Title,
    Template,
    SampleText,
    SampleMessageId,
    State,
    StateChangedAt,
    ResolvedAt,
    ResolveMode,
    ResolvedDeployedAt,
    IgnoreUntil,
    IgnoredAt,
    IgnoredOccurrences,
    TotalOccurrences,
    FirstSeen,
    LastSeen,
    MergedInto,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ErrorGroupHours {
    Table,
    GroupId,
    Hour,
    Count,
}

#[derive(DeriveIden)]
enum ErrorGroupEvents {
    Table,
    Id,
    GroupId,
    At,
    Actor,
    Action,
    FromState,
    ToState,
    Comment,
}

#[derive(DeriveIden)]
enum ErrorRules {
    Table,
    Id,
    Position,
    Iflow,
    Package,
    Status,
    TextGlob,
    TextRegex,
    Fingerprint,
    Title,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    use ErrorGroups as G;
    vec![
        Table::create()
            .table(G::Table)
            .col(pk(G::Id))
            .col(ref_id(G::TenantId))
            // The artifact id; '' for messages without one, so the unique key has no NULL.
            .col(string(G::IflowId))
            // The package of the latest occurrence (the list's package filter).
            .col(string_null(G::PackageId))
            .col(string(G::Fingerprint))
            .col(small_integer(G::GroupingVersion))
            // The custom rule that made the fingerprint; no foreign key, the rule may go.
            .col(big_integer_null(G::RuleId))
            .col(text(G::Title))
            .col(text(G::Template))
            .col(text_null(G::SampleText))
            .col(big_integer_null(G::SampleMessageId))
            // new | ongoing | escalating | regressed | resolved | ignored
            .col(string(G::State))
            .col(timestamp_with_time_zone(G::StateChangedAt))
            .col(timestamp_with_time_zone_null(G::ResolvedAt))
            // now | next_deployment
            .col(string_null(G::ResolveMode))
            // The iFlow's deployment time when it was resolved "with the next deployment".
            .col(timestamp_with_time_zone_null(G::ResolvedDeployedAt))
            // JSON of the ignore condition.
            .col(text_null(G::IgnoreUntil))
            .col(timestamp_with_time_zone_null(G::IgnoredAt))
            // Occurrences since it was ignored (the "N more occurrences" condition).
            .col(big_integer(G::IgnoredOccurrences).default(0))
            .col(big_integer(G::TotalOccurrences).default(0))
            .col(timestamp_with_time_zone(G::FirstSeen))
            .col(timestamp_with_time_zone(G::LastSeen))
            .col(big_integer_null(G::MergedInto))
            .col(timestamp_with_time_zone(G::CreatedAt))
            .foreign_key(&mut fk_cascade(
                "fk_error_groups_tenant_id",
                (G::Table, G::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
        Table::create()
            .table(ErrorGroupHours::Table)
            .col(ref_id(ErrorGroupHours::GroupId))
            .col(timestamp_with_time_zone(ErrorGroupHours::Hour))
            .col(big_integer(ErrorGroupHours::Count).default(0))
            .primary_key(
                Index::create()
                    .col(ErrorGroupHours::GroupId)
                    .col(ErrorGroupHours::Hour),
            )
            .foreign_key(&mut fk_cascade(
                "fk_error_group_hours_group_id",
                (ErrorGroupHours::Table, ErrorGroupHours::GroupId),
                (G::Table, G::Id),
            ))
            .to_owned(),
        Table::create()
            .table(ErrorGroupEvents::Table)
            .col(pk(ErrorGroupEvents::Id))
            .col(ref_id(ErrorGroupEvents::GroupId))
            .col(timestamp_with_time_zone(ErrorGroupEvents::At))
            // The user name, or `system` for changes the grouping made itself.
            .col(string(ErrorGroupEvents::Actor))
            // resolve | ignore | reopen | merge | unmerge | regressed | escalating | unignored …
            .col(string(ErrorGroupEvents::Action))
            .col(string_null(ErrorGroupEvents::FromState))
            .col(string_null(ErrorGroupEvents::ToState))
            .col(text_null(ErrorGroupEvents::Comment))
            .foreign_key(&mut fk_cascade(
                "fk_error_group_events_group_id",
                (ErrorGroupEvents::Table, ErrorGroupEvents::GroupId),
                (G::Table, G::Id),
            ))
            .to_owned(),
        Table::create()
            .table(ErrorRules::Table)
            .col(pk(ErrorRules::Id))
            // First match wins, lowest position first.
            .col(integer(ErrorRules::Position))
            .col(string_null(ErrorRules::Iflow))
            .col(string_null(ErrorRules::Package))
            .col(string_null(ErrorRules::Status))
            .col(text_null(ErrorRules::TextGlob))
            .col(text_null(ErrorRules::TextRegex))
            .col(string(ErrorRules::Fingerprint))
            .col(text_null(ErrorRules::Title))
            .col(string(ErrorRules::CreatedBy))
            .col(timestamp_with_time_zone(ErrorRules::CreatedAt))
            .col(timestamp_with_time_zone(ErrorRules::UpdatedAt))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    use ErrorGroups as G;
    vec![
        unique(
            "uq_error_groups_tenant_iflow_fingerprint_version",
            G::Table,
            [G::TenantId, G::IflowId, G::Fingerprint, G::GroupingVersion],
        ),
        // The Errors list: newest, oldest first seen, most occurrences; by tenant or across
        // the visible ones. Ties are broken by id, which the cursor carries.
        index(
            "idx_error_groups_last_seen_id",
            G::Table,
            [G::LastSeen, G::Id],
        ),
        // With the id: many groups can share a last_seen, and the page must come presorted.
        index(
            "idx_error_groups_tenant_id_last_seen_id",
            G::Table,
            [G::TenantId, G::LastSeen, G::Id],
        ),
        index(
            "idx_error_groups_tenant_id_first_seen_id",
            G::Table,
            [G::TenantId, G::FirstSeen, G::Id],
        ),
        index(
            "idx_error_groups_first_seen_id",
            G::Table,
            [G::FirstSeen, G::Id],
        ),
        index(
            "idx_error_groups_state_last_seen",
            G::Table,
            [G::State, G::LastSeen],
        ),
        index("idx_error_groups_merged_into", G::Table, [G::MergedInto]),
        // Range sums over every group (sort by occurrences in range) and the retention prune.
        index(
            "idx_error_group_hours_hour_group_id",
            ErrorGroupHours::Table,
            [ErrorGroupHours::Hour, ErrorGroupHours::GroupId],
        ),
        index(
            "idx_error_group_events_group_id_at",
            ErrorGroupEvents::Table,
            [ErrorGroupEvents::GroupId, ErrorGroupEvents::At],
        ),
        index(
            "idx_error_rules_position",
            ErrorRules::Table,
            [ErrorRules::Position],
        ),
        // The monitor filtered to a group, newest first.
        index(
            "idx_message_logs_error_group_id_log_end",
            MessageLogs::Table,
            [MessageLogs::ErrorGroupId, MessageLogs::LogEnd],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One change per alter_table (SQLite).
        manager
            .alter_table(
                Table::alter()
                    .table(MessageLogs::Table)
                    .add_column(big_integer_null(MessageLogs::ErrorGroupId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MessageLogs::Table)
                    .add_column(timestamp_with_time_zone_null(MessageLogs::ErrorGroupHour))
                    .to_owned(),
            )
            .await?;
        create_all(manager, tables(), indexes()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_message_logs_error_group_id_log_end")
                    .table(MessageLogs::Table)
                    .to_owned(),
            )
            .await?;
        drop_all(
            manager,
            [
                ErrorRules::Table.into_iden(),
                ErrorGroupEvents::Table.into_iden(),
                ErrorGroupHours::Table.into_iden(),
                ErrorGroups::Table.into_iden(),
            ],
        )
        .await?;
        for col in [MessageLogs::ErrorGroupHour, MessageLogs::ErrorGroupId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(MessageLogs::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
