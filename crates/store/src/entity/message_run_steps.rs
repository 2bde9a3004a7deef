//! One step of a run (`MessageProcessingLogRunSteps`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_run_steps")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `message_runs.id`, not CPI's run id.
    pub run_pk: i64,
    pub child_count: i32,
    pub step_start: Option<DateTimeUtc>,
    pub step_stop: Option<DateTimeUtc>,
    pub step_id: Option<String>,
    pub model_step_id: Option<String>,
    pub branch_id: Option<String>,
    pub status: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    pub activity: Option<String>,
    /// JSON object of the step's properties (name -> value).
    #[sea_orm(column_type = "Text")]
    pub properties: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::message_runs::Entity",
        from = "Column::RunPk",
        to = "super::message_runs::Column::Id",
        on_delete = "Cascade"
    )]
    MessageRuns,
}

impl Related<super::message_runs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageRuns.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
