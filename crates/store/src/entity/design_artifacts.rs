//! A design-time artifact (iFlow, value mapping, …) in its current version.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "design_artifacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    /// CPI package id (`packages.package_id`).
    pub package_id: Option<String>,
    pub artifact_id: String,
    /// 'IntegrationFlow' | 'ValueMapping' | …
    pub artifact_type: String,
    pub version: Option<String>,
    pub name: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    pub created_by: Option<String>,
    pub created_at_cpi: Option<DateTimeUtc>,
    pub modified_by: Option<String>,
    pub modified_at_cpi: Option<DateTimeUtc>,
    /// Hex SHA-256 of the downloaded content (deep sync).
    pub content_hash: Option<String>,
    pub content_size: Option<i64>,
    pub hashed_at: Option<DateTimeUtc>,
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
