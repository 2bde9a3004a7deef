//! Hourly message counts per tenant, iFlow, package and status: the rollup the monitor's
//! facets, charts and tenant overview read (maintained by `repo::rollup::refresh_counts`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_counts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    /// Start of the UTC hour of the messages' `log_end`.
    pub hour_start: DateTimeUtc,
    /// '' when the messages have none (key columns are never NULL).
    pub iflow_id: String,
    pub package_id: String,
    pub status: String,
    pub iflow_name: Option<String>,
    pub count: i64,
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
