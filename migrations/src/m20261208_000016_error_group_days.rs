//! `error_group_days`: occurrences per group and UTC day, always the sum of that group's
//! `error_group_hours` rows of the day. The Errors list sorted by occurrences in a range reads
//! the range's whole days here and only the partial hours at its two ends from the hours, so a
//! 30-day range reads about 30 rows per group instead of 720. Filled from the existing hours.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::helpers::{create_all, drop_all, fk_cascade, index, ref_id};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ErrorGroups {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ErrorGroupDays {
    Table,
    GroupId,
    Day,
    Count,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    use ErrorGroupDays as D;
    vec![
        Table::create()
            .table(D::Table)
            .col(ref_id(D::GroupId))
            // Midnight UTC of the day.
            .col(timestamp_with_time_zone(D::Day))
            .col(big_integer(D::Count).default(0))
            .primary_key(Index::create().col(D::GroupId).col(D::Day))
            .foreign_key(&mut fk_cascade(
                "fk_error_group_days_group_id",
                (D::Table, D::GroupId),
                (ErrorGroups::Table, ErrorGroups::Id),
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    use ErrorGroupDays as D;
    vec![
        // Range sums over every group (sort by occurrences in range) and the retention prune.
        index(
            "idx_error_group_days_day_group_id",
            D::Table,
            [D::Day, D::GroupId],
        ),
    ]
}

/// The day (midnight UTC) of the `hour` column, in the form each backend stores timestamps
/// (SQLite: the RFC 3339 text the driver writes, so text comparison orders it).
fn day_of_hour(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "(date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
        _ => "strftime('%Y-%m-%dT00:00:00+00:00', hour)",
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_all(manager, tables(), indexes()).await?;
        let day = day_of_hour(manager.get_database_backend());
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO error_group_days (group_id, day, count) \
                 SELECT group_id, {day}, SUM(count) FROM error_group_hours GROUP BY group_id, {day}"
            ))
            .await?;
        // The planner's row estimates for the range sums come from statistics the new table
        // lacks until autovacuum gets to it; without them PostgreSQL picks nested loops.
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ANALYZE error_group_days")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, [ErrorGroupDays::Table.into_iden()]).await
    }
}
