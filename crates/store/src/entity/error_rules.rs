//! A custom fingerprint rule; the first matching rule by `position` wins.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "error_rules")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub position: i32,
    /// Glob on the iFlow id.
    pub iflow: Option<String>,
    /// Glob on the package id.
    pub package: Option<String>,
    pub status: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub text_glob: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub text_regex: Option<String>,
    pub fingerprint: String,
    #[sea_orm(column_type = "Text")]
    pub title: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
