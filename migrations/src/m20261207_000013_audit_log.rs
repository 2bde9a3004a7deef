//! The audit log: one row per change an operator made (users, tokens, tenants and their secrets,
//! job settings, archives; the alerting objects later), with who, when and from which address.
//! Rows are only appended. The actor is kept by name as well as by id, so the history stays
//! readable after the user is deleted; likewise the object's name.

use sea_orm_migration::{prelude::*, schema::*};

use crate::helpers::{create_all, drop_all, index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorId,
    Actor,
    Source,
    Action,
    ObjectType,
    ObjectId,
    ObjectName,
    Details,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    use AuditLog as A;
    vec![
        Table::create()
            .table(A::Table)
            .col(pk(A::Id))
            .col(timestamp_with_time_zone(A::At))
            // No foreign key: the entry outlives the user.
            .col(big_integer_null(A::ActorId))
            // The user name at the time, or `system` for changes without a signed-in user.
            .col(string(A::Actor))
            // The client's address as the web server saw it; NULL when there was none.
            .col(string_null(A::Source))
            // `<object type>.<verb>`, e.g. `tenant.secret_changed`.
            .col(string(A::Action))
            // `user`, `token`, `tenant`, `archive`, …
            .col(string(A::ObjectType))
            .col(string_null(A::ObjectId))
            .col(text_null(A::ObjectName))
            // JSON object: what changed (field names, new non-secret values), never a secret.
            .col(text(A::Details).default("{}"))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    use AuditLog as A;
    vec![
        // Newest first is by id; these serve the filters.
        index("idx_audit_log_at", A::Table, [A::At]),
        index(
            "idx_audit_log_object_type_object_id",
            A::Table,
            [A::ObjectType, A::ObjectId],
        ),
        index("idx_audit_log_actor", A::Table, [A::Actor]),
        index("idx_audit_log_action", A::Table, [A::Action]),
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
        drop_all(manager, [AuditLog::Table.into_iden()]).await
    }
}
