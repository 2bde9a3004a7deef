//! One change of an error group (state change, merge, unmerge) with who, when and why.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "error_group_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub group_id: i64,
    pub at: DateTimeUtc,
    /// The user name, or `system` for changes the grouping made on an occurrence.
    pub actor: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub comment: Option<String>,
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
