//! An alert instance: one per rule and identity while open (`open_identity`), kept after it
//! resolves as history.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub rule_id: i64,
    pub tenant_id: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub identity: String,
    /// The identity while open, NULL once resolved (unique with `rule_id`).
    #[sea_orm(column_type = "Text")]
    pub open_identity: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub labels: String,
    pub state: String,
    pub severity: String,
    #[sea_orm(column_type = "Text")]
    pub summary: String,
    pub started_at: DateTimeUtc,
    pub firing_at: Option<DateTimeUtc>,
    pub last_seen_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    pub recovering_since: Option<DateTimeUtc>,
    pub count: i64,
    #[sea_orm(column_type = "Double")]
    pub value: f64,
    #[sea_orm(column_type = "Text")]
    pub seen_key: Option<String>,
    pub ack_by: Option<String>,
    pub ack_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub ack_comment: Option<String>,
    pub ack_until: Option<DateTimeUtc>,
    pub assignee: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub about: String,
    #[sea_orm(column_type = "Text")]
    pub muted_by: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::alert_rules::Entity",
        from = "Column::RuleId",
        to = "super::alert_rules::Column::Id",
        on_delete = "Cascade"
    )]
    AlertRules,
    #[sea_orm(
        belongs_to = "super::tenants::Entity",
        from = "Column::TenantId",
        to = "super::tenants::Column::Id",
        on_delete = "Cascade"
    )]
    Tenants,
}

impl Related<super::alert_rules::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AlertRules.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
