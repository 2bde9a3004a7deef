//! A monitored CPI tenant and its query and sync settings.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub api_url: String,
    pub ui_url: Option<String>,
    /// 'basic' | 'oauth2'
    pub auth_kind: String,
    pub username: Option<String>,
    pub client_id: Option<String>,
    pub token_url: Option<String>,
    /// Password or client secret, encrypted by the application; never plaintext.
    #[sea_orm(column_type = "Text")]
    pub secret_enc: Option<String>,
    pub tls_verify: bool,
    /// PEM
    #[sea_orm(column_type = "Text")]
    pub ca_cert: Option<String>,
    pub enabled: bool,
    /// JSON array of strings.
    #[sea_orm(column_type = "Text")]
    pub tags: String,
    /// JSON array of strings.
    #[sea_orm(column_type = "Text")]
    pub access_groups: String,
    /// OData `$filter` added to every MPL query.
    #[sea_orm(column_type = "Text")]
    pub message_filter: Option<String>,
    pub collect_from: Option<DateTimeUtc>,
    pub hot_window_secs: i32,
    /// 'none' | 'failed' | 'all'
    pub payload_strategy: String,
    pub payload_max_bytes: i64,
    pub attachments_enabled: bool,
    /// 'unknown' | 'ok' | 'unreachable'
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub status_message: Option<String>,
    pub status_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::tenant_jobs::Entity")]
    TenantJobs,
    #[sea_orm(has_many = "super::sync_state::Entity")]
    SyncState,
    #[sea_orm(has_many = "super::message_logs::Entity")]
    MessageLogs,
    #[sea_orm(has_many = "super::custom_header_properties::Entity")]
    CustomHeaderProperties,
    #[sea_orm(has_many = "super::correlations::Entity")]
    Correlations,
    #[sea_orm(has_many = "super::packages::Entity")]
    Packages,
    #[sea_orm(has_many = "super::design_artifacts::Entity")]
    DesignArtifacts,
    #[sea_orm(has_many = "super::artifact_versions::Entity")]
    ArtifactVersions,
    #[sea_orm(has_many = "super::runtime_artifacts::Entity")]
    RuntimeArtifacts,
    #[sea_orm(has_many = "super::keystore_entries::Entity")]
    KeystoreEntries,
    #[sea_orm(has_many = "super::job_runs::Entity")]
    JobRuns,
}

impl Related<super::tenant_jobs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TenantJobs.def()
    }
}

impl Related<super::sync_state::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SyncState.def()
    }
}

impl Related<super::message_logs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageLogs.def()
    }
}

impl Related<super::custom_header_properties::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CustomHeaderProperties.def()
    }
}

impl Related<super::correlations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Correlations.def()
    }
}

impl Related<super::packages::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Packages.def()
    }
}

impl Related<super::design_artifacts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DesignArtifacts.def()
    }
}

impl Related<super::artifact_versions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ArtifactVersions.def()
    }
}

impl Related<super::runtime_artifacts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RuntimeArtifacts.def()
    }
}

impl Related<super::keystore_entries::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::KeystoreEntries.def()
    }
}

impl Related<super::job_runs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::JobRuns.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
