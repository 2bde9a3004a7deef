//! `integramon-migrate`: wait for the database (bounded by `DB_WAIT_TIMEOUT`), start the internal
//! PostgreSQL first when `DB_LOCAL=true`, apply pending migrations under a cross-process lock,
//! then write the marker the other daemons wait for. A failure writes no marker.

use anyhow::Context as _;
use migration::Migrator;
use runtime::Settings;
use store::schema::{self, ApplyEvent, ApplyReport, MigrationRow};

/// `DB_LOCAL=true` with a PostgreSQL backend: make sure the local cluster runs and is provisioned.
pub async fn ensure_local_cluster(settings: &Settings) -> anyhow::Result<()> {
    if !(settings.db.local && settings.db.backend.is_postgres()) {
        return Ok(());
    }
    let cluster = settings.local_cluster()?;
    tracing::info!(dir = %cluster.data_dir.display(), "DB_LOCAL=true: managing the internal PostgreSQL");
    for step in cluster
        .ensure(&settings.db)
        .await
        .context("internal PostgreSQL (DB_LOCAL=true)")?
    {
        tracing::info!("internal PostgreSQL: {step}");
    }
    Ok(())
}

/// `DB_LOCAL=true` with a PostgreSQL backend: keep the internal cluster running for this process
/// (restarted with backoff when it dies) until `stop` is cancelled, then stop it. `None` when
/// there is no internal cluster. Used by `integramon up`, which owns its cluster.
pub fn supervise_local_cluster(
    settings: &Settings,
    stop: runtime::Shutdown,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if !(settings.db.local && settings.db.backend.is_postgres()) {
        return Ok(None);
    }
    let cluster = settings.local_cluster()?;
    let db = settings.db.clone();
    Ok(Some(tokio::spawn(async move {
        cluster.supervise(&db, stop.cancelled()).await;
    })))
}

/// Connect and wait until the database answers, saying why while it waits.
pub async fn wait_for_database(settings: &Settings) -> anyhow::Result<store::Db> {
    let db = store::connect(&settings.db)?;
    let mut last_log = None::<std::time::Instant>;
    db.wait_until_reachable(|e, waited| {
        if last_log.is_none_or(|t| t.elapsed().as_secs() >= 5) {
            tracing::warn!(
                "waiting for the database ({}s of {}s, DB_WAIT_TIMEOUT): {e}",
                waited.as_secs(),
                settings.db.wait_timeout.as_secs()
            );
            last_log = Some(std::time::Instant::now());
        }
    })
    .await?;
    Ok(db)
}

/// Apply pending migrations and write the marker.
pub async fn apply(settings: &Settings) -> anyhow::Result<ApplyReport> {
    ensure_local_cluster(settings).await?;
    let db = wait_for_database(settings).await?;
    let report = schema::apply::<Migrator>(
        &db,
        &settings.migrate_marker,
        env!("CARGO_PKG_VERSION"),
        |event| match event {
            ApplyEvent::WaitingForLock => {
                tracing::info!("another migrate run holds the migration lock; waiting for it")
            }
            ApplyEvent::Applying(name) => tracing::info!("applying migration {name}"),
            ApplyEvent::Applied(name) => tracing::info!("applied migration {name}"),
        },
    )
    .await;
    db.close().await;
    let report = report?;
    tracing::info!(
        schema = %report.marker.schema_version,
        applied = report.applied.len(),
        marker = %settings.migrate_marker.display(),
        "schema is up to date; marker written"
    );
    Ok(report)
}

/// Every migration with whether it is applied.
pub async fn status(settings: &Settings) -> anyhow::Result<Vec<MigrationRow>> {
    let db = wait_for_database(settings).await?;
    let rows = schema::status::<Migrator>(&db).await;
    db.close().await;
    Ok(rows?)
}
