//! Sign-in attempts, shared by every web replica: the login throttle reserves a row per key
//! (the caller's address and the user name) before it verifies a password, so replicas behind
//! one load balancer together allow `WEB_LOGIN_MAX_FAILURES`, not that many each. Rows of
//! failed attempts stay until they leave `WEB_LOGIN_WINDOW_SECS`; the web purges them.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{create_all, drop_all, index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginAttempts {
    Table,
    Id,
    AttemptKey,
    AttemptedAt,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(LoginAttempts::Table)
            .col(pk(LoginAttempts::Id))
            // `ip:<address>` or `user:<lower-case name>`, at most 200 characters.
            .col(string(LoginAttempts::AttemptKey))
            .col(timestamp_with_time_zone(LoginAttempts::AttemptedAt))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        // Counting a key's attempts within the window.
        index(
            "idx_login_attempts_key_at",
            LoginAttempts::Table,
            [LoginAttempts::AttemptKey, LoginAttempts::AttemptedAt],
        ),
        // The purge of attempts older than the window.
        index(
            "idx_login_attempts_attempted_at",
            LoginAttempts::Table,
            [LoginAttempts::AttemptedAt],
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
        drop_all(manager, [LoginAttempts::Table.into_iden()]).await
    }
}
