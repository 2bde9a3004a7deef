//! Per-tenant settings of one job type (one row per tenant and job type).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    /// packages | deep_sync | messages_hot | messages_cold | payloads | keystore | alerts | archive | metrics
    pub job_type: String,
    pub enabled: bool,
    pub interval_secs: Option<i32>,
    /// 'HH:MM' (UTC) for planned daily jobs.
    pub plan_time: Option<String>,
    /// JSON object: retention days and other per-job values.
    #[sea_orm(column_type = "Text")]
    pub settings: String,
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
