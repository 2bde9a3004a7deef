//! A message processing log (CPI `MessageProcessingLogs`), one row per tenant and `MessageGuid`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Also the monitor's read model (`repo::monitor::MessageRecord`), serialised as the message
/// detail's `message` in the API.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "message_logs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub message_guid: String,
    pub correlation_id: Option<String>,
    pub application_message_id: Option<String>,
    pub application_message_type: Option<String>,
    pub predecessor_message_guid: Option<String>,
    pub log_start: Option<DateTimeUtc>,
    pub log_end: Option<DateTimeUtc>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    /// `IntegrationArtifact.Id`
    pub iflow_id: Option<String>,
    /// `IntegrationArtifact.Name`
    pub iflow_name: Option<String>,
    /// `IntegrationArtifact.Type`
    pub artifact_type: Option<String>,
    pub package_id: Option<String>,
    pub package_name: Option<String>,
    pub status: Option<String>,
    pub custom_status: Option<String>,
    pub log_level: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub alternate_web_link: Option<String>,
    pub transaction_id: Option<String>,
    pub archiving_status: Option<String>,
    pub origin_component_name: Option<String>,
    pub local_component_name: Option<String>,
    pub previous_component_name: Option<String>,
    /// `log_end - log_start` in milliseconds.
    pub duration_ms: Option<i64>,
    /// Status when runs, headers and error were last fetched.
    pub details_status: Option<String>,
    pub details_fetched_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The error group the message is counted in (by its own fingerprint; a merged group's
    /// messages keep their group id, see `repo::error_groups`).
    pub error_group_id: Option<i64>,
    /// The hour it was counted under there, so a move counts it down in that same hour.
    pub error_group_hour: Option<DateTimeUtc>,
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
    #[sea_orm(has_one = "super::message_errors::Entity")]
    MessageErrors,
    #[sea_orm(has_many = "super::message_runs::Entity")]
    MessageRuns,
    #[sea_orm(has_many = "super::custom_header_properties::Entity")]
    CustomHeaderProperties,
    #[sea_orm(has_many = "super::adapter_attributes::Entity")]
    AdapterAttributes,
    #[sea_orm(has_many = "super::payloads::Entity")]
    Payloads,
    #[sea_orm(has_many = "super::attachments::Entity")]
    Attachments,
}

impl Related<super::tenants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenants.def()
    }
}

impl Related<super::message_errors::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageErrors.def()
    }
}

impl Related<super::message_runs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageRuns.def()
    }
}

impl Related<super::custom_header_properties::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CustomHeaderProperties.def()
    }
}

impl Related<super::adapter_attributes::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AdapterAttributes.def()
    }
}

impl Related<super::payloads::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Payloads.def()
    }
}

impl Related<super::attachments::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Attachments.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
