//! The one shell every daemon runs in, in its own process ([`main`]) and in `integramon up`
//! ([`host`]): parse the command line, load and check every setting, the daemon's own too (its
//! typed settings are built once here; a bad one exits 2 with a one-line reason), log the
//! database choice, serve health, wait at the migration gate, run the daemon's work until
//! SIGTERM/Ctrl-C, shut down within the grace (see [`shutdown`](crate::shutdown)). A daemon
//! crate contributes its [`Spec`] (its settings and routes) and its work; `main.rs` files call
//! [`main`].

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use queue::{AmqpQueue, JobQueue, QueueConfig};
use store::Db;

use crate::bootstrap;
use crate::health::{self, Health};
use crate::settings::Settings;
use crate::shutdown::{self, Shutdown};

pub use crate::bootstrap::log_database_choice;

/// What distinguishes one daemon binary from another; `S` is its typed settings.
pub struct Spec<S: 'static> {
    /// Short name used in logs and metrics (`web`, `ingest-worker`, …).
    pub component: &'static str,
    /// Where it listens unless `--listen` or `listen_env` says otherwise.
    pub default_listen: &'static str,
    /// Environment variable that overrides the default listen address.
    pub listen_env: &'static str,
    /// Builds the daemon's own typed settings from the layered ones, once, before it connects
    /// or waits at the migration gate (a bad value: exit 2, one line).
    pub settings: fn(&Settings) -> anyhow::Result<S>,
    /// Routes this daemon serves beside `/healthz`, `/readyz` and `/metrics` (the web UI).
    pub http: Option<HttpApp<S>>,
}

/// Builds a daemon's extra HTTP routes from its context, before the migration gate opens (the
/// routes answer 503 until then; see [`Health::gate_open`]).
pub type HttpApp<S> = fn(&Context<S>) -> anyhow::Result<Routes>;

/// Extra routes for [`health::serve`].
pub type Routes = Arc<dyn Fn(&mut actix_web::web::ServiceConfig) + Send + Sync>;

/// Everything a daemon's work gets; `config` is its own typed settings.
#[derive(Clone)]
pub struct Context<S = ()> {
    pub settings: Settings,
    /// The queue settings (`AMQP_*`), built once at start.
    pub queue_config: QueueConfig,
    /// The daemon's own settings, built once at start ([`Spec::settings`]).
    pub config: S,
    pub db: Db,
    /// RabbitMQ in the multi-process mode, the in-process queue in the all-in-one mode.
    pub queue: Arc<dyn JobQueue>,
    pub health: Health,
    pub shutdown: Shutdown,
}

impl Context {
    /// A context without daemon settings yet: health created (stopping with `shutdown`, showing
    /// the settings' warnings).
    pub fn new(
        component: &'static str,
        settings: Settings,
        queue_config: QueueConfig,
        db: Db,
        queue: Arc<dyn JobQueue>,
        shutdown: Shutdown,
    ) -> Self {
        let health = Health::new(component, db.clone());
        health.stop_on(&shutdown);
        for w in &settings.warnings {
            health.warn(w.clone());
        }
        Self {
            settings,
            queue_config,
            config: (),
            db,
            queue,
            health,
            shutdown,
        }
    }
}

impl<S> Context<S> {
    /// The same context for a daemon with settings `config`.
    pub fn with<T>(&self, config: T) -> Context<T> {
        Context {
            settings: self.settings.clone(),
            queue_config: self.queue_config.clone(),
            config,
            db: self.db.clone(),
            queue: self.queue.clone(),
            health: self.health.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

/// Where a daemon's shell serves HTTP.
#[derive(Debug, Clone, Copy)]
pub struct Shell {
    pub component: &'static str,
    pub listen: SocketAddr,
    /// Only the daemon's default address: move to a free port when it is taken.
    pub default_port: bool,
    pub workers: usize,
}

/// The shell around a daemon's work, shared by [`main`] and `integramon up`: serve health (and
/// `routes`) on `shell.listen`, wait at the migration gate, run `work` (given the address
/// served), then stop serving and close the pool.
pub async fn host<R, W, F>(shell: Shell, ctx: Context, routes: R, work: W) -> anyhow::Result<()>
where
    R: FnOnce(&Context) -> anyhow::Result<Option<Routes>>,
    W: FnOnce(Context, SocketAddr) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    let routes = routes(&ctx)?;
    let listen = shell.listen;
    let endpoint = health::serve_default_or_free(
        listen,
        shell.default_port,
        ctx.health.clone(),
        routes,
        shell.workers,
    )
    .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    tracing::info!(component = shell.component, listen = %endpoint.addr, "serving HTTP");
    let db = ctx.db.clone();
    let open = crate::gate::wait(
        &ctx.db,
        &ctx.settings.migrate_marker,
        &ctx.health,
        &ctx.shutdown,
    )
    .await;
    let outcome = if open {
        work(ctx, endpoint.addr).await
    } else {
        Ok(())
    };
    endpoint.stop().await;
    db.close().await;
    outcome
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

/// The whole life of a daemon process. `about` is its `--help` text.
pub fn main<S, W, F>(spec: Spec<S>, about: &'static str, work: W) -> ExitCode
where
    S: Clone + Send + 'static,
    W: FnOnce(Context<S>) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    main_with(spec, about, Vec::new(), work)
}

/// [`main`] for a binary that also runs commands of its own (`ingest-worker sync`): it handles
/// them before calling this; `extra` describes them so `--help` lists them.
pub fn main_with<S, W, F>(
    spec: Spec<S>,
    about: &'static str,
    extra: Vec<clap::Command>,
    work: W,
) -> ExitCode
where
    S: Clone + Send + 'static,
    W: FnOnce(Context<S>) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    crate::memory::limit_malloc_arenas();
    let cli = match Cli::try_parse_with(about, extra) {
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
    let fail = |reason: String| bootstrap::refuse(&bin, &reason);
    let settings = match bootstrap::settings(&bin) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let flag = cli.listen.as_deref();
    let listen = match settings.listen_addr(flag, spec.listen_env, spec.default_listen) {
        Ok(a) => a,
        Err(e) => return fail(e.to_string()),
    };
    let queue_config = match settings.queue() {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
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
    let config = match (spec.settings)(&settings) {
        Ok(c) => c,
        Err(e) => return fail(crate::report::anyhow_line(&e)),
    };
    let shell = Shell {
        component: spec.component,
        listen,
        // Only a health-only daemon moves off a taken default port; the web's port is its UI.
        default_port: settings.listen_is_default(flag, spec.listen_env) && spec.http.is_none(),
        workers: match settings.http_workers(spec.http.is_some()) {
            Ok(n) => n,
            Err(e) => return fail(e.to_string()),
        },
    };
    let _log = bootstrap::start_logging(&settings, spec.component);
    let rt = match bootstrap::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    // The pool spawns its maintenance task, so it is opened inside the runtime.
    let db = match rt.block_on(async { store::connect(&settings.db) }) {
        Ok(db) => db,
        Err(e) => return fail(crate::report::one_line(&e)),
    };
    let result = rt.block_on(async move {
        let shutdown = Shutdown::new();
        shutdown::on_signals(shutdown.clone(), settings.shutdown_grace);
        // No I/O here: the broker is connected on first use and reconnected after losses.
        let queue: Arc<dyn JobQueue> = Arc::new(AmqpQueue::new(queue_config.clone())?);
        let ctx = Context::new(spec.component, settings, queue_config, db, queue, shutdown);
        ctx.health
            .add_check("broker", queue::readiness_check(ctx.queue.clone()));
        let routes_config = config.clone();
        host(
            shell,
            ctx,
            |ctx| {
                spec.http
                    .map(|app| app(&ctx.with(routes_config)))
                    .transpose()
            },
            |ctx, _| work(ctx.with(config)),
        )
        .await
    });
    match result {
        Ok(()) => {
            tracing::info!(component = spec.component, "stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let line = crate::report::anyhow_line(&e);
            tracing::error!(component = spec.component, "{line}");
            eprintln!("{bin}: {line}");
            ExitCode::FAILURE
        }
    }
}

impl Cli {
    fn try_parse_with(about: &'static str, extra: Vec<clap::Command>) -> Result<Self, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let cmd = Self::command()
            .about(about)
            .version(env!("CARGO_PKG_VERSION"))
            .subcommands(extra);
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
