//! `integramon-ingest-worker sync`: one tenant, one time range, straight into the configured
//! database, without RabbitMQ — for backfills and troubleshooting. Prints progress and a summary.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use domain::secret;
use domain::tenant::{Auth, Tenant, TenantSettings};
use migration::Migrator;
use runtime::Settings;
use store::repo::tenants;
use store::schema::{GateState, check_gate};

use crate::tenants::build_client;

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The tenant's API URL as a service key gives it (`/api/v1` is appended unless present).
    #[arg(long, required_unless_present_any = ["tenant", "service_key"])]
    pub url: Option<String>,
    /// HTTP Basic user.
    #[arg(long, requires = "password", conflicts_with = "service_key")]
    pub user: Option<String>,
    /// HTTP Basic password.
    #[arg(long, requires = "user")]
    pub password: Option<String>,
    /// A BTP service key (JSON file) for OAuth2 client credentials.
    #[arg(long, value_name = "FILE")]
    pub service_key: Option<PathBuf>,
    /// Use a tenant already configured in IntegraMon, by name, with its stored credentials.
    #[arg(long, conflicts_with_all = ["url", "user", "service_key"])]
    pub tenant: Option<String>,
    /// Start of the range (ISO 8601, e.g. 2026-11-01T00:00:00Z), on LogEnd.
    #[arg(long)]
    pub from: DateTime<Utc>,
    /// End of the range (default: now).
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
}

pub async fn run(
    settings: &Settings,
    config: crate::IngestSettings,
    args: SyncArgs,
) -> anyhow::Result<()> {
    let to = args.to.unwrap_or_else(Utc::now);
    if args.from >= to {
        bail!("--from must be before --to");
    }
    let db = store::connect(&settings.db)?;
    match check_gate::<Migrator>(&db, &settings.migrate_marker).await {
        GateState::Ready { .. } => {}
        other => bail!("the database is not ready ({other}); run integramon-migrate first"),
    }
    let key = settings.secret_key()?;
    let (tenant, secret) = resolve_tenant(&db, &key, &args).await?;
    // A one-shot run against a real tenant obeys SAP's limits unless CPI_RATE_LIMITS=off.
    let crate::IngestSettings {
        messages,
        client: client_options,
        ..
    } = config;
    let client = build_client(&tenant, secret, &client_options).map_err(anyhow::Error::msg)?;
    println!(
        "syncing tenant {} ({}) from {} to {}",
        tenant.settings.name, tenant.settings.connection.api_url, args.from, to
    );
    let started = std::time::Instant::now();
    let report =
        crate::messages::sync_range(&db, &client, &tenant, &messages, args.from, to, |r| {
            print!(
                "\r  {} pages, {} messages ({} new, {} updated), {} with details, read up to {}   ",
                r.pages,
                r.records,
                r.inserted,
                r.updated,
                r.details,
                r.watermark.map(|w| w.to_rfc3339()).unwrap_or_default()
            );
            let _ = std::io::stdout().flush();
        })
        .await
        .map_err(anyhow::Error::msg)?;
    let secs = started.elapsed().as_secs_f64();
    println!();
    println!(
        "done in {secs:.1}s: {} windows, {} pages, {} messages ({} new, {} updated, {} unchanged), \
         {} headers, {} with details ({} unavailable), {:.0} messages/s",
        report.windows,
        report.pages,
        report.records,
        report.inserted,
        report.updated,
        report.unchanged,
        report.headers,
        report.details,
        report.details_failed,
        report.records as f64 / secs.max(0.001)
    );
    db.close().await;
    Ok(())
}

/// The tenant to write under, and its plaintext secret for this run. A tenant given by URL is
/// looked up by its API URL and created (credentials sealed) if IntegraMon does not know it.
async fn resolve_tenant(
    db: &store::Db,
    key: &secret::SecretKey,
    args: &SyncArgs,
) -> anyhow::Result<(Tenant, String)> {
    if let Some(name) = &args.tenant {
        let tenant = tenants::get_by_name(db, name)
            .await?
            .with_context(|| format!("no tenant named {name:?}"))?;
        let sealed = tenants::sealed_secret(db, tenant.id)
            .await?
            .with_context(|| format!("tenant {name:?} has no stored credentials"))?;
        let secret = secret::open(key, &sealed)
            .map_err(|e| anyhow::anyhow!("cannot decrypt tenant {name:?}'s credentials: {e}"))?;
        return Ok((tenant, secret));
    }
    let (url, auth, secret) = match (&args.service_key, &args.user, &args.password) {
        (Some(path), _, _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let sk = cpi::ServiceKey::parse(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
            let url = args.url.clone().unwrap_or_else(|| sk.url.clone());
            (
                url,
                Auth::OAuth2 {
                    client_id: sk.client_id.clone(),
                    token_url: sk.token_url.to_string(),
                },
                sk.client_secret.expose().to_string(),
            )
        }
        (None, Some(user), Some(password)) => (
            args.url.clone().context("--url is required")?,
            Auth::Basic {
                username: user.clone(),
            },
            password.clone(),
        ),
        _ => bail!("give --user and --password, or --service-key, or --tenant"),
    };
    let api_url = cpi::normalize_api_url(&url)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string();
    let existing = tenants::list(db).await?.into_iter().find(|t| {
        cpi::normalize_api_url(&t.settings.connection.api_url)
            .map(|u| u.to_string())
            .ok()
            == Some(api_url.clone())
    });
    let sealed = secret::seal(key, &secret).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tenant = match existing {
        Some(t) => t,
        None => {
            let host = url::Url::parse(&api_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "tenant".into());
            let settings = TenantSettings::new(host, api_url.clone(), auth);
            settings
                .validate()
                .map_err(|e| anyhow::anyhow!("invalid tenant settings: {e}"))?;
            let created = tenants::create(db, &settings, Some(&sealed)).await?;
            println!("created tenant {} for {api_url}", created.settings.name);
            created
        }
    };
    Ok((tenant, secret))
}
