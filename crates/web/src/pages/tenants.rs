//! Tenants: list, the wizard (connection, connection test, job settings, tags), settings,
//! enable/disable and delete. Secrets are write-only: the form never shows one back.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use cpi::conntest::ConnectionReport;
use domain::Secret;
use domain::tenant::{FieldError, JobKind, JobSettings, Tenant};
use domain::user::Role;
use maud::{Markup, html};
use store::repo::tenants;

use super::layout::{self, Nav, field_error, status_badge, time};
use crate::access;
use crate::audit::{self, Change};
use crate::auth::Principal;
use crate::error::{AppError, PageResult};
use crate::service::tenants::{self as service, AuthIo, JobIo, TenantIn};
use crate::state::AppState;

type Form = HashMap<String, String>;

fn get<'a>(f: &'a Form, k: &str) -> &'a str {
    f.get(k).map(String::as_str).unwrap_or("")
}

fn list_of(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn num<T: std::str::FromStr>(f: &Form, k: &str, errors: &mut Vec<FieldError>) -> Option<T> {
    let raw = get(f, k).trim();
    if raw.is_empty() {
        return None;
    }
    match raw.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            errors.push(FieldError {
                field: k.into(),
                message: "must be a whole number".into(),
            });
            None
        }
    }
}

/// The form's fields as the API's body (one validation for both).
fn to_input(f: &Form) -> Result<TenantIn, Vec<FieldError>> {
    let mut errors = Vec::new();
    let auth = match get(f, "auth_kind") {
        "oauth2" => AuthIo::Oauth2 {
            client_id: get(f, "client_id").into(),
            token_url: get(f, "token_url").into(),
        },
        _ => AuthIo::Basic {
            username: get(f, "username").into(),
        },
    };
    let secret = match get(f, "auth_kind") {
        "oauth2" => get(f, "client_secret"),
        _ => get(f, "password"),
    };
    let mut jobs = Vec::new();
    for kind in JobKind::ALL {
        let k = kind.as_str();
        if !f.contains_key(&format!("job_{k}_present")) {
            continue;
        }
        jobs.push(JobIo {
            kind: k.into(),
            enabled: f.contains_key(&format!("job_{k}_enabled")),
            interval_secs: num(f, &format!("job_{k}_interval"), &mut errors),
            plan_time: Some(get(f, &format!("job_{k}_plan_time")).to_string())
                .filter(|s| !s.trim().is_empty()),
            archive_older_than_days: num(
                f,
                &format!("job_{k}_archive_older_than_days"),
                &mut errors,
            ),
            delete_older_than_days: num(f, &format!("job_{k}_delete_older_than_days"), &mut errors),
            keep_days: num(f, &format!("job_{k}_keep_days"), &mut errors),
        });
    }
    let input = TenantIn {
        name: get(f, "name").into(),
        api_url: get(f, "api_url").into(),
        ui_url: Some(get(f, "ui_url").into()),
        auth: Some(auth),
        secret: Some(Secret::new(secret)).filter(|s| !s.is_empty()),
        service_key: Some(Secret::new(get(f, "service_key")))
            .filter(|s| !s.expose().trim().is_empty()),
        tls_verify: Some(f.contains_key("tls_verify")),
        ca_cert: Some(get(f, "ca_cert").into()),
        enabled: Some(f.contains_key("enabled")),
        tags: list_of(get(f, "tags")),
        access_groups: list_of(get(f, "access_groups")),
        message_filter: Some(get(f, "message_filter").into()),
        collect_from: None,
        hot_window_secs: num(f, "hot_window_secs", &mut errors),
        payload_strategy: Some(get(f, "payload_strategy").into())
            .filter(|s: &String| !s.is_empty()),
        payload_max_bytes: num(f, "payload_max_bytes", &mut errors),
        attachments: Some(f.contains_key("attachments")),
        jobs,
    };
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(errors)
    }
}

/// A form pre-filled from a stored tenant (no secret).
fn from_tenant(t: &Tenant) -> Form {
    let s = &t.settings;
    let mut f = Form::new();
    f.insert("name".into(), s.name.clone());
    f.insert("api_url".into(), s.connection.api_url.clone());
    f.insert(
        "ui_url".into(),
        s.connection.ui_url.clone().unwrap_or_default(),
    );
    match &s.connection.auth {
        domain::tenant::Auth::Basic { username } => {
            f.insert("auth_kind".into(), "basic".into());
            f.insert("username".into(), username.clone());
        }
        domain::tenant::Auth::OAuth2 {
            client_id,
            token_url,
        } => {
            f.insert("auth_kind".into(), "oauth2".into());
            f.insert("client_id".into(), client_id.clone());
            f.insert("token_url".into(), token_url.clone());
        }
    }
    if s.connection.tls_verify {
        f.insert("tls_verify".into(), "on".into());
    }
    f.insert(
        "ca_cert".into(),
        s.connection.ca_cert.clone().unwrap_or_default(),
    );
    if s.collection.enabled {
        f.insert("enabled".into(), "on".into());
    }
    f.insert("tags".into(), s.collection.tags.join(", "));
    f.insert("access_groups".into(), s.access_groups.join(", "));
    f.insert(
        "message_filter".into(),
        s.collection.message_filter.clone().unwrap_or_default(),
    );
    f.insert(
        "hot_window_secs".into(),
        s.collection.hot_window_secs.to_string(),
    );
    f.insert(
        "payload_strategy".into(),
        s.collection.payload_strategy.as_str().into(),
    );
    f.insert(
        "payload_max_bytes".into(),
        s.collection.payload_max_bytes.to_string(),
    );
    if s.collection.attachments {
        f.insert("attachments".into(), "on".into());
    }
    f
}

fn new_form() -> Form {
    let mut f = Form::new();
    for k in ["tls_verify", "enabled"] {
        f.insert(k.into(), "on".into());
    }
    f.insert("auth_kind".into(), "basic".into());
    f.insert("hot_window_secs".into(), "3600".into());
    f.insert("payload_strategy".into(), "failed".into());
    f.insert("payload_max_bytes".into(), (1024 * 1024).to_string());
    f
}

pub fn report_table(r: &ConnectionReport) -> Markup {
    let out = service::report_out(r);
    html! {
        div.conn-results id="conn-report" data-ok=(out.ok) {
            @if out.ok {
                div.alert.ok { "Connection test passed: every call the collector makes works." }
            } @else {
                div.alert.error { "Connection test failed. See which call failed and what to do about it." }
            }
            table {
                thead { tr { th { "Check" } th { "Call" } th { "Result" } th { "Detail" } th.num { "Time" } } }
                tbody { @for c in &out.checks { tr {
                    td { (c.label) }
                    td.mono { (c.call) }
                    td { span class={ "badge s-" (if c.outcome == "ok" { "ok" } else if c.outcome == "failed" { "failed" } else { "queued" }) } { (c.outcome) } }
                    td { (c.detail) @if let Some(a) = &c.advice { br; span.muted { (a) } } }
                    td.num { (c.elapsed_ms) " ms" }
                } } }
            }
        }
    }
}

fn job_rows(jobs: &[JobSettings], errors: &[FieldError]) -> Markup {
    html! {
        table id="jobs" {
            thead { tr { th { "Job" } th { "On" } th { "Every (s)" } th { "Or daily at (UTC)" } th { "Retention" } } }
            tbody { @for j in jobs {
                @let k = j.kind.as_str();
                tr {
                    td { (k) input type="hidden" name={ "job_" (k) "_present" } value="1"; }
                    td { input type="checkbox" name={ "job_" (k) "_enabled" } checked[j.enabled]; }
                    td { input type="number" min="10" name={ "job_" (k) "_interval" } value=(j.interval_secs.map(|v| v.to_string()).unwrap_or_default()) size="6"; }
                    td { input name={ "job_" (k) "_plan_time" } placeholder="HH:MM" value=(j.plan_time.map(|p| p.to_string()).unwrap_or_default()) size="5"; }
                    td {
                        @if j.kind == JobKind::Archive {
                            "archive after " input type="number" min="1" name={ "job_" (k) "_archive_older_than_days" } value=(j.retention.archive_older_than_days.map(|v| v.to_string()).unwrap_or_default()) size="4"; " days, delete files after "
                            input type="number" min="1" name={ "job_" (k) "_delete_older_than_days" } value=(j.retention.delete_older_than_days.map(|v| v.to_string()).unwrap_or_default()) size="4"; " days"
                        } @else {
                            "keep " input type="number" min="1" name={ "job_" (k) "_keep_days" } value=(j.retention.keep_days.map(|v| v.to_string()).unwrap_or_default()) size="4"; " days"
                        }
                        (field_error(errors, &format!("jobs.{k}.interval_secs")))
                        (field_error(errors, &format!("jobs.{k}.plan_time")))
                    }
                }
            } }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn form_page(
    state: &AppState,
    p: &Principal,
    existing: Option<&Tenant>,
    f: &Form,
    jobs: &[JobSettings],
    errors: &[FieldError],
    report: Option<&ConnectionReport>,
    notice: Option<Markup>,
) -> HttpResponse {
    let base = &state.cfg.base;
    let v = |k: &str| get(f, k).to_string();
    let checked = |k: &str| f.contains_key(k);
    let (action, test_url, title) = match existing {
        Some(t) => (
            format!("{base}/tenants/{}", t.id),
            format!("{base}/tenants/test?tenant_id={}", t.id),
            format!("Tenant {}", t.settings.name),
        ),
        None => (
            format!("{base}/tenants"),
            format!("{base}/tenants/test"),
            "New tenant".to_string(),
        ),
    };
    let kind = v("auth_kind");
    let secret_hint = if existing.is_some_and(|t| t.has_secret) {
        "A secret is stored. Leave empty to keep it."
    } else {
        "Required."
    };
    let body = html! {
        h1 { (title) }
        @if let Some(n) = notice { (n) }
        (layout::alert_errors(errors))
        form method="post" action=(action) id="tenant-form" {
            input type="hidden" name="csrf" value=(p.csrf());
            div.panel {
                h2 { "1. Connection" }
                div.form-grid {
                    label for="name" { "Name" }
                    input id="name" name="name" value=(v("name")) required maxlength="100";
                    (field_error(errors, "name"))
                    label for="service_key" { "Service key (optional)" }
                    textarea id="service_key" name="service_key" placeholder="Paste a BTP service key (JSON) to fill URL and OAuth credentials" {}
                    div.hint { "Pasting a key fills the API URL, client id, token URL and client secret. It is not stored as such." }
                    (field_error(errors, "service_key"))
                    label for="api_url" { "API URL" }
                    input id="api_url" name="api_url" value=(v("api_url")) placeholder="https://…-tmn.hci.eu10.hana.ondemand.com";
                    div.hint { "The tenant's API host; /api/v1 is added when missing." }
                    (field_error(errors, "api_url"))
                    label for="ui_url" { "UI URL (optional)" }
                    input id="ui_url" name="ui_url" value=(v("ui_url"));
                    (field_error(errors, "ui_url"))
                    label for="auth_kind" { "Authentication" }
                    select id="auth_kind" name="auth_kind" {
                        option value="basic" selected[kind != "oauth2"] { "Basic (user and password)" }
                        option value="oauth2" selected[kind == "oauth2"] { "OAuth2 client credentials" }
                    }
                    label for="username" data-auth="basic" { "User" }
                    input id="username" name="username" value=(v("username")) data-auth="basic" autocomplete="off";
                    (field_error(errors, "auth.username"))
                    label for="password" data-auth="basic" { "Password" }
                    input id="password" type="password" name="password" data-auth="basic" autocomplete="new-password";
                    div.hint data-auth="basic" { (secret_hint) }
                    label for="client_id" data-auth="oauth2" { "Client id" }
                    input id="client_id" name="client_id" value=(v("client_id")) data-auth="oauth2" autocomplete="off";
                    (field_error(errors, "auth.client_id"))
                    label for="client_secret" data-auth="oauth2" { "Client secret" }
                    input id="client_secret" type="password" name="client_secret" data-auth="oauth2" autocomplete="new-password";
                    div.hint data-auth="oauth2" { (secret_hint) }
                    label for="token_url" data-auth="oauth2" { "Token URL" }
                    input id="token_url" name="token_url" value=(v("token_url")) data-auth="oauth2";
                    (field_error(errors, "auth.token_url"))
                    (field_error(errors, "secret"))
                    label for="tls_verify" { "Verify TLS certificates" }
                    input type="checkbox" id="tls_verify" name="tls_verify" checked[checked("tls_verify")];
                    label for="ca_cert" { "Extra CA certificate (PEM)" }
                    textarea id="ca_cert" name="ca_cert" { (v("ca_cert")) }
                    (field_error(errors, "ca_cert"))
                }
                p {
                    button.secondary type="submit" name="action" value="test" id="test-connection" data-conntest=(test_url) { "Test connection" }
                    " " span.muted { "Runs every call the collector makes, before you save." }
                }
                div id="conn-results" { @if let Some(r) = report { (report_table(r)) } }
            }
            div.panel {
                h2 { "2. Collection" }
                div.form-grid {
                    label for="enabled" { "Collect from this tenant" }
                    input type="checkbox" id="enabled" name="enabled" checked[checked("enabled")];
                    label for="hot_window_secs" { "Hot window (s)" }
                    input type="number" id="hot_window_secs" name="hot_window_secs" value=(v("hot_window_secs")) min="60";
                    (field_error(errors, "hot_window_secs"))
                    label for="payload_strategy" { "Payloads" }
                    select id="payload_strategy" name="payload_strategy" {
                        @for (val, label) in [("none", "None"), ("failed", "Failed messages only"), ("all", "All messages")] {
                            option value=(val) selected[v("payload_strategy") == val] { (label) }
                        }
                    }
                    label for="payload_max_bytes" { "Payload size cap (bytes)" }
                    input type="number" id="payload_max_bytes" name="payload_max_bytes" value=(v("payload_max_bytes")) min="1";
                    (field_error(errors, "payload_max_bytes"))
                    label for="attachments" { "Download attachments" }
                    input type="checkbox" id="attachments" name="attachments" checked[checked("attachments")];
                    label for="message_filter" { "OData $filter (optional)" }
                    input id="message_filter" name="message_filter" value=(v("message_filter")) placeholder="IntegrationArtifact/Name eq 'Orders'";
                    (field_error(errors, "message_filter"))
                    label for="tags" { "Tags" }
                    input id="tags" name="tags" value=(v("tags")) placeholder="prod, emea";
                    (field_error(errors, "tags"))
                    label for="access_groups" { "Access groups" }
                    input id="access_groups" name="access_groups" value=(v("access_groups"));
                    div.hint { "Users with access groups see tenants sharing one of them (by tag or access group); users without see all." }
                    (field_error(errors, "access_groups"))
                }
                h2 { "3. Jobs" }
                (job_rows(jobs, errors))
            }
            p {
                button type="submit" name="action" value="save" id="save-tenant" { @if existing.is_some() { "Save changes" } @else { "Create tenant" } }
                " " a href={ (base) "/tenants" } { "Cancel" }
            }
        }
        @if let Some(t) = existing {
            @if p.user.role.allows(Role::Admin) {
                div.panel {
                    h2 { "Delete" }
                    form method="post" action={ (base) "/tenants/" (t.id) "/delete" } data-confirm="Delete this tenant and every message collected from it?" {
                        input type="hidden" name="csrf" value=(p.csrf());
                        button.danger type="submit" { "Delete tenant and its data" }
                    }
                }
            }
        }
    };
    layout::page(state, p, Nav::Tenants, "Tenant", body)
}

pub async fn list(state: web::Data<AppState>, p: Principal) -> PageResult<HttpResponse> {
    let base = &state.cfg.base;
    let list = access::visible_tenants(&state, &p).await?;
    let body = html! {
        h1 { "Tenants"
            @if p.user.role.allows(Role::Manager) { " " a.button href={ (base) "/tenants/new" } id="new-tenant" { "Add tenant" } }
        }
        table id="tenants" {
            thead { tr { th { "Name" } th { "API URL" } th { "Auth" } th { "Collecting" } th { "Status" } th { "Tags" } th { "Updated" } } }
            tbody { @for t in &list { tr {
                td { a href={ (base) "/tenants/" (t.id) } { (t.settings.name) } }
                td.trunc { (t.settings.connection.api_url) }
                td { (t.settings.connection.auth.kind().as_str()) }
                td { @if t.settings.collection.enabled { "yes" } @else { span.muted { "paused" } } }
                td { (status_badge(Some(t.status.as_str()))) @if let Some(m) = &t.status_message { " " span.muted.trunc { (m) } } }
                td { (t.settings.collection.tags.join(", ")) }
                td { (time(Some(t.updated_at))) }
            } } }
        }
    };
    Ok(layout::page(&state, &p, Nav::Tenants, "Tenants", body))
}

pub async fn new(state: web::Data<AppState>, p: Principal) -> PageResult<HttpResponse> {
    p.require(Role::Manager)?;
    Ok(form_page(
        &state,
        &p,
        None,
        &new_form(),
        &JobSettings::defaults(),
        &[],
        None,
        None,
    ))
}

pub async fn edit(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> PageResult<HttpResponse> {
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    if !p.user.role.allows(Role::Manager) {
        return Err(AppError::forbidden("changing tenants needs the manager role").into());
    }
    let jobs = tenants::jobs(&state.db, t.id).await?;
    Ok(form_page(
        &state,
        &p,
        Some(&t),
        &from_tenant(&t),
        &jobs,
        &[],
        None,
        None,
    ))
}

/// The jobs as the form shows them after a failed submit: the form's values over the defaults.
fn jobs_from_form(input: &TenantIn, base: Vec<JobSettings>) -> Vec<JobSettings> {
    base.into_iter()
        .map(|j| {
            input
                .jobs
                .iter()
                .find(|io| io.kind == j.kind.as_str())
                .map(|io| JobSettings {
                    kind: j.kind.clone(),
                    enabled: io.enabled,
                    interval_secs: io.interval_secs,
                    plan_time: io.plan_time.as_deref().and_then(|t| t.parse().ok()),
                    retention: domain::tenant::Retention {
                        archive_older_than_days: io.archive_older_than_days,
                        delete_older_than_days: io.delete_older_than_days,
                        keep_days: io.keep_days,
                    },
                })
                .unwrap_or(j)
        })
        .collect()
}

async fn submit(
    state: &AppState,
    req: &HttpRequest,
    p: &Principal,
    existing: Option<Tenant>,
    form: Form,
) -> PageResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(req, form.get("csrf").map(String::as_str))?;
    let base_jobs = match &existing {
        Some(t) => tenants::jobs(&state.db, t.id).await?,
        None => JobSettings::defaults(),
    };
    let input = match to_input(&form) {
        Ok(i) => i,
        Err(errors) => {
            return Ok(form_page(
                state,
                p,
                existing.as_ref(),
                &form,
                &base_jobs,
                &errors,
                None,
                None,
            ));
        }
    };
    let jobs_shown = jobs_from_form(&input, base_jobs);
    // The form again, with what was entered (never the secret) and why it came back.
    let again = |errors: &[FieldError], report: Option<&ConnectionReport>, note: Option<Markup>| {
        form_page(
            state,
            p,
            existing.as_ref(),
            &form,
            &jobs_shown,
            errors,
            report,
            note,
        )
    };
    let outcome = if get(&form, "action") == "test" {
        service::test_settings(state, &input, existing.as_ref())
            .await
            .map(|report| {
                let note = html! { div.alert.info { "Enter the secret again before saving (it is never sent back to the browser)." } };
                again(&[], Some(&report), Some(note))
            })
    } else {
        match service::check(&input, existing.as_ref()) {
            Ok(checked) => {
                let before =
                    audit::TenantBefore::read(state, existing.as_ref(), checked.secret.is_some())
                        .await;
                match service::save(state, p, existing.as_ref(), checked).await {
                    Ok(t) => {
                        before.saved(state, req, p, &t).await;
                        tracing::info!(by = %p.user.username, tenant = %t.settings.name, "tenant saved from the UI");
                        Ok(HttpResponse::SeeOther()
                            .insert_header((
                                "Location",
                                format!("{}/tenants/{}?saved=1", state.cfg.base, t.id),
                            ))
                            .finish())
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    };
    match outcome {
        Ok(res) => Ok(res),
        Err(AppError::Invalid { fields, .. }) => Ok(again(&fields, None, None)),
        Err(e) => Err(e.into()),
    }
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    form: web::Form<Form>,
) -> PageResult<HttpResponse> {
    submit(&state, &req, &p, None, form.into_inner()).await
}

pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    form: web::Form<Form>,
) -> PageResult<HttpResponse> {
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    submit(&state, &req, &p, Some(t), form.into_inner()).await
}

#[derive(serde::Deserialize)]
pub struct TestQuery {
    tenant_id: Option<i64>,
}

/// The inline connection test (the form's script posts here): an HTML fragment.
pub async fn test(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    q: web::Query<TestQuery>,
    form: web::Form<Form>,
) -> PageResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, form.get("csrf").map(String::as_str))?;
    let existing = match q.tenant_id {
        Some(id) => Some(access::tenant(&state, &p, id).await?),
        None => None,
    };
    let fragment = match to_input(&form) {
        Err(errors) => layout::alert_errors(&errors),
        Ok(input) => match service::test_settings(&state, &input, existing.as_ref()).await {
            Ok(report) => report_table(&report),
            Err(AppError::Invalid { fields, .. }) => layout::alert_errors(&fields),
            Err(e) => return Err(e.into()),
        },
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(fragment.into_string()))
}

pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    form: web::Form<Form>,
) -> PageResult<HttpResponse> {
    p.require(Role::Admin)?;
    p.check_csrf(&req, form.get("csrf").map(String::as_str))?;
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    tenants::delete(&state.db, t.id).await?;
    audit::record(&state, &req, &p, Change::tenant("tenant.deleted", &t)).await;
    tracing::info!(by = %p.user.username, tenant = %t.settings.name, "tenant deleted from the UI");
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", format!("{}/tenants", state.cfg.base)))
        .finish())
}
