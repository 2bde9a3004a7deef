//! Custom fingerprint rules (`domain::errors::rules`), in order: the first rule that matches a
//! message's iFlow, package, status and error text gives its group's fingerprint. A rule is
//! validated before it is stored (a bad glob or regex is a clear error naming the field).
//! Changing rules groups new messages by them; `integramon errors regroup` applies them to the
//! stored ones.

use chrono::{DateTime, Utc};
use domain::errors::FingerprintRule;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};

use crate::connect::Db;
use crate::entity::error_rules;
use crate::error::StoreError;
use crate::repo::clean;

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRule {
    pub id: i64,
    /// 0-based place in the order.
    pub position: i32,
    pub iflow: Option<String>,
    pub package: Option<String>,
    pub status: Option<String>,
    pub text_glob: Option<String>,
    pub text_regex: Option<String>,
    pub fingerprint: String,
    pub title: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StoredRule {
    /// The rule as the grouping uses it.
    pub fn rule(&self) -> FingerprintRule {
        FingerprintRule {
            id: self.id,
            iflow: self.iflow.clone(),
            package: self.package.clone(),
            status: self.status.clone(),
            text_glob: self.text_glob.clone(),
            text_regex: self.text_regex.clone(),
            fingerprint: self.fingerprint.clone(),
            title: self.title.clone(),
        }
    }
}

fn stored(m: error_rules::Model) -> StoredRule {
    StoredRule {
        id: m.id,
        position: m.position,
        iflow: m.iflow,
        package: m.package,
        status: m.status,
        text_glob: m.text_glob,
        text_regex: m.text_regex,
        fingerprint: m.fingerprint,
        title: m.title,
        created_by: m.created_by,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

pub(crate) fn rule_of(m: error_rules::Model) -> FingerprintRule {
    stored(m).rule()
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(clean)
}

fn checked(rule: &FingerprintRule) -> Result<FingerprintRule, StoreError> {
    let r = FingerprintRule {
        id: rule.id,
        iflow: given(&rule.iflow),
        package: given(&rule.package),
        status: given(&rule.status),
        text_glob: given(&rule.text_glob),
        text_regex: given(&rule.text_regex),
        fingerprint: clean(rule.fingerprint.trim()),
        title: given(&rule.title),
    };
    r.validate().map_err(|e| StoreError::InvalidArgument {
        field: "rule",
        reason: e.to_string(),
    })?;
    Ok(r)
}

/// Every rule in order.
pub async fn list_rules(db: &Db) -> Result<Vec<StoredRule>, StoreError> {
    list_in(db.conn()).await
}

async fn list_in<C: ConnectionTrait>(conn: &C) -> Result<Vec<StoredRule>, StoreError> {
    Ok(error_rules::Entity::find()
        .order_by_asc(error_rules::Column::Position)
        .order_by_asc(error_rules::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(stored)
        .collect())
}

/// Add a rule at the end of the order (its `id` is ignored).
pub async fn create_rule(
    db: &Db,
    rule: &FingerprintRule,
    actor: &str,
) -> Result<StoredRule, StoreError> {
    let r = checked(rule)?;
    let txn = db.begin_write().await?;
    let last: Option<i32> = error_rules::Entity::find()
        .order_by_desc(error_rules::Column::Position)
        .one(&txn)
        .await?
        .map(|r| r.position);
    let now = Utc::now();
    let m = error_rules::ActiveModel {
        position: Set(last.map_or(0, |p| p + 1)),
        iflow: Set(r.iflow),
        package: Set(r.package),
        status: Set(r.status),
        text_glob: Set(r.text_glob),
        text_regex: Set(r.text_regex),
        fingerprint: Set(r.fingerprint),
        title: Set(r.title),
        created_by: Set(clean(actor)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(stored(m))
}

fn not_found(id: i64) -> StoreError {
    DbErr::RecordNotFound(format!("error rule {id}")).into()
}

/// Replace the conditions and values of rule `rule.id` (its place in the order stays).
pub async fn update_rule(
    db: &Db,
    rule: &FingerprintRule,
    _actor: &str,
) -> Result<StoredRule, StoreError> {
    let r = checked(rule)?;
    let txn = db.begin_write().await?;
    let Some(found) = error_rules::Entity::find_by_id(rule.id).one(&txn).await? else {
        return Err(not_found(rule.id));
    };
    let mut m: error_rules::ActiveModel = found.into();
    m.iflow = Set(r.iflow);
    m.package = Set(r.package);
    m.status = Set(r.status);
    m.text_glob = Set(r.text_glob);
    m.text_regex = Set(r.text_regex);
    m.fingerprint = Set(r.fingerprint);
    m.title = Set(r.title);
    m.updated_at = Set(Utc::now());
    let m = m.update(&txn).await?;
    txn.commit().await?;
    Ok(stored(m))
}

/// Delete a rule. Groups it made keep their fingerprint until `errors regroup`.
pub async fn delete_rule(db: &Db, id: i64) -> Result<(), StoreError> {
    let txn = db.begin_write().await?;
    let res = error_rules::Entity::delete_by_id(id).exec(&txn).await?;
    if res.rows_affected == 0 {
        return Err(not_found(id));
    }
    renumber(&txn, list_in(&txn).await?).await?;
    txn.commit().await?;
    Ok(())
}

/// Move a rule to `position` (0-based, clamped to the end); returns the new order.
pub async fn move_rule(db: &Db, id: i64, position: usize) -> Result<Vec<StoredRule>, StoreError> {
    let txn = db.begin_write().await?;
    let mut rules = list_in(&txn).await?;
    let Some(from) = rules.iter().position(|r| r.id == id) else {
        return Err(not_found(id));
    };
    let r = rules.remove(from);
    let to = position.min(rules.len());
    rules.insert(to, r);
    let rules = renumber(&txn, rules).await?;
    txn.commit().await?;
    Ok(rules)
}

async fn renumber<C: ConnectionTrait>(
    conn: &C,
    mut rules: Vec<StoredRule>,
) -> Result<Vec<StoredRule>, StoreError> {
    for (i, r) in rules.iter_mut().enumerate() {
        let i = i as i32;
        if r.position != i {
            error_rules::Entity::update_many()
                .col_expr(error_rules::Column::Position, i.into())
                .filter(error_rules::Column::Id.eq(r.id))
                .exec(conn)
                .await?;
            r.position = i;
        }
    }
    Ok(rules)
}
