//! The ingest worker: consumes collection jobs (messages hot and cold, message details, payloads,
//! packages and artifacts, the deep sync, keystore), calls the tenant through `cpi`, and writes
//! through `store`. Any number of workers may consume the same queues.

pub mod content;
pub mod details;
pub mod error;
pub mod jobs;
pub mod map;
pub mod messages;
pub mod payloads;
pub mod sync_cmd;
pub mod tenants;

use std::time::Duration;

use anyhow::Context as _;
use domain::job::JobType;
use runtime::{Context, Settings, Spec};

use crate::messages::{DetailsPolicy, MessageOptions};
use crate::tenants::{ClientOptions, Clients};

pub const SPEC: Spec = Spec {
    component: "ingest-worker",
    default_listen: "127.0.0.1:9101",
    listen_env: "INGEST_WORKER_LISTEN",
    http: None,
};

pub const ABOUT: &str = "IntegraMon ingest worker: consumes collection jobs and writes what the \
                         tenant returns. `sync` runs one tenant's sync without RabbitMQ.";

/// Worker settings from the layered settings.
pub fn options(settings: &Settings) -> anyhow::Result<(MessageOptions, ClientOptions)> {
    let secs = |key: &str, default: u64| -> anyhow::Result<Duration> {
        Ok(Duration::from_secs(
            settings
                .get(key, "a whole number of seconds")?
                .unwrap_or(default),
        ))
    };
    let mut m = MessageOptions::default();
    m.windows.overlap = secs("INGEST_OVERLAP_SECS", 180)?;
    m.windows.lag = secs("INGEST_LAG_SECS", 45)?;
    m.windows.max_width = Some(secs("INGEST_WINDOW_MAX_SECS", 6 * 3600)?);
    m.details = match settings.raw("INGEST_DETAILS").as_deref() {
        None | Some("problems") => DetailsPolicy::Problems,
        Some("all") => DetailsPolicy::All,
        Some(other) => {
            anyhow::bail!("INGEST_DETAILS={other:?} is not valid; expected problems or all")
        }
    };
    m.details_concurrency = settings
        .get("INGEST_DETAILS_CONCURRENCY", "a positive whole number")?
        .unwrap_or(4);
    let c = ClientOptions {
        max_concurrent_requests: settings
            .get("CPI_MAX_CONCURRENCY", "a positive whole number")?
            .unwrap_or(4),
        sap_rate_limits: match settings.raw("CPI_RATE_LIMITS").as_deref() {
            None | Some("sap") => true,
            Some("off") => false,
            Some(other) => {
                anyhow::bail!("CPI_RATE_LIMITS={other:?} is not valid; expected sap or off")
            }
        },
    };
    Ok((m, c))
}

/// The families this worker consumes: `INGEST_FAMILIES` (comma-separated job types), or all.
pub fn families(settings: &Settings) -> anyhow::Result<Vec<JobType>> {
    match settings.raw("INGEST_FAMILIES") {
        None => Ok(jobs::FAMILIES.to_vec()),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match JobType::parse(s) {
                t if jobs::FAMILIES.contains(&t) => Ok(t),
                _ => anyhow::bail!(
                    "INGEST_FAMILIES names {s:?}; the ingest worker runs: {}",
                    jobs::FAMILIES.map(|t| t.as_str().to_string()).join(", ")
                ),
            })
            .collect(),
    }
}

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context) -> anyhow::Result<()> {
    runtime::metrics::register("cpi", cpi::metrics::register);
    let (messages, client_options) = options(&ctx.settings)?;
    let families = families(&ctx.settings)?;
    let key = ctx.settings.secret_key()?;
    let queue_config = runtime::daemon::queue_config(&ctx.settings).map_err(anyhow::Error::msg)?;
    let name = format!(
        "{}-{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into()),
        std::process::id()
    );
    let worker = jobs::Worker {
        db: ctx.db.clone(),
        clients: Clients::new(key, client_options),
        messages,
        name,
        max_attempts: queue_config.max_attempts,
        retry_tiers: queue_config.retry_tiers.clone(),
    };
    tracing::info!(
        families = %families.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(","),
        prefetch = queue_config.prefetch,
        "consuming collection jobs"
    );
    // One consumer per family, each with its own prefetch: a long backfill or deep sync then
    // never holds up fresh messages in the same worker.
    let handler = jobs::handler(worker);
    let consumers = families.iter().map(|family| {
        let queue = ctx.queue.clone();
        let handler = handler.clone();
        let shutdown = ctx.shutdown.clone();
        let family = family.clone();
        async move {
            queue
                .consume(
                    std::slice::from_ref(&family),
                    queue_config.prefetch,
                    handler,
                    shutdown,
                )
                .await
                .with_context(|| format!("consuming {family} jobs"))
        }
    });
    for result in futures::future::join_all(consumers).await {
        result?;
    }
    Ok(())
}
