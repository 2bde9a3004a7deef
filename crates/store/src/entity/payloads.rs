//! A persisted payload of a message (`MessageStoreEntries` and their `$value`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payloads")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: i64,
    /// `MessageStoreEntry.Id`
    pub entry_id: String,
    /// The Persist step's id.
    pub message_store_id: Option<String>,
    pub entry_timestamp: Option<DateTimeUtc>,
    pub has_attachments: Option<bool>,
    pub content_type: Option<String>,
    pub size: Option<i64>,
    /// Null until downloaded, and when not kept (too large, skipped).
    #[sea_orm(column_type = "Blob")]
    pub content: Option<Vec<u8>>,
    /// Hex SHA-256 of the content.
    pub sha256: Option<String>,
    pub retain_until: Option<DateTimeUtc>,
    /// 'pending' | 'downloaded' | 'too_large' | 'error' | 'skipped'
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    pub downloaded_at: Option<DateTimeUtc>,
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
