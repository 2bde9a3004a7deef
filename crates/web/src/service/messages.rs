//! The message monitor's query, detail, payloads and volume, for `api::messages` and
//! `pages::messages`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::tenant::Tenant;
use domain::user::MASK;
use serde::{Deserialize, Serialize};
use store::repo::monitor::{
    self, Bucket, Facets, MessageDetail, MessageRow, TenantKpis, VolumePoint,
};
use utoipa::ToSchema;

use crate::access;
use crate::auth::Principal;
use crate::error::AppError;
use crate::query::{MonitorQuery, Parsed};
use crate::state::AppState;

/// What a user's query runs on: the visible (and asked-for) tenants, minus masked tenants when
/// filtering by a header value (which would reveal masked values).
pub struct Scope {
    pub tenants: Vec<Tenant>,
    pub masked_out: Vec<String>,
    /// Every tenant the user may see (for selectors and names), read once per request.
    pub visible: Vec<Tenant>,
}

pub async fn scope(state: &AppState, p: &Principal, parsed: &Parsed) -> Result<Scope, AppError> {
    let visible = access::visible_tenants(state, p).await?;
    let mut tenants = visible.clone();
    if let Some(ids) = &parsed.tenants {
        tenants.retain(|t| ids.contains(&t.id));
    }
    let mut masked_out = Vec::new();
    if parsed.filter.header_value.is_some() {
        tenants.retain(|t| {
            let m = access::masked(state, &p.user, t);
            if m {
                masked_out.push(t.settings.name.clone());
            }
            !m
        });
    }
    Ok(Scope {
        tenants,
        masked_out,
        visible,
    })
}

#[derive(Serialize, ToSchema)]
pub struct MessageListOut {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<MessageRow>,
    /// Cursor for the next page (`after=`, older when newest first); absent on the last page.
    pub next: Option<String>,
    /// Cursor for the previous page (`before=`, newer when newest first); absent on the first.
    pub prev: Option<String>,
    /// Status and iFlow counts of the whole filtered range (not only this page).
    #[schema(value_type = Option<Object>)]
    pub facets: Option<Facets>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Tenants left out because their header values are masked for you.
    pub masked_tenants: Vec<String>,
}

pub struct Listing {
    pub parsed: Parsed,
    pub scope: Scope,
    pub page: monitor::MessagePage,
    pub facets: Option<Facets>,
    /// The iFlow picker's options: the iFlows of the range with their counts under every
    /// filter but the iFlow itself (first page only).
    pub iflows: Vec<monitor::FacetCount>,
}

/// Run a monitor query: one statement for the page, one or two for the facets.
pub async fn run_query(
    state: &AppState,
    p: &Principal,
    q: &MonitorQuery,
) -> Result<Listing, AppError> {
    let parsed = q.parse(Utc::now())?;
    let scope = scope(state, p, &parsed).await?;
    let mut filter = parsed.filter.clone();
    filter.tenant_ids = scope.tenants.iter().map(|t| t.id).collect();
    check_statuses(state, &filter).await?;
    let page_fut = async {
        match parsed.before.as_deref() {
            Some(before) => {
                monitor::search_before(&state.db, &filter, parsed.sort, before, parsed.limit).await
            }
            None => {
                monitor::search(
                    &state.db,
                    &filter,
                    parsed.sort,
                    parsed.after.as_deref(),
                    parsed.limit,
                )
                .await
            }
        }
    };
    let (page, facets) = if parsed.facets && parsed.first_page() {
        let (page, facets) = futures::join!(
            page_fut,
            monitor::facets_cached(&state.db, &filter, &state.facet_cache)
        );
        (page?, Some(facets?))
    } else {
        (page_fut.await?, None)
    };
    let iflows = match &facets {
        None => Vec::new(),
        Some(f) if filter.iflow_id.is_none() => f.iflow.clone(),
        // Picking another iFlow needs the others' counts: the same filter without the iFlow.
        Some(_) => {
            let others = monitor::MessageFilter {
                iflow_id: None,
                ..filter.clone()
            };
            monitor::facets_cached(&state.db, &others, &state.facet_cache)
                .await?
                .iflow
        }
    };
    Ok(Listing {
        parsed,
        scope,
        page,
        facets,
        iflows,
    })
}

/// The statuses CPI documents, offered by the filter (others are valid once stored).
pub const KNOWN_STATUSES: [&str; 8] = [
    "COMPLETED",
    "FAILED",
    "RETRY",
    "ESCALATED",
    "PROCESSING",
    "CANCELLED",
    "DISCARDED",
    "ABANDONED",
];

/// Statuses are an open set: a filter may name the known ones and every status stored for the
/// tenants searched; anything else is a typo that would silently list nothing.
pub(crate) async fn check_statuses(
    state: &AppState,
    filter: &monitor::MessageFilter,
) -> Result<(), AppError> {
    if filter.statuses.is_empty() {
        return Ok(());
    }
    let stored = monitor::stored_statuses(&state.db, &filter.tenant_ids).await?;
    let mut valid: Vec<String> = KNOWN_STATUSES
        .iter()
        .map(|s| (*s).to_owned())
        .chain(stored.into_iter().filter(|s| !s.is_empty()))
        .collect();
    valid.sort();
    valid.dedup();
    let unknown: Vec<&str> = filter
        .statuses
        .iter()
        .map(String::as_str)
        .filter(|s| !valid.iter().any(|v| v.eq_ignore_ascii_case(s)))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(AppError::invalid(
        "status",
        format!(
            "unknown status {}; valid: {}",
            unknown.join(", "),
            valid.join(", ")
        ),
    ))
}

/// The chart beside a list: the volume of exactly the messages listed (no chart for an id
/// search, which has no time range, or a range shorter than two hours).
pub async fn list_volume(
    state: &AppState,
    listing: &Listing,
) -> Result<Option<(monitor::FilteredVolume, Bucket)>, AppError> {
    let span = listing.parsed.to - listing.parsed.from;
    if listing.parsed.id_search
        || span < chrono::Duration::hours(2)
        || !listing.parsed.first_page()
        || listing.scope.tenants.is_empty()
    {
        return Ok(None);
    }
    let bucket = if span > chrono::Duration::days(4) {
        Bucket::Day
    } else {
        Bucket::Hour
    };
    let mut filter = listing.parsed.filter.clone();
    filter.tenant_ids = listing.scope.tenants.iter().map(|t| t.id).collect();
    let v = monitor::volume_filtered(&state.db, &filter, bucket, Some(&state.facet_cache)).await?;
    Ok(Some((v, bucket)))
}

/// A message by its CPI `MessageGuid` among the tenants `p` may see (a permalink): its id when
/// exactly one tenant has it, `Err(n)` with the number found otherwise.
pub async fn find_by_guid(
    state: &AppState,
    p: &Principal,
    guid: &str,
) -> Result<Result<i64, usize>, AppError> {
    let visible = access::visible_tenants(state, p).await?;
    let filter = monitor::MessageFilter {
        message_guid: Some(guid.to_owned()),
        ..monitor::MessageFilter::tenants(visible.iter().map(|t| t.id))
    };
    let page = monitor::search(&state.db, &filter, monitor::Sort::NewestFirst, None, 2).await?;
    Ok(match page.rows.as_slice() {
        [one] => Ok(one.id),
        rows => Err(rows.len()),
    })
}

/// Where the header's id search box leads.
pub enum Found {
    /// One message has this `MessageGuid`.
    Message(i64),
    /// The list of messages with this id in the given filter (`message_id`, `correlation_id`
    /// or `application_id`).
    List(&'static str),
    Nothing,
}

/// The header's one search box: a `MessageGuid`, else a correlation id, else an application
/// id, across the tenants `p` may see and all time (each an indexed look-up).
pub async fn find_id(state: &AppState, p: &Principal, id: &str) -> Result<Found, AppError> {
    let id = id.trim();
    if id.is_empty() || id.chars().count() > 500 || id.contains('\0') {
        return Ok(Found::Nothing);
    }
    match find_by_guid(state, p, id).await? {
        Ok(one) => return Ok(Found::Message(one)),
        Err(0) => {}
        Err(_) => return Ok(Found::List("message_id")),
    }
    let visible = access::visible_tenants(state, p).await?;
    let base = monitor::MessageFilter::tenants(visible.iter().map(|t| t.id));
    for field in ["correlation_id", "application_id"] {
        let filter = match field {
            "correlation_id" => monitor::MessageFilter {
                correlation_id: Some(id.to_owned()),
                ..base.clone()
            },
            _ => monitor::MessageFilter {
                application_id: Some(id.to_owned()),
                ..base.clone()
            },
        };
        let page = monitor::search(&state.db, &filter, monitor::Sort::NewestFirst, None, 1).await?;
        if !page.rows.is_empty() {
            return Ok(Found::List(field));
        }
    }
    Ok(Found::Nothing)
}

#[derive(Serialize, ToSchema)]
pub struct MessageDetailOut {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub detail: MessageDetail,
    pub tenant: String,
    /// Which parts are masked for you: `custom_header_values`, `payloads`, `attachments`, and
    /// with `WEB_MASK_ERRORS` `error_texts`.
    pub masked: Vec<&'static str>,
}

/// A message with its masking applied.
pub async fn load_detail(
    state: &AppState,
    p: &Principal,
    id: i64,
) -> Result<(MessageDetailOut, Tenant), AppError> {
    let visible = access::visible_tenants(state, p).await?;
    let ids: Vec<i64> = visible.iter().map(|t| t.id).collect();
    let Some(mut detail) = monitor::detail(&state.db, &ids, id).await? else {
        return Err(AppError::not_found(format!("message {id}")));
    };
    let Some(tenant) = visible
        .into_iter()
        .find(|t| t.id == detail.message.tenant_id)
    else {
        return Err(AppError::not_found(format!("message {id}")));
    };
    let mut masked = Vec::new();
    if access::masked(state, &p.user, &tenant) {
        for h in &mut detail.headers {
            if h.value.is_some() {
                h.value = Some(MASK.to_string());
            }
        }
        masked.extend(["custom_header_values", "payloads", "attachments"]);
        // `WEB_MASK_ERRORS`: the error text and the steps' errors too.
        if state.cfg.mask_errors {
            if let Some(e) = &mut detail.error {
                e.text = e.text.as_ref().map(|_| MASK.to_string());
            }
            for r in &mut detail.runs {
                for s in &mut r.run.steps {
                    s.error = s.error.as_ref().map(|_| MASK.to_string());
                }
            }
            masked.push("error_texts");
        }
    }
    Ok((
        MessageDetailOut {
            detail,
            tenant: tenant.settings.name.clone(),
            masked,
        },
        tenant,
    ))
}

/// A file name safe inside a `Content-Disposition` header: letters, digits, `.`, `-` and `_`
/// kept, everything else `_`, at most 100 characters.
pub fn safe_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect()
}

/// The body a user may read: 404 when missing or not visible, 403 when masked.
pub async fn payload_for(
    state: &AppState,
    p: &Principal,
    id: i64,
) -> Result<(monitor::PayloadMeta, Vec<u8>), AppError> {
    let visible = access::visible_tenants(state, p).await?;
    let ids: Vec<i64> = visible.iter().map(|t| t.id).collect();
    let Some((meta, body)) = monitor::payload_body(&state.db, &ids, id).await? else {
        return Err(AppError::not_found(format!("payload {id}")));
    };
    let tenant_id = message_tenant(state, meta.message_id).await?;
    refuse_if_masked(state, p, &visible, tenant_id)?;
    Ok((meta, body))
}

/// An attachment a user may read, with its file name: 404 when missing or not visible, 403
/// when masked.
pub async fn attachment_for(
    state: &AppState,
    p: &Principal,
    id: i64,
) -> Result<(String, Vec<u8>), AppError> {
    let visible = access::visible_tenants(state, p).await?;
    let ids: Vec<i64> = visible.iter().map(|t| t.id).collect();
    let Some((meta, body)) = monitor::attachment_body(&state.db, &ids, id).await? else {
        return Err(AppError::not_found(format!("attachment {id}")));
    };
    let tenant_id = message_tenant(state, meta.message_id).await?;
    refuse_if_masked(state, p, &visible, tenant_id)?;
    let name = meta
        .name
        .clone()
        .unwrap_or_else(|| format!("attachment-{id}.bin"));
    Ok((name, body))
}

async fn message_tenant(state: &AppState, message_id: i64) -> Result<i64, AppError> {
    store::repo::messages::tenant_of(&state.db, message_id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("message {message_id}")))
}

fn refuse_if_masked(
    state: &AppState,
    p: &Principal,
    visible: &[Tenant],
    tenant_id: i64,
) -> Result<(), AppError> {
    match visible.iter().find(|t| t.id == tenant_id) {
        Some(t) if access::masked(state, &p.user, t) => Err(AppError::forbidden(
            "payloads of this tenant are masked for your role; downloads are refused",
        )),
        Some(_) => Ok(()),
        None => Err(AppError::not_found("payload")),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct VolumeQuery {
    /// Tenant ids, comma-separated (default: every tenant you may see).
    pub tenant: Option<String>,
    /// RFC 3339; default 24 hours (`bucket=hour`) or 30 days (`bucket=day`) ago.
    pub from: Option<String>,
    pub to: Option<String>,
    /// `hour` (default) or `day`.
    pub bucket: Option<String>,
    pub iflow: Option<String>,
    /// The list's filters, as `GET /api/messages` takes them: the chart counts what the list
    /// lists.
    pub status: Option<String>,
    pub package: Option<String>,
    pub header_name: Option<String>,
    pub header_value: Option<String>,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub application_id: Option<String>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VolumeOut {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: String,
    #[schema(value_type = Vec<Object>)]
    pub points: Vec<VolumePoint>,
    /// False when a filter the hourly rollup cannot answer was counted from the messages and
    /// the count stopped at its cap (then only the newest matching messages are counted).
    pub exact: bool,
}

pub async fn load_volume(
    state: &AppState,
    p: &Principal,
    q: &VolumeQuery,
) -> Result<VolumeOut, AppError> {
    let bucket = match q.bucket.as_deref() {
        None | Some("hour") => Bucket::Hour,
        Some("day") => Bucket::Day,
        Some(_) => return Err(AppError::invalid("bucket", "must be hour or day")),
    };
    let now = Utc::now();
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => crate::query::parse_time(s)
            .ok_or_else(|| AppError::invalid("to", "must be RFC 3339"))?,
        None => now,
    };
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => crate::query::parse_time(s)
            .ok_or_else(|| AppError::invalid("from", "must be RFC 3339"))?,
        None => match bucket {
            Bucket::Hour => to - chrono::Duration::hours(24),
            Bucket::Day => to - chrono::Duration::days(30),
        },
    };
    if from >= to {
        return Err(AppError::invalid("from", "must be before to"));
    }
    if to - from > chrono::Duration::days(400) {
        return Err(AppError::invalid(
            "from",
            "the range may span at most 400 days",
        ));
    }
    let parsed = crate::query::MonitorQuery {
        tenant: q.tenant.clone(),
        from: Some(from.to_rfc3339()),
        to: Some(to.to_rfc3339()),
        status: q.status.clone(),
        iflow: q.iflow.clone(),
        package: q.package.clone(),
        header_name: q.header_name.clone(),
        header_value: q.header_value.clone(),
        message_id: q.message_id.clone(),
        correlation_id: q.correlation_id.clone(),
        application_id: q.application_id.clone(),
        sender: q.sender.clone(),
        receiver: q.receiver.clone(),
        ..Default::default()
    }
    .parse(now)?;
    // The same tenants as the list: header values of masked tenants are not searched.
    let scope = scope(state, p, &parsed).await?;
    let mut filter = parsed.filter.clone();
    filter.tenant_ids = scope.tenants.iter().map(|t| t.id).collect();
    // The chart's range is its own, ids included.
    filter.from = Some(from);
    filter.to = Some(to);
    check_statuses(state, &filter).await?;
    let v = monitor::volume_filtered(&state.db, &filter, bucket, Some(&state.facet_cache)).await?;
    let (points, exact) = (v.points, v.exact);
    Ok(VolumeOut {
        from,
        to,
        bucket: match bucket {
            Bucket::Hour => "hour".into(),
            Bucket::Day => "day".into(),
        },
        points,
        exact,
    })
}

#[derive(Serialize, ToSchema)]
pub struct OverviewOut {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub kpis: TenantKpis,
}

/// Tenant names by id, for lists that span tenants.
pub fn tenant_names(tenants: &[Tenant]) -> HashMap<i64, String> {
    tenants
        .iter()
        .map(|t| (t.id, t.settings.name.clone()))
        .collect()
}

/// A tenant whose history is still being collected.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Backfill {
    pub tenant_id: i64,
    pub tenant: String,
    /// The first collection of recent messages has not finished yet.
    pub first_collection: bool,
    /// Where the cold backfill starts (`collect_from`), when one is configured.
    pub from: Option<DateTime<Utc>>,
    /// How far it got (its watermark): messages before this are in, later ones not yet.
    pub reached: Option<DateTime<Utc>>,
    /// Where it ends: the start of the hot window, now.
    pub until: Option<DateTime<Utc>>,
}

/// The tenants among `tenants` whose first collection or cold backfill is still running: the
/// counts and charts of the monitor and the overview are incomplete for them. Read from
/// `sync_state` (the hot job's first success; the cold job's watermark against the start of
/// the hot window, with the cold job's interval twice plus an hour of slack, since between runs
/// a finished backfill lags by up to one interval).
pub async fn history_loading(
    state: &AppState,
    tenants: &[Tenant],
    now: DateTime<Utc>,
) -> Result<Vec<Backfill>, AppError> {
    use domain::tenant::JobKind;
    use store::repo::{sync_state, tenants as tenant_repo};
    let mut out = Vec::new();
    for t in tenants.iter().filter(|t| t.settings.collection.enabled) {
        let states = sync_state::list(&state.db, t.id).await?;
        let of = |kind: &str| states.iter().find(|s| s.job_type == kind);
        let first_collection = of(JobKind::MessagesHot.as_str())
            .and_then(|s| s.last_success_at)
            .is_none();
        let mut cold = None;
        if let Some(from) = t.settings.collection.collect_from {
            let hot =
                chrono::Duration::from_std(t.settings.collection.hot_window()).unwrap_or_default();
            let until = now - hot;
            let interval = tenant_repo::jobs(&state.db, t.id)
                .await?
                .into_iter()
                .find(|j| j.kind == JobKind::MessagesCold)
                .and_then(|j| j.interval())
                .and_then(|i| chrono::Duration::from_std(i).ok())
                .unwrap_or(chrono::Duration::minutes(15));
            let reached = of(JobKind::MessagesCold.as_str()).and_then(|s| s.watermark);
            let behind = reached.unwrap_or(from).max(from);
            if from < until && behind < until - interval * 2 - chrono::Duration::hours(1) {
                cold = Some((from, reached, until));
            }
        }
        if first_collection || cold.is_some() {
            out.push(Backfill {
                tenant_id: t.id,
                tenant: t.settings.name.clone(),
                first_collection,
                from: cold.map(|c| c.0),
                reached: cold.and_then(|c| c.1),
                until: cold.map(|c| c.2),
            });
        }
    }
    Ok(out)
}
