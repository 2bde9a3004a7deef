//! Storage figures over time: the database's size, each table's size and rows, each tenant's
//! archive directory (written by the metrics daemon through `repo::snapshots`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "storage_snapshots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub taken_at: DateTimeUtc,
    /// 'database' | 'table' | 'archive'
    pub kind: String,
    /// The table's name, the tenant's name (archive), '' (database).
    pub name: String,
    /// The tenant of an archive row.
    pub tenant_id: Option<i64>,
    pub bytes: Option<i64>,
    pub row_count: Option<i64>,
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
