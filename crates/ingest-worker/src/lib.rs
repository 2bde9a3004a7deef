//! The ingest worker: consumes collection jobs (messages hot and cold, message details, payloads,
//! packages and artifacts, the deep sync, keystore, tenant resources) and alert evaluation, calls
//! the tenant through `cpi`, and writes through `store`. Any number of workers may consume the
//! same queues.

pub mod alerts;
pub mod content;
pub mod details;
pub mod error;
pub mod fairness;
pub mod jobs;
pub mod map;
pub mod messages;
pub mod payloads;
pub mod resources;
pub mod settings;
pub mod sync_cmd;
pub mod tenants;

use anyhow::Context as _;
use runtime::{Context, Spec};

use crate::tenants::Clients;

pub use settings::{DEFAULT_CONCURRENCY, DEFAULT_TENANT_CONCURRENCY, IngestSettings, Scheduling};

pub const SPEC: Spec<IngestSettings> = Spec {
    component: "ingest-worker",
    default_listen: "127.0.0.1:9101",
    listen_env: "INGEST_WORKER_LISTEN",
    settings: IngestSettings::from_settings,
    http: None,
};

pub const ABOUT: &str = "IntegraMon ingest worker: consumes collection jobs and writes what the \
                         tenant returns. `sync` runs one tenant's sync without RabbitMQ.";

/// Run until shutdown. Called after the migration gate has opened.
pub async fn run(ctx: Context<IngestSettings>) -> anyhow::Result<()> {
    runtime::metrics::register("cpi", cpi::metrics::register);
    let IngestSettings {
        messages,
        client,
        families,
        scheduling,
    } = ctx.config.clone();
    let key = ctx.settings.secret_key()?;
    let worker = jobs::Worker {
        db: ctx.db.clone(),
        clients: Clients::new(key, client),
        messages,
        name: ctx.settings.worker_name("worker"),
        max_attempts: ctx.queue_config.max_attempts,
        retry_tiers: ctx.queue_config.retry_tiers.clone(),
        slots: fairness::TenantSlots::new(scheduling.per_tenant),
        alerts: Some(alerts::Trigger {
            queue: ctx.queue.clone(),
            prefix: ctx.queue_config.prefix.clone(),
        }),
    };
    tracing::info!(
        families = %families.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(","),
        concurrency = scheduling.concurrency,
        per_tenant = scheduling.per_tenant,
        "consuming collection jobs"
    );
    // One consumer per family, each with its own slots: a long backfill or deep sync then
    // never holds up fresh messages in the same worker. Several slots per family, at most
    // `per_tenant` of them per tenant: a hanging tenant cannot hold up the others.
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
                    scheduling.concurrency,
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
