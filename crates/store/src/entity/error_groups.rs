//! An error group: the failed messages of one tenant and iFlow whose normalised error text has
//! the same fingerprint (under one grouping version), with its lifecycle state and counts.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "error_groups")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    /// The artifact id; '' for messages without one.
    pub iflow_id: String,
    /// Package of the latest occurrence.
    pub package_id: Option<String>,
    pub fingerprint: String,
    pub grouping_version: i16,
    /// The custom rule that made the fingerprint (no foreign key: the rule may be deleted).
    pub rule_id: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub template: String,
    #[sea_orm(column_type = "Text")]
    pub sample_text: Option<String>,
    pub sample_message_id: Option<i64>,
    /// `domain::errors::GroupState` as text.
    pub state: String,
    pub state_changed_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    /// `now` | `next_deployment`
    pub resolve_mode: Option<String>,
    /// The iFlow's deployment time when resolved with the next deployment.
    pub resolved_deployed_at: Option<DateTimeUtc>,
    /// JSON of the ignore condition.
    #[sea_orm(column_type = "Text")]
    pub ignore_until: Option<String>,
    pub ignored_at: Option<DateTimeUtc>,
    pub ignored_occurrences: i64,
    pub total_occurrences: i64,
    pub first_seen: DateTimeUtc,
    pub last_seen: DateTimeUtc,
    pub merged_into: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenants::Entity",
        from = "Column::TenantId",
        to = "super::tenants::Column::Id",
        on_delete = "Cascade"
    )]
    Tenants,
}

impl Related<super::tenants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenants.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
