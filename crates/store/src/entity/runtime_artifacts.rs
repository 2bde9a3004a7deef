//! A deployed artifact (`IntegrationRuntimeArtifacts`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "runtime_artifacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub artifact_id: String,
    pub version: Option<String>,
    pub name: Option<String>,
    pub artifact_type: Option<String>,
    pub deployed_by: Option<String>,
    pub deployed_at: Option<DateTimeUtc>,
    /// 'STARTED' | 'ERROR' | 'STARTING' | …
    pub status: Option<String>,
    /// `ErrorInformation/$value`, JSON text from CPI.
    #[sea_orm(column_type = "Text")]
    pub error_text: Option<String>,
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
