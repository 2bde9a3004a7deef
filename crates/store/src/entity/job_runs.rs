//! A queued job, updated as it moves through its states and attempts.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The envelope's job id (UUID text).
    pub job_id: String,
    /// Null for jobs about no single tenant, and once the tenant is deleted.
    pub tenant_id: Option<i64>,
    pub job_type: String,
    pub queue: String,
    /// 'queued' | 'running' | 'succeeded' | 'failed' | 'retried' | 'dead'
    pub state: String,
    pub attempt: i32,
    /// JSON object: the envelope's parameters.
    #[sea_orm(column_type = "Text")]
    pub params: String,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    pub worker: Option<String>,
    /// JSON object of what the job did.
    #[sea_orm(column_type = "Text")]
    pub counts: Option<String>,
    pub queued_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenants::Entity",
        from = "Column::TenantId",
        to = "super::tenants::Column::Id",
        on_delete = "SetNull"
    )]
    Tenants,
}

impl Related<super::tenants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenants.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
