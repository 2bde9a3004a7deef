//! An integration package (`IntegrationPackages`). `*_at_cpi` are the tenant's timestamps.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "packages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub package_id: String,
    pub name: Option<String>,
    /// HTML
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub short_text: Option<String>,
    pub version: Option<String>,
    pub vendor: Option<String>,
    pub mode: Option<String>,
    pub supported_platform: Option<String>,
    pub created_by: Option<String>,
    pub created_at_cpi: Option<DateTimeUtc>,
    pub modified_by: Option<String>,
    pub modified_at_cpi: Option<DateTimeUtc>,
    pub synced_at: DateTimeUtc,
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
