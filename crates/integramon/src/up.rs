//! `integramon up`: migrate, then run every daemon's work in this one process, sharing one database
//! pool and one HTTP endpoint. The daemons' code is the same as in the multi-process mode.

use std::net::SocketAddr;

use anyhow::Context as _;
use runtime::daemon::{Context, Shell};
use runtime::{Settings, Shutdown};

use crate::settings::AllSettings;

/// Where the UI answers unless `--listen` or `WEB_LISTEN` says otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const COMPONENT: &str = "integramon";

/// What `up` checked before anything started: every daemon's settings and the UI's address.
pub struct Checked {
    pub all: AllSettings,
    pub listen: SocketAddr,
}

/// Every setting of every daemon this process runs, built once before anything starts; the
/// address the UI answers on.
pub fn check(settings: &Settings, listen: Option<&str>) -> anyhow::Result<Checked> {
    let all = AllSettings::from_settings(settings)?;
    let listen = settings.listen_addr(listen, "WEB_LISTEN", DEFAULT_LISTEN)?;
    Ok(Checked { all, listen })
}

pub async fn run(settings: Settings, checked: Checked) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    runtime::shutdown::on_signals(shutdown.clone(), settings.shutdown_grace);
    let migrated = integramon_migrate::apply(&settings)
        .await
        .context("migrating the database");
    // DB_LOCAL=true: this process owns the internal PostgreSQL. It is restarted when it dies and
    // stopped after everything else, also when start-up failed after it was started.
    let stop_local_db = Shutdown::new();
    let local_db = integramon_migrate::supervise_local_cluster(&settings, stop_local_db.clone())?;
    let result = match migrated {
        Ok(_) => serve(settings, checked, shutdown).await,
        Err(e) => Err(e),
    };
    stop_local_db.cancel();
    if let Some(task) = local_db {
        let _ = task.await;
    }
    result
}

/// The daemons' shell (`runtime::daemon::host`) with the in-process queue, the web's routes
/// and every daemon's work.
async fn serve(settings: Settings, checked: Checked, shutdown: Shutdown) -> anyhow::Result<()> {
    let Checked { all, listen } = checked;
    let db = store::connect(&settings.db)?;
    let queue: std::sync::Arc<dyn queue::JobQueue> =
        std::sync::Arc::new(queue::InProcessQueue::new(all.queue.clone())?);
    let ctx = Context::new(COMPONENT, settings, all.queue.clone(), db, queue, shutdown);
    let shell = Shell {
        component: COMPONENT,
        listen,
        default_port: false,
        workers: all.web_workers,
    };
    let web = all.web.clone();
    runtime::daemon::host(
        shell,
        ctx,
        |ctx| integramon_web::app(&ctx.with(web)).map(Some),
        |ctx, addr| every_daemon(ctx, all, addr),
    )
    .await
}

/// After the migration gate: the demo tenant, the first admin, then every daemon until one
/// fails or the process stops.
async fn every_daemon(ctx: Context, all: AllSettings, addr: SocketAddr) -> anyhow::Result<()> {
    let shutdown = ctx.shutdown.clone();
    let sim = if all.demo.enabled {
        let key = ctx.settings.secret_key()?;
        Some(crate::demo::start(&all.demo.listen, &ctx.db, &key).await?)
    } else {
        None
    };
    let first_admin = first_admin(&ctx, &all).await?;
    println!(
        "IntegraMon is running at http://{addr}{}/ (readiness: /readyz). Press Ctrl-C to stop.",
        ctx.settings.app_base_path
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
        supervise(
            "web",
            integramon_web::run(ctx.with(all.web.clone())),
            &shutdown
        ),
        supervise(
            "ingest-worker",
            integramon_ingest_worker::run(ctx.with(all.ingest.clone())),
            &shutdown
        ),
        supervise(
            "controller",
            integramon_controller::run(ctx.with(all.controller.clone())),
            &shutdown
        ),
        supervise(
            "archiver",
            integramon_archiver::run(ctx.with(all.archiver.clone())),
            &shutdown
        ),
        supervise(
            "metrics",
            integramon_metrics::run(ctx.with(all.metrics.clone())),
            &shutdown
        ),
    );
    if let Some(sim) = sim {
        sim.stop().await;
    }
    result.map(|_| ())
}

/// On the first start (no user yet, and no `WEB_ADMIN_USER`), an admin with a generated
/// password, returned to be printed once.
async fn first_admin(ctx: &Context, all: &AllSettings) -> anyhow::Result<Option<String>> {
    if all.web.bootstrap_admin.is_some() || store::repo::users::count(&ctx.db).await? > 0 {
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
