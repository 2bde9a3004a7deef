//! The first hour each fixed window of `error_group_sums` counts from; no row: not built yet.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "error_group_sum_windows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub window_hours: i32,
    pub start_hour: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
