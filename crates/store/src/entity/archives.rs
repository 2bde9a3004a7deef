//! Archive files of old messages, one per tenant-day (the earlier version's `cpiArchive`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "archives")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    /// The day (in the archive time zone) whose messages the file holds.
    pub day: Date,
    pub file_name: String,
    #[sea_orm(column_type = "Text")]
    pub path: String,
    pub size_bytes: i64,
    pub message_count: i64,
    /// Hex SHA-256 of the file; null while writing.
    pub checksum: Option<String>,
    /// 'writing' | 'archived' | 'deleted'
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
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
