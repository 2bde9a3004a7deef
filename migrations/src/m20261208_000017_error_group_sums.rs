//! `error_group_sums`: per group, its occurrences in each fixed window the Errors list offers
//! (the last 24 hours, 7 days, 30 days), so sorting by occurrences in those ranges walks one
//! index instead of summing every group's hours per request. `error_group_sum_windows` holds
//! each window's first hour: a sum is exactly the group's `error_group_hours` from that hour
//! on. The store keeps both (the write path adds, a periodic step subtracts the hours that
//! leave a window and moves its start); a window without a row is not built yet and the list
//! reads the hours instead, so this migration only creates the tables.
//!
//! On PostgreSQL it also adds trigram indexes (`pg_trgm`, when the server offers it) for the
//! list's text search in titles and iFlow ids.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::helpers::{create_all, drop_all, fk_cascade, index, ref_id};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ErrorGroups {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ErrorGroupSums {
    Table,
    GroupId,
    WindowHours,
    TenantId,
    Count,
}

#[derive(DeriveIden)]
enum ErrorGroupSumWindows {
    Table,
    WindowHours,
    StartHour,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    use ErrorGroupSumWindows as W;
    use ErrorGroupSums as S;
    vec![
        Table::create()
            .table(S::Table)
            .col(ref_id(S::GroupId))
            // 24, 168 or 720: the window's length in hours before the current one.
            .col(integer(S::WindowHours))
            // The group's tenant (never changes), so one tenant's list walks its own entries.
            .col(ref_id(S::TenantId))
            .col(big_integer(S::Count).default(0))
            .primary_key(Index::create().col(S::GroupId).col(S::WindowHours))
            .foreign_key(&mut fk_cascade(
                "fk_error_group_sums_group_id",
                (S::Table, S::GroupId),
                (ErrorGroups::Table, ErrorGroups::Id),
            ))
            .to_owned(),
        Table::create()
            .table(W::Table)
            .col(integer(W::WindowHours).primary_key())
            // The window's first hour; the sums count hours from it on.
            .col(timestamp_with_time_zone(W::StartHour))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    use ErrorGroupSums as S;
    vec![
        // The list sorted by occurrences in a window: one tenant's groups, most first, walked
        // backwards; the id breaks ties as the cursor does.
        index(
            "idx_error_group_sums_tenant_window_count",
            S::Table,
            [S::TenantId, S::WindowHours, S::Count, S::GroupId],
        ),
    ]
}

/// Trigram indexes for `LOWER(title) LIKE '%…%'` and the same on the iFlow id; only where the
/// server has `pg_trgm` (it is a trusted extension: the database owner may create it).
async fn trigram_indexes(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    let available = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT 1 AS x FROM pg_available_extensions WHERE name = 'pg_trgm'",
        ))
        .await?
        .is_some();
    if !available {
        return Ok(());
    }
    conn.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        .await?;
    conn.execute_unprepared(
        "CREATE INDEX IF NOT EXISTS idx_error_groups_title_trgm ON error_groups \
         USING gin (LOWER(title) gin_trgm_ops)",
    )
    .await?;
    conn.execute_unprepared(
        "CREATE INDEX IF NOT EXISTS idx_error_groups_iflow_id_trgm ON error_groups \
         USING gin (LOWER(iflow_id) gin_trgm_ops)",
    )
    .await?;
    // Statistics of the index expressions: the planner's estimate of how many titles match.
    conn.execute_unprepared("ANALYZE error_groups").await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_all(manager, tables(), indexes()).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            trigram_indexes(manager).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            let conn = manager.get_connection();
            conn.execute_unprepared("DROP INDEX IF EXISTS idx_error_groups_title_trgm")
                .await?;
            conn.execute_unprepared("DROP INDEX IF EXISTS idx_error_groups_iflow_id_trgm")
                .await?;
        }
        drop_all(
            manager,
            [
                ErrorGroupSumWindows::Table.into_iden(),
                ErrorGroupSums::Table.into_iden(),
            ],
        )
        .await
    }
}
