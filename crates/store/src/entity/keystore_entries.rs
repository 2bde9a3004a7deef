//! A keystore entry (`KeystoreEntries`, keystore `system`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "keystore_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub alias: String,
    /// `Hexalias`, CPI's key for the entry.
    pub hex_alias: String,
    /// 'Certificate' | 'Key Pair' | …
    pub entry_type: Option<String>,
    pub owner: Option<String>,
    pub key_type: Option<String>,
    pub key_size: Option<i32>,
    pub valid_not_before: Option<DateTimeUtc>,
    pub valid_not_after: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub subject_dn: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub issuer_dn: Option<String>,
    pub serial_number: Option<String>,
    pub signature_algorithm: Option<String>,
    pub fingerprint_sha256: Option<String>,
    pub last_modified_by: Option<String>,
    pub last_modified_at: Option<DateTimeUtc>,
    pub synced_at: DateTimeUtc,
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
}

impl Related<super::tenants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenants.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
