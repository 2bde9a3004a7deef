//! The evaluator's incremental readers: what a tenant's rules look at, never a scan of all
//! messages. Counts in a window come from the hourly rollup for whole hours and from
//! `message_logs` (index on tenant and `log_end`) only for the part of the window before its
//! first whole hour, so one read costs at most an hour of messages whatever the table holds.
//! Error groups are read by their creation and state-change times within the rule's
//! `resolve_after`; artifacts and keystore entries are the tenant's current (small) sets.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound as _, Utc};
use domain::MessageStatus;
use domain::alerts::eval::{ArtifactFact, CertFact, GroupFact, IflowCount};
use domain::alerts::rule::GroupTrigger;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::connect::Db;
use crate::entity::{keystore_entries, runtime_artifacts};
use crate::error::StoreError;
use crate::repo::{Sql, get};

fn hour_ceil(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = t.duration_trunc(Duration::hours(1)).unwrap_or(t);
    if floor == t {
        t
    } else {
        floor + Duration::hours(1)
    }
}

/// Messages per iFlow, package and status with `log_end` in `[since, now]`.
pub async fn window_counts(
    db: &Db,
    tenant_id: i64,
    since: DateTime<Utc>,
) -> Result<Vec<IflowCount>, StoreError> {
    let backend = db.db_backend();
    let edge = hour_ceil(since);
    let mut sql = Sql::new(backend);
    // Whole hours from the rollup (its current hour holds everything stored so far), the
    // leading partial hour from the messages themselves.
    sql.push(
        "SELECT iflow_id, package_id, status, MAX(iflow_name) AS iflow_name, \
         CAST(SUM(n) AS BIGINT) AS n FROM (\
         SELECT iflow_id, package_id, status, iflow_name, count AS n FROM message_counts \
         WHERE tenant_id = ",
    )
    .bind(tenant_id)
    .push(" AND hour_start >= ")
    .bind(edge)
    .push(
        " UNION ALL SELECT COALESCE(iflow_id, ''), COALESCE(package_id, ''), \
         COALESCE(status, ''), iflow_name, 1 FROM message_logs WHERE tenant_id = ",
    )
    .bind(tenant_id)
    .push(" AND log_end >= ")
    .bind(since)
    .push(" AND log_end < ")
    .bind(edge)
    .push(") c GROUP BY iflow_id, package_id, status");
    let rows = db.conn().query_all_raw(sql.statement()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let n: i64 = get(&row, "n")?;
        if n <= 0 {
            continue;
        }
        out.push(IflowCount {
            iflow_id: get(&row, "iflow_id")?,
            iflow_name: get(&row, "iflow_name")?,
            package_id: get(&row, "package_id")?,
            status: MessageStatus::parse(&get::<String>(&row, "status")?),
            count: n as u64,
        });
    }
    Ok(out)
}

/// Error groups created, regressed or escalating since `since`, with their current state.
pub async fn error_groups(
    db: &Db,
    tenant_id: i64,
    since: DateTime<Utc>,
) -> Result<Vec<GroupFact>, StoreError> {
    let backend = db.db_backend();
    let mut by_id: HashMap<i64, GroupFact> = HashMap::new();
    let mut sql = Sql::new(backend);
    sql.push(
        "SELECT id, iflow_id, package_id, title, state, first_seen FROM error_groups \
         WHERE tenant_id = ",
    )
    .bind(tenant_id)
    .push(" AND merged_into IS NULL AND first_seen >= ")
    .bind(since);
    for row in db.conn().query_all_raw(sql.statement()).await? {
        let id: i64 = get(&row, "id")?;
        by_id.insert(
            id,
            GroupFact {
                id,
                iflow_id: get(&row, "iflow_id")?,
                package_id: get(&row, "package_id")?,
                title: get(&row, "title")?,
                state: get(&row, "state")?,
                triggers: vec![(GroupTrigger::New, get(&row, "first_seen")?)],
            },
        );
    }
    let mut sql = Sql::new(backend);
    sql.push(
        "SELECT g.id, g.iflow_id, g.package_id, g.title, g.state, e.to_state, e.at \
         FROM error_group_events e JOIN error_groups g ON g.id = e.group_id \
         WHERE g.tenant_id = ",
    )
    .bind(tenant_id)
    .push(" AND g.merged_into IS NULL AND e.at >= ")
    .bind(since)
    .push(" AND e.to_state IN ('regressed', 'escalating')");
    for row in db.conn().query_all_raw(sql.statement()).await? {
        let id: i64 = get(&row, "id")?;
        let trigger = match get::<String>(&row, "to_state")?.as_str() {
            "regressed" => GroupTrigger::Regressed,
            _ => GroupTrigger::Escalating,
        };
        let at: DateTime<Utc> = get(&row, "at")?;
        let fact = match by_id.entry(id) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(GroupFact {
                id,
                iflow_id: get(&row, "iflow_id")?,
                package_id: get(&row, "package_id")?,
                title: get(&row, "title")?,
                state: get(&row, "state")?,
                triggers: Vec::new(),
            }),
        };
        fact.triggers.push((trigger, at));
    }
    let mut out: Vec<GroupFact> = by_id.into_values().collect();
    out.sort_by_key(|g| g.id);
    Ok(out)
}

/// The tenant's deployed runtime artifacts.
pub async fn artifacts(db: &Db, tenant_id: i64) -> Result<Vec<ArtifactFact>, StoreError> {
    let rows = runtime_artifacts::Entity::find()
        .filter(runtime_artifacts::Column::TenantId.eq(tenant_id))
        .order_by_asc(runtime_artifacts::Column::ArtifactId)
        .all(db.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ArtifactFact {
            id: r.artifact_id,
            name: r.name,
            artifact_type: r.artifact_type,
            status: r.status,
            error_text: r.error_text,
            deployed_at: r.deployed_at,
        })
        .collect())
}

/// Keystore entries that expire before `until`.
pub async fn certificates(
    db: &Db,
    tenant_id: i64,
    until: DateTime<Utc>,
) -> Result<Vec<CertFact>, StoreError> {
    let rows = keystore_entries::Entity::find()
        .filter(keystore_entries::Column::TenantId.eq(tenant_id))
        .filter(keystore_entries::Column::ValidNotAfter.lte(until))
        .order_by_asc(keystore_entries::Column::Alias)
        .all(db.conn())
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(CertFact {
                valid_not_after: r.valid_not_after?,
                alias: r.alias,
                entry_type: r.entry_type,
                subject_dn: r.subject_dn,
            })
        })
        .collect())
}

/// Jobs of the tenant dead-lettered since `since`: when, and their type.
pub async fn dead_letters(
    db: &Db,
    tenant_id: i64,
    since: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, String)>, StoreError> {
    let mut sql = Sql::new(db.db_backend());
    sql.push("SELECT finished_at, job_type FROM job_runs WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND state = 'dead' AND finished_at >= ")
        .bind(since);
    let rows = db.conn().query_all_raw(sql.statement()).await?;
    rows.iter()
        .map(|r| Ok((get(r, "finished_at")?, get(r, "job_type")?)))
        .collect()
}
