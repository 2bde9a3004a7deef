//! One change an operator made, appended to the audit log and never updated.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    /// No foreign key: the entry outlives the user.
    pub actor_id: Option<i64>,
    /// The user name at the time, or `system`.
    pub actor: String,
    /// The client's address as the web server saw it.
    pub source: Option<String>,
    /// `<object type>.<verb>`, e.g. `tenant.secret_changed`.
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub object_name: Option<String>,
    /// JSON object: what changed, never a secret.
    #[sea_orm(column_type = "Text")]
    pub details: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
