//! The HTTP server (actix-web): `/api/v1/...` behind auth and faults, `POST /oauth/token`, and
//! the unauthenticated admin endpoints under `/_sim/`. `Sim::start` binds first, so a caller can
//! ask for port 0 and read the real address from the handle.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use chrono::{DateTime, NaiveDateTime, Utc};

use crate::auth::{Auth, AuthResult};
use crate::clock::Clock;
use crate::config::{NextLinkStyle, SimConfig};
use crate::faults::{Fault, FaultSpec, Faults};
use crate::reply::{ApiError, Reply};
use crate::stats::{SimStats, Stats, TOKEN_LABEL, UNKNOWN_LABEL};
use crate::tenant::{RequestCtx, Tenant, parse_route};
use crate::truth::{self, TimeField, Truth};

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

pub(crate) struct Shared {
    pub tenant: Tenant,
    pub clock: Clock,
    pub auth: Auth,
    pub faults: Faults,
    pub latency_ms: AtomicU64,
    pub stats: Stats,
    pub next_link: NextLinkStyle,
    pub public_url: Option<String>,
    pub admin: bool,
}

impl Shared {
    pub(crate) fn new(cfg: &SimConfig) -> Result<Shared, SimError> {
        let now = cfg.clock.now_ms();
        let tenant = Tenant::new(cfg, now).map_err(SimError::Config)?;
        Ok(Shared {
            tenant,
            clock: cfg.clock.clone(),
            auth: Auth::new(cfg, now),
            faults: Faults::new(),
            latency_ms: AtomicU64::new(cfg.latency.as_millis() as u64),
            stats: Stats::new(),
            next_link: cfg.next_link,
            public_url: cfg
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            admin: cfg.admin,
        })
    }

    pub(crate) fn inject(&self, spec: FaultSpec) {
        if spec.fault == Fault::ExpireTokens {
            self.stats.fault("expire_tokens");
            self.auth.expire_all();
        } else {
            self.faults.add(spec);
        }
    }

    pub(crate) fn truth(
        &self,
        field: TimeField,
        from: Option<i64>,
        to: Option<i64>,
        limit: usize,
    ) -> Truth {
        truth::compute(&self.tenant, self.clock.now_ms(), field, from, to, limit)
    }
}

/// The dup'd socket of a connection, so a fault can cut it without sending a response.
#[cfg(unix)]
struct ConnFd(std::os::fd::OwnedFd);

/// Starts simulated tenants.
pub struct Sim;

impl Sim {
    /// Binds `addr` (e.g. `127.0.0.1:0`) and serves until `SimHandle::stop`. Must be called
    /// inside a Tokio runtime.
    pub async fn start(config: SimConfig, addr: &str) -> Result<SimHandle, SimError> {
        let shared = Arc::new(Shared::new(&config)?);
        let listen_err = |source| SimError::Listen {
            addr: addr.to_string(),
            source,
        };
        let listener = std::net::TcpListener::bind(addr).map_err(listen_err)?;
        let local = listener.local_addr().map_err(listen_err)?;
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                // gzip when the client asks for it (Accept-Encoding), like a real tenant's gateway.
                .wrap(actix_web::middleware::Compress::default())
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(entry))
        })
        .workers(config.workers)
        .disable_signals()
        .shutdown_timeout(1)
        .on_connect(|conn, ext| {
            #[cfg(unix)]
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                use std::os::fd::AsFd;
                if let Ok(fd) = tcp.as_fd().try_clone_to_owned() {
                    ext.insert(ConnFd(fd));
                }
            }
            #[cfg(not(unix))]
            let _ = (conn, ext);
        })
        .listen(listener)
        .map_err(listen_err)?
        .run();
        let server_handle = server.handle();
        let task = tokio::spawn(server);
        Ok(SimHandle {
            shared,
            addr: local,
            server: server_handle,
            task,
        })
    }
}

/// A running simulated tenant.
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (or the configured public URL).
    pub fn base_url(&self) -> String {
        match &self.shared.public_url {
            Some(u) => u.clone(),
            None => format!("http://{}", self.addr),
        }
    }

    /// The service root: `<base>/api/v1`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v1", self.base_url())
    }

    /// The OAuth token endpoint: `<base>/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }

    /// Injects a fault for every path.
    pub fn inject(&self, fault: Fault) {
        self.shared.inject(FaultSpec::everywhere(fault));
    }

    /// Injects a fault for paths starting with `prefix` (relative to the service root unless it
    /// starts with `/`).
    pub fn inject_on(&self, prefix: &str, fault: Fault) {
        self.shared.inject(FaultSpec::on(prefix, fault));
    }

    /// Removes every pending fault (latency stays as set).
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Pending faults with their remaining counts.
    pub fn active_faults(&self) -> Vec<FaultSpec> {
        self.shared.faults.list()
    }

    /// Latency added to every API and token request from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.shared
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
    }

    /// Invalidates every OAuth token issued so far.
    pub fn expire_tokens(&self) {
        self.shared
            .inject(FaultSpec::everywhere(Fault::ExpireTokens));
    }

    /// Every message that exists now (ordered by LogEnd). Can be large: prefer `truth_between`.
    /// Switches what `JmsBrokers('Broker1')` and `DataStores` show (also `POST /_sim/resources`).
    pub fn set_resources(&self, mode: crate::ResourceMode) {
        self.shared.tenant.resources.set_mode(mode);
    }

    pub fn truth(&self) -> Truth {
        self.shared.truth(TimeField::LogEnd, None, None, usize::MAX)
    }

    /// The messages whose LogEnd is in `[from, to)` now.
    pub fn truth_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Truth {
        self.shared.truth(
            TimeField::LogEnd,
            Some(from.timestamp_millis()),
            Some(to.timestamp_millis()),
            usize::MAX,
        )
    }

    /// The messages whose `field` is in `[from, to)` now, at most `limit` of them listed.
    pub fn truth_query(
        &self,
        field: TimeField,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Truth {
        self.shared.truth(
            field,
            from.map(|d| d.timestamp_millis()),
            to.map(|d| d.timestamp_millis()),
            limit,
        )
    }

    /// The error texts of the newest `limit` messages with error information now, with their
    /// problem family (ground truth).
    pub fn error_samples(&self, limit: usize) -> Vec<crate::truth::ErrorSample> {
        self.shared.tenant.error_samples(self.now(), limit)
    }

    pub fn stats(&self) -> SimStats {
        self.shared.stats.snapshot()
    }

    /// The simulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    /// The tenant model, for answering requests in-process.
    pub fn tenant(&self) -> &Tenant {
        &self.shared.tenant
    }

    /// Stops serving and waits for the server to finish.
    pub async fn stop(self) {
        self.server.stop(true).await;
        let _ = self.task.await;
    }
}

// ---- request handling -------------------------------------------------------------------------

async fn entry(req: HttpRequest, body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let path = req.uri().path();
    if path == "/api/v1" || path.starts_with("/api/v1/") {
        api(&req, &shared).await
    } else if path == "/oauth/token" {
        token(&req, &body, &shared).await
    } else if path.starts_with("/_sim/") && shared.admin {
        admin(&req, &body, &shared)
    } else {
        respond(
            ApiError::not_found(format!("Resource not found for the segment '{path}'"))
                .into_reply(),
        )
    }
}

fn respond(r: Reply) -> HttpResponse {
    let mut b = HttpResponse::build(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    b.insert_header((CONTENT_TYPE, r.content_type));
    for (k, v) in r.headers {
        b.insert_header((k, v));
    }
    b.body(r.body)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn latency(shared: &Shared) {
    let ms = shared.latency_ms.load(Ordering::Relaxed);
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// What a fault does to a request before it is served.
enum Before {
    Serve,
    /// Serve normally, then corrupt the body.
    Corrupt(Fault),
    Answer(HttpResponse),
}

async fn apply_fault(req: &HttpRequest, shared: &Shared, label: &str) -> Before {
    let Some(fault) = shared.faults.take(req.uri().path()) else {
        return Before::Serve;
    };
    shared.stats.fault(fault.name());
    let answered = |r: Reply| {
        shared.stats.request(label, r.status, 0);
        Before::Answer(respond(r))
    };
    match fault {
        Fault::Throttle {
            retry_after_secs, ..
        } => {
            let mut r = ApiError {
                status: 429,
                message: "Rate limit exceeded: too many requests for this tenant, retry later"
                    .into(),
            }
            .into_reply();
            r.headers
                .push(("Retry-After", retry_after_secs.to_string()));
            answered(r)
        }
        Fault::ServerError { status, .. } => answered(
            ApiError {
                status,
                message: format!("Simulated server error ({status})"),
            }
            .into_reply(),
        ),
        Fault::Slow { delay, .. } => {
            tokio::time::sleep(delay).await;
            Before::Serve
        }
        Fault::HtmlLogin { .. } => answered(Reply::bytes(
            "text/html;charset=utf-8",
            LOGIN_PAGE.as_bytes().to_vec(),
        )),
        Fault::ConnectionReset { .. } => {
            reset(req);
            shared.stats.request(label, 0, 0);
            Before::Answer(HttpResponse::new(StatusCode::BAD_GATEWAY))
        }
        Fault::Malformed { .. } | Fault::Truncated { .. } => Before::Corrupt(fault),
        Fault::ExpireTokens => Before::Serve,
    }
}

/// Cuts the connection under this request: the client gets no response at all.
fn reset(req: &HttpRequest) {
    #[cfg(unix)]
    if let Some(ConnFd(fd)) = req.conn_data::<ConnFd>()
        && let Ok(dup) = fd.try_clone()
    {
        let stream = std::net::TcpStream::from(dup);
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
    #[cfg(not(unix))]
    let _ = req;
}

fn service_root(req: &HttpRequest, shared: &Shared) -> String {
    match &shared.public_url {
        Some(u) => format!("{u}/api/v1"),
        None => {
            let ci = req.connection_info();
            format!("{}://{}/api/v1", ci.scheme(), ci.host())
        }
    }
}

async fn api(req: &HttpRequest, shared: &Shared) -> HttpResponse {
    latency(shared).await;
    let path = req.uri().path();
    let rel = path.strip_prefix("/api/v1").unwrap_or("");
    let route = parse_route(rel);
    let label = route.as_ref().map(|r| r.label()).unwrap_or(UNKNOWN_LABEL);
    let corrupt = match apply_fault(req, shared, label).await {
        Before::Answer(resp) => return resp,
        Before::Corrupt(f) => Some(f),
        Before::Serve => None,
    };
    let now = shared.clock.now_ms();
    let roles = match shared.auth.check(header(req, "authorization"), now) {
        AuthResult::Ok { roles } => roles,
        AuthResult::Denied(challenge) => {
            shared.stats.request(label, 401, 0);
            return respond(Reply::unauthorized(challenge));
        }
    };
    let mut reply = if req.method() != actix_web::http::Method::GET
        && req.method() != actix_web::http::Method::HEAD
    {
        ApiError {
            status: 405,
            message: format!(
                "The simulated tenant is read-only: {} is not allowed",
                req.method()
            ),
        }
        .into_reply()
    } else {
        match route {
            Err(e) => e.into_reply(),
            Ok(route) if !roles.has(route.role()) => ApiError {
                status: 403,
                message: format!(
                    "Forbidden: the user lacks the role {:?} needed for {}",
                    route.role(),
                    route.label()
                ),
            }
            .into_reply(),
            Ok(route) => {
                let root = service_root(req, shared);
                let ctx = RequestCtx {
                    root: &root,
                    now_ms: now,
                    next_link: shared.next_link,
                };
                shared
                    .tenant
                    .serve(&route, req.uri().query().unwrap_or(""), &ctx)
                    .unwrap_or_else(|e| e.into_reply())
            }
        }
    };
    if header(req, "x-csrf-token").is_some_and(|v| v.eq_ignore_ascii_case("fetch")) {
        reply
            .headers
            .push(("X-CSRF-Token", "SimulatedCsrfToken0000000000000000".into()));
    }
    shared.stats.request(label, reply.status, reply.mpl_records);
    match corrupt {
        Some(Fault::Truncated { .. }) => truncated(reply),
        Some(_) => {
            // Half the body, then bytes no JSON parser accepts (a raw NUL is never valid JSON).
            let half = reply.body.len() / 2;
            reply.body.truncate(half);
            reply
                .body
                .extend_from_slice(b"\x00<<simulated corruption>>");
            respond(reply)
        }
        None => respond(reply),
    }
}

/// Declares the full length, sends half, waits so the half is flushed, then fails the body so
/// the server drops the connection.
struct TruncatedBody {
    full_len: u64,
    part: Option<Bytes>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl MessageBody for TruncatedBody {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.full_len)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        if let Some(part) = self.part.take() {
            return Poll::Ready(Some(Ok(part)));
        }
        let pause = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(50))));
        match pause.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::other(
                "simulated truncated response",
            )))),
        }
    }
}

fn truncated(reply: Reply) -> HttpResponse {
    let full = reply.body.len() as u64;
    let half = Bytes::copy_from_slice(&reply.body[..reply.body.len() / 2]);
    let mut b = HttpResponse::build(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK));
    b.insert_header((CONTENT_TYPE, reply.content_type));
    b.body(TruncatedBody {
        full_len: full,
        part: Some(half),
        pause: None,
    })
}

async fn token(req: &HttpRequest, body: &Bytes, shared: &Shared) -> HttpResponse {
    latency(shared).await;
    if let Before::Answer(resp) = apply_fault(req, shared, TOKEN_LABEL).await {
        return resp;
    }
    if req.method() != actix_web::http::Method::POST {
        let mut r = ApiError {
            status: 405,
            message: "Use POST for the token endpoint".into(),
        }
        .into_reply();
        r.headers.push(("Allow", "POST".into()));
        shared.stats.request(TOKEN_LABEL, 405, 0);
        return respond(r);
    }
    let now = shared.clock.now_ms();
    let reply = shared.auth.token_endpoint(
        header(req, "authorization"),
        req.uri().query().unwrap_or(""),
        body,
        now,
    );
    if reply.status == 200 {
        shared.stats.token_issued();
    }
    shared.stats.request(TOKEN_LABEL, reply.status, 0);
    respond(reply)
}

// ---- admin ------------------------------------------------------------------------------------

fn json_reply(v: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(serde_json::to_vec(v).unwrap_or_default())
}

fn admin_error(status: u16, msg: &str) -> HttpResponse {
    respond(
        ApiError {
            status,
            message: msg.to_string(),
        }
        .into_reply(),
    )
}

/// An admin time parameter: RFC 3339, a naive UTC `YYYY-MM-DDTHH:MM:SS[.fff]`, or epoch ms.
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .map(|dt| dt.and_utc().timestamp_millis())
}

fn admin(req: &HttpRequest, body: &Bytes, shared: &Shared) -> HttpResponse {
    use actix_web::http::Method;
    let path = req.uri().path();
    let method = req.method().clone();
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let param = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    match (path, method) {
        ("/_sim/truth", Method::GET) => {
            let mut times = [None, None];
            for (slot, name) in times.iter_mut().zip(["from", "to"]) {
                if let Some(v) = param(name) {
                    match parse_time(v) {
                        Some(ms) => *slot = Some(ms),
                        None => {
                            return admin_error(400, &format!("Invalid time for '{name}': {v}"));
                        }
                    }
                }
            }
            let field = match param("field") {
                None | Some("LogEnd") => TimeField::LogEnd,
                Some("LogStart") => TimeField::LogStart,
                Some(other) => {
                    return admin_error(
                        400,
                        &format!("field must be LogEnd or LogStart, not {other}"),
                    );
                }
            };
            let limit = match param("limit").map(str::parse::<usize>) {
                None => 100_000,
                Some(Ok(n)) => n,
                Some(Err(_)) => return admin_error(400, "limit must be a non-negative integer"),
            };
            json_reply(&shared.truth(field, times[0], times[1], limit))
        }
        ("/_sim/stats", Method::GET) => json_reply(&shared.stats.snapshot()),
        ("/_sim/faults", Method::GET) => {
            json_reply(&serde_json::json!({ "active": shared.faults.list() }))
        }
        ("/_sim/faults", Method::DELETE) => {
            shared.faults.clear();
            json_reply(&serde_json::json!({ "active": [] }))
        }
        ("/_sim/faults", Method::POST) => {
            // One fault or a list of them.
            let specs: Result<Vec<FaultSpec>, _> = serde_json::from_slice::<Vec<FaultSpec>>(body)
                .or_else(|_| serde_json::from_slice::<FaultSpec>(body).map(|s| vec![s]));
            match specs {
                Ok(specs) => {
                    for s in specs {
                        shared.inject(s);
                    }
                    json_reply(&serde_json::json!({ "active": shared.faults.list() }))
                }
                Err(e) => admin_error(400, &format!("Invalid fault: {e}")),
            }
        }
        ("/_sim/latency", Method::GET) => {
            json_reply(&serde_json::json!({ "ms": shared.latency_ms.load(Ordering::Relaxed) }))
        }
        ("/_sim/latency", Method::POST) => {
            #[derive(serde::Deserialize)]
            struct Latency {
                ms: u64,
            }
            match serde_json::from_slice::<Latency>(body) {
                Ok(l) => {
                    shared.latency_ms.store(l.ms, Ordering::SeqCst);
                    json_reply(&serde_json::json!({ "ms": l.ms }))
                }
                Err(e) => admin_error(400, &format!("Expected {{\"ms\": <number>}}: {e}")),
            }
        }
        ("/_sim/resources", Method::GET) => {
            json_reply(&serde_json::json!({ "mode": shared.tenant.resources.mode() }))
        }
        ("/_sim/resources", Method::POST) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Switch {
                mode: crate::ResourceMode,
            }
            match serde_json::from_slice::<Switch>(body) {
                Ok(s) => {
                    shared.tenant.resources.set_mode(s.mode);
                    json_reply(&serde_json::json!({ "mode": s.mode }))
                }
                Err(e) => admin_error(
                    400,
                    &format!(
                        "Expected {{\"mode\": \"normal\" | \"over_limits\" | \"no_jms\"}}: {e}"
                    ),
                ),
            }
        }
        ("/_sim/info", Method::GET) => {
            let g = &shared.tenant.traffic;
            let now = shared.clock.now_ms();
            json_reply(&serde_json::json!({
                "api_url": service_root(req, shared),
                "now": crate::clock::ms_to_datetime(now),
                "history_from": crate::clock::ms_to_datetime(g.start_ms(g.visible_from)),
                "messages_now": g.end_index(now).saturating_sub(g.visible_from),
                "iflows": shared.tenant.catalog.iflows.len(),
                "oauth": shared.auth.oauth_enabled(),
                "basic_user": shared.auth.basic_user(),
            }))
        }
        _ => admin_error(
            404,
            &format!("Unknown admin endpoint {} {path}", req.method()),
        ),
    }
}

const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Log On</title></head>\n<body class=\"sapUiBody\"><div id=\"logOnForm\"><h1>Log On</h1>\n<form id=\"logOnForm\" method=\"post\" action=\"/saml2/idp/sso\">\n<input type=\"hidden\" name=\"authenticity_token\" value=\"simulated\">\n<label for=\"j_username\">Email or User Name</label><input id=\"j_username\" name=\"j_username\" type=\"text\">\n<label for=\"j_password\">Password</label><input id=\"j_password\" name=\"j_password\" type=\"password\">\n<button type=\"submit\" id=\"logOnFormSubmit\">Log On</button>\n</form></div></body></html>\n";
