//! Users, their browser sessions, and their API tokens.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{create_all, drop_all, fk_cascade, index, pk, ref_id, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    Email,
    PasswordHash,
    Role,
    Tags,
    Active,
    MustChangePassword,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
    LastSeenAt,
    Ip,
    UserAgent,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(Users::Table)
            .col(pk(Users::Id))
            .col(string(Users::Username))
            .col(string_null(Users::Email))
            // A password hash (PHC string format); never the password itself.
            .col(string(Users::PasswordHash))
            // 'user' | 'manager' | 'admin'
            .col(string(Users::Role).default("user"))
            // JSON array of strings: the tenant tags this user may see.
            .col(text(Users::Tags).default("[]"))
            .col(boolean(Users::Active).default(true))
            .col(boolean(Users::MustChangePassword).default(false))
            .col(timestamp_with_time_zone(Users::CreatedAt))
            .col(timestamp_with_time_zone(Users::UpdatedAt))
            .col(timestamp_with_time_zone_null(Users::LastLoginAt))
            .to_owned(),
        Table::create()
            .table(Sessions::Table)
            // A hash of the session cookie's token, so a database leak yields no live session.
            .col(string(Sessions::Id).primary_key())
            .col(ref_id(Sessions::UserId))
            .col(string(Sessions::CsrfToken))
            .col(timestamp_with_time_zone(Sessions::CreatedAt))
            .col(timestamp_with_time_zone(Sessions::ExpiresAt))
            .col(timestamp_with_time_zone(Sessions::LastSeenAt))
            .col(string_null(Sessions::Ip))
            .col(text_null(Sessions::UserAgent))
            .foreign_key(&mut fk_cascade(
                "fk_sessions_user_id",
                (Sessions::Table, Sessions::UserId),
                (Users::Table, Users::Id),
            ))
            .to_owned(),
        Table::create()
            .table(ApiTokens::Table)
            .col(pk(ApiTokens::Id))
            .col(ref_id(ApiTokens::UserId))
            .col(string(ApiTokens::Name))
            // Only the hash is kept; the token is shown once when created.
            .col(string(ApiTokens::TokenHash))
            .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
            // Null: never expires.
            .col(timestamp_with_time_zone_null(ApiTokens::ExpiresAt))
            .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
            .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
            .foreign_key(&mut fk_cascade(
                "fk_api_tokens_user_id",
                (ApiTokens::Table, ApiTokens::UserId),
                (Users::Table, Users::Id),
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        unique("uq_users_username", Users::Table, [Users::Username]),
        index("idx_sessions_user_id", Sessions::Table, [Sessions::UserId]),
        // The sweep that deletes expired sessions.
        index(
            "idx_sessions_expires_at",
            Sessions::Table,
            [Sessions::ExpiresAt],
        ),
        unique(
            "uq_api_tokens_token_hash",
            ApiTokens::Table,
            [ApiTokens::TokenHash],
        ),
        index(
            "idx_api_tokens_user_id",
            ApiTokens::Table,
            [ApiTokens::UserId],
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
                ApiTokens::Table.into_iden(),
                Sessions::Table.into_iden(),
                Users::Table.into_iden(),
            ],
        )
        .await
    }
}
