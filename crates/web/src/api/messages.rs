//! `/api/messages`: the message monitor (filters, facets, keyset paging), message detail with
//! masking, payload and attachment downloads, volume for charts, tenant KPIs.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use store::repo::monitor::{self};

use crate::access;
use crate::auth::Principal;
use crate::error::{ApiResult, AppError};
use crate::query::{MonitorQuery, MultiQuery};
use crate::service::messages::*;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/messages", web::get().to(list))
        .route("/messages.csv", web::get().to(export))
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
    q: MultiQuery<MonitorQuery>,
) -> ApiResult<HttpResponse> {
    let l = run_query(&state, &p, &q).await?;
    Ok(HttpResponse::Ok().json(MessageListOut {
        items: l.page.rows,
        next: l.page.next,
        prev: l.page.prev,
        facets: l.facets,
        from: l.parsed.from,
        to: l.parsed.to,
        masked_tenants: l.scope.masked_out,
    }))
}

/// The messages matching the filters as CSV (the list's query; paging parameters ignored),
/// streamed, at most `WEB_EXPORT_MAX_ROWS` rows (`X-Export-Limit`); a last line starting with
/// `#` says when the limit cut it.
#[utoipa::path(get, path = "/api/messages.csv", tag = "messages", params(MonitorQuery),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn export(
    state: web::Data<AppState>,
    p: Principal,
    q: MultiQuery<MonitorQuery>,
) -> ApiResult<HttpResponse> {
    let e = crate::service::export::export_csv(state, &p, &q).await?;
    let name = format!("messages-{}.csv", Utc::now().format("%Y%m%dT%H%M%SZ"));
    let mut res = HttpResponse::Ok();
    res.content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Export-Limit", e.cap.to_string()));
    if !e.masked_out.is_empty() {
        // As the page's note: these tenants were not searched by header value.
        res.insert_header(("X-Not-Searched-Tenants", e.masked_out.len().to_string()));
    }
    Ok(res.streaming(e.body))
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
    let (name, body) = attachment_for(&state, &p, path.into_inner()).await?;
    Ok(download(&name, body))
}

/// Messages per hour or day and status (for charts), from the rollup.
#[utoipa::path(get, path = "/api/messages/volume", tag = "messages", params(VolumeQuery),
    responses((status = 200, body = VolumeOut), (status = 422, body = crate::error::ErrorBody)))]
pub async fn volume(
    state: web::Data<AppState>,
    p: Principal,
    q: MultiQuery<VolumeQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(load_volume(&state, &p, &q).await?))
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
