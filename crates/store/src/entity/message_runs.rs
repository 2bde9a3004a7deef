//! One run of a message (`MessageProcessingLogRuns`); a retry adds a run.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: i64,
    /// CPI's run id.
    pub run_id: String,
    pub run_start: Option<DateTimeUtc>,
    pub run_stop: Option<DateTimeUtc>,
    pub log_level: Option<String>,
    pub overall_state: Option<String>,
    pub process_id: Option<String>,
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
    #[sea_orm(has_many = "super::message_run_steps::Entity")]
    MessageRunSteps,
}

impl Related<super::message_logs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageLogs.def()
    }
}

impl Related<super::message_run_steps::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageRunSteps.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
