//! Collection end to end: a simulated tenant (the `cpi-sim` binary, driven through its admin
//! endpoints for faults, latency, statistics and ground truth), a tenant row pointing at it,
//! real `integramon-ingest-worker` processes, jobs over AMQP, and the comparison of what the
//! database holds with what the tenant has.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use domain::job::{JobEnvelope, JobType, RetryTiers, TenantRef};
use domain::secret::SecretKey;
use domain::tenant::{Auth, TenantSettings};
use queue::{AmqpQueue, JobQueue, QueueConfig};
use serde_json::{Value, json};
use store::repo::job_runs::{self, JobRun, JobState};
use store::repo::tenants;

use crate::private_pg::PrivateCluster;
use crate::proc::run;
use crate::{Proc, Target, bin, free_port, http_get, wait_for};

pub const SIM_USER: &str = "collector";
pub const SIM_PASSWORD: &str = "sim-pass-1";
pub const WORKER: &str = "integramon-ingest-worker";

/// Longest time a simulated message stays PROCESSING or RETRY (`--max-pending`). Short, so
/// that a range ending this long ago (plus a margin) no longer changes while a test runs.
const MAX_PENDING_SECS: i64 = 60;

/// Collection tests start several processes each and would starve one another on a small
/// machine: they take turns within a test binary.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// RFC 3339 with milliseconds and `Z`, as job parameters, the CLI and the simulator take it.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `[from, to)` cut into `parts` pieces, each widened by `overlap` on both sides (within the
/// range), so neighbouring jobs read some messages twice on purpose.
pub fn overlapping_ranges(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    parts: i32,
    overlap: chrono::Duration,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let step = (to - from) / parts;
    (0..parts)
        .map(|i| {
            let a = from + step * i;
            let b = if i == parts - 1 { to } else { a + step };
            ((a - overlap).max(from), (b + overlap).min(to))
        })
        .collect()
}

// ---- the simulated tenant ----------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub seed: u64,
    /// Messages per second.
    pub rate: f64,
    /// History present at start (`2h`).
    pub history: &'static str,
    pub latency_ms: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            seed: 7,
            rate: 1.0,
            history: "2h",
            latency_ms: 0,
        }
    }
}

/// A `cpi-sim` process on a free port, killed when dropped.
pub struct Sim {
    proc: Proc,
    addr: String,
}

impl Sim {
    pub fn start(o: &SimOptions) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let (seed, rate, latency) = (
            o.seed.to_string(),
            o.rate.to_string(),
            o.latency_ms.to_string(),
        );
        let args = [
            "--listen",
            addr.as_str(),
            "--user",
            SIM_USER,
            "--password",
            SIM_PASSWORD,
            "--seed",
            &seed,
            "--rate",
            &rate,
            "--history",
            o.history,
            "--max-pending",
            &format!("{MAX_PENDING_SECS}s"),
            "--latency-ms",
            &latency,
        ];
        let env = [("RUST_LOG".to_string(), "warn".to_string())];
        let mut proc = Proc::spawn(&bin("cpi-sim"), &args, &env);
        wait_for(60, "cpi-sim to answer", || {
            assert!(proc.is_running(), "cpi-sim exited:\n{}", proc.output());
            http_get(&addr, "/_sim/info").filter(|(code, _)| *code == 200)
        });
        Self { proc, addr }
    }

    /// What a service key would give: the host, without `/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn api_url(&self) -> String {
        format!("{}/api/v1", self.base_url())
    }

    pub fn output(&self) -> String {
        self.proc.output()
    }

    /// An admin call; panics unless it answers 2xx with JSON.
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(Value::to_string);
        let (status, text) = http(&self.addr, method, path, body.as_deref())
            .unwrap_or_else(|| panic!("cpi-sim did not answer {method} {path}"));
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
    }

    /// One fault or a list, as `POST /_sim/faults` takes them.
    pub fn inject(&self, faults: Value) {
        self.admin("POST", "/_sim/faults", Some(&faults));
    }

    pub fn clear_faults(&self) {
        self.admin("DELETE", "/_sim/faults", None);
    }

    /// Faults not used up yet.
    pub fn pending_faults(&self) -> Vec<Value> {
        self.admin("GET", "/_sim/faults", None)["active"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn set_latency(&self, ms: u64) {
        self.admin("POST", "/_sim/latency", Some(&json!({ "ms": ms })));
    }

    pub fn stats(&self) -> Value {
        self.admin("GET", "/_sim/stats", None)
    }

    fn info_time(&self, field: &str) -> DateTime<Utc> {
        let info = self.admin("GET", "/_sim/info", None);
        let text = info[field].as_str().unwrap_or_default();
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|e| panic!("/_sim/info {field} = {text:?}: {e}"))
            .with_timezone(&Utc)
    }

    /// A range on LogEnd that no longer changes: from where the history begins to a little more
    /// than the longest pending time ago. Every message ending in it is final, and no message
    /// can still move into it, so the database must end up holding exactly its truth.
    pub fn settled_range(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let whole = |t: DateTime<Utc>| DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t);
        let from = whole(self.info_time("history_from"));
        let to = whole(self.info_time("now") - chrono::Duration::seconds(MAX_PENDING_SECS + 30));
        assert!(from < to, "no settled history: {from} .. {to}");
        (from, to)
    }

    /// The messages whose LogEnd is in `[from, to)` now.
    pub fn truth(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Truth {
        let path = format!(
            "/_sim/truth?from={}&to={}&limit=10000000",
            iso(from),
            iso(to)
        );
        let t = self.admin("GET", &path, None);
        assert_eq!(t["truncated"], false, "truth was cut");
        let messages: BTreeMap<String, TruthMessage> = t["messages"]
            .as_array()
            .expect("truth messages")
            .iter()
            .map(|m| {
                let text = |k: &str| m[k].as_str().unwrap_or_default().to_string();
                (
                    text("message_guid"),
                    TruthMessage {
                        status: text("status"),
                        correlation_id: text("correlation_id"),
                        headers: m["custom_headers"].as_u64().expect("custom_headers"),
                        runs: m["runs"].as_u64().expect("runs"),
                        has_error: m["has_error_information"].as_bool().expect("error flag"),
                    },
                )
            })
            .collect();
        assert_eq!(
            Some(messages.len() as u64),
            t["total"].as_u64(),
            "duplicate GUIDs in the truth"
        );
        Truth { from, to, messages }
    }
}

/// One message as the tenant has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthMessage {
    pub status: String,
    pub correlation_id: String,
    pub headers: u64,
    pub runs: u64,
    pub has_error: bool,
}

impl TruthMessage {
    /// The statuses whose details the workers fetch by default (`INGEST_DETAILS=problems`).
    pub fn wants_details(&self) -> bool {
        matches!(self.status.as_str(), "FAILED" | "ESCALATED" | "RETRY")
    }
}

/// The tenant's messages in a range, by GUID.
#[derive(Debug, Clone)]
pub struct Truth {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub messages: BTreeMap<String, TruthMessage>,
}

impl Truth {
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn headers(&self) -> u64 {
        self.messages.values().map(|m| m.headers).sum()
    }
}

/// A bare HTTP/1.0 request (no client library needed for the admin endpoints).
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let body = body.unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split_whitespace().nth(1)?.parse().ok()?;
    let (_, body) = resp.split_once("\r\n\r\n")?;
    Some((status, body.to_string()))
}

// ---- the database ------------------------------------------------------------------------------

/// Where the workers write: the machine's PostgreSQL or a SQLite file ([`Target`]), or a
/// PostgreSQL cluster of the test's own that can be stopped and started.
pub enum Database {
    Target(Target),
    Private {
        cluster: PrivateCluster,
        data: tempfile::TempDir,
    },
}

impl Database {
    pub fn sqlite() -> Self {
        Self::Target(Target::sqlite())
    }

    pub fn postgres() -> Self {
        Self::Target(Target::postgres())
    }

    pub fn private_postgres() -> Self {
        Self::Private {
            cluster: PrivateCluster::start(Default::default()),
            data: crate::temp_dir(),
        }
    }

    /// Environment for a binary using this database.
    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Self::Target(t) => t.env(),
            Self::Private { cluster, data } => cluster.env(data.path()),
        }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        match self {
            Self::Target(t) => t.data_dir(),
            Self::Private { data, .. } => data.path(),
        }
    }

    pub fn store_settings(&self) -> store::DbSettings {
        match self {
            Self::Target(t) => t.store_settings(),
            Self::Private { cluster, .. } => {
                let mut s = store::DbSettings::postgres(
                    "127.0.0.1",
                    cluster.port(),
                    crate::private_pg::DB_NAME,
                    crate::private_pg::SUPERUSER,
                );
                s.pool.max = 2;
                s.connect_timeout = Duration::from_secs(2);
                s
            }
        }
    }

    /// SQL through the backend's own client; rows as lines, columns separated by `|`.
    pub fn sql(&self, sql: &str) -> String {
        match self {
            Self::Target(t) => t.sql(sql),
            Self::Private { cluster, .. } => cluster.psql(sql),
        }
    }

    pub fn cluster(&mut self) -> &mut PrivateCluster {
        match self {
            Self::Private { cluster, .. } => cluster,
            Self::Target(_) => panic!("not a private cluster"),
        }
    }

    /// Run `integramon-migrate` on it.
    pub fn migrate(&self) {
        let (status, out) = run(&bin("integramon-migrate"), &[], &self.env(), 120);
        assert!(status.success(), "migrate failed:\n{out}");
    }

    /// Messages stored for a tenant.
    pub fn message_count(&self, tenant: i64) -> u64 {
        self.count(&format!(
            "SELECT count(*) FROM message_logs WHERE tenant_id = {tenant}"
        ))
    }

    /// The database holds the tenant's messages exactly once each: the same GUIDs as the truth,
    /// no duplicates, the same statuses, every custom header once, and correlation counts that
    /// match the messages sharing each correlation id.
    pub fn assert_matches_truth(&self, tenant: i64, truth: &Truth) {
        assert!(!truth.is_empty(), "an empty truth proves nothing");
        let (rows, distinct) = {
            let out = self.sql(&format!(
                "SELECT count(*), count(DISTINCT message_guid) FROM message_logs \
                 WHERE tenant_id = {tenant}"
            ));
            let (a, b) = out.split_once('|').expect("two counts");
            (
                a.parse::<u64>().expect("count"),
                b.parse::<u64>().expect("count"),
            )
        };
        assert_eq!(rows, distinct, "a message is stored more than once");

        let stored: HashMap<String, Stored> = self
            .sql(&format!(
                "SELECT m.message_guid, m.status, \
                 (SELECT count(*) FROM custom_header_properties h WHERE h.message_id = m.id), \
                 coalesce(m.details_status, ''), \
                 (SELECT count(*) FROM message_runs r WHERE r.message_id = m.id), \
                 (SELECT count(*) FROM message_errors e WHERE e.message_id = m.id) \
                 FROM message_logs m WHERE m.tenant_id = {tenant}"
            ))
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let cols: Vec<&str> = l.split('|').collect();
                assert_eq!(cols.len(), 6, "{l}");
                let n = |i: usize| cols[i].parse::<u64>().expect("count");
                let row = Stored {
                    status: cols[1].to_string(),
                    headers: n(2),
                    details_status: cols[3].to_string(),
                    runs: n(4),
                    errors: n(5),
                };
                (cols[0].to_string(), row)
            })
            .collect();
        let missing: Vec<&String> = truth
            .messages
            .keys()
            .filter(|g| !stored.contains_key(*g))
            .collect();
        let extra: Vec<&String> = stored
            .keys()
            .filter(|g| !truth.messages.contains_key(*g))
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "stored {} messages, the tenant has {} in [{}, {}): {} missing (e.g. {:?}), \
             {} not in the truth (e.g. {:?})",
            stored.len(),
            truth.len(),
            iso(truth.from),
            iso(truth.to),
            missing.len(),
            &missing[..missing.len().min(5)],
            extra.len(),
            &extra[..extra.len().min(5)]
        );
        assert_eq!(rows, truth.len() as u64);
        let wrong: Vec<String> = truth
            .messages
            .iter()
            .filter_map(|(guid, t)| {
                let s = &stored[guid];
                (s.status != t.status || s.headers != t.headers).then(|| {
                    format!(
                        "{guid}: stored {} with {} headers, tenant has {} with {}",
                        s.status, s.headers, t.status, t.headers
                    )
                })
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{} of {} messages differ from the tenant, e.g.:\n{}",
            wrong.len(),
            truth.len(),
            wrong[..wrong.len().min(10)].join("\n")
        );
        // The details of every problem message: fetched for its status, each run once, the
        // error information when the tenant has it.
        let lacking: Vec<String> = truth
            .messages
            .iter()
            .filter(|(_, t)| t.wants_details())
            .filter_map(|(guid, t)| {
                let s = &stored[guid];
                (s.details_status != t.status || s.runs != t.runs || s.errors != u64::from(t.has_error))
                    .then(|| {
                        format!(
                            "{guid} ({}): details for {:?}, {} runs, {} error rows; tenant has {} runs, \
                             error information: {}",
                            t.status, s.details_status, s.runs, s.errors, t.runs, t.has_error
                        )
                    })
            })
            .collect();
        assert!(
            lacking.is_empty(),
            "{} of {} problem messages lack their details, e.g.:\n{}",
            lacking.len(),
            truth
                .messages
                .values()
                .filter(|t| t.wants_details())
                .count(),
            lacking[..lacking.len().min(10)].join("\n")
        );
        let header_rows = self.count(&format!(
            "SELECT count(*) FROM custom_header_properties WHERE tenant_id = {tenant}"
        ));
        assert_eq!(header_rows, truth.headers(), "custom header rows");

        let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
        for m in truth
            .messages
            .values()
            .filter(|m| !m.correlation_id.is_empty())
        {
            *expected.entry(m.correlation_id.as_str()).or_default() += 1;
        }
        let counted: BTreeMap<String, u64> = self
            .sql(&format!(
                "SELECT correlation_id, message_count FROM correlations \
                 WHERE tenant_id = {tenant} AND message_count > 0"
            ))
            .lines()
            .filter_map(|l| {
                let (id, n) = l.split_once('|')?;
                Some((id.to_string(), n.parse().ok()?))
            })
            .collect();
        let off: Vec<String> = expected
            .iter()
            .filter(|(id, n)| counted.get(**id) != Some(*n))
            .map(|(id, n)| format!("{id}: {n} messages, counted {:?}", counted.get(*id)))
            .chain(
                counted
                    .iter()
                    .filter(|(id, _)| !expected.contains_key(id.as_str()))
                    .map(|(id, n)| format!("{id}: no messages, counted {n}")),
            )
            .collect();
        assert!(
            off.is_empty(),
            "{} correlation counts are off, e.g.:\n{}",
            off.len(),
            off[..off.len().min(10)].join("\n")
        );
    }

    fn count(&self, sql: &str) -> u64 {
        let out = self.sql(sql);
        out.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{sql}: {e}: {out:?}"))
    }
}

/// One stored message, as the comparison reads it.
struct Stored {
    status: String,
    headers: u64,
    /// The status its details were fetched for (empty: never).
    details_status: String,
    runs: u64,
    errors: u64,
}

// ---- the world of one test: database, queues, tenants, workers ---------------------------------

/// Retry tiers of the workers and the test's own publisher (they name the retry queues, so both
/// sides must agree for the clean-up to remove them).
const RETRY_DELAYS: &str = "1s,2s";

pub struct World {
    pub db: store::Db,
    pub queue: AmqpQueue,
    pub prefix: String,
    pub amqp_url: String,
    secret: SecretKey,
    pub rt: tokio::runtime::Runtime,
    // Last: the database outlives every connection to it.
    pub database: Database,
}

/// The shared broker, unless the environment names another.
pub fn shared_amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| queue::config::DEFAULT_URL.to_string())
}

impl World {
    /// Migrate the database, connect to it, and prepare queues with a prefix of this test's
    /// own on the broker at `amqp_url`.
    pub fn new(database: Database, amqp_url: &str) -> Self {
        store::install_tls_provider();
        database.migrate();
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let db = rt
            .block_on(async { store::connect(&database.store_settings()) })
            .expect("connecting to the test database");
        let prefix = format!(
            "imt-col-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let queue = AmqpQueue::new(QueueConfig {
            url: amqp_url.to_string(),
            prefix: prefix.clone(),
            retry_tiers: RetryTiers::new(vec![Duration::from_secs(1), Duration::from_secs(2)])
                .expect("tiers"),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            connection_name: "integramon-collection-test".into(),
            ..QueueConfig::default()
        })
        .expect("queue config");
        if let Err(e) = rt.block_on(queue.declare()) {
            panic!("RabbitMQ is needed at {amqp_url} (guest/guest; .ci/run starts it): {e}");
        }
        Self {
            db,
            queue,
            prefix,
            amqp_url: amqp_url.to_string(),
            secret: SecretKey::generate().expect("secret key"),
            rt,
            database,
        }
    }

    /// A tenant with Basic auth and its password sealed with the workers' key.
    pub fn create_tenant(&self, name: &str, api_url: &str, user: &str, password: &str) -> i64 {
        let settings = TenantSettings::new(
            name,
            api_url,
            Auth::Basic {
                username: user.into(),
            },
        );
        settings.validate().expect("valid tenant settings");
        let sealed = domain::secret::seal(&self.secret, password).expect("sealing");
        self.rt
            .block_on(tenants::create(&self.db, &settings, Some(&sealed)))
            .expect("creating the tenant")
            .id
    }

    /// Environment of a worker (or the one-shot command) on this world's database and queues.
    pub fn worker_env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.database.env();
        let key = self.secret.to_base64();
        let ours = [
            ("AMQP_URL", self.amqp_url.as_str()),
            ("AMQP_PREFIX", self.prefix.as_str()),
            ("AMQP_RETRY_DELAYS", RETRY_DELAYS),
            ("AMQP_MAX_ATTEMPTS", "3"),
            ("AMQP_RECONNECT_MAX", "2s"),
            ("CPI_RATE_LIMITS", "off"),
            ("SECRET_KEY", key.as_str()),
            ("RUST_LOG", "info"),
        ];
        for (k, v) in ours.iter().chain(extra) {
            env.retain(|(ek, _)| ek != k);
            env.push((k.to_string(), v.to_string()));
        }
        env
    }

    /// Start a worker; it is not consuming yet when this returns (see
    /// [`wait_consumers`](Self::wait_consumers)).
    pub fn worker(&self, extra: &[(&str, &str)]) -> Worker {
        let addr = format!("127.0.0.1:{}", free_port());
        let proc = Proc::spawn(&bin(WORKER), &["--listen", &addr], &self.worker_env(extra));
        Worker { proc, addr }
    }

    /// Wait until `n` consumers are attached to the hot-messages queue, so jobs published next
    /// are shared out among all of them.
    pub fn wait_consumers(&self, workers: &mut [Worker], n: u32) {
        let queue_name = self.queue_name(&JobType::MessagesHot);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            for w in workers.iter_mut() {
                assert!(w.proc.is_running(), "a worker exited:\n{}", w.proc.output());
            }
            let consumers = self
                .rt
                .block_on(self.queue.depths())
                .ok()
                .and_then(|d| d.into_iter().find(|q| q.queue == queue_name))
                .map_or(0, |q| q.consumers);
            if consumers >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {consumers} of {n} workers consume after 90 s:\n{}",
                workers
                    .iter()
                    .map(|w| w.tail(30))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn queue_name(&self, job_type: &JobType) -> String {
        job_type.queue_name(&self.prefix).expect("known job type")
    }

    pub fn publish(&self, job: &JobEnvelope) {
        self.rt
            .block_on(self.queue.publish(job))
            .unwrap_or_else(|e| panic!("publishing {}: {e}", job.job_id));
    }

    /// A hot-messages job reading exactly `[from, to)`; returns its id.
    pub fn publish_range(&self, tenant: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
        let job = JobEnvelope::new(
            JobType::MessagesHot,
            TenantRef::Id(tenant),
            json!({ "from": iso(from), "to": iso(to) }),
            Utc::now(),
        );
        self.publish(&job);
        job.job_id
    }

    /// The run of a job, `None` before a worker has seen it (or while the database is away).
    pub fn run(&self, job_id: &str) -> Option<JobRun> {
        self.rt
            .block_on(job_runs::get_run(&self.db, job_id))
            .ok()
            .flatten()
    }

    /// Wait until every job's run has ended (succeeded, failed or dead); panics after `secs`
    /// with the runs and the workers' last log lines.
    pub fn wait_runs(&self, ids: &[String], secs: u64, workers: &[&Worker]) -> Vec<JobRun> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let runs: Vec<Option<JobRun>> = ids.iter().map(|id| self.run(id)).collect();
            if runs.iter().all(|r| r.as_ref().is_some_and(is_final)) {
                return runs.into_iter().flatten().collect();
            }
            if Instant::now() > deadline {
                let states: Vec<String> = ids
                    .iter()
                    .zip(&runs)
                    .map(|(id, r)| match r {
                        Some(r) => format!(
                            "{id}: {} attempt {} {:?}",
                            r.state,
                            r.attempt,
                            r.error.as_deref().unwrap_or_default()
                        ),
                        None => format!("{id}: no run"),
                    })
                    .collect();
                panic!(
                    "jobs not finished after {secs}s:\n{}\n{}",
                    states.join("\n"),
                    workers
                        .iter()
                        .map(|w| w.tail(40))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn message_count(&self, tenant: i64) -> u64 {
        self.database.message_count(tenant)
    }

    pub fn assert_matches_truth(&self, tenant: i64, truth: &Truth) {
        self.database.assert_matches_truth(tenant, truth);
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let (queue, db) = (self.queue.clone(), self.db.clone());
        // Bounded: the broker may be a private node that is already gone.
        self.rt.block_on(async move {
            let _ = tokio::time::timeout(Duration::from_secs(15), queue.delete_topology()).await;
            queue.close().await;
            db.close().await;
        });
    }
}

/// A run that will not change any more by itself.
pub fn is_final(run: &JobRun) -> bool {
    matches!(
        run.state,
        JobState::Succeeded | JobState::Failed | JobState::Dead
    )
}

/// Sum of a counter over the runs' summaries (`inserted`, `records`, …).
pub fn summed(runs: &[JobRun], key: &str) -> u64 {
    runs.iter()
        .filter_map(|r| r.counts.as_ref()?.get(key)?.as_u64())
        .sum()
}

/// The workers that ran these jobs (as recorded on their runs).
pub fn ran_on(runs: &[JobRun]) -> BTreeSet<String> {
    runs.iter().filter_map(|r| r.worker.clone()).collect()
}

/// An `integramon-ingest-worker` process and its health endpoint.
pub struct Worker {
    pub proc: Proc,
    pub addr: String,
}

impl Worker {
    /// The name its runs carry: `<host>-<pid>`.
    pub fn ran(&self, run: &JobRun) -> bool {
        run.worker
            .as_deref()
            .is_some_and(|w| w.ends_with(&format!("-{}", self.proc.pid())))
    }

    /// `/readyz` status, `None` when nothing answers.
    pub fn readyz(&self) -> Option<u16> {
        http_get(&self.addr, "/readyz").map(|(code, _)| code)
    }

    pub fn output(&self) -> String {
        self.proc.output()
    }

    /// The last `n` lines of its log, headed by its pid.
    pub fn tail(&self, n: usize) -> String {
        self.proc.tail(n)
    }
}
