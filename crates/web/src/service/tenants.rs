//! Tenants: validating a tenant body, saving it with its job settings in one transaction,
//! connection tests and "sync now". Called by `api::tenants` (JSON) and `pages::tenants` (HTML).

use chrono::{DateTime, Utc};
use cpi::CpiError;
use cpi::conntest::{Check, CheckOutcome, ConnectionReport};
use domain::Secret;
use domain::job::JobType;
use domain::tenant::{
    Auth, CollectionSettings, ConnectionSettings, FieldError, JobKind, JobSettings,
    PayloadStrategy, PlanTime, Retention, Tenant, TenantSettings, TenantStatus,
};
use serde::{Deserialize, Serialize};
use store::repo::tenants::{self, CredentialError};
use utoipa::ToSchema;

use crate::access;
use crate::auth::Principal;
use crate::error::AppError;
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
    /// `unknown`, `ok`, `unreachable`, or `stuck` (reachable, but message collection makes no
    /// progress; `status_message` says why).
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

/// A tenant to create or update. On update, an absent `secret` keeps the stored one. The
/// secret and the service key are [`Secret`]s, so the derived `Debug` shows `***` for them.
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
    #[schema(value_type = Option<String>)]
    pub secret: Option<Secret>,
    /// A BTP service key (JSON text): fills `api_url`, `auth` and `secret`. Write-only.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub service_key: Option<Secret>,
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
    /// Sealed by the store before it is written.
    pub secret: Option<Secret>,
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
        .as_ref()
        .map(Secret::expose)
        .filter(|k| !k.trim().is_empty())
    {
        match cpi::ServiceKey::parse(key) {
            Ok(k) => {
                api_url = k.url.clone();
                auth = Some(AuthIo::Oauth2 {
                    client_id: k.client_id.clone(),
                    token_url: k.token_url.to_string(),
                });
                secret = Some(k.client_secret.clone());
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
    if secret.is_none() {
        match existing {
            Some(t) if t.has_secret => {
                // The stored secret goes only where it was entered for: a new URL, token URL or
                // user needs it typed again, or a manager could send it to any host.
                if let Some(changed) = connection_change(&t.settings.connection, &api_url, &auth) {
                    add(
                        &mut errors,
                        "secret",
                        &format!(
                            "is required again because {changed} changed (the stored secret is \
                             only sent to the connection it was entered for)"
                        ),
                    );
                }
            }
            _ => add(
                &mut errors,
                "secret",
                "is required (the password or client secret; or paste a service key)",
            ),
        }
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
    // The domain rule only looks for the PEM header; parse the certificates now, so a bad one
    // is named here and not found by the first collection as "builder error".
    if let Some(pem) = &ca_cert
        && pem.contains("-----BEGIN CERTIFICATE-----")
        && let Err(e) = cpi::parse_ca_certs(pem.as_bytes())
    {
        let message = match e {
            cpi::CpiError::Config(m) => m,
            other => other.to_string(),
        };
        add(&mut errors, "ca_cert", &message);
    }
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

/// Which connection field differs from the stored one in a way that must not reuse the
/// stored secret: the API URL (compared normalised), the token URL, the user or client id, or
/// the kind of authentication.
pub fn connection_change(
    stored: &ConnectionSettings,
    api_url: &str,
    auth: &Auth,
) -> Option<&'static str> {
    let normal = |u: &str| {
        cpi::normalize_api_url(u)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| u.trim().to_string())
    };
    if normal(&stored.api_url) != normal(api_url) {
        return Some("api_url");
    }
    let same_url = |a: &str, b: &str| match (url::Url::parse(a.trim()), url::Url::parse(b.trim())) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim() == b.trim(),
    };
    match (&stored.auth, auth) {
        (Auth::Basic { username: a }, Auth::Basic { username: b }) => {
            (a.trim() != b.trim()).then_some("auth.username")
        }
        (
            Auth::OAuth2 {
                client_id: a,
                token_url: ta,
            },
            Auth::OAuth2 {
                client_id: b,
                token_url: tb,
            },
        ) => {
            if !same_url(ta, tb) {
                Some("auth.token_url")
            } else {
                (a.trim() != b.trim()).then_some("auth.client_id")
            }
        }
        _ => Some("auth.kind"),
    }
}

/// Store a checked tenant (create or update) with its secret and its job settings, all in one
/// transaction ([`tenants::save`]).
pub async fn save(
    state: &AppState,
    p: &Principal,
    existing: Option<&Tenant>,
    checked: Checked,
) -> Result<Tenant, AppError> {
    let result = tenants::save(
        &state.db,
        &state.key,
        existing.map(|t| t.id),
        &checked.settings,
        checked.secret.as_ref(),
        &checked.jobs,
    )
    .await;
    match result {
        Ok(t) => Ok(t),
        Err(CredentialError::Store(e)) if e.is_unique_violation() => {
            Err(name_conflict(state, p, &checked.settings.name).await)
        }
        Err(CredentialError::Store(e)) => Err(e.into()),
        Err(CredentialError::Key(e)) => {
            tracing::error!("sealing a tenant secret: {e}");
            Err(AppError::Internal)
        }
    }
}

/// The answer to a name that is already used: "taken" only when the caller can see the tenant
/// that has it; otherwise a refusal that does not tell a hidden tenant's name exists.
async fn name_conflict(state: &AppState, p: &Principal, name: &str) -> AppError {
    let visible = match access::visible_tenants(state, p).await {
        Ok(list) => list,
        Err(e) => return e,
    };
    if visible
        .iter()
        .any(|t| t.settings.name.trim().eq_ignore_ascii_case(name.trim()))
    {
        AppError::invalid("name", "is taken by another tenant")
    } else {
        AppError::invalid("name", "cannot be used; choose another name")
    }
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

/// Advice for a failed OAuth token request: the call went to the token URL, so the hints that
/// send the user to the API URL (the CPI client's general advice) point at the wrong field.
pub fn token_url_advice(err: &CpiError, general: &str) -> String {
    const WHERE: &str =
        "Check the token URL (the service key's \"tokenurl\", ending in /oauth/token)";
    match err {
        CpiError::Dns { .. } => format!(
            "The token URL's host could not be resolved (DNS). {WHERE} and this server's DNS."
        ),
        CpiError::NotFound { .. } => format!(
            "404 Not Found at the token URL. {WHERE}: it is the authentication server, not the API host."
        ),
        CpiError::Connect { .. } => format!(
            "Could not connect to the token URL's host. {WHERE} and any firewall or proxy on the way."
        ),
        CpiError::BadResponse { .. } => {
            format!("The token URL did not answer with an OAuth token. {WHERE}.")
        }
        _ if general.contains("API URL") => {
            format!("{WHERE}. {}", general.replace("API URL", "token URL"))
        }
        _ => general.to_string(),
    }
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
                        let advice = match c.check {
                            Check::Credentials => token_url_advice(error, advice),
                            _ => advice.clone(),
                        };
                        ("failed", error.to_string(), Some(advice))
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

/// Run the connection test with these settings and secret, under the operator's outbound
/// rules.
pub async fn run_test(
    state: &AppState,
    settings: &TenantSettings,
    secret: Secret,
) -> Result<ConnectionReport, AppError> {
    let mut config = cpi::TenantConfig::from_connection(&settings.connection, secret)
        .map_err(|e| AppError::invalid("api_url", e.to_string()))?;
    config.outbound = state.cfg.outbound;
    let client =
        cpi::CpiClient::new(config).map_err(|e| AppError::invalid("api_url", e.to_string()))?;
    Ok(client.test_connection().await)
}

/// The stored secret of a tenant, opened.
pub async fn stored_secret(state: &AppState, id: i64) -> Result<Option<Secret>, AppError> {
    match tenants::secret(&state.db, &state.key, id).await {
        Ok(secret) => Ok(secret),
        Err(CredentialError::Store(e)) => Err(e.into()),
        Err(CredentialError::Key(e)) => {
            tracing::error!(tenant_id = id, "opening a tenant secret: {e}");
            Err(AppError::Unavailable(
                "the stored secret cannot be opened with this SECRET_KEY; enter it again".into(),
            ))
        }
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
    run_test(state, &checked.settings, secret).await
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

#[derive(Deserialize, utoipa::IntoParams)]
pub struct TestQuery {
    /// Test changed settings of this tenant: an absent secret means the stored one.
    pub tenant_id: Option<i64>,
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
    let envelope = crate::service::submit::submit(
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

/// Test a stored tenant's connection with its stored secret, and record whether it is
/// reachable (with the first failure as the reason).
pub async fn test_stored_tenant(
    state: &AppState,
    t: &Tenant,
) -> Result<ConnectionReport, AppError> {
    let secret = stored_secret(state, t.id)
        .await?
        .ok_or_else(|| AppError::invalid("secret", "no secret is stored for this tenant"))?;
    let report = run_test(state, &t.settings, secret).await?;
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
    Ok(report)
}
