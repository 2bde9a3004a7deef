//! `integramon up`: migrate, then run every daemon's work in this one process, sharing one database
//! pool and one HTTP endpoint. The daemons' code is the same as in the multi-process mode.

use std::net::SocketAddr;

use anyhow::Context as _;
use runtime::{Context, Health, Settings, Shutdown};

pub async fn run(settings: Settings, listen: SocketAddr) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    runtime::shutdown::on_signals(shutdown.clone());
    integramon_migrate::apply(&settings)
        .await
        .context("migrating the database")?;
    let db = store::connect(&settings.db)?;
    let health = Health::new("integramon", db.clone());
    let queue_config = runtime::daemon::queue_config(&settings).map_err(anyhow::Error::msg)?;
    let queue: std::sync::Arc<dyn queue::JobQueue> =
        std::sync::Arc::new(queue::InProcessQueue::new(queue_config)?);
    let ctx = Context {
        settings,
        db: db.clone(),
        queue,
        health: health.clone(),
        shutdown: shutdown.clone(),
    };
    let routes = integramon_web::app(&ctx)?;
    let workers = runtime::daemon::http_workers(&ctx.settings, true).map_err(anyhow::Error::msg)?;
    let endpoint = runtime::health::serve(listen, health.clone(), Some(routes), workers)
        .with_context(|| format!("cannot listen on {listen}"))?;
    if !runtime::gate::wait(&ctx.db, &ctx.settings.migrate_marker, &health, &shutdown).await {
        endpoint.stop().await;
        return Ok(());
    }
    let sim = if crate::demo::enabled(&ctx.settings)? {
        let key = ctx.settings.secret_key()?;
        Some(crate::demo::start(&ctx.settings, &ctx.db, &key).await?)
    } else {
        None
    };
    let first_admin = first_admin(&ctx).await?;
    println!(
        "IntegraMon is running at http://{}{}/ (readiness: /readyz). Press Ctrl-C to stop.",
        endpoint.addr, ctx.settings.app_base_path
    );
    match first_admin {
        Some(password) => println!(
            "Sign in as \"admin\" with the password {password} (shown once; you will be asked to \
             change it)."
        ),
        None => {
            println!("Sign in with your user. A new admin: integramon user create NAME --admin")
        }
    }
    println!("Data is kept in {}.", ctx.settings.data_dir.display());
    if sim.is_some() {
        println!(
            "A simulated tenant \"{}\" is collected (DEMO=false turns it off).",
            crate::demo::TENANT
        );
    }
    let result = tokio::try_join!(
        supervise("web", integramon_web::run(ctx.clone()), &shutdown),
        supervise(
            "ingest-worker",
            integramon_ingest_worker::run(ctx.clone()),
            &shutdown
        ),
        supervise(
            "controller",
            integramon_controller::run(ctx.clone()),
            &shutdown
        ),
        supervise("archiver", integramon_archiver::run(ctx.clone()), &shutdown),
        supervise("metrics", integramon_metrics::run(ctx.clone()), &shutdown),
    );
    endpoint.stop().await;
    if let Some(sim) = sim {
        sim.stop().await;
    }
    db.close().await;
    result.map(|_| ())
}

/// On the first start (no user yet, and no `WEB_ADMIN_USER`), an admin with a generated
/// password, returned to be printed once.
async fn first_admin(ctx: &Context) -> anyhow::Result<Option<String>> {
    if ctx.settings.raw("WEB_ADMIN_USER").is_some() || store::repo::users::count(&ctx.db).await? > 0
    {
        return Ok(None);
    }
    let password = integramon_web::auth::random_secret(15);
    integramon_web::bootstrap::create_user(
        &ctx.db,
        "admin",
        &password,
        domain::user::Role::Admin,
        true,
    )
    .await?;
    Ok(Some(password))
}

/// One failing daemon stops the whole process rather than leaving it half running.
async fn supervise(
    name: &str,
    work: impl std::future::Future<Output = anyhow::Result<()>>,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let result = work
        .await
        .with_context(|| format!("{name} stopped with an error"));
    if result.is_err() {
        shutdown.cancel();
    }
    result
}
