//! Occurrences of an error group in one fixed window of the Errors list (`window_hours` 24,
//! 168 or 720): always the sum of its `error_group_hours` from the window's `start_hour`
//! (`error_group_sum_windows`) on.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "error_group_sums")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub window_hours: i32,
    pub tenant_id: i64,
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
