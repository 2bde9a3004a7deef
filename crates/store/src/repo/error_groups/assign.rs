//! Grouping on write: which group a message is counted in, and moving it when that changes.
//!
//! A message with an error text belongs to the group of its key (custom rules, then the default
//! normalisation, `domain::errors`). A message in a failed status without a text belongs to its
//! iFlow's "no error text yet" group until the text arrives; one that leaves the failed
//! statuses without ever getting a text leaves that group. A message never moves from a real
//! group back to "no error text yet" (a later fetch that lost the text changes nothing).
//!
//! Every path runs inside the caller's write transaction after the message row is written (and
//! so locked), reads what the message is counted in (`message_logs.error_group_id` and the hour
//! it was counted under), and changes counts only when the group changes: fetching the details
//! again, RETRY → FAILED with the same text, or a second worker writing the same message count
//! nothing.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use domain::MessageStatus;
use domain::errors::fingerprint::NO_TEXT_TITLE;
use domain::errors::lifecycle::Occurrence;
use domain::errors::{
    ErrorContext, FingerprintRule, GROUPING_VERSION, GroupKey, NO_TEXT_FINGERPRINT, RuleSet,
};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use super::counts::{Delta, NewGroup, apply, find_or_create, hour_of};
use super::lifecycle::on_occurrence;
use crate::repo::{Sql, max_params};

/// Statuses that carry an error: a message in one of them without a text yet is counted in the
/// "no error text yet" group.
pub(crate) const ERROR_STATUSES: [&str; 4] = ["FAILED", "ESCALATED", "RETRY", "ABANDONED"];

pub(crate) fn carries_error(status: &MessageStatus) -> bool {
    matches!(
        status,
        MessageStatus::Failed
            | MessageStatus::Escalated
            | MessageStatus::Retry
            | MessageStatus::Abandoned
    )
}

/// What grouping reads about a message.
#[derive(Debug, Clone, FromQueryResult)]
pub(crate) struct Msg {
    pub id: i64,
    pub tenant_id: i64,
    pub iflow_id: Option<String>,
    pub package_id: Option<String>,
    pub status: Option<String>,
    pub log_start: Option<DateTime<Utc>>,
    pub log_end: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub error_group_id: Option<i64>,
    pub error_group_hour: Option<DateTime<Utc>>,
    /// The fingerprint of the group it is counted in.
    pub group_fingerprint: Option<String>,
    pub text: Option<String>,
}

pub(crate) const MSG_SELECT: &str = "SELECT m.id, m.tenant_id, m.iflow_id, m.package_id, m.status, \
    m.log_start, m.log_end, m.updated_at, m.error_group_id, m.error_group_hour, \
    g.fingerprint AS group_fingerprint, e.text AS text \
    FROM message_logs m LEFT JOIN error_groups g ON g.id = m.error_group_id \
    LEFT JOIN message_errors e ON e.message_id = m.id";

impl Msg {
    /// When the occurrence happened: the message's `LogEnd` (what the monitor shows).
    fn at(&self) -> DateTime<Utc> {
        self.log_end.or(self.log_start).unwrap_or(self.updated_at)
    }

    fn text(&self) -> Option<&str> {
        self.text.as_deref().filter(|t| !t.trim().is_empty())
    }

    fn in_no_text_group(&self) -> bool {
        self.group_fingerprint.as_deref() == Some(NO_TEXT_FINGERPRINT)
    }
}

/// Where a message belongs now.
enum Target {
    /// Stays where it is (or ungrouped).
    Keep,
    /// Leaves its group.
    Leave,
    Group(GroupKey),
}

/// The custom rules, read once per batch and only when a message has a text.
pub(crate) struct Rules {
    set: Option<RuleSet>,
}

impl Rules {
    pub(crate) fn new() -> Self {
        Self { set: None }
    }

    pub(crate) fn with(set: RuleSet) -> Self {
        Self { set: Some(set) }
    }

    async fn get<C: ConnectionTrait>(&mut self, conn: &C) -> Result<&RuleSet, DbErr> {
        let set = match self.set.take() {
            Some(set) => set,
            None => {
                let rules = load_rules(conn).await?;
                let (set, errors) = RuleSet::compile_lenient(&rules);
                for e in errors {
                    tracing::warn!("error rule skipped: {e}");
                }
                set
            }
        };
        Ok(self.set.insert(set))
    }
}

/// The stored rules in order.
pub(crate) async fn load_rules<C: ConnectionTrait>(
    conn: &C,
) -> Result<Vec<FingerprintRule>, DbErr> {
    use crate::entity::error_rules;
    use sea_orm::{EntityTrait, QueryOrder};
    Ok(error_rules::Entity::find()
        .order_by_asc(error_rules::Column::Position)
        .order_by_asc(error_rules::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(crate::repo::error_rules::rule_of)
        .collect())
}

fn no_text_key() -> GroupKey {
    GroupKey {
        fingerprint: NO_TEXT_FINGERPRINT.to_owned(),
        title: NO_TEXT_TITLE.to_owned(),
        template: String::new(),
        rule_id: None,
    }
}

async fn target<C: ConnectionTrait>(conn: &C, m: &Msg, rules: &mut Rules) -> Result<Target, DbErr> {
    let status = MessageStatus::parse(m.status.as_deref().unwrap_or(""));
    if let Some(text) = m.text() {
        let set = rules.get(conn).await?;
        let key = set.group_key(&ErrorContext {
            iflow: m.iflow_id.as_deref().unwrap_or(""),
            package: m.package_id.as_deref(),
            status: status.as_str(),
            text,
        });
        return Ok(Target::Group(key));
    }
    if carries_error(&status) {
        let in_text_group = m.error_group_id.is_some() && !m.in_no_text_group();
        return Ok(if in_text_group {
            Target::Keep
        } else {
            Target::Group(no_text_key())
        });
    }
    Ok(if m.in_no_text_group() {
        Target::Leave
    } else {
        Target::Keep
    })
}

/// The group and hour a message is written with (`None`: ungrouped).
type Placement = (Option<i64>, Option<DateTime<Utc>>);

/// How a batch counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Ingest and regroup: a message entering a group is an occurrence.
    Count,
    /// Restored from an archive: its occurrence was counted when it was first collected, so
    /// it joins its group uncounted (a group that no longer exists is made and counted).
    Restore,
}

/// Group the messages of a batch (already read with [`MSG_SELECT`]); returns how many moved
/// (entered, left or changed group).
pub(crate) async fn assign<C: ConnectionTrait>(
    conn: &C,
    msgs: &[Msg],
    rules: &mut Rules,
    mode: Mode,
) -> Result<u64, DbErr> {
    let mut deltas: Vec<Delta> = Vec::new();
    let mut package: BTreeMap<i64, String> = BTreeMap::new();
    // (group, hour) -> messages, for one UPDATE each.
    let mut placed: BTreeMap<Placement, Vec<i64>> = BTreeMap::new();
    // New group -> (occurrences, latest occurrence).
    let mut occurred: BTreeMap<i64, (u64, Occurrence)> = BTreeMap::new();
    let mut decided: Vec<(&Msg, GroupKey)> = Vec::with_capacity(msgs.len());
    let mut moved = 0;
    for m in msgs {
        match target(conn, m, rules).await? {
            Target::Keep => {}
            Target::Leave => {
                if let (Some(old), Some(hour)) = (m.error_group_id, m.error_group_hour) {
                    deltas.push(Delta {
                        group_id: old,
                        hour,
                        delta: -1,
                        at: None,
                    });
                }
                placed.entry((None, None)).or_default().push(m.id);
                moved += 1;
            }
            Target::Group(key) => decided.push((m, key)),
        }
    }
    // Groups found or made in key order: concurrent writers that make the same new groups
    // wait on each other's inserts in one order instead of deadlocking.
    let mut first_of: BTreeMap<(i64, String, String), usize> = BTreeMap::new();
    for (i, (m, key)) in decided.iter().enumerate() {
        first_of
            .entry((
                m.tenant_id,
                m.iflow_id.clone().unwrap_or_default(),
                key.fingerprint.clone(),
            ))
            .or_insert(i);
    }
    let mut groups: HashMap<(i64, String, String), (i64, bool)> = HashMap::new();
    for (cache_key, i) in first_of {
        let (m, key) = &decided[i];
        let g = find_or_create(
            conn,
            &NewGroup {
                tenant_id: m.tenant_id,
                iflow: &cache_key.1,
                package: m.package_id.as_deref(),
                fingerprint: &key.fingerprint,
                grouping_version: GROUPING_VERSION,
                rule_id: key.rule_id,
                title: &key.title,
                template: &key.template,
                sample_text: m.text(),
                sample_message_id: m.text().map(|_| m.id),
                at: m.at(),
            },
        )
        .await?;
        groups.insert(cache_key, g);
    }
    for (m, key) in &decided {
        let at = m.at();
        let cache_key = (
            m.tenant_id,
            m.iflow_id.clone().unwrap_or_default(),
            key.fingerprint.clone(),
        );
        let (group_id, created) = groups[&cache_key];
        if m.error_group_id == Some(group_id) {
            continue;
        }
        moved += 1;
        let hour = hour_of(at);
        if mode == Mode::Count || created {
            if let (Some(old), Some(old_hour)) = (m.error_group_id, m.error_group_hour) {
                deltas.push(Delta {
                    group_id: old,
                    hour: old_hour,
                    delta: -1,
                    at: None,
                });
            }
            deltas.push(Delta {
                group_id,
                hour,
                delta: 1,
                at: Some(at),
            });
            if let Some(p) = &m.package_id {
                package.insert(group_id, p.clone());
            }
            let occ = Occurrence {
                occurred_at: at,
                log_start: m.log_start.unwrap_or(at),
            };
            let e = occurred.entry(group_id).or_insert((0, occ));
            e.0 += 1;
            if occ.occurred_at >= e.1.occurred_at {
                e.1 = occ;
            }
        }
        placed
            .entry((Some(group_id), Some(hour)))
            .or_default()
            .push(m.id);
    }
    apply(conn, &deltas, &package).await?;
    let backend = conn.get_database_backend();
    for ((group, hour), ids) in &placed {
        for chunk in ids.chunks(max_params(backend) - 3) {
            let mut sql = Sql::new(backend);
            sql.push("UPDATE message_logs SET error_group_id = ")
                .bind(*group)
                .push(", error_group_hour = ")
                .bind(*hour)
                .push(" WHERE id IN ")
                .bind_list(chunk.iter().copied());
            conn.execute_raw(sql.statement()).await?;
        }
    }
    for (group, (n, occ)) in occurred {
        on_occurrence(conn, group, occ, n).await?;
    }
    Ok(moved)
}

async fn read<C: ConnectionTrait>(conn: &C, sql: Sql) -> Result<Vec<Msg>, DbErr> {
    Msg::find_by_statement(sql.statement()).all(conn).await
}

/// Group one message after its details (error text) were written, in the same transaction.
pub(crate) async fn group_message_in<C: ConnectionTrait>(
    conn: &C,
    message_id: i64,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(MSG_SELECT).push(" WHERE m.id = ").bind(message_id);
    let msgs = read(conn, sql).await?;
    assign(conn, &msgs, &mut Rules::new(), Mode::Count).await?;
    Ok(())
}

/// After a page write: messages of the page that entered a failed status without a group, or
/// left the failed statuses while in "no error text yet". Others are not read at all.
pub(crate) async fn group_page_in<C: ConnectionTrait>(conn: &C, ids: &[i64]) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let mut msgs = Vec::new();
    for chunk in ids.chunks(max_params(backend) - 20) {
        let mut sql = Sql::new(backend);
        sql.push(MSG_SELECT)
            .push(" WHERE m.id IN ")
            .bind_list(chunk.iter().copied())
            .push(" AND ((m.error_group_id IS NULL AND m.status IN ")
            .bind_list(ERROR_STATUSES)
            .push(") OR (g.fingerprint = ")
            .bind(NO_TEXT_FINGERPRINT)
            .push(" AND (m.status IS NULL OR m.status NOT IN ")
            .bind_list(ERROR_STATUSES)
            .push(")))");
        msgs.extend(read(conn, sql).await?);
    }
    if msgs.is_empty() {
        return Ok(());
    }
    assign(conn, &msgs, &mut Rules::new(), Mode::Count).await?;
    Ok(())
}

/// Restored messages join their groups without being counted again.
pub(crate) async fn group_restored_in<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let mut msgs = Vec::new();
    for chunk in ids.chunks(max_params(backend) - 20) {
        let mut sql = Sql::new(backend);
        sql.push(MSG_SELECT)
            .push(" WHERE m.id IN ")
            .bind_list(chunk.iter().copied())
            .push(" AND (e.text IS NOT NULL OR m.status IN ")
            .bind_list(ERROR_STATUSES)
            .push(")");
        msgs.extend(read(conn, sql).await?);
    }
    assign(conn, &msgs, &mut Rules::new(), Mode::Restore).await?;
    Ok(())
}
