//! Occurrences of an error group in one hour (the hour of the messages' `LogEnd`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "error_group_hours")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: DateTimeUtc,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::error_groups::Entity",
        from = "Column::GroupId",
        to = "super::error_groups::Column::Id",
        on_delete = "Cascade"
    )]
    ErrorGroups,
}

impl Related<super::error_groups::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ErrorGroups.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
