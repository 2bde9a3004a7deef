//! A custom header property of a message (`CustomHeaderProperties`).
//!
//! Header search uses the index on `(tenant_id, name, value_prefix)`, not on `value`: a btree
//! entry on PostgreSQL must stay under about 2.7 kB and a header value can be any length. Write
//! `value_prefix` with [`value_prefix`] on every insert and update, and search with
//! `value_prefix = value_prefix(v) AND value = v`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "custom_header_properties")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: i64,
    /// Copied from the message so the header search needs no join.
    pub tenant_id: i64,
    pub cpi_id: Option<String>,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub value: Option<String>,
    /// The first `HEADER_VALUE_PREFIX_CHARS` characters of `value` (see [`value_prefix`]); the
    /// search index covers this column, so searches compare it and then `value`.
    #[sea_orm(column_type = "String(StringLen::N(200))")]
    pub value_prefix: Option<String>,
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
    #[sea_orm(
        belongs_to = "super::tenants::Entity",
        from = "Column::TenantId",
        to = "super::tenants::Column::Id",
        on_delete = "Cascade"
    )]
    Tenants,
}

impl Related<super::message_logs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageLogs.def()
    }
}

impl Related<super::tenants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenants.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// What `value_prefix` holds for `value`: its first
/// [`migration::HEADER_VALUE_PREFIX_CHARS`] characters (characters, not bytes, so the column's
/// `varchar(200)` accepts it on PostgreSQL).
pub fn value_prefix(value: &str) -> String {
    value
        .chars()
        .take(migration::HEADER_VALUE_PREFIX_CHARS as usize)
        .collect()
}
