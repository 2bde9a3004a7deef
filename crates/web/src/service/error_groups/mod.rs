//! Error groups for `api::error_groups` and `pages::errors`: the filtered list, one group with
//! its history, the lifecycle actions (resolve, ignore, reopen, merge, unmerge) and the custom
//! fingerprint rules. Groups are seen under the same tenant visibility as messages; with
//! `WEB_MASK_ERRORS` the texts of a group (title, template, sample) are `***` for a user whose
//! tenant is masked.

mod actions;
mod query;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::errors::GROUPING_VERSION;
use domain::errors::lifecycle::ResolveMode;
use domain::tenant::Tenant;
use domain::user::MASK;
use serde::Serialize;
use store::repo::error_groups::{self as groups, GroupDetail, GroupQuery, GroupSummary};
use utoipa::ToSchema;

pub use self::actions::*;
pub use self::query::*;
use crate::access;
use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupOut {
    pub id: i64,
    pub tenant_id: i64,
    /// The tenant's name.
    pub tenant: String,
    /// The iFlow's id (artifact id).
    pub iflow: String,
    /// The normalised first line of the error text (`***` when masked for you).
    pub title: String,
    /// `new`, `ongoing`, `escalating`, `regressed`, `resolved` or `ignored`.
    pub state: String,
    /// Messages in the requested range.
    pub occurrences: i64,
    /// Messages ever (archived ones included).
    pub total_occurrences: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Messages per day over the last 14 days, oldest first.
    pub sparkline: Vec<i64>,
    /// The grouping version that made the group.
    pub grouping_version: i16,
    /// Made by an older grouping version than the running one (`integramon errors regroup`
    /// regroups stored messages).
    pub outdated: bool,
    /// The group's texts are masked for you (`WEB_MASK_ERRORS`).
    pub masked: bool,
}

#[derive(Serialize, ToSchema)]
pub struct GroupListOut {
    pub items: Vec<GroupOut>,
    /// Cursor for the next page (`after=`); absent on the last page.
    pub next: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The running grouping version.
    pub grouping_version: i16,
    /// Tenants not searched by text (`q`) because their error texts are masked for you.
    pub masked_tenants: Vec<String>,
}

/// Whether the error texts of this tenant are masked for this user.
pub fn texts_masked(state: &AppState, p: &Principal, tenant: &Tenant) -> bool {
    state.cfg.mask_errors && access::masked(state, &p.user, tenant)
}

fn group_out(s: GroupSummary, names: &HashMap<i64, String>, masked: bool) -> GroupOut {
    GroupOut {
        id: s.id,
        tenant_id: s.tenant_id,
        tenant: names.get(&s.tenant_id).cloned().unwrap_or_default(),
        iflow: s.iflow,
        title: if masked { MASK.to_string() } else { s.title },
        state: s.state.as_str().to_string(),
        occurrences: s.occurrences,
        total_occurrences: s.total_occurrences,
        first_seen: s.first_seen,
        last_seen: s.last_seen,
        sparkline: s.sparkline,
        grouping_version: s.grouping_version,
        outdated: s.grouping_version < GROUPING_VERSION,
        masked,
    }
}

/// What a list answered, with the parsed query (for the page's form and links).
pub struct Listing {
    pub parsed: ParsedGroups,
    pub out: GroupListOut,
    /// Every tenant the user may see (for selectors).
    pub visible: Vec<Tenant>,
}

/// Groups matching the filters, on the tenants the user may see.
pub async fn list(state: &AppState, p: &Principal, q: &GroupsQuery) -> Result<Listing, AppError> {
    let parsed = q.parse(Utc::now())?;
    let visible = access::visible_tenants(state, p).await?;
    let mut tenants: Vec<&Tenant> = visible
        .iter()
        .filter(|t| parsed.tenant.is_none_or(|id| id == t.id))
        .collect();
    // A text search over masked texts would reveal them one question at a time.
    let mut masked_tenants = Vec::new();
    if parsed.q.is_some() {
        tenants.retain(|t| {
            let m = texts_masked(state, p, t);
            if m {
                masked_tenants.push(t.settings.name.clone());
            }
            !m
        });
    }
    let query = GroupQuery {
        tenants: tenants.iter().map(|t| t.id).collect(),
        tenant: parsed.tenant,
        iflow: parsed.iflow.clone(),
        package: parsed.package.clone(),
        state: parsed.state,
        from: parsed.from,
        to: parsed.to,
        q: parsed.q.clone(),
        sort: parsed.sort,
        limit: parsed.limit,
        after: parsed.after.clone(),
    };
    let page = if query.tenants.is_empty() {
        groups::GroupPage {
            items: Vec::new(),
            next: None,
        }
    } else {
        groups::list(&state.db, &query).await?
    };
    let names = crate::service::messages::tenant_names(&visible);
    let masked: HashMap<i64, bool> = visible
        .iter()
        .map(|t| (t.id, texts_masked(state, p, t)))
        .collect();
    let items = page
        .items
        .into_iter()
        .map(|s| {
            let m = masked.get(&s.tenant_id).copied().unwrap_or(true);
            group_out(s, &names, m)
        })
        .collect();
    Ok(Listing {
        out: GroupListOut {
            items,
            next: page.next,
            from: parsed.from,
            to: parsed.to,
            grouping_version: GROUPING_VERSION,
            masked_tenants,
        },
        parsed,
        visible,
    })
}

#[derive(Serialize, ToSchema)]
pub struct HourOut {
    pub hour: DateTime<Utc>,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct EventOut {
    pub at: DateTime<Utc>,
    /// The user (or `system` for automatic transitions).
    pub actor: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub comment: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupDetailOut {
    #[serde(flatten)]
    pub group: GroupOut,
    /// The normalised text the fingerprint is made of (`***` when masked for you).
    pub template: String,
    /// One real error text of the group (`***` when masked for you).
    pub sample_text: Option<String>,
    pub sample_message_id: Option<i64>,
    /// Messages per hour (the group's own history, kept after archiving), oldest first.
    pub hourly: Vec<HourOut>,
    /// Every change of state, newest first, with who, when and why.
    pub history: Vec<EventOut>,
    /// For a resolved group: `now` or `next_deployment`.
    pub resolve_mode: Option<String>,
    /// For an ignored group: until when.
    pub ignore: Option<IgnoreIn>,
    /// The group this one was merged into.
    pub merged_into: Option<i64>,
    /// Groups merged into this one.
    pub merged: Vec<i64>,
}

pub fn resolve_mode_name(m: ResolveMode) -> &'static str {
    match m {
        ResolveMode::Now => "now",
        ResolveMode::NextDeployment => "next_deployment",
    }
}

fn detail_out(d: GroupDetail, tenant: &Tenant, masked: bool) -> GroupDetailOut {
    let names = HashMap::from([(tenant.id, tenant.settings.name.clone())]);
    let mask = |s: String| if masked { MASK.to_string() } else { s };
    GroupDetailOut {
        group: group_out(d.summary, &names, masked),
        template: mask(d.template),
        sample_text: d.sample_text.map(mask),
        sample_message_id: d.sample_message_id,
        hourly: d
            .hourly
            .into_iter()
            .map(|(hour, count)| HourOut { hour, count })
            .collect(),
        history: d
            .history
            .into_iter()
            .map(|e| EventOut {
                at: e.at,
                actor: e.actor,
                action: e.action,
                from_state: e.from_state.map(|s| s.as_str().to_string()),
                to_state: e.to_state.map(|s| s.as_str().to_string()),
                comment: e.comment,
            })
            .collect(),
        resolve_mode: d.resolve_mode.map(|m| resolve_mode_name(m).to_string()),
        ignore: d.ignore.as_ref().map(IgnoreIn::from_until),
        merged_into: d.merged_into,
        merged: d.merged,
    }
}

/// A group the user may see, with its tenant: 404 when missing or not visible (the same answer,
/// so ids cannot be probed).
async fn visible_group(
    state: &AppState,
    p: &Principal,
    id: i64,
) -> Result<(GroupDetail, Tenant), AppError> {
    let not_found = || AppError::not_found(format!("error group {id}"));
    let d = groups::get(&state.db, id).await?.ok_or_else(not_found)?;
    let t = access::tenant(state, p, d.summary.tenant_id)
        .await
        .map_err(|_| not_found())?;
    Ok((d, t))
}

/// One group with its history and sample, masked as the user's tenant requires.
pub async fn detail(state: &AppState, p: &Principal, id: i64) -> Result<GroupDetailOut, AppError> {
    let (d, t) = visible_group(state, p, id).await?;
    let masked = texts_masked(state, p, &t);
    Ok(detail_out(d, &t, masked))
}

#[derive(Serialize, ToSchema, Default)]
pub struct OverviewCountsOut {
    /// Groups first seen in the last 7 days that are not resolved or ignored.
    pub new: i64,
    pub regressed: i64,
    pub escalating: i64,
}

/// The overview's error cards, over the tenants the user may see.
pub async fn overview_counts(
    state: &AppState,
    tenants: &[Tenant],
) -> Result<OverviewCountsOut, AppError> {
    let ids: Vec<i64> = tenants.iter().map(|t| t.id).collect();
    if ids.is_empty() {
        return Ok(OverviewCountsOut::default());
    }
    let c = groups::overview_counts(&state.db, &ids).await?;
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    Ok(OverviewCountsOut {
        new: n(c.new),
        regressed: n(c.regressed),
        escalating: n(c.escalating),
    })
}
