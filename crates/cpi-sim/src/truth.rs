//! Ground truth: the messages that exist at an instant within a time range, as the API would
//! serve them, so tests can compare what a client stored with what the tenant had.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::ms_to_datetime;
use crate::details;
use crate::plan::Plan;
use crate::problems::ErrorFamily;
use crate::results::Order;
use crate::tenant::Tenant;

/// Which timestamp a truth range applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeField {
    #[default]
    LogEnd,
    LogStart,
}

/// One message as it is at the truth's instant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TruthMessage {
    pub message_guid: String,
    pub correlation_id: String,
    pub application_message_id: Option<String>,
    pub predecessor_message_guid: Option<String>,
    /// `IntegrationArtifact/Id`.
    pub integration_flow: String,
    pub status: domain::MessageStatus,
    pub log_start: DateTime<Utc>,
    pub log_end: DateTime<Utc>,
    pub custom_headers: usize,
    pub attachments: usize,
    pub store_entries: usize,
    pub adapter_attributes: usize,
    pub runs: usize,
    pub has_error_information: bool,
    /// The problem family of its error text (messages with error information only): what a
    /// perfect error grouping puts together, per iFlow.
    pub error_family: Option<ErrorFamily>,
}

/// The messages whose `field` lies in `[from, to)` at `as_of`, ordered by that field (then by
/// creation), which is also the API's order for `$orderby=<field>`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Truth {
    pub as_of: DateTime<Utc>,
    pub field: TimeField,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Matching messages, even when `messages` was cut at the limit.
    pub total: usize,
    pub by_status: BTreeMap<String, usize>,
    pub messages: Vec<TruthMessage>,
    pub truncated: bool,
}

pub(crate) fn compute(
    t: &Tenant,
    now: i64,
    field: TimeField,
    from: Option<i64>,
    to: Option<i64>,
    limit: usize,
) -> Truth {
    let g = &t.traffic;
    let from = from.unwrap_or_else(|| g.start_ms(g.visible_from));
    let to = to.unwrap_or(now + 1);
    let plan = Plan::window(g, field == TimeField::LogEnd, from, to);
    let order = match field {
        TimeField::LogEnd => Order::EndAsc,
        TimeField::LogStart => Order::StartAsc,
    };
    let rs = t.engine.run(g, &t.catalog, &plan, order, now);
    let total = rs.len();
    let all = rs.page(0, total);
    let mut by_status = BTreeMap::new();
    for &i in &all {
        let c = g.core(i);
        *by_status
            .entry(g.state(&c, now).status.as_str().to_string())
            .or_insert(0) += 1;
    }
    let messages = all
        .iter()
        .take(limit)
        .map(|&i| {
            let c = g.core(i);
            let st = g.state(&c, now);
            TruthMessage {
                message_guid: g.guid(&c),
                correlation_id: g.corr_id(g.corr_key(i)),
                application_message_id: g.app_id(i).map(|v| v.to_string()),
                predecessor_message_guid: g.predecessor(i).map(|p| g.guid(&g.core(p))),
                integration_flow: t.catalog.iflows[c.iflow as usize].id.clone(),
                status: st.status.to_domain(),
                log_start: ms_to_datetime(c.start_ms),
                log_end: ms_to_datetime(st.log_end),
                custom_headers: g.header_count(i),
                attachments: g.attachment_count(i),
                store_entries: g.store_entry_count(&c),
                adapter_attributes: details::adapter_attributes(g, &c).len(),
                runs: usize::from(st.runs),
                has_error_information: st.status.has_error(),
                error_family: st.status.has_error().then(|| details::error_family(g, &c)),
            }
        })
        .collect();
    Truth {
        as_of: ms_to_datetime(now),
        field,
        from: ms_to_datetime(from),
        to: ms_to_datetime(to),
        total,
        by_status,
        messages,
        truncated: total > limit,
    }
}

/// A message's error text with its ground truth: the corpus grouping-quality tests and the
/// normalisation benchmark read.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorSample {
    pub message_guid: String,
    pub integration_flow: String,
    pub status: domain::MessageStatus,
    pub family: ErrorFamily,
    pub text: String,
}

/// The error texts of the newest `limit` messages with error information at `now`.
pub(crate) fn error_samples(t: &Tenant, now: i64, limit: usize) -> Vec<ErrorSample> {
    let g = &t.traffic;
    let from = g.start_ms(g.visible_from);
    let plan = Plan::window(g, true, from, now + 1);
    let rs = t.engine.run(g, &t.catalog, &plan, Order::EndAsc, now);
    let all = rs.page(0, rs.len());
    all.iter()
        .rev()
        .filter_map(|&i| {
            let c = g.core(i);
            let st = g.state(&c, now);
            st.status.has_error().then(|| ErrorSample {
                message_guid: g.guid(&c),
                integration_flow: t.catalog.iflows[c.iflow as usize].id.clone(),
                status: st.status.to_domain(),
                family: details::error_family(g, &c),
                text: details::error_text(g, &c),
            })
        })
        .take(limit)
        .collect()
}
