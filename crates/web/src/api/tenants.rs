//! `/api/tenants`: tenants with their job settings (secrets write-only), connection tests and
//! "sync now".

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use cpi::conntest::{CheckOutcome, ConnectionReport};
use domain::job::JobType;
use domain::secret;
use domain::tenant::{
    Auth, CollectionSettings, ConnectionSettings, FieldError, JobKind, JobSettings,
    PayloadStrategy, PlanTime, Retention, Tenant, TenantSettings, TenantStatus,
};
use domain::user::Role;
use serde::{Deserialize, Serialize};
use store::repo::tenants;
use utoipa::ToSchema;

use crate::access;
use crate::auth::Principal;
use crate::error::{ApiResult, AppError};
use crate::state::AppState;

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AuthIo {
    /// HTTP Basic: the secret is the password.
    Basic { username: String },
    /// OAuth2 client credentials: the secret is the client secret.
    Oauth2 {
        client_id: String,
        token_url: String,
    },
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct JobIo {
    /// `packages`, `deep_sync`, `messages_hot`, `messages_cold`, `payloads`, `alerts`,
    /// `keystore`, `archive`, `metrics`.
    pub kind: String,
    pub enabled: bool,
    /// Run every this many seconds (10 … 604800) …
    #[serde(default)]
    pub interval_secs: Option<u32>,
    /// … or daily at `HH:MM` UTC.
    #[serde(default)]
    pub plan_time: Option<String>,
    #[serde(default)]
    pub archive_older_than_days: Option<u32>,
    #[serde(default)]
    pub delete_older_than_days: Option<u32>,
    #[serde(default)]
    pub keep_days: Option<u32>,
}

impl From<&JobSettings> for JobIo {
    fn from(j: &JobSettings) -> Self {
        Self {
            kind: j.kind.as_str().into(),
            enabled: j.enabled,
            interval_secs: j.interval_secs,
            plan_time: j.plan_time.map(|p| p.to_string()),
            archive_older_than_days: j.retention.archive_older_than_days,
            delete_older_than_days: j.retention.delete_older_than_days,
            keep_days: j.retention.keep_days,
        }
    }
}

impl JobIo {
    fn to_settings(&self, i: usize) -> Result<JobSettings, FieldError> {
        let plan_time = match self.plan_time.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(t.parse::<PlanTime>().map_err(|e| FieldError {
                field: format!("jobs[{i}].plan_time"),
                message: e.to_string(),
            })?),
        };
        Ok(JobSettings {
            kind: JobKind::parse(&self.kind),
            enabled: self.enabled,
            interval_secs: self.interval_secs,
            plan_time,
            retention: Retention {
                archive_older_than_days: self.archive_older_than_days,
                delete_older_than_days: self.delete_older_than_days,
                keep_days: self.keep_days,
            },
        })
    }
}

/// A tenant as the API shows it: never the secret, only whether one is stored.
#[derive(Serialize, ToSchema)]
pub struct TenantOut {
    pub id: i64,
    pub name: String,
    pub api_url: String,
    pub ui_url: Option<String>,
    pub auth: AuthIo,
    pub has_secret: bool,
    pub tls_verify: bool,
    pub has_ca_cert: bool,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub access_groups: Vec<String>,
    pub message_filter: Option<String>,
    pub collect_from: Option<DateTime<Utc>>,
    pub hot_window_secs: u32,
    /// `none`, `failed` or `all`.
    pub payload_strategy: String,
    pub payload_max_bytes: u64,
    pub attachments: bool,
    /// `unknown`, `ok` or `unreachable`.
    pub status: String,
    pub status_message: Option<String>,
    pub status_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub jobs: Vec<JobIo>,
}

pub fn tenant_out(t: &Tenant, jobs: &[JobSettings]) -> TenantOut {
    let s = &t.settings;
    TenantOut {
        id: t.id,
        name: s.name.clone(),
        api_url: s.connection.api_url.clone(),
        ui_url: s.connection.ui_url.clone(),
        auth: match &s.connection.auth {
            Auth::Basic { username } => AuthIo::Basic {
                username: username.clone(),
            },
            Auth::OAuth2 {
                client_id,
                token_url,
            } => AuthIo::Oauth2 {
                client_id: client_id.clone(),
                token_url: token_url.clone(),
            },
        },
        has_secret: t.has_secret,
        tls_verify: s.connection.tls_verify,
        has_ca_cert: s.connection.ca_cert.is_some(),
        enabled: s.collection.enabled,
        tags: s.collection.tags.clone(),
        access_groups: s.access_groups.clone(),
        message_filter: s.collection.message_filter.clone(),
        collect_from: s.collection.collect_from,
        hot_window_secs: s.collection.hot_window_secs,
        payload_strategy: s.collection.payload_strategy.as_str().into(),
        payload_max_bytes: s.collection.payload_max_bytes,
        attachments: s.collection.attachments,
        status: t.status.as_str().into(),
        status_message: t.status_message.clone(),
        status_at: t.status_at,
        created_at: t.created_at,
        updated_at: t.updated_at,
        jobs: jobs.iter().map(JobIo::from).collect(),
    }
}

/// A tenant to create or update. On update, an absent `secret` keeps the stored one.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct TenantIn {
    #[serde(default)]
    pub name: String,
    /// The API URL (as a service key's `url`); `/api/v1` is appended when missing.
    #[serde(default)]
    pub api_url: String,
    /// The tenant's UI, for links back to SAP's monitor.
    #[serde(default)]
    pub ui_url: Option<String>,
    #[serde(default)]
    pub auth: Option<AuthIo>,
    /// Password or client secret. Write-only.
    #[serde(default)]
    pub secret: Option<String>,
    /// A BTP service key (JSON text): fills `api_url`, `auth` and `secret`. Write-only.
    #[serde(default)]
    pub service_key: Option<String>,
    #[serde(default)]
    pub tls_verify: Option<bool>,
    /// An extra trusted CA certificate (PEM). Absent on update: kept; empty string: removed.
    #[serde(default)]
    pub ca_cert: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub access_groups: Vec<String>,
    #[serde(default)]
    pub message_filter: Option<String>,
    #[serde(default)]
    pub collect_from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub hot_window_secs: Option<u32>,
    /// `none`, `failed` (default) or `all`.
    #[serde(default)]
    pub payload_strategy: Option<String>,
    #[serde(default)]
    pub payload_max_bytes: Option<u64>,
    #[serde(default)]
    pub attachments: Option<bool>,
    /// Job settings to change (kinds not listed keep theirs).
    #[serde(default)]
    pub jobs: Vec<JobIo>,
}

/// What a valid [`TenantIn`] becomes.
pub struct Checked {
    pub settings: TenantSettings,
    /// Plaintext; sealed before it is stored.
    pub secret: Option<String>,
    pub jobs: Vec<JobSettings>,
}

/// Validate a tenant body against the stored tenant (for updates), collecting every problem.
pub fn check(input: &TenantIn, existing: Option<&Tenant>) -> Result<Checked, AppError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let add = |errors: &mut Vec<FieldError>, f: &str, m: &str| {
        errors.push(FieldError {
            field: f.into(),
            message: m.into(),
        })
    };
    let mut api_url = input.api_url.trim().to_string();
    let mut auth = input.auth.clone();
    let mut secret = input.secret.clone().filter(|s| !s.is_empty());
    if let Some(key) = input
        .service_key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
    {
        match cpi::ServiceKey::parse(key) {
            Ok(k) => {
                api_url = k.url.clone();
                auth = Some(AuthIo::Oauth2 {
                    client_id: k.client_id.clone(),
                    token_url: k.token_url.to_string(),
                });
                secret = Some(k.client_secret.expose().to_string());
            }
            Err(e) => add(&mut errors, "service_key", &e.to_string()),
        }
    }
    let auth = match auth {
        Some(AuthIo::Basic { username }) => Auth::Basic {
            username: username.trim().into(),
        },
        Some(AuthIo::Oauth2 {
            client_id,
            token_url,
        }) => Auth::OAuth2 {
            client_id: client_id.trim().into(),
            token_url: token_url.trim().into(),
        },
        None => match existing {
            Some(t) => t.settings.connection.auth.clone(),
            None => {
                add(&mut errors, "auth", "is required (basic or oauth2)");
                Auth::Basic {
                    username: String::new(),
                }
            }
        },
    };
    let auth_changed = existing.is_some_and(|t| t.settings.connection.auth.kind() != auth.kind());
    if secret.is_none() && (existing.is_none_or(|t| !t.has_secret) || auth_changed) {
        add(
            &mut errors,
            "secret",
            "is required (the password or client secret; or paste a service key)",
        );
    }
    let payload_strategy = match input.payload_strategy.as_deref() {
        None => existing.map_or(PayloadStrategy::FailedOnly, |t| {
            t.settings.collection.payload_strategy
        }),
        Some(s) => PayloadStrategy::parse(s).unwrap_or_else(|| {
            add(
                &mut errors,
                "payload_strategy",
                "must be none, failed or all",
            );
            PayloadStrategy::FailedOnly
        }),
    };
    let defaults = CollectionSettings::default();
    let prev = existing.map(|t| &t.settings);
    let ca_cert = match input.ca_cert.as_deref() {
        Some(pem) if pem.trim().is_empty() => None,
        Some(pem) => Some(pem.trim().to_string()),
        None => prev.and_then(|p| p.connection.ca_cert.clone()),
    };
    let settings = TenantSettings {
        name: input.name.trim().into(),
        access_groups: input
            .access_groups
            .iter()
            .map(|s| s.trim().into())
            .collect(),
        connection: ConnectionSettings {
            api_url,
            ui_url: input
                .ui_url
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
            auth,
            tls_verify: input.tls_verify.unwrap_or(true),
            ca_cert,
        },
        collection: CollectionSettings {
            enabled: input.enabled.unwrap_or(true),
            tags: input.tags.iter().map(|s| s.trim().into()).collect(),
            message_filter: input
                .message_filter
                .as_deref()
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned),
            collect_from: input.collect_from,
            hot_window_secs: input.hot_window_secs.unwrap_or(defaults.hot_window_secs),
            payload_strategy,
            payload_max_bytes: input
                .payload_max_bytes
                .unwrap_or(defaults.payload_max_bytes),
            attachments: input.attachments.unwrap_or(defaults.attachments),
        },
    };
    if let Err(e) = settings.validate() {
        errors.extend(e.0.into_iter().map(|mut f| {
            // The API's body is flat: `connection.api_url` is `api_url`, and so on.
            f.field = f
                .field
                .trim_start_matches("connection.")
                .trim_start_matches("collection.")
                .to_string();
            f
        }));
    }
    let mut jobs = Vec::new();
    for (i, j) in input.jobs.iter().enumerate() {
        match j.to_settings(i) {
            Ok(s) => {
                if let JobKind::Other(k) = &s.kind {
                    add(
                        &mut errors,
                        &format!("jobs[{i}].kind"),
                        &format!("unknown job kind {k:?}"),
                    );
                } else if let Err(e) = s.validate() {
                    errors.extend(e.0);
                } else {
                    jobs.push(s);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid {
            message: errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            fields: errors,
        });
    }
    Ok(Checked {
        settings,
        secret,
        jobs,
    })
}

/// Store a checked tenant (create or update) with its secret sealed and its jobs.
pub async fn save(
    state: &AppState,
    existing: Option<&Tenant>,
    checked: Checked,
) -> Result<Tenant, AppError> {
    let sealed = match &checked.secret {
        Some(s) => Some(secret::seal(&state.key, s).map_err(|e| {
            tracing::error!("sealing a tenant secret: {e}");
            AppError::Internal
        })?),
        None => None,
    };
    let result = match existing {
        None => tenants::create(&state.db, &checked.settings, sealed.as_deref()).await,
        Some(t) => {
            tenants::update_settings(&state.db, t.id, &checked.settings, sealed.as_deref()).await
        }
    };
    let tenant = result.map_err(|e| {
        if e.is_unique_violation() {
            AppError::invalid("name", "is taken by another tenant")
        } else {
            e.into()
        }
    })?;
    for job in &checked.jobs {
        tenants::upsert_job(&state.db, tenant.id, job).await?;
    }
    Ok(tenant)
}

#[derive(Serialize, ToSchema)]
pub struct CheckOut {
    /// `credentials`, `message_processing_logs`, `payloads`, `runtime_artifacts`,
    /// `integration_packages`, `keystore`.
    pub check: String,
    pub label: String,
    /// The call made, e.g. `GET /MessageProcessingLogs?$top=1`.
    pub call: String,
    /// `ok`, `failed` or `skipped`.
    pub outcome: String,
    pub detail: String,
    pub advice: Option<String>,
    pub elapsed_ms: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionTestOut {
    pub ok: bool,
    pub checks: Vec<CheckOut>,
}

pub fn report_out(r: &ConnectionReport) -> ConnectionTestOut {
    ConnectionTestOut {
        ok: r.all_ok(),
        checks: r
            .checks
            .iter()
            .map(|c| {
                let (outcome, detail, advice) = match &c.outcome {
                    CheckOutcome::Ok(d) => ("ok", d.clone(), None),
                    CheckOutcome::Failed { error, advice } => {
                        ("failed", error.to_string(), Some(advice.clone()))
                    }
                    CheckOutcome::Skipped(d) => ("skipped", d.clone(), None),
                };
                CheckOut {
                    check: format!("{:?}", c.check)
                        .chars()
                        .enumerate()
                        .flat_map(|(i, ch)| {
                            let lower = ch.to_ascii_lowercase();
                            if ch.is_ascii_uppercase() && i > 0 {
                                vec!['_', lower]
                            } else {
                                vec![lower]
                            }
                        })
                        .collect(),
                    label: c.check.label().into(),
                    call: c.call.clone(),
                    outcome: outcome.into(),
                    detail,
                    advice,
                    elapsed_ms: c.elapsed.as_millis() as u64,
                }
            })
            .collect(),
    }
}

/// Run the connection test with these settings and secret.
pub async fn run_test(
    settings: &TenantSettings,
    secret: String,
) -> Result<ConnectionReport, AppError> {
    let config = cpi::TenantConfig::from_connection(&settings.connection, cpi::Secret::new(secret))
        .map_err(|e| AppError::invalid("api_url", e.to_string()))?;
    let client =
        cpi::CpiClient::new(config).map_err(|e| AppError::invalid("api_url", e.to_string()))?;
    Ok(client.test_connection().await)
}

/// The stored secret of a tenant, opened.
pub async fn stored_secret(state: &AppState, id: i64) -> Result<Option<String>, AppError> {
    match tenants::sealed_secret(&state.db, id).await? {
        Some(sealed) => secret::open(&state.key, &sealed).map(Some).map_err(|e| {
            tracing::error!(tenant_id = id, "opening a tenant secret: {e}");
            AppError::Unavailable(
                "the stored secret cannot be opened with this SECRET_KEY; enter it again".into(),
            )
        }),
        None => Ok(None),
    }
}

/// Test the settings of a body (for the wizard); with `existing`, an absent secret means the
/// stored one.
pub async fn test_settings(
    state: &AppState,
    input: &TenantIn,
    existing: Option<&Tenant>,
) -> Result<ConnectionReport, AppError> {
    let checked = check(input, existing)?;
    let secret = match (checked.secret, existing) {
        (Some(s), _) => s,
        (None, Some(t)) => stored_secret(state, t.id)
            .await?
            .ok_or_else(|| AppError::invalid("secret", "is required"))?,
        (None, None) => return Err(AppError::invalid("secret", "is required")),
    };
    run_test(&checked.settings, secret).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncIn {
    /// `messages_hot`, `messages_cold`, `payloads`, `packages`, `deep_sync`, `keystore`.
    pub job: String,
    /// The job's parameters (see docs/jobs.md), e.g. `{"from": "…", "to": "…"}`.
    #[serde(default)]
    pub params: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct JobSubmittedOut {
    pub job_id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub tenant_id: i64,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/tenants", web::get().to(list))
        .route("/tenants", web::post().to(create))
        .route("/tenants/test", web::post().to(test_new))
        .route("/tenants/{id}", web::get().to(get))
        .route("/tenants/{id}", web::put().to(update))
        .route("/tenants/{id}", web::delete().to(delete))
        .route("/tenants/{id}/test", web::post().to(test_stored))
        .route("/tenants/{id}/sync", web::post().to(sync));
}

/// The tenants you may see.
#[utoipa::path(get, path = "/api/tenants", tag = "tenants",
    responses((status = 200, body = [TenantOut])))]
pub async fn list(state: web::Data<AppState>, p: Principal) -> ApiResult<HttpResponse> {
    // Two queries whatever the number of tenants.
    let jobs = tenants::all_jobs(&state.db).await?;
    let out: Vec<TenantOut> = access::visible_tenants(&state, &p)
        .await?
        .iter()
        .map(|t| tenant_out(t, jobs.get(&t.id).map_or(&[][..], Vec::as_slice)))
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(get, path = "/api/tenants/{id}", tag = "tenants",
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 200, body = TenantOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    let jobs = tenants::jobs(&state.db, t.id).await?;
    Ok(HttpResponse::Ok().json(tenant_out(&t, &jobs)))
}

/// Create a tenant (managers). Validation errors name every field.
#[utoipa::path(post, path = "/api/tenants", tag = "tenants", request_body = TenantIn,
    responses((status = 201, body = TenantOut), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    body: web::Json<TenantIn>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let checked = check(&body, None)?;
    let t = save(&state, None, checked).await?;
    tracing::info!(by = %p.user.username, tenant = %t.settings.name, "tenant created");
    let jobs = tenants::jobs(&state.db, t.id).await?;
    Ok(HttpResponse::Created().json(tenant_out(&t, &jobs)))
}

/// Update a tenant (managers). An absent `secret` keeps the stored one.
#[utoipa::path(put, path = "/api/tenants/{id}", tag = "tenants", request_body = TenantIn,
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 200, body = TenantOut), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    body: web::Json<TenantIn>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let existing = access::tenant(&state, &p, path.into_inner()).await?;
    let checked = check(&body, Some(&existing))?;
    let t = save(&state, Some(&existing), checked).await?;
    tracing::info!(by = %p.user.username, tenant = %t.settings.name, "tenant changed");
    let jobs = tenants::jobs(&state.db, t.id).await?;
    Ok(HttpResponse::Ok().json(tenant_out(&t, &jobs)))
}

/// Delete a tenant and everything collected for it (admins).
#[utoipa::path(delete, path = "/api/tenants/{id}", tag = "tenants",
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Admin)?;
    p.check_csrf(&req, None)?;
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    tenants::delete(&state.db, t.id).await?;
    tracing::info!(by = %p.user.username, tenant = %t.settings.name, "tenant deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct TestQuery {
    /// Test changed settings of this tenant: an absent secret means the stored one.
    pub tenant_id: Option<i64>,
}

/// Test a connection before saving (managers): every call the collector makes, with its result.
#[utoipa::path(post, path = "/api/tenants/test", tag = "tenants", request_body = TenantIn,
    params(TestQuery),
    responses((status = 200, body = ConnectionTestOut), (status = 422, body = crate::error::ErrorBody)))]
pub async fn test_new(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    q: web::Query<TestQuery>,
    body: web::Json<TenantIn>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let existing = match q.tenant_id {
        Some(id) => Some(access::tenant(&state, &p, id).await?),
        None => None,
    };
    let report = test_settings(&state, &body, existing.as_ref()).await?;
    Ok(HttpResponse::Ok().json(report_out(&report)))
}

/// Test a stored tenant's connection (managers) and record whether it is reachable.
#[utoipa::path(post, path = "/api/tenants/{id}/test", tag = "tenants",
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 200, body = ConnectionTestOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn test_stored(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    let secret = stored_secret(&state, t.id)
        .await?
        .ok_or_else(|| AppError::invalid("secret", "no secret is stored for this tenant"))?;
    let report = run_test(&t.settings, secret).await?;
    let (status, message) = if report.all_ok() {
        (TenantStatus::Ok, None)
    } else {
        let first = report.checks.iter().find_map(|c| match &c.outcome {
            CheckOutcome::Failed { error, .. } => Some(format!("{}: {error}", c.check.label())),
            _ => None,
        });
        (TenantStatus::Unreachable, first)
    };
    tenants::set_status(&state.db, t.id, status, message.as_deref(), Utc::now()).await?;
    Ok(HttpResponse::Ok().json(report_out(&report)))
}

/// The job types a user may start from the UI or `POST /api/tenants/{id}/sync`.
pub const SYNC_JOBS: [&str; 6] = [
    "messages_hot",
    "messages_cold",
    "payloads",
    "packages",
    "deep_sync",
    "keystore",
];

/// Start a job for this tenant now (managers): "sync now".
#[utoipa::path(post, path = "/api/tenants/{id}/sync", tag = "tenants", request_body = SyncIn,
    params(("id" = i64, Path, description = "tenant id")),
    responses((status = 202, body = JobSubmittedOut), (status = 422, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody)))]
pub async fn sync(
    state: web::Data<AppState>,
    req: HttpRequest,
    p: Principal,
    path: web::Path<i64>,
    body: web::Json<SyncIn>,
) -> ApiResult<HttpResponse> {
    p.require(Role::Manager)?;
    p.check_csrf(&req, None)?;
    let t = access::tenant(&state, &p, path.into_inner()).await?;
    let out = sync_now(&state, &p, &t, &body.job, body.params.clone()).await?;
    Ok(HttpResponse::Accepted().json(out))
}

pub async fn sync_now(
    state: &AppState,
    p: &Principal,
    t: &Tenant,
    job: &str,
    params: Option<serde_json::Value>,
) -> Result<JobSubmittedOut, AppError> {
    if !SYNC_JOBS.contains(&job) {
        return Err(AppError::invalid(
            "job",
            format!("must be one of {}", SYNC_JOBS.join(", ")),
        ));
    }
    let envelope = super::jobs_submit::submit(
        state,
        JobType::parse(job),
        t.id,
        params.unwrap_or_else(|| serde_json::json!({})),
    )
    .await?;
    tracing::info!(by = %p.user.username, tenant = %t.settings.name, job, "sync requested");
    Ok(JobSubmittedOut {
        job_id: envelope.job_id,
        job_type: job.into(),
        tenant_id: t.id,
    })
}
