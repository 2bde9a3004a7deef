//! The message monitor's queries: what the web UI and API read, kept fast at tens of millions of
//! messages.
//!
//! - [`search()`] pages with a keyset on `(log_end, id)`, never OFFSET, one statement per page;
//!   the cursor is an opaque URL-safe string. Messages without a `log_end` are not listed (CPI
//!   always sends `LogEnd`; the monitor is a view on it).
//! - [`facets()`], [`volume()`] and [`overview()`] count from `message_counts`, an hourly rollup per
//!   tenant, iFlow, package and status. Whole hours come from the rollup and the partial hours
//!   at both edges of a range from `message_logs`, so the result is exact. A filter the rollup
//!   cannot answer (headers, ids, sender, receiver) counts `message_logs` up to a cap.
//! - Every message upsert moves the rollup by exact deltas in its own transaction (the key a
//!   message leaves, the key it enters). [`refresh_counts`] recomputes given hours from
//!   `message_logs`: after an archive deletes a day, a restore, or as the periodic
//!   reconciliation [`refresh_recent_counts`] the metrics daemon runs.
//!
//! Every function takes the tenants the caller may see; rows of any other tenant are never
//! returned, and an empty list sees nothing.

mod counting;
mod detail;
mod facets;
mod filter;
mod overview;
mod search;

pub use counting::{ClosedHours, FacetCount};
pub use detail::{
    AttachmentInfo, MessageDetail, PayloadMeta, RunDetail, attachment_body, detail, detail_in,
    payload_body,
};
pub use facets::{
    Bucket, Facets, FilteredVolume, VolumePoint, facets, facets_cached, facets_capped,
    stored_statuses, volume, volume_cached, volume_filtered,
};
pub use filter::{HEADER_PROBE_CAP, MessageFilter};
pub use overview::{
    ArtifactInError, ExpiringCertificate, FailingIflow, JobHealth, TenantKpis, overview,
};
pub use search::{
    MessagePage, MessageRow, Sort, explain_search, search, search_before, search_with_probe_cap,
};

/// The stored message row as [`detail()`] returns it: the `message_logs` entity model itself.
pub use crate::entity::message_logs::Model as MessageRecord;
// The rollup's maintenance lives in `repo::rollup`; these paths are kept for callers.
pub use crate::repo::rollup::{
    counts_missing, rebuild_counts, refresh_counts, refresh_counts_between, refresh_recent_counts,
};

/// Rows of `message_logs` a facet count reads at most when the rollup cannot answer the filter.
pub const FACET_SCAN_CAP: u64 = 100_000;
/// Largest page [`search()`] returns.
pub const MAX_PAGE: u32 = 1_000;
/// iFlows listed in [`Facets::iflow`].
pub const TOP_IFLOWS: usize = 50;
/// Correlated messages listed in [`MessageDetail::correlated`].
pub const CORRELATED_LIMIT: u64 = 50;
/// Entries listed in the overview's artifact and certificate lists.
pub const OVERVIEW_LIST_LIMIT: u64 = 100;
