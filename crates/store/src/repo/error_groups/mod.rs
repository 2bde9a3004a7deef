//! Error groups: every failed message counted in exactly one group per tenant, iFlow and
//! fingerprint of its normalised error text (`domain::errors`), with the group's lifecycle.
//!
//! - [`assign`]: grouping on write, inside the caller's transaction — the details write
//!   (`messages::write_details_in`) and the page write (a message entering or leaving a failed
//!   status). Idempotent: a message carries the group it is counted in and the hour it was
//!   counted under, so writing it again counts nothing, and a move counts it down exactly where
//!   it was counted up. The message row is locked first (the details write's `UPDATE`, the
//!   page upsert), so two writers of one message take turns.
//! - [`counts`]: the group row, its totals and its hourly history. A group merged into another
//!   keeps counting its own occurrences and also counts them in the target, so the list reads
//!   only the target and unmerging subtracts what the merged group brought.
//! - [`lifecycle`]: state changes on an occurrence (via `domain::errors::lifecycle`), the
//!   manager's actions (resolve, ignore, reopen) and the time-based changes ([`tick`]).
//! - [`merge`]: merge and unmerge by hand.
//! - [`query`]: the Errors list ([`list`], keyset pages), one group ([`get`]) and the
//!   overview's counts.
//! - [`regroup`]: `integramon errors regroup`.
//! - [`sums`]: per-group occurrences in the list's fixed windows (24 h, 7 d, 30 d), kept with
//!   the hours, so sorting by occurrences in those ranges is an index walk.

mod assign;
mod counts;
mod cursor;
mod lifecycle;
mod merge;
mod query;
mod regroup;
mod search;
mod seed;
mod sums;

use chrono::{DateTime, Utc};
use domain::errors::{GroupState, IgnoreUntil, ResolveMode};
use serde::{Deserialize, Serialize};

pub(crate) use assign::{group_message_in, group_page_in, group_restored_in};
pub use counts::{follow_merges, prune_hours};
pub use lifecycle::{ignore, reopen, resolve, tick};
pub use merge::{merge, unmerge};
pub use query::{get, list, overview_counts};
pub use regroup::{RegroupReport, regroup};
pub use seed::{SeededGroups, seed_groups};
pub use sums::refresh as refresh_sums;

/// The actor recorded for changes the grouping makes itself.
pub const SYSTEM_ACTOR: &str = "system";
/// Daily counts in [`GroupSummary::sparkline`].
pub const SPARKLINE_DAYS: usize = 14;
/// Largest page [`list`] returns.
pub const MAX_PAGE: u64 = 500;

/// Order of the Errors list; ties broken by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupSort {
    /// Most recently seen first.
    #[default]
    LastSeen,
    /// Most occurrences in the range first.
    Occurrences,
    /// Most recently first seen first.
    FirstSeen,
}

/// What [`list`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupQuery {
    /// The tenants the caller may see; empty sees nothing.
    pub tenants: Vec<i64>,
    pub tenant: Option<i64>,
    /// Exact iFlow (artifact) id.
    pub iflow: Option<String>,
    /// Exact package id (of the group's latest occurrence).
    pub package: Option<String>,
    pub state: Option<GroupState>,
    /// Groups seen in `[from, to)`; `occurrences` counts that range (by hour).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Words in the title or the iFlow id (case-insensitive, literal).
    pub q: Option<String>,
    pub sort: GroupSort,
    pub limit: u64,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// One group as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub id: i64,
    pub tenant_id: i64,
    pub iflow: String,
    pub title: String,
    pub state: GroupState,
    /// Occurrences in the requested range (whole hours).
    pub occurrences: i64,
    /// Occurrences ever, archived messages included.
    pub total_occurrences: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Occurrences of the last 14 days (UTC), oldest first.
    pub sparkline: Vec<i64>,
    pub grouping_version: i16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPage {
    pub items: Vec<GroupSummary>,
    pub next: Option<String>,
}

/// One entry of a group's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEvent {
    pub at: DateTime<Utc>,
    /// The user name, or [`SYSTEM_ACTOR`].
    pub actor: String,
    /// `resolve`, `ignore`, `reopen`, `merge`, `unmerge`, or the reason of an automatic change
    /// (`regression`, `escalation`, `ignore_count_reached`, …).
    pub action: String,
    pub from_state: Option<GroupState>,
    pub to_state: Option<GroupState>,
    pub comment: Option<String>,
}

/// One group with everything its page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDetail {
    /// `occurrences` here counts the last 14 days.
    pub summary: GroupSummary,
    pub package: Option<String>,
    pub fingerprint: String,
    pub rule_id: Option<i64>,
    pub template: String,
    pub sample_text: Option<String>,
    pub sample_message_id: Option<i64>,
    /// Hourly counts of the last 14 days that had any, oldest first.
    pub hourly: Vec<(DateTime<Utc>, i64)>,
    /// Newest first.
    pub history: Vec<GroupEvent>,
    pub resolve_mode: Option<ResolveMode>,
    pub ignore: Option<IgnoreUntil>,
    /// The group this one was merged into (its occurrences are counted there too).
    pub merged_into: Option<i64>,
    /// Groups merged into this one.
    pub merged: Vec<i64>,
    /// True for the per-iFlow "no error text yet" group.
    pub no_text: bool,
}

/// The overview's cards, over the visible tenants (merged groups not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverviewCounts {
    pub new: u64,
    pub regressed: u64,
    pub escalating: u64,
}

/// A group state as stored; an unknown value reads as `ongoing` (the grouping wrote it, so this
/// only happens after a downgrade).
pub(crate) fn state_of(s: &str) -> GroupState {
    s.parse().unwrap_or(GroupState::Ongoing)
}
