//! An adapter attribute of a message (`AdapterAttributes`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "adapter_attributes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: i64,
    pub cpi_id: Option<String>,
    pub adapter_id: Option<String>,
    pub adapter_message_id: Option<String>,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub value: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::message_logs::Entity",
        from = "Column::MessageId",
        to = "super::message_logs::Column::Id",
        on_delete = "Cascade"
    )]
    MessageLogs,
}

impl Related<super::message_logs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageLogs.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
