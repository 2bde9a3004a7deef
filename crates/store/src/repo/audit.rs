//! The audit log: who changed what, when and from where. Entries are appended ([`append`], or
//! [`append_in`] inside the caller's transaction) and listed newest first with filters and keyset
//! paging by id ([`list`]). Nothing here updates or deletes an entry. Callers must not put secrets
//! into an entry: the web's `audit` module names what changed, never a secret's value.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;

use super::clean;
use crate::connect::Db;
use crate::entity::audit_log;
use crate::error::StoreError;

/// Longest text kept per field; longer values are cut (an entry is a record, not a dump).
const MAX_TEXT: usize = 1000;

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub at: DateTime<Utc>,
    /// The signed-in user, if any.
    pub actor_id: Option<i64>,
    /// The user name, or `system`.
    pub actor: String,
    /// The client's address.
    pub source: Option<String>,
    /// `<object type>.<verb>`, e.g. `tenant.secret_changed`.
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub object_name: Option<String>,
    /// A JSON object of what changed; never a secret.
    pub details: Value,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub source: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub object_name: Option<String>,
    pub details: Value,
}

/// What to list; every filter is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Entries with an id below this (the previous page's last id).
    pub before: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

fn cut(s: &str) -> String {
    let s = clean(s);
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Append an entry; its id.
pub async fn append(db: &Db, e: &NewEntry) -> Result<i64, StoreError> {
    append_in(db.conn(), e).await
}

/// [`append`] on any connection, so the entry commits with the change it describes.
pub async fn append_in<C: ConnectionTrait>(conn: &C, e: &NewEntry) -> Result<i64, StoreError> {
    let model = audit_log::ActiveModel {
        id: NotSet,
        at: Set(e.at),
        actor_id: Set(e.actor_id),
        actor: Set(cut(&e.actor)),
        source: Set(e.source.as_deref().map(cut)),
        action: Set(cut(&e.action)),
        object_type: Set(cut(&e.object_type)),
        object_id: Set(e.object_id.as_deref().map(cut)),
        object_name: Set(e.object_name.as_deref().map(cut)),
        details: Set(clean(&e.details.to_string())),
    };
    let res = audit_log::Entity::insert(model).exec(conn).await?;
    Ok(res.last_insert_id)
}

/// Up to `limit` entries matching `f`, newest first.
pub async fn list(db: &Db, f: &Filter, limit: u64) -> Result<Vec<Entry>, StoreError> {
    use audit_log::Column as C;
    let mut q = audit_log::Entity::find();
    if let Some(b) = f.before {
        q = q.filter(C::Id.lt(b));
    }
    if let Some(v) = &f.actor {
        q = q.filter(C::Actor.eq(clean(v)));
    }
    if let Some(v) = &f.action {
        q = q.filter(C::Action.eq(clean(v)));
    }
    if let Some(v) = &f.object_type {
        q = q.filter(C::ObjectType.eq(clean(v)));
    }
    if let Some(v) = &f.object_id {
        q = q.filter(C::ObjectId.eq(clean(v)));
    }
    if let Some(t) = f.since {
        q = q.filter(C::At.gte(t));
    }
    if let Some(t) = f.until {
        q = q.filter(C::At.lt(t));
    }
    let rows = q.order_by_desc(C::Id).limit(limit).all(db.conn()).await?;
    Ok(rows
        .into_iter()
        .map(|r| Entry {
            id: r.id,
            at: r.at,
            actor_id: r.actor_id,
            actor: r.actor,
            source: r.source,
            action: r.action,
            object_type: r.object_type,
            object_id: r.object_id,
            object_name: r.object_name,
            // Written by `append` as JSON; anything else is shown as text rather than lost.
            details: serde_json::from_str(&r.details).unwrap_or(Value::String(r.details)),
        })
        .collect())
}
