//! A message whose details could not be fetched or stored: the message is kept, the failure is
//! recorded here and retried a bounded number of times (see `repo::detail_failures`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_detail_failures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_id: i64,
    pub tenant_id: i64,
    /// Tries that failed, in a row.
    pub attempts: i32,
    #[sea_orm(column_type = "Text")]
    pub error: String,
    pub first_failed_at: DateTimeUtc,
    pub last_failed_at: DateTimeUtc,
    /// When the collector tries again; `None`: it does not (given up, or not worth a retry).
    pub next_attempt_at: Option<DateTimeUtc>,
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
