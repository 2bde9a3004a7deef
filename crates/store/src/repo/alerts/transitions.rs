//! The transition log: one row per state change of an alert, appended in the same
//! transaction as the change and never updated. Ids ascend in commit order closely enough for
//! a reader that pages by id and re-reads a short overlap (the notifier).

use chrono::{DateTime, Utc};
use domain::alerts::AlertState;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::connect::Db;
use crate::entity::alert_transitions;
use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub id: i64,
    pub alert_id: i64,
    pub at: DateTime<Utc>,
    pub from: Option<AlertState>,
    pub to: AlertState,
    pub cause: String,
    pub actor: String,
}

fn to_transition(m: alert_transitions::Model) -> Transition {
    Transition {
        id: m.id,
        alert_id: m.alert_id,
        at: m.at,
        from: m.from_state.as_deref().and_then(AlertState::parse),
        to: AlertState::parse(&m.to_state).unwrap_or(AlertState::Firing),
        cause: m.cause,
        actor: m.actor,
    }
}

pub(crate) async fn append_in<C: ConnectionTrait>(
    conn: &C,
    alert_id: i64,
    at: DateTime<Utc>,
    from: Option<AlertState>,
    to: AlertState,
    cause: &str,
    actor: &str,
) -> Result<i64, StoreError> {
    let a = alert_transitions::ActiveModel {
        alert_id: Set(alert_id),
        at: Set(at),
        from_state: Set(from.map(|s| s.as_str().to_string())),
        to_state: Set(to.as_str().to_string()),
        cause: Set(crate::repo::clean(cause)),
        actor: Set(crate::repo::clean(actor)),
        ..Default::default()
    };
    Ok(a.insert(conn).await?.id)
}

/// An alert's timeline, oldest first.
pub async fn of_alert(db: &Db, alert_id: i64) -> Result<Vec<Transition>, StoreError> {
    Ok(alert_transitions::Entity::find()
        .filter(alert_transitions::Column::AlertId.eq(alert_id))
        .order_by_asc(alert_transitions::Column::Id)
        .all(db.conn())
        .await?
        .into_iter()
        .map(to_transition)
        .collect())
}

/// Transitions with an id above `after`, oldest first, at most `limit`.
pub async fn since(db: &Db, after: i64, limit: u64) -> Result<Vec<Transition>, StoreError> {
    Ok(alert_transitions::Entity::find()
        .filter(alert_transitions::Column::Id.gt(after))
        .order_by_asc(alert_transitions::Column::Id)
        .limit(limit.clamp(1, 10_000))
        .all(db.conn())
        .await?
        .into_iter()
        .map(to_transition)
        .collect())
}
