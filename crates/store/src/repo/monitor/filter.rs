//! The filter the monitor's queries share and the SQL conditions it becomes.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult};
use serde::{Deserialize, Serialize};

use crate::entity::custom_header_properties;
use crate::repo::{Sql, clean};

/// What the message monitor filters on. Empty strings count as absent; every value matches
/// literally (`%`, `_`, `\` and quotes are not special).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageFilter {
    /// The tenants the caller may see; empty sees nothing.
    pub tenant_ids: Vec<i64>,
    /// `log_end >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `log_end < to`.
    pub to: Option<DateTime<Utc>>,
    /// Any of these statuses (case-insensitive for the known ones); empty: all.
    pub statuses: Vec<String>,
    pub iflow_id: Option<String>,
    pub package_id: Option<String>,
    /// A custom header with this name (and [`header_value`](Self::header_value) if given).
    pub header_name: Option<String>,
    /// Exact value, or a prefix with a trailing `*` (`ORD-*`).
    pub header_value: Option<String>,
    pub message_guid: Option<String>,
    pub correlation_id: Option<String>,
    pub application_id: Option<String>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    /// Messages of this error group, and of the groups merged into it.
    pub error_group: Option<i64>,
}

impl MessageFilter {
    /// A filter on these tenants and nothing else.
    pub fn tenants(tenant_ids: impl IntoIterator<Item = i64>) -> Self {
        Self {
            tenant_ids: tenant_ids.into_iter().collect(),
            ..Default::default()
        }
    }

    /// Whether the rollup can count this filter: it keeps tenant, hour, iFlow, package and
    /// status, nothing else.
    pub(super) fn rollup_can_count(&self) -> bool {
        self.error_group.is_none()
            && [
                &self.header_name,
                &self.header_value,
                &self.message_guid,
                &self.correlation_id,
                &self.application_id,
                &self.sender,
                &self.receiver,
            ]
            .iter()
            .all(|v| given(v).is_none())
    }

    pub(super) fn has_header_filter(&self) -> bool {
        given(&self.header_name).is_some() || given(&self.header_value).is_some()
    }

    pub(super) fn visible_tenants(&self) -> Vec<i64> {
        visible(&self.tenant_ids)
    }

    pub(super) fn statuses(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .statuses
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| key(domain::MessageStatus::parse(s).as_str()))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

pub(super) fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

pub(super) fn visible(ids: &[i64]) -> Vec<i64> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Whose rows a statement reads.
#[derive(Clone, Copy)]
pub(super) enum Scope<'a> {
    One(i64),
    Many(&'a [i64]),
}

/// Header matches [`header_plan`] reads at most to decide how a header filter is searched.
pub const HEADER_PROBE_CAP: u64 = 5_000;

/// How a header filter is applied, chosen per query by [`header_plan`] from how many header
/// rows match: neither way is fast for every selectivity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HeaderPlan {
    /// Few matches: their message ids, read first from the header index, become an `IN` list,
    /// so the page sorts at most [`HEADER_PROBE_CAP`] rows.
    Ids(Vec<i64>),
    /// Many matches (`ORD*` matching most messages): walk the messages in `(log_end, id)`
    /// order and probe each one's headers by `message_id`; a page stops after its rows.
    Probe,
}

impl HeaderPlan {
    /// The plan when the caller did not measure: probing, as the query always did.
    pub(super) fn unmeasured() -> Self {
        Self::Probe
    }
}

#[derive(FromQueryResult)]
struct HeaderHit {
    message_id: i64,
}

/// Decide how `f`'s header filter runs on `tenants`: read up to `cap` + 1 matching header rows
/// from the `(tenant_id, name, value_prefix)` index; at most `cap` → [`HeaderPlan::Ids`],
/// else [`HeaderPlan::Probe`]. Without a header filter: `Probe` (unused).
pub(super) async fn header_plan<C: ConnectionTrait>(
    conn: &C,
    tenants: &[i64],
    f: &MessageFilter,
    cap: u64,
) -> Result<HeaderPlan, DbErr> {
    if !f.has_header_filter() {
        return Ok(HeaderPlan::Probe);
    }
    if tenants.is_empty() {
        return Ok(HeaderPlan::Ids(Vec::new()));
    }
    let backend = conn.get_database_backend();
    // Counted on the index alone first: reading `message_id` and `value` of a million matches
    // from the table is what made `ORD*` slow.
    let counted = conn
        .query_all_raw(header_probe_sql(backend, tenants, f, cap, false).statement())
        .await?
        .len();
    if counted as u64 > cap {
        return Ok(HeaderPlan::Probe);
    }
    let sql = header_probe_sql(backend, tenants, f, cap, true);
    let hits = HeaderHit::find_by_statement(sql.statement())
        .all(conn)
        .await?;
    let mut ids: Vec<i64> = hits.into_iter().map(|h| h.message_id).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(HeaderPlan::Ids(ids))
}

/// The statements [`header_plan`] runs: up to `cap` + 1 header rows whose indexed columns match
/// (`ids` false: `SELECT 1`, an index-only scan), or the matching rows' message ids.
pub(super) fn header_probe_sql(
    backend: DbBackend,
    tenants: &[i64],
    f: &MessageFilter,
    cap: u64,
    ids: bool,
) -> Sql {
    let mut sql = Sql::new(backend);
    sql.push(if ids {
        "SELECT h.message_id FROM custom_header_properties h WHERE h.tenant_id IN "
    } else {
        "SELECT 1 AS one FROM custom_header_properties h WHERE h.tenant_id IN "
    })
    .bind_list(tenants.iter().copied());
    push_header_match(&mut sql, f, ids);
    sql.push(" LIMIT ")
        .bind(i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX));
    sql
}

/// `<p>tenant_id … AND <p>log_end IS NOT NULL AND …` for `filter` on `message_logs` aliased
/// `m` (`p` = `m.`), the header filter applied as `header` says. The time range is left to
/// the caller when `with_time` is false.
pub(super) fn push_conditions(
    sql: &mut Sql,
    scope: Scope<'_>,
    f: &MessageFilter,
    with_time: bool,
    header: &HeaderPlan,
) {
    match scope {
        Scope::One(id) => {
            sql.push("m.tenant_id = ").bind(id);
        }
        Scope::Many(ids) => {
            sql.push("m.tenant_id IN ").bind_list(ids.iter().copied());
        }
    }
    sql.push(" AND m.log_end IS NOT NULL");
    if with_time {
        if let Some(from) = f.from {
            sql.push(" AND m.log_end >= ").bind(from);
        }
        if let Some(to) = f.to {
            sql.push(" AND m.log_end < ").bind(to);
        }
    }
    let statuses = f.statuses();
    if !statuses.is_empty() {
        sql.push(" AND m.status IN ").bind_list(statuses);
    }
    let exact = [
        ("iflow_id", &f.iflow_id),
        ("package_id", &f.package_id),
        ("message_guid", &f.message_guid),
        ("correlation_id", &f.correlation_id),
        ("application_message_id", &f.application_id),
        ("sender", &f.sender),
        ("receiver", &f.receiver),
    ];
    for (col, v) in exact {
        if let Some(v) = given(v) {
            // Keys are stored capped (see domain::limits): the tenant's full value finds them.
            sql.push(&format!(" AND m.{col} = ")).bind(key(v));
        }
    }
    if let Some(g) = f.error_group {
        sql.push(" AND m.error_group_id IN (SELECT eg.id FROM error_groups eg WHERE eg.id = ")
            .bind(g)
            .push(" OR eg.merged_into = ")
            .bind(g)
            .push(")");
    }
    push_header_condition(sql, f, header);
}

/// The header filter: an `IN` list of the matching messages, or a probe of each message's
/// headers (a correlated `EXISTS` on `custom_header_properties`).
fn push_header_condition(sql: &mut Sql, f: &MessageFilter, header: &HeaderPlan) {
    if !f.has_header_filter() {
        return;
    }
    match header {
        HeaderPlan::Ids(ids) if ids.is_empty() => {
            sql.push(" AND 1 = 0");
        }
        HeaderPlan::Ids(ids) => {
            sql.push(" AND m.id IN ").bind_list(ids.iter().copied());
        }
        HeaderPlan::Probe => {
            sql.push(
                " AND EXISTS (SELECT 1 FROM custom_header_properties h \
                 WHERE h.message_id = m.id AND h.tenant_id = m.tenant_id",
            );
            push_header_match(sql, f, true);
            // PostgreSQL turns a plain EXISTS into a semi-join, which for a value most messages
            // carry reads every matching header before the first row (7 s at 1 M messages).
            // `OFFSET 0` keeps it a per-row probe on the `message_id` index, so a page walks
            // `(tenant_id, log_end)` in order and stops once it is full.
            if sql.backend() == DbBackend::Postgres {
                sql.push(" OFFSET 0");
            }
            sql.push(")");
        }
    }
}

/// ` AND h.name = … AND <value>` on `custom_header_properties h`, served by its
/// `(tenant_id, name, value_prefix)` index.
/// With `exact` false only the indexed columns are compared (a superset of the matches that an
/// index-only scan answers).
fn push_header_match(sql: &mut Sql, f: &MessageFilter, exact: bool) {
    let name = given(&f.header_name);
    let value = given(&f.header_value);
    if let Some(name) = name {
        sql.push(" AND h.name = ")
            .bind(domain::limits::header_name(name).into_owned());
    }
    match value {
        Some(v) if v.ends_with('*') => {
            let prefix = clean(&v[..v.len() - 1]);
            if !prefix.is_empty() {
                // Narrow on the indexed prefix column, then compare the value's first
                // characters exactly. PostgreSQL: LIKE, which the pattern-ops index serves
                // under any collation. SQLite: its LIKE ignores ASCII case and cannot use the
                // index, but text compares bytewise, so a range is exact and indexed (only a
                // value with U+10FFFF right after the prefix would fall outside it).
                let indexed = custom_header_properties::value_prefix(&prefix);
                if sql.backend() == DbBackend::Postgres {
                    sql.push(" AND h.value_prefix LIKE ")
                        .bind(format!("{}%", like_escape(&indexed)))
                        .push(" ESCAPE '\\'");
                } else {
                    sql.push(" AND h.value_prefix >= ")
                        .bind(indexed.clone())
                        .push(" AND h.value_prefix < ")
                        .bind(format!("{indexed}\u{10FFFF}"));
                }
                if exact {
                    sql.push(" AND substr(h.value, 1, ")
                        .bind(i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX))
                        .push(") = ")
                        .bind(prefix);
                }
            }
        }
        Some(v) => {
            let v = domain::limits::header_value(v).into_owned();
            sql.push(" AND h.value_prefix = ")
                .bind(custom_header_properties::value_prefix(&v));
            if exact {
                sql.push(" AND h.value = ").bind(v);
            }
        }
        None => {}
    }
}

/// A key as the store keeps it (see `domain::limits::key`).
pub(super) fn key(s: &str) -> String {
    domain::limits::key(s).into_owned()
}

/// `s` as a LIKE pattern matching it literally (escape character `\`).
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(like_escape(r"a%b_c\d'e"), r"a\%b\_c\\d'e");
    }
}
