//! The shape every daemon binary shares: parse the command line, load settings (a bad one exits 2
//! with a one-line reason), log the database choice, serve health, wait at the migration gate,
//! run the daemon's work until SIGTERM/Ctrl-C, shut down cleanly. `main.rs` files call [`main`].

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use queue::{AmqpQueue, JobQueue, QueueConfig};
use store::Db;

use crate::health::{self, Health};
use crate::settings::Settings;
use crate::shutdown::{self, Shutdown};

/// What distinguishes one daemon binary from another.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Short name used in logs and metrics (`web`, `ingest-worker`, …).
    pub component: &'static str,
    /// Where it listens unless `--listen` or `listen_env` says otherwise.
    pub default_listen: &'static str,
    /// Environment variable that overrides the default listen address.
    pub listen_env: &'static str,
    /// Routes this daemon serves beside `/healthz`, `/readyz` and `/metrics` (the web UI).
    pub http: Option<HttpApp>,
}

/// Builds a daemon's extra HTTP routes from its context, before the migration gate opens (the
/// routes answer 503 until then; see [`Health::gate_open`]).
pub type HttpApp = fn(&Context) -> anyhow::Result<Routes>;

/// Extra routes for [`health::serve`].
pub type Routes = Arc<dyn Fn(&mut actix_web::web::ServiceConfig) + Send + Sync>;

/// Everything a daemon's work gets.
#[derive(Clone)]
pub struct Context {
    pub settings: Settings,
    pub db: Db,
    /// RabbitMQ in the multi-process mode, the in-process queue in the all-in-one mode.
    pub queue: Arc<dyn JobQueue>,
    pub health: Health,
    pub shutdown: Shutdown,
}

/// The queue settings (`AMQP_*`) as the layered settings give them.
pub fn queue_config(settings: &Settings) -> Result<QueueConfig, String> {
    QueueConfig::from_lookup(|k| settings.raw(k)).map_err(|e| e.to_string())
}

#[derive(Debug, Parser)]
struct Cli {
    /// Address for the HTTP endpoint (liveness /healthz, readiness /readyz, metrics /metrics).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exit 0 when this daemon's readiness endpoint says ready (for container health checks).
    Healthcheck,
}

/// Resolve the listen address: `--listen`, then the daemon's variable, then its default.
pub fn listen_addr(
    settings: &Settings,
    flag: Option<&str>,
    spec: &Spec,
) -> Result<SocketAddr, String> {
    let (raw, from) = match (flag, settings.raw(spec.listen_env)) {
        (Some(f), _) => (f.to_string(), "--listen".to_string()),
        (None, Some(v)) => (v, spec.listen_env.to_string()),
        (None, None) => (spec.default_listen.to_string(), "default".to_string()),
    };
    raw.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("{from}={raw:?} is not a host:port address"))
}

/// The whole life of a daemon process. `about` is its `--help` text.
pub fn main<W, F>(spec: Spec, about: &'static str, work: W) -> ExitCode
where
    W: FnOnce(Context) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    crate::memory::limit_malloc_arenas();
    let cli = match Cli::try_parse_from_about(about) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let bin = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| spec.component.to_string());
    let fail = |reason: String| {
        eprintln!("{bin}: {reason}");
        ExitCode::from(2)
    };
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let listen = match listen_addr(&settings, cli.listen.as_deref(), &spec) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let queue_config = match queue_config(&settings) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if let Some(Command::Healthcheck) = cli.command {
        return match probe_ready(listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{bin}: not ready: {e}");
                ExitCode::FAILURE
            }
        };
    }
    store::install_tls_provider();
    let _log = crate::logging::init(&settings, spec.component);
    log_database_choice(&settings);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    // The pool spawns its maintenance task, so it is opened inside the runtime.
    let db = match rt.block_on(async { store::connect(&settings.db) }) {
        Ok(db) => db,
        Err(e) => return fail(e.to_string()),
    };
    let result = rt.block_on(async move {
        let shutdown = Shutdown::new();
        shutdown::on_signals(shutdown.clone());
        let health = Health::new(spec.component, db.clone());
        // No I/O here: the broker is connected on first use and reconnected after losses.
        let queue: Arc<dyn JobQueue> = Arc::new(AmqpQueue::new(queue_config)?);
        health.add_check("broker", queue::readiness_check(queue.clone()));
        let ctx = Context {
            settings,
            db: db.clone(),
            queue,
            health: health.clone(),
            shutdown: shutdown.clone(),
        };
        let routes = spec.http.map(|app| app(&ctx)).transpose()?;
        let workers = http_workers(&ctx.settings, routes.is_some()).map_err(anyhow::Error::msg)?;
        let endpoint = health::serve(listen, health.clone(), routes, workers)
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        tracing::info!(component = spec.component, listen = %endpoint.addr, "serving HTTP");
        let outcome =
            if crate::gate::wait(&ctx.db, &ctx.settings.migrate_marker, &health, &shutdown).await {
                work(ctx).await
            } else {
                Ok(())
            };
        endpoint.stop().await;
        db.close().await;
        outcome
    });
    match result {
        Ok(()) => {
            tracing::info!(component = spec.component, "stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(component = spec.component, "{e:#}");
            eprintln!("{bin}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// HTTP worker threads: `WEB_WORKERS` (default: one per CPU) where the UI is served, one where
/// only health and metrics are.
pub fn http_workers(settings: &Settings, serves_ui: bool) -> Result<usize, String> {
    if !serves_ui {
        return Ok(1);
    }
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    match settings.raw("WEB_WORKERS") {
        None => Ok(cpus),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=256).contains(&n) => Ok(n),
            _ => Err(format!(
                "WEB_WORKERS must be a number from 1 to 256, not {v:?}"
            )),
        },
    }
}

/// The one line every daemon logs at start: backend, target (never a password), and why.
pub fn log_database_choice(settings: &Settings) {
    let db = &settings.db;
    tracing::info!(
        "database backend {} at {} (chosen by {})",
        db.backend.name(),
        db.target(),
        db.backend_source
    );
}

impl Cli {
    fn try_parse_from_about(about: &'static str) -> Result<Self, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let cmd = Self::command()
            .about(about)
            .version(env!("CARGO_PKG_VERSION"));
        let matches = cmd.try_get_matches()?;
        Self::from_arg_matches(&matches)
    }
}

/// A plain HTTP/1.0 GET of `/readyz`, so container images need no curl.
pub fn probe_ready(listen: SocketAddr) -> Result<(), String> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let timeout = Duration::from_secs(5);
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).ok();
    stream
        .write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let status = response.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        Err(format!("{status} {body}"))
    }
}
