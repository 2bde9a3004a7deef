//! `/api/messages`: the message monitor (filters, facets, keyset paging), message detail with
//! masking, payload and attachment downloads, volume for charts, tenant KPIs.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
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
use crate::error::{ApiResult, AppError};
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
    /// Cursor for the next page (`after=`); absent on the last page.
    pub next: Option<String>,
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
    let page_fut = monitor::search(
        &state.db,
        &filter,
        parsed.sort,
        parsed.after.as_deref(),
        parsed.limit,
    );
    let (page, facets) = if parsed.facets && parsed.after.is_none() {
        let (page, facets) = futures::join!(
            page_fut,
            monitor::facets_cached(&state.db, &filter, &state.facet_cache)
        );
        (page?, Some(facets?))
    } else {
        (page_fut.await?, None)
    };
    Ok(Listing {
        parsed,
        scope,
        page,
        facets,
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/messages", web::get().to(list))
        .route("/messages/volume", web::get().to(volume))
        .route("/messages/{id}", web::get().to(detail))
        .route("/payloads/{id}", web::get().to(payload))
        .route("/attachments/{id}", web::get().to(attachment))
        .route("/tenants/{id}/overview", web::get().to(overview));
}

/// Messages matching the filters, newest first, with facet counts on the first page.
#[utoipa::path(get, path = "/api/messages", tag = "messages", params(MonitorQuery),
    responses((status = 200, body = MessageListOut), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<MonitorQuery>,
) -> ApiResult<HttpResponse> {
    let l = run_query(&state, &p, &q).await?;
    Ok(HttpResponse::Ok().json(MessageListOut {
        items: l.page.rows,
        next: l.page.next,
        facets: l.facets,
        from: l.parsed.from,
        to: l.parsed.to,
        masked_tenants: l.scope.masked_out,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct MessageDetailOut {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub detail: MessageDetail,
    pub tenant: String,
    /// Which parts are masked for you: `custom_header_values`, `payloads`, `attachments`.
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

/// One message: all fields, error, runs and steps, custom headers, payload and attachment
/// metadata, correlated messages.
#[utoipa::path(get, path = "/api/messages/{id}", tag = "messages",
    params(("id" = i64, Path, description = "message id (IntegraMon's)")),
    responses((status = 200, body = MessageDetailOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn detail(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let (out, _) = load_detail(&state, &p, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(out))
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

/// A stored body as a download: never rendered by the browser (`attachment`, octet-stream).
fn download(name: &str, body: Vec<u8>) -> HttpResponse {
    let safe = safe_file_name(name);
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{safe}\""),
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; sandbox"))
        .body(body)
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

/// Download a payload (403 when masked for you).
#[utoipa::path(get, path = "/api/payloads/{id}", tag = "messages",
    params(("id" = i64, Path, description = "payload id")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn payload(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let (meta, body) = payload_for(&state, &p, path.into_inner()).await?;
    Ok(download(
        &format!("payload-{}-{}.bin", meta.message_id, meta.entry_id),
        body,
    ))
}

/// Download an attachment (403 when masked for you).
#[utoipa::path(get, path = "/api/attachments/{id}", tag = "messages",
    params(("id" = i64, Path, description = "attachment id")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn attachment(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let visible = access::visible_tenants(&state, &p).await?;
    let ids: Vec<i64> = visible.iter().map(|t| t.id).collect();
    let Some((meta, body)) = monitor::attachment_body(&state.db, &ids, id).await? else {
        return Err(AppError::not_found(format!("attachment {id}")).into());
    };
    let tenant_id = message_tenant(&state, meta.message_id).await?;
    refuse_if_masked(&state, &p, &visible, tenant_id)?;
    let name = meta
        .name
        .clone()
        .unwrap_or_else(|| format!("attachment-{id}.bin"));
    Ok(download(&name, body))
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
}

#[derive(Serialize, ToSchema)]
pub struct VolumeOut {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: String,
    #[schema(value_type = Vec<Object>)]
    pub points: Vec<VolumePoint>,
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
    let parsed_tenants = crate::query::MonitorQuery {
        tenant: q.tenant.clone(),
        ..Default::default()
    }
    .parse(now)?
    .tenants;
    let mut ids: Vec<i64> = access::visible_tenants(state, p)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    if let Some(want) = parsed_tenants {
        ids.retain(|i| want.contains(i));
    }
    let iflow = q.iflow.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let points =
        monitor::volume_cached(&state.db, &ids, from, to, bucket, iflow, &state.facet_cache)
            .await?;
    Ok(VolumeOut {
        from,
        to,
        bucket: match bucket {
            Bucket::Hour => "hour".into(),
            Bucket::Day => "day".into(),
        },
        points,
    })
}

/// Messages per hour or day and status (for charts), from the rollup.
#[utoipa::path(get, path = "/api/messages/volume", tag = "messages", params(VolumeQuery),
    responses((status = 200, body = VolumeOut), (status = 422, body = crate::error::ErrorBody)))]
pub async fn volume(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<VolumeQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(load_volume(&state, &p, &q).await?))
}

#[derive(Serialize, ToSchema)]
pub struct OverviewOut {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub kpis: TenantKpis,
}

/// A tenant's KPIs: messages in the last hour and day by status, failing iFlows, artifacts in
/// error, certificates expiring within 30 days, job health and collection lag.
#[utoipa::path(get, path = "/api/tenants/{id}/overview", tag = "tenants",
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 200, body = OverviewOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn overview(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    let kpis = monitor::overview(&state.db, t.id, Utc::now())
        .await?
        .ok_or_else(|| AppError::not_found("tenant"))?;
    Ok(HttpResponse::Ok().json(OverviewOut { kpis }))
}

/// Tenant names by id, for lists that span tenants.
pub fn tenant_names(tenants: &[Tenant]) -> HashMap<i64, String> {
    tenants
        .iter()
        .map(|t| (t.id, t.settings.name.clone()))
        .collect()
}
