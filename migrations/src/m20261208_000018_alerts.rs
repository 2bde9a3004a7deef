//! Alerting: rules, alert instances with their transition log, silences, the per-tenant
//! evaluation state, and labels on tenants, packages and iFlows.
//!
//! `alerts.open_identity` is the identity while the alert is open and NULL once resolved; the
//! unique index on (rule_id, open_identity) allows one open alert per identity on both backends
//! (NULLs are distinct in unique indexes on SQLite and PostgreSQL), so two evaluators can never
//! open the same alert twice. `alert_transitions` is append-only; its ascending id is the
//! durable log the notifier reads.

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
enum AlertRules {
    Table,
    Id,
    Name,
    Kind,
    Spec,
    Enabled,
    Tenant,
    CreatedAt,
    UpdatedAt,
    UpdatedBy,
}

#[derive(DeriveIden)]
enum Alerts {
    Table,
    Id,
    RuleId,
    TenantId,
    Identity,
    OpenIdentity,
    Labels,
    State,
    Severity,
    Summary,
    StartedAt,
    FiringAt,
    LastSeenAt,
    ResolvedAt,
    RecoveringSince,
    Count,
    Value,
    SeenKey,
    AckBy,
    AckAt,
    AckComment,
    AckUntil,
    Assignee,
    About,
    MutedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AlertTransitions {
    Table,
    Id,
    AlertId,
    At,
    FromState,
    ToState,
    Cause,
    Actor,
}

#[derive(DeriveIden)]
enum Silences {
    Table,
    Id,
    Name,
    Matchers,
    StartsAt,
    EndsAt,
    CreatedBy,
    Comment,
    ExpireOnResolve,
    ExpiredAt,
    MutedAny,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AlertEvaluations {
    Table,
    Id,
    TenantId,
    LastStartedAt,
    LastFinishedAt,
    DurationMs,
    Error,
    Cursor,
    DefaultsApplied,
}

#[derive(DeriveIden)]
enum ObjectLabels {
    Table,
    Id,
    TenantId,
    ObjectType,
    ObjectId,
    Name,
    Value,
}

pub(crate) fn tables() -> Vec<TableCreateStatement> {
    use AlertEvaluations as E;
    use AlertRules as R;
    use AlertTransitions as T;
    use Alerts as A;
    use ObjectLabels as L;
    use Silences as S;
    vec![
        Table::create()
            .table(R::Table)
            .col(pk(R::Id))
            .col(string(R::Name))
            // The kind's YAML/API name; `watchdog` for the built-in rule.
            .col(string(R::Kind))
            // The rule as written (JSON of `domain::alerts::rule::RuleSpec`).
            .col(text(R::Spec))
            .col(boolean(R::Enabled).default(true))
            // The tenant named by the rule, if it names one (for listing by tenant).
            .col(string_null(R::Tenant))
            .col(timestamp_with_time_zone(R::CreatedAt))
            .col(timestamp_with_time_zone(R::UpdatedAt))
            .col(string_null(R::UpdatedBy))
            .to_owned(),
        Table::create()
            .table(A::Table)
            .col(pk(A::Id))
            .col(ref_id(A::RuleId))
            // NULL for the watchdog, which belongs to no tenant.
            .col(big_integer_null(A::TenantId))
            .col(text(A::Identity))
            .col(text_null(A::OpenIdentity))
            // JSON object: the key labels and those of what it is about.
            .col(text(A::Labels))
            .col(string(A::State))
            .col(string(A::Severity))
            .col(text(A::Summary))
            .col(timestamp_with_time_zone(A::StartedAt))
            .col(timestamp_with_time_zone_null(A::FiringAt))
            .col(timestamp_with_time_zone(A::LastSeenAt))
            .col(timestamp_with_time_zone_null(A::ResolvedAt))
            .col(timestamp_with_time_zone_null(A::RecoveringSince))
            .col(big_integer(A::Count).default(1))
            .col(double(A::Value).default(0.0))
            .col(text_null(A::SeenKey))
            .col(string_null(A::AckBy))
            .col(timestamp_with_time_zone_null(A::AckAt))
            .col(text_null(A::AckComment))
            .col(timestamp_with_time_zone_null(A::AckUntil))
            .col(string_null(A::Assignee))
            // JSON object: what the alert is about (iFlow, group, certificate, artifact).
            .col(text(A::About).default("{}"))
            // "silenced by …" / "inhibited by …" as of the last evaluation.
            .col(text_null(A::MutedBy))
            .col(timestamp_with_time_zone(A::UpdatedAt))
            .foreign_key(&mut fk_cascade(
                "fk_alerts_rule_id",
                (A::Table, A::RuleId),
                (R::Table, R::Id),
            ))
            .foreign_key(&mut fk_cascade(
                "fk_alerts_tenant_id",
                (A::Table, A::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
        Table::create()
            .table(T::Table)
            .col(pk(T::Id))
            .col(ref_id(T::AlertId))
            .col(timestamp_with_time_zone(T::At))
            // NULL when the alert was opened.
            .col(string_null(T::FromState))
            .col(string(T::ToState))
            .col(text(T::Cause))
            // `system` for the evaluator, else the user.
            .col(string(T::Actor))
            .foreign_key(&mut fk_cascade(
                "fk_alert_transitions_alert_id",
                (T::Table, T::AlertId),
                (A::Table, A::Id),
            ))
            .to_owned(),
        Table::create()
            .table(S::Table)
            .col(pk(S::Id))
            .col(string(S::Name))
            // JSON array of matcher strings (`team=finance`).
            .col(text(S::Matchers))
            .col(timestamp_with_time_zone(S::StartsAt))
            .col(timestamp_with_time_zone(S::EndsAt))
            .col(string(S::CreatedBy))
            .col(text(S::Comment))
            .col(boolean(S::ExpireOnResolve).default(false))
            .col(timestamp_with_time_zone_null(S::ExpiredAt))
            // Whether it has muted an alert (expire_on_resolve waits for one).
            .col(boolean(S::MutedAny).default(false))
            .col(timestamp_with_time_zone(S::CreatedAt))
            .col(timestamp_with_time_zone(S::UpdatedAt))
            .to_owned(),
        Table::create()
            .table(E::Table)
            .col(pk(E::Id))
            .col(ref_id(E::TenantId))
            .col(timestamp_with_time_zone_null(E::LastStartedAt))
            .col(timestamp_with_time_zone_null(E::LastFinishedAt))
            .col(big_integer_null(E::DurationMs))
            .col(text_null(E::Error))
            // JSON object: what the evaluator remembers (deployed artifacts, …).
            .col(text(E::Cursor).default("{}"))
            .col(boolean(E::DefaultsApplied).default(false))
            .foreign_key(&mut fk_cascade(
                "fk_alert_evaluations_tenant_id",
                (E::Table, E::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
        Table::create()
            .table(L::Table)
            .col(pk(L::Id))
            .col(ref_id(L::TenantId))
            // `tenant`, `package` or `iflow`.
            .col(string(L::ObjectType))
            // The package or iFlow id; empty for the tenant itself.
            .col(string(L::ObjectId))
            .col(string(L::Name))
            .col(text(L::Value))
            .foreign_key(&mut fk_cascade(
                "fk_object_labels_tenant_id",
                (L::Table, L::TenantId),
                (Tenants::Table, Tenants::Id),
            ))
            .to_owned(),
    ]
}

pub(crate) fn indexes() -> Vec<IndexCreateStatement> {
    use AlertEvaluations as E;
    use AlertRules as R;
    use AlertTransitions as T;
    use Alerts as A;
    use ObjectLabels as L;
    use Silences as S;
    vec![
        unique("uq_alert_rules_name", R::Table, [R::Name]),
        unique(
            "uq_alerts_rule_id_open_identity",
            A::Table,
            [A::RuleId, A::OpenIdentity],
        ),
        index(
            "idx_alerts_tenant_id_state",
            A::Table,
            [A::TenantId, A::State],
        ),
        index(
            "idx_alerts_state_last_seen_at",
            A::Table,
            [A::State, A::LastSeenAt],
        ),
        index("idx_alerts_resolved_at", A::Table, [A::ResolvedAt]),
        index(
            "idx_alert_transitions_alert_id_id",
            T::Table,
            [T::AlertId, T::Id],
        ),
        unique("uq_silences_name", S::Table, [S::Name]),
        index("idx_silences_ends_at", S::Table, [S::EndsAt]),
        unique("uq_alert_evaluations_tenant_id", E::Table, [E::TenantId]),
        unique(
            "uq_object_labels_tenant_type_object_name",
            L::Table,
            [L::TenantId, L::ObjectType, L::ObjectId, L::Name],
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
        drop_all(
            manager,
            [
                ObjectLabels::Table.into_iden(),
                AlertEvaluations::Table.into_iden(),
                Silences::Table.into_iden(),
                AlertTransitions::Table.into_iden(),
                Alerts::Table.into_iden(),
                AlertRules::Table.into_iden(),
            ],
        )
        .await
    }
}
