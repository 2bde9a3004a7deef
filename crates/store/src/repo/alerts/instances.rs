//! Alert instances: applying one evaluation to one identity in one transaction, the manual
//! acknowledgement, and reading alerts back.
//!
//! Two evaluators at once: the open alert is read under a row lock (`FOR UPDATE` on
//! PostgreSQL; SQLite's write transaction holds the database), so the second decides on what
//! the first wrote and makes no second transition. When neither has an open alert yet, both
//! insert, the unique index on (rule_id, open_identity) refuses the second, and it starts over
//! and finds the first's alert. Repeats count once per distinct `seen_key`.

use chrono::{DateTime, Utc};
use domain::alerts::lifecycle::{self, AckError, Move, OpenAlert, Step, Timing};
use domain::alerts::{AlertState, Labels, Severity};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::connect::Db;
use crate::entity::{alert_rules, alerts};
use crate::error::StoreError;

use super::transitions;

/// The actor of the evaluator's transitions.
pub const SYSTEM: &str = "system";

/// What an evaluation saw for an identity.
#[derive(Debug, Clone, Copy)]
pub struct Sighting<'a> {
    pub labels: &'a Labels,
    pub severity: Severity,
    pub summary: &'a str,
    pub value: f64,
    pub about: &'a serde_json::Value,
    pub seen_key: &'a str,
}

/// Which alert identity, under which rule timing.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub rule_id: i64,
    pub tenant_id: Option<i64>,
    pub identity: &'a str,
    pub timing: Timing,
}

/// What applying did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    pub alert_id: Option<i64>,
    /// The transition recorded, if any: (from, to).
    pub moved: Option<(Option<AlertState>, AlertState)>,
}

/// An alert as listed and shown.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: i64,
    pub rule_id: i64,
    pub rule: String,
    pub tenant_id: Option<i64>,
    pub identity: String,
    pub labels: Labels,
    pub state: AlertState,
    pub severity: Severity,
    pub summary: String,
    pub started_at: DateTime<Utc>,
    pub firing_at: Option<DateTime<Utc>>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub recovering_since: Option<DateTime<Utc>>,
    pub count: i64,
    pub value: f64,
    pub ack_by: Option<String>,
    pub ack_at: Option<DateTime<Utc>>,
    pub ack_comment: Option<String>,
    pub ack_until: Option<DateTime<Utc>>,
    pub assignee: Option<String>,
    pub about: serde_json::Value,
    pub muted_by: Option<String>,
}

fn bad(what: &str, v: &str) -> StoreError {
    sea_orm::DbErr::Type(format!("alerts.{what}: unknown value {v:?}")).into()
}

fn to_row(m: alerts::Model, rule: String) -> Result<AlertRow, StoreError> {
    Ok(AlertRow {
        id: m.id,
        rule_id: m.rule_id,
        rule,
        tenant_id: m.tenant_id,
        labels: serde_json::from_str(&m.labels).unwrap_or_default(),
        state: AlertState::parse(&m.state).ok_or_else(|| bad("state", &m.state))?,
        severity: Severity::parse(&m.severity).ok_or_else(|| bad("severity", &m.severity))?,
        identity: m.identity,
        summary: m.summary,
        started_at: m.started_at,
        firing_at: m.firing_at,
        last_seen_at: m.last_seen_at,
        resolved_at: m.resolved_at,
        recovering_since: m.recovering_since,
        count: m.count,
        value: m.value,
        ack_by: m.ack_by,
        ack_at: m.ack_at,
        ack_comment: m.ack_comment,
        ack_until: m.ack_until,
        assignee: m.assignee,
        about: serde_json::from_str(&m.about).unwrap_or_else(|_| serde_json::json!({})),
        muted_by: m.muted_by,
    })
}

async fn open_locked(
    txn: &DatabaseTransaction,
    rule_id: i64,
    identity: &str,
) -> Result<Option<alerts::Model>, StoreError> {
    let mut q = alerts::Entity::find()
        .filter(alerts::Column::RuleId.eq(rule_id))
        .filter(alerts::Column::OpenIdentity.eq(identity));
    if txn.get_database_backend() == DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    Ok(q.one(txn).await?)
}

fn open_of(m: &alerts::Model) -> Result<OpenAlert, StoreError> {
    Ok(OpenAlert {
        state: AlertState::parse(&m.state).ok_or_else(|| bad("state", &m.state))?,
        started_at: m.started_at,
        recovering_since: m.recovering_since,
        ack_until: m.ack_until,
    })
}

/// Apply one evaluation to one identity: `sighting` when the condition holds, `None` when it
/// does not; `muted_by` is the silence or inhibition that mutes it now.
pub async fn apply(
    db: &Db,
    target: Target<'_>,
    sighting: Option<Sighting<'_>>,
    muted_by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Applied, StoreError> {
    // A second try only follows a lost race to open the alert; a third cannot lose again.
    for _ in 0..3 {
        let txn = db.begin_write().await?;
        let row = open_locked(&txn, target.rule_id, target.identity).await?;
        let open = row.as_ref().map(open_of).transpose()?;
        let what = sighting.map(|s| s.summary).unwrap_or("");
        let step = lifecycle::step(open.as_ref(), sighting.is_some(), what, now, target.timing);
        let out = match (step, row) {
            (Step::Nothing, row) => {
                txn.rollback().await?;
                return Ok(Applied {
                    alert_id: row.map(|r| r.id),
                    moved: None,
                });
            }
            (Step::Open(m), _) => {
                let Some(s) = sighting else {
                    unreachable!("the lifecycle opens only what was observed")
                };
                match insert(&txn, target, s, &m, muted_by, now).await {
                    Ok(id) => Applied {
                        alert_id: Some(id),
                        moved: Some((None, m.to)),
                    },
                    Err(e) if e.is_unique_violation() => {
                        // Another evaluator opened it first: start over and update theirs.
                        txn.rollback().await?;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            (
                Step::Update {
                    change,
                    recovering_since,
                },
                Some(row),
            ) => update(&txn, row, sighting, change, recovering_since, muted_by, now).await?,
            (Step::Update { .. }, None) => unreachable!("an update needs an open alert"),
        };
        txn.commit().await?;
        return Ok(out);
    }
    Err(StoreError::Command(format!(
        "alert {} of rule {}: lost the race to open it three times",
        target.identity, target.rule_id
    )))
}

async fn insert(
    txn: &DatabaseTransaction,
    target: Target<'_>,
    s: Sighting<'_>,
    m: &Move,
    muted_by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let a = alerts::ActiveModel {
        rule_id: Set(target.rule_id),
        tenant_id: Set(target.tenant_id),
        identity: Set(target.identity.to_string()),
        open_identity: Set(Some(target.identity.to_string())),
        labels: Set(serde_json::to_string(s.labels).unwrap_or_else(|_| "{}".into())),
        state: Set(m.to.as_str().into()),
        severity: Set(s.severity.as_str().into()),
        summary: Set(crate::repo::clean(s.summary)),
        started_at: Set(now),
        firing_at: Set((m.to == AlertState::Firing).then_some(now)),
        last_seen_at: Set(now),
        resolved_at: Set(None),
        recovering_since: Set(None),
        count: Set(1),
        value: Set(s.value),
        seen_key: Set(Some(s.seen_key.to_string())),
        ack_by: Set(None),
        ack_at: Set(None),
        ack_comment: Set(None),
        ack_until: Set(None),
        assignee: Set(None),
        about: Set(s.about.to_string()),
        muted_by: Set(muted_by.map(str::to_string)),
        updated_at: Set(now),
        ..Default::default()
    };
    let id = a.insert(txn).await?.id;
    transitions::append_in(txn, id, now, None, m.to, &m.cause, SYSTEM).await?;
    Ok(id)
}

async fn update(
    txn: &DatabaseTransaction,
    row: alerts::Model,
    sighting: Option<Sighting<'_>>,
    change: Option<Move>,
    recovering_since: Option<DateTime<Utc>>,
    muted_by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Applied, StoreError> {
    let id = row.id;
    let from = AlertState::parse(&row.state).ok_or_else(|| bad("state", &row.state))?;
    let same = sighting.is_none()
        && change.is_none()
        && recovering_since == row.recovering_since
        && muted_by == row.muted_by.as_deref();
    if same {
        return Ok(Applied {
            alert_id: Some(id),
            moved: None,
        });
    }
    let mut a: alerts::ActiveModel = row.clone().into();
    if let Some(s) = sighting {
        a.last_seen_at = Set(now);
        a.labels = Set(serde_json::to_string(s.labels).unwrap_or_else(|_| "{}".into()));
        a.severity = Set(s.severity.as_str().into());
        a.summary = Set(crate::repo::clean(s.summary));
        a.value = Set(s.value);
        a.about = Set(s.about.to_string());
        if row.seen_key.as_deref() != Some(s.seen_key) {
            a.count = Set(row.count + 1);
            a.seen_key = Set(Some(s.seen_key.to_string()));
        }
    }
    a.recovering_since = Set(recovering_since);
    a.muted_by = Set(muted_by.map(str::to_string));
    a.updated_at = Set(now);
    let mut moved = None;
    if let Some(m) = &change {
        a.state = Set(m.to.as_str().into());
        match m.to {
            AlertState::Firing => {
                if row.firing_at.is_none() {
                    a.firing_at = Set(Some(now));
                }
                a.ack_until = Set(None);
            }
            AlertState::Resolved => {
                a.open_identity = Set(None);
                a.resolved_at = Set(Some(now));
                a.recovering_since = Set(None);
            }
            AlertState::Pending | AlertState::Acknowledged => {}
        }
        moved = Some((Some(from), m.to));
    }
    a.update(txn).await?;
    if let Some(m) = change {
        transitions::append_in(txn, id, now, Some(from), m.to, &m.cause, SYSTEM).await?;
    }
    Ok(Applied {
        alert_id: Some(id),
        moved,
    })
}

/// Acknowledge alert `id`: the comment is required; `until` makes it fire again then.
/// `Ok(Err(_))` is a refusal to show the user (not firing, no comment).
pub async fn acknowledge(
    db: &Db,
    id: i64,
    by: &str,
    comment: &str,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Result<(), AckError>, StoreError> {
    let txn = db.begin_write().await?;
    let mut q = alerts::Entity::find_by_id(id);
    if txn.get_database_backend() == DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    let row = q
        .one(&txn)
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("alert {id}")))?;
    let from = AlertState::parse(&row.state).ok_or_else(|| bad("state", &row.state))?;
    let m = match lifecycle::acknowledge(from, by, comment, until, now) {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    let mut a: alerts::ActiveModel = row.into();
    a.state = Set(m.to.as_str().into());
    a.ack_by = Set(Some(by.to_string()));
    a.ack_at = Set(Some(now));
    a.ack_comment = Set(Some(crate::repo::clean(comment.trim())));
    a.ack_until = Set(until);
    a.updated_at = Set(now);
    a.update(&txn).await?;
    transitions::append_in(&txn, id, now, Some(from), m.to, &m.cause, by).await?;
    txn.commit().await?;
    Ok(Ok(()))
}

/// What to list; filters combine with AND.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub state: Option<AlertState>,
    /// Open alerts only (pending, firing, acknowledged).
    pub open: bool,
    pub severity: Option<Severity>,
    pub rule: Option<String>,
    /// Only these tenants (a user's visible tenants); `None`: all.
    pub tenants: Option<Vec<i64>>,
    pub limit: u64,
}

/// Alerts newest first.
pub async fn list(db: &Db, f: &Filter) -> Result<Vec<AlertRow>, StoreError> {
    let mut q = alerts::Entity::find()
        .find_also_related(alert_rules::Entity)
        .order_by_desc(alerts::Column::Id)
        .limit(f.limit.clamp(1, 1000));
    if let Some(s) = f.state {
        q = q.filter(alerts::Column::State.eq(s.as_str()));
    }
    if f.open {
        q = q.filter(alerts::Column::OpenIdentity.is_not_null());
    }
    if let Some(s) = f.severity {
        q = q.filter(alerts::Column::Severity.eq(s.as_str()));
    }
    if let Some(r) = &f.rule {
        q = q.filter(alert_rules::Column::Name.eq(r.as_str()));
    }
    if let Some(t) = &f.tenants {
        q = q.filter(alerts::Column::TenantId.is_in(t.iter().copied()));
    }
    q.all(db.conn())
        .await?
        .into_iter()
        .map(|(a, r)| to_row(a, r.map(|r| r.name).unwrap_or_default()))
        .collect()
}

pub async fn get(db: &Db, id: i64) -> Result<Option<AlertRow>, StoreError> {
    alerts::Entity::find_by_id(id)
        .find_also_related(alert_rules::Entity)
        .one(db.conn())
        .await?
        .map(|(a, r)| to_row(a, r.map(|r| r.name).unwrap_or_default()))
        .transpose()
}

/// The open alerts of a rule for a tenant (`None`: the tenant-less watchdog): identity and
/// labels, so the evaluator can apply "not observed" to those it did not see.
pub async fn open_of_rule(
    db: &Db,
    rule_id: i64,
    tenant_id: Option<i64>,
) -> Result<Vec<(String, Labels, Option<String>)>, StoreError> {
    let mut q = alerts::Entity::find()
        .filter(alerts::Column::RuleId.eq(rule_id))
        .filter(alerts::Column::OpenIdentity.is_not_null());
    q = match tenant_id {
        Some(t) => q.filter(alerts::Column::TenantId.eq(t)),
        None => q.filter(alerts::Column::TenantId.is_null()),
    };
    Ok(q.all(db.conn())
        .await?
        .into_iter()
        .map(|m| {
            (
                m.identity,
                serde_json::from_str(&m.labels).unwrap_or_default(),
                m.muted_by,
            )
        })
        .collect())
}

/// Open alerts muted by exactly `muted_by` (for silences that expire on resolve).
pub async fn count_open_muted_by(db: &Db, muted_by: &str) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(alerts::Entity::find()
        .filter(alerts::Column::OpenIdentity.is_not_null())
        .filter(alerts::Column::MutedBy.eq(muted_by))
        .count(db.conn())
        .await?)
}
