//! Liveness (`/healthz`), readiness (`/readyz`) and Prometheus text (`/metrics`). Readiness is false
//! until the migration gate has passed, and checks the database (and any registered dependency,
//! such as the broker) for real on every request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::{HttpResponse, web};
use futures::future::BoxFuture;
use store::Db;

/// A dependency check: `Ok` when usable, `Err(reason)` otherwise.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    component: String,
    started: Instant,
    db: Db,
    gate: Mutex<Result<(), String>>,
    marker: Mutex<Option<std::path::PathBuf>>,
    checks: Mutex<Vec<(String, Check)>>,
    /// Once cancelled, readiness is false ("shutting down").
    stopping: Mutex<Option<crate::shutdown::Shutdown>>,
    /// Shown with every readiness answer (see [`Health::warn`]).
    warnings: Mutex<Vec<String>>,
}

impl Health {
    pub fn new(component: &str, db: Db) -> Self {
        Self {
            inner: Arc::new(Inner {
                component: component.to_string(),
                started: Instant::now(),
                db,
                gate: Mutex::new(Err("starting".into())),
                marker: Mutex::new(None),
                checks: Mutex::new(Vec::new()),
                stopping: Mutex::new(None),
                warnings: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn component(&self) -> &str {
        &self.inner.component
    }

    /// Record why the daemon is not ready yet (the gate's current reason).
    pub fn set_waiting(&self, reason: impl Into<String>) {
        *lock(&self.inner.gate) = Err(reason.into());
    }

    /// The gate has opened. From now on readiness also rereads the marker, so a daemon left
    /// running after a newer `migrate` reports that it no longer matches the schema.
    pub fn set_gate_passed(&self, marker: &std::path::Path) {
        *lock(&self.inner.gate) = Ok(());
        *lock(&self.inner.marker) = Some(marker.to_path_buf());
    }

    /// Whether the migration gate has opened (cheap: no I/O). Routes that need the schema
    /// answer 503 until it has.
    pub fn gate_open(&self) -> bool {
        lock(&self.inner.gate).is_ok()
    }

    /// Not ready from the moment `shutdown` begins, so load balancers and orchestrators stop
    /// sending work at once.
    pub fn stop_on(&self, shutdown: &crate::shutdown::Shutdown) {
        *lock(&self.inner.stopping) = Some(shutdown.clone());
    }

    /// A setting that works but is probably not what was meant: readiness stays as it is, and
    /// its answer carries the warning.
    pub fn warn(&self, warning: impl Into<String>) {
        lock(&self.inner.warnings).push(warning.into());
    }

    pub fn add_check(&self, name: &str, check: Check) {
        lock(&self.inner.checks).push((name.to_string(), check));
    }

    /// `Ok` when ready; otherwise the first reason it is not.
    pub async fn readiness(&self) -> Result<(), String> {
        if lock(&self.inner.stopping)
            .as_ref()
            .is_some_and(|s| s.is_cancelled())
        {
            return Err("shutting down".into());
        }
        lock(&self.inner.gate).clone()?;
        let marker = lock(&self.inner.marker).clone();
        if let Some(path) = marker {
            let expected = store::schema::expected_version::<migration::Migrator>();
            match store::marker::read(&path) {
                Ok(Some(m)) if Some(&m.schema_version) == expected.as_ref() => {}
                Ok(Some(m)) => {
                    return Err(format!(
                        "the schema is now {}, this binary was built for {}; restart it with \
                         the matching version",
                        m.schema_version,
                        expected.unwrap_or_default()
                    ));
                }
                Ok(None) => return Err(format!("migration marker {} is gone", path.display())),
                Err(e) => return Err(e.to_string()),
            }
        }
        self.inner
            .db
            .ping()
            .await
            .map_err(|e| format!("database: {e}"))?;
        let checks: Vec<(String, Check)> = lock(&self.inner.checks).clone();
        for (name, check) in checks {
            check().await.map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the data half-written (plain assignments), so
    // a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"alive"}"#)
}

async fn readyz(health: web::Data<Health>) -> HttpResponse {
    let (mut res, mut body) = match health.readiness().await {
        Ok(()) => (
            HttpResponse::Ok(),
            serde_json::json!({ "ready": true, "component": health.component() }),
        ),
        Err(reason) => (
            HttpResponse::ServiceUnavailable(),
            serde_json::json!({
                "ready": false, "component": health.component(), "reason": reason
            }),
        ),
    };
    let warnings = lock(&health.inner.warnings).clone();
    if !warnings.is_empty() {
        body["warnings"] = serde_json::json!(warnings);
    }
    res.json(body)
}

async fn metrics(health: web::Data<Health>, req: actix_web::HttpRequest) -> HttpResponse {
    let facts = crate::metrics::EndpointFacts {
        component: health.component().to_string(),
        ready: health.readiness().await.is_ok(),
        uptime_secs: health.inner.started.elapsed().as_secs(),
        pool: health.inner.db.pool_stats(),
    };
    let accept = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (body, content_type) =
        crate::metrics::render(&facts, crate::metrics::wants_openmetrics(accept));
    HttpResponse::Ok().content_type(content_type).body(body)
}

/// The three routes, for any actix app (the web daemon mounts them beside its UI).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// A running HTTP endpoint; stop it with [`Endpoint::stop`].
pub struct Endpoint {
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Endpoint {
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

/// [`serve`] on `listen`; when that port is taken and `listen` is only the daemon's default (no
/// `--listen`, no `*_LISTEN`), on a free port of the same address instead, logged. Several
/// workers on one host then each get a health port without configuration.
pub fn serve_default_or_free(
    listen: SocketAddr,
    is_default: bool,
    health: Health,
    extra: Option<crate::daemon::Routes>,
    workers: usize,
) -> std::io::Result<Endpoint> {
    match serve(listen, health.clone(), extra.clone(), workers) {
        Err(e) if is_default && e.kind() == std::io::ErrorKind::AddrInUse => {
            let mut any = listen;
            any.set_port(0);
            let endpoint = serve(any, health, extra, workers)?;
            tracing::warn!(
                "the default port {listen} is taken (another daemon on this host?); serving \
                 health, readiness and metrics on {} instead (--listen chooses one)",
                endpoint.addr
            );
            Ok(endpoint)
        }
        other => other,
    }
}

/// Bind first (so a taken port fails at start, and tests can bind port 0), then serve the health
/// routes and, when given, the daemon's own.
pub fn serve(
    listen: SocketAddr,
    health: Health,
    extra: Option<crate::daemon::Routes>,
    workers: usize,
) -> std::io::Result<Endpoint> {
    let data = web::Data::new(health);
    let server = actix_web::HttpServer::new(move || {
        let extra = extra.clone();
        actix_web::App::new()
            .app_data(data.clone())
            .configure(routes)
            .configure(move |cfg| {
                if let Some(extra) = &extra {
                    extra(cfg);
                }
            })
    })
    .workers(workers.max(1))
    .disable_signals()
    .shutdown_timeout(5)
    .bind(listen)?;
    let addr = server.addrs().first().copied().unwrap_or(listen);
    let server = server.run();
    let handle = server.handle();
    Ok(Endpoint {
        addr,
        handle,
        task: tokio::spawn(server),
    })
}
