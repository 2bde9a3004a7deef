//! Alert rules, stored by unique name with their spec as written (JSON). The store does not
//! validate specs: callers validate with `domain::alerts::rule` before writing, and readers
//! validate again (a rule that no longer validates is reported, not evaluated).

use chrono::{DateTime, Utc};
use domain::alerts::rule::RuleSpec;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

use crate::connect::Db;
use crate::entity::alert_rules;
use crate::error::StoreError;

/// The built-in rule of the Watchdog alert.
pub const WATCHDOG: &str = "watchdog";

#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub spec: RuleSpec,
    pub enabled: bool,
    pub tenant: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

fn to_rule(m: alert_rules::Model) -> Result<StoredRule, StoreError> {
    let spec: RuleSpec = if m.kind == WATCHDOG {
        RuleSpec {
            name: m.name.clone(),
            kind: m.kind.clone(),
            ..Default::default()
        }
    } else {
        serde_json::from_str(&m.spec).map_err(|e| {
            sea_orm::DbErr::Json(format!(
                "alert rule {}: stored spec unreadable: {e}",
                m.name
            ))
        })?
    };
    Ok(StoredRule {
        id: m.id,
        name: m.name,
        kind: m.kind,
        spec,
        enabled: m.enabled,
        tenant: m.tenant,
        created_at: m.created_at,
        updated_at: m.updated_at,
        updated_by: m.updated_by,
    })
}

/// Whether `upsert` created the rule or changed an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created(i64),
    Updated(i64),
    Unchanged(i64),
}

/// Create or update a rule by name (`spec.name`), inside the caller's transaction.
pub async fn upsert_in<C: ConnectionTrait>(
    conn: &C,
    spec: &RuleSpec,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Upserted, StoreError> {
    let json = serde_json::to_string(spec).map_err(|e| sea_orm::DbErr::Json(e.to_string()))?;
    let enabled = spec.enabled.unwrap_or(true);
    let existing = alert_rules::Entity::find()
        .filter(alert_rules::Column::Name.eq(spec.name.trim()))
        .one(conn)
        .await?;
    match existing {
        Some(m) if m.spec == json && m.enabled == enabled => Ok(Upserted::Unchanged(m.id)),
        Some(m) => {
            let id = m.id;
            let mut a: alert_rules::ActiveModel = m.into();
            a.kind = Set(spec.kind.trim().to_string());
            a.spec = Set(json);
            a.enabled = Set(enabled);
            a.tenant = Set(spec.tenant.clone());
            a.updated_at = Set(now);
            a.updated_by = Set(Some(by.to_string()));
            a.update(conn).await?;
            Ok(Upserted::Updated(id))
        }
        None => {
            let a = alert_rules::ActiveModel {
                name: Set(spec.name.trim().to_string()),
                kind: Set(spec.kind.trim().to_string()),
                spec: Set(json),
                enabled: Set(enabled),
                tenant: Set(spec.tenant.clone()),
                created_at: Set(now),
                updated_at: Set(now),
                updated_by: Set(Some(by.to_string())),
                ..Default::default()
            };
            let m = a.insert(conn).await?;
            Ok(Upserted::Created(m.id))
        }
    }
}

pub async fn upsert(
    db: &Db,
    spec: &RuleSpec,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Upserted, StoreError> {
    let txn = db.begin_write().await?;
    let out = upsert_in(&txn, spec, by, now).await?;
    txn.commit().await?;
    Ok(out)
}

/// Create the rule unless one of that name exists: true when created.
pub async fn create_missing_in<C: ConnectionTrait>(
    conn: &C,
    spec: &RuleSpec,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let exists = alert_rules::Entity::find()
        .filter(alert_rules::Column::Name.eq(spec.name.trim()))
        .one(conn)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    upsert_in(conn, spec, by, now).await?;
    Ok(true)
}

/// Every rule, by name (the watchdog included).
pub async fn list(db: &Db) -> Result<Vec<StoredRule>, StoreError> {
    alert_rules::Entity::find()
        .order_by_asc(alert_rules::Column::Name)
        .all(db.conn())
        .await?
        .into_iter()
        .map(to_rule)
        .collect()
}

/// Rules that may cover a tenant: those naming it and those naming none (tags are matched by
/// the caller).
pub async fn for_tenant(db: &Db, tenant: &str) -> Result<Vec<StoredRule>, StoreError> {
    alert_rules::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(alert_rules::Column::Tenant.is_null())
                .add(alert_rules::Column::Tenant.eq(tenant)),
        )
        .filter(alert_rules::Column::Kind.ne(WATCHDOG))
        .order_by_asc(alert_rules::Column::Id)
        .all(db.conn())
        .await?
        .into_iter()
        .map(to_rule)
        .collect()
}

pub async fn get_by_name(db: &Db, name: &str) -> Result<Option<StoredRule>, StoreError> {
    alert_rules::Entity::find()
        .filter(alert_rules::Column::Name.eq(name))
        .one(db.conn())
        .await?
        .map(to_rule)
        .transpose()
}

/// Delete a rule by name (its alerts and their history go with it): true when it existed.
pub async fn delete(db: &Db, name: &str) -> Result<bool, StoreError> {
    let r = alert_rules::Entity::delete_many()
        .filter(alert_rules::Column::Name.eq(name))
        .filter(alert_rules::Column::Kind.ne(WATCHDOG))
        .exec(db.conn())
        .await?;
    Ok(r.rows_affected > 0)
}

/// The watchdog rule's id, created on first use.
pub async fn watchdog(db: &Db, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let find = || {
        alert_rules::Entity::find()
            .filter(alert_rules::Column::Name.eq(WATCHDOG))
            .one(db.conn())
    };
    if let Some(m) = find().await? {
        return Ok(m.id);
    }
    let a = alert_rules::ActiveModel {
        name: Set(WATCHDOG.into()),
        kind: Set(WATCHDOG.into()),
        spec: Set("{}".into()),
        enabled: Set(true),
        tenant: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        updated_by: Set(Some("system".into())),
        ..Default::default()
    };
    match a.insert(db.conn()).await.map_err(StoreError::from) {
        Ok(m) => Ok(m.id),
        // Another evaluator created it meanwhile.
        Err(e) if e.is_unique_violation() => Ok(find()
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound(WATCHDOG.into()))?
            .id),
        Err(e) => Err(e),
    }
}
