//! Silences by unique name; matchers stored as a JSON array of their text.

use chrono::{DateTime, Utc};
use domain::alerts::Matcher;
use domain::alerts::silence::Silence;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};

use crate::connect::Db;
use crate::entity::silences;
use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct StoredSilence {
    pub id: i64,
    pub silence: Silence,
    pub muted_any: bool,
    pub created_at: DateTime<Utc>,
}

fn to_silence(m: silences::Model) -> Result<StoredSilence, StoreError> {
    let raw: Vec<String> = serde_json::from_str(&m.matchers)
        .map_err(|e| sea_orm::DbErr::Json(format!("silence {}: matchers: {e}", m.name)))?;
    let matchers = raw
        .iter()
        .map(|r| Matcher::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| sea_orm::DbErr::Json(format!("silence {}: {e}", m.name)))?;
    Ok(StoredSilence {
        id: m.id,
        silence: Silence {
            name: m.name,
            matchers,
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            created_by: m.created_by,
            comment: m.comment,
            expire_on_resolve: m.expire_on_resolve,
            expired_at: m.expired_at,
        },
        muted_any: m.muted_any,
        created_at: m.created_at,
    })
}

/// Store a new silence; a taken name is a unique violation.
pub async fn create(db: &Db, s: &Silence, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let matchers: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
    let a = silences::ActiveModel {
        name: Set(s.name.clone()),
        matchers: Set(serde_json::to_string(&matchers).unwrap_or_else(|_| "[]".into())),
        starts_at: Set(s.starts_at),
        ends_at: Set(s.ends_at),
        created_by: Set(s.created_by.clone()),
        comment: Set(crate::repo::clean(&s.comment)),
        expire_on_resolve: Set(s.expire_on_resolve),
        expired_at: Set(None),
        muted_any: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    Ok(a.insert(db.conn()).await?.id)
}

/// Every silence, newest first.
pub async fn list(db: &Db) -> Result<Vec<StoredSilence>, StoreError> {
    silences::Entity::find()
        .order_by_desc(silences::Column::Id)
        .all(db.conn())
        .await?
        .into_iter()
        .map(to_silence)
        .collect()
}

/// Silences not yet over at `now` (pending or active).
pub async fn current(db: &Db, now: DateTime<Utc>) -> Result<Vec<StoredSilence>, StoreError> {
    silences::Entity::find()
        .filter(silences::Column::EndsAt.gt(now))
        .filter(silences::Column::ExpiredAt.is_null())
        .order_by_asc(silences::Column::Id)
        .all(db.conn())
        .await?
        .into_iter()
        .map(to_silence)
        .collect()
}

/// End a silence now (by hand, or because its alerts resolved): true when it was running.
pub async fn expire(db: &Db, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let r = silences::Entity::update_many()
        .col_expr(silences::Column::ExpiredAt, now.into())
        .col_expr(silences::Column::UpdatedAt, now.into())
        .filter(silences::Column::Id.eq(id))
        .filter(silences::Column::ExpiredAt.is_null())
        .exec(db.conn())
        .await?;
    Ok(r.rows_affected > 0)
}

/// Remember that these silences have muted an alert.
pub async fn mark_muted(db: &Db, ids: &[i64]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    silences::Entity::update_many()
        .col_expr(silences::Column::MutedAny, true.into())
        .filter(silences::Column::Id.is_in(ids.iter().copied()))
        .filter(silences::Column::MutedAny.eq(false))
        .exec(db.conn())
        .await?;
    Ok(())
}
