//! Per tenant, iFlow and fixed interval: message counts by status, duration percentiles and
//! payload volume (written by the metrics daemon through `repo::snapshots`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "metric_snapshots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    /// Start of the interval of the messages' `log_end`.
    pub bucket_start: DateTimeUtc,
    pub bucket_secs: i32,
    /// '' when the messages have none.
    pub iflow_id: String,
    pub iflow_name: Option<String>,
    pub messages: i64,
    /// JSON object: status -> count.
    #[sea_orm(column_type = "Text")]
    pub status_counts: String,
    pub duration_p50_ms: Option<i64>,
    pub duration_p95_ms: Option<i64>,
    pub duration_p99_ms: Option<i64>,
    pub duration_max_ms: Option<i64>,
    pub payload_count: i64,
    pub payload_bytes: i64,
    pub computed_at: DateTimeUtc,
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
