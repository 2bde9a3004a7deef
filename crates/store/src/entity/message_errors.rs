//! The error information of a failed message (`ErrorInformation` and its `$value`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_errors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_id: i64,
    /// `ErrorInformation.Type`, a mime type.
    pub error_type: Option<String>,
    pub last_error_model_step_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub text: Option<String>,
    pub fetched_at: DateTimeUtc,
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
