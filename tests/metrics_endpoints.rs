//! `/metrics` of every daemon, scraped over HTTP after real work and parsed by the Prometheus
//! project's own Python parsers (`prometheus_client`, from PyPI, installed into a venv by
//! `tests/prometheus/setup-venv.sh`; the test fails if it cannot be installed): the text format
//! 0.0.4 by default, OpenMetrics 1.0 when asked for in `Accept`.
//!
//! - Multi-process, PostgreSQL and RabbitMQ (127.0.0.1), a `cpi-sim` tenant: ingest worker,
//!   metrics, controller, archiver and web, each on its own endpoint. After a hot-messages job
//!   and metrics jobs ran, the families each daemon is responsible for are there with sensible
//!   values (jobs counted per type, job durations, CPI calls per tenant, queue depths, collection
//!   lag, database pool).
//! - `integramon up` (SQLite, in-process queue, the demo tenant): the same families on its one
//!   endpoint, and the storage API and page fed by the metrics daemon's snapshots.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use domain::job::{JobEnvelope, JobType, TenantRef};
use domain::tenant::{JobKind, JobSettings};
use integramon_tests::collect::{Database, SIM_PASSWORD, SIM_USER, Sim, SimOptions, World};
use integramon_tests::web::Web;
use integramon_tests::{Proc, bin, free_port, http_get, wait_for, workspace};
use serde_json::Value;

/// One sample as the Python parser gives it.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed scrape: family name -> (type, samples).
#[derive(Debug, Default)]
struct Scrape {
    families: BTreeMap<String, (String, Vec<Sample>)>,
}

impl Scrape {
    fn family(&self, name: &str) -> &(String, Vec<Sample>) {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("no family {name}; have {:?}", self.families.keys()))
    }

    fn kind(&self, name: &str) -> &str {
        &self.family(name).0
    }

    /// Samples named `sample` (within any family) whose labels include `labels`.
    fn samples(&self, sample: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.families
            .values()
            .flat_map(|(_, s)| s)
            .filter(|s| s.name == sample)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
            })
            .collect()
    }

    fn value(&self, sample: &str, labels: &[(&str, &str)]) -> f64 {
        let found = self.samples(sample, labels);
        assert_eq!(
            found.len(),
            1,
            "one {sample}{labels:?} expected, found {found:?} among {:?}",
            self.families.keys()
        );
        found[0].value
    }
}

/// The venv with the parser, set up once per test process (the tests here run in parallel).
fn venv() -> std::path::PathBuf {
    static VENV: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    VENV.get_or_init(setup_venv).clone()
}

fn setup_venv() -> std::path::PathBuf {
    let venv = workspace().join("target/prometheus-venv");
    let out = Command::new(workspace().join("tests/prometheus/setup-venv.sh"))
        .arg(&venv)
        .output()
        .expect("running tests/prometheus/setup-venv.sh");
    assert!(
        out.status.success(),
        "installing prometheus-client failed (PyPI must be reachable):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    venv
}

/// Parse scrapes (`name` -> body; a name ending in `.om` is OpenMetrics) with the Python parser.
fn parse(bodies: &[(String, String)]) -> BTreeMap<String, Scrape> {
    let venv = venv();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (name, body) in bodies {
        let path = dir.path().join(name);
        std::fs::write(&path, body).expect("writing a scrape");
        files.push(path);
    }
    let out = Command::new(venv.join("bin/python"))
        .arg(workspace().join("tests/prometheus/parse.py"))
        .args(&files)
        .output()
        .expect("running parse.py");
    assert!(
        out.status.success(),
        "a scrape does not parse: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        bodies
            .iter()
            .map(|(n, b)| format!("--- {n}\n{b}"))
            .collect::<String>()
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("parse.py prints JSON");
    let mut result = BTreeMap::new();
    for (path, (name, _)) in files.iter().zip(bodies) {
        let key = path.to_string_lossy().into_owned();
        let mut scrape = Scrape::default();
        for fam in json[&key].as_array().expect("families") {
            let samples = fam["samples"]
                .as_array()
                .expect("samples")
                .iter()
                .map(|s| Sample {
                    name: s["name"].as_str().unwrap_or_default().to_string(),
                    labels: s["labels"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().into()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    value: s["value"].as_f64().unwrap_or(f64::NAN),
                })
                .collect();
            scrape.families.insert(
                fam["name"].as_str().unwrap_or_default().to_string(),
                (
                    fam["type"].as_str().unwrap_or_default().to_string(),
                    samples,
                ),
            );
        }
        result.insert(name.clone(), scrape);
    }
    result
}

fn scrape_text(addr: &str) -> String {
    let (code, body) = http_get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(code, 200, "{body}");
    body
}

fn scrape_openmetrics(addr: &str) -> String {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .get(format!("http://{addr}/metrics"))
            .header(
                "Accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            )
            .send()
            .await
            .expect("GET /metrics");
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
        resp.text().await.expect("body")
    })
}

/// What every daemon's endpoint has: build info, readiness, uptime, the pool.
fn assert_common(s: &Scrape, component: &str) {
    assert_eq!(s.kind("integramon_build_info"), "gauge");
    assert_eq!(
        s.value("integramon_build_info", &[("component", component)]),
        1.0
    );
    assert_eq!(
        s.value("integramon_ready", &[("component", component)]),
        1.0
    );
    assert!(s.value("integramon_uptime_seconds", &[("component", component)]) >= 0.0);
    let max = s.value("integramon_db_pool_max_connections", &[]);
    assert!(max >= 1.0, "{max}");
    let in_use = s.value("integramon_db_pool_connections", &[("state", "in_use")]);
    let idle = s.value("integramon_db_pool_connections", &[("state", "idle")]);
    assert!(
        in_use >= 0.0 && idle >= 0.0 && in_use + idle <= max,
        "{in_use} {idle} {max}"
    );
}

/// Jobs of `job_type` counted, with a duration histogram that saw as many. `quiet`: no job can
/// finish during the scrape, so the counts agree exactly; otherwise a job finishing between the
/// families being written may show in one and not yet in the other.
fn assert_jobs(s: &Scrape, job_type: &str, quiet: bool) -> f64 {
    assert_eq!(s.kind("integramon_jobs_processed"), "counter");
    assert_eq!(s.kind("integramon_job_duration_seconds"), "histogram");
    let n = s.value("integramon_jobs_processed_total", &[("type", job_type)]);
    assert!(n >= 1.0, "{job_type}: {n}");
    let count = s.value(
        "integramon_job_duration_seconds_count",
        &[("type", job_type)],
    );
    let inf = s.value(
        "integramon_job_duration_seconds_bucket",
        &[("type", job_type), ("le", "+Inf")],
    );
    assert_eq!(inf, count, "{job_type}: +Inf bucket is the count");
    if quiet {
        assert_eq!(count, n, "{job_type}: one duration per job");
    } else {
        assert!(
            count >= 1.0 && (count - n).abs() <= 3.0,
            "{job_type}: {count} vs {n}"
        );
    }
    assert!(s.value("integramon_job_duration_seconds_sum", &[("type", job_type)]) > 0.0);
    n
}

fn metrics_job(tenant: TenantRef) -> JobEnvelope {
    JobEnvelope::new(JobType::Metrics, tenant, serde_json::json!({}), Utc::now())
}

struct Daemon {
    name: &'static str,
    component: &'static str,
    addr: String,
    proc: Proc,
}

#[test]
fn every_daemon_serves_parseable_metrics_after_jobs_ran() {
    let sim = Sim::start(&SimOptions::default());
    let world = World::new(
        Database::postgres(),
        &integramon_tests::collect::shared_amqp_url(),
    );
    let tenant = world.create_tenant("Sim \"tenant\"", &sim.base_url(), SIM_USER, SIM_PASSWORD);
    // The controller runs (for its endpoint) but fires nothing: the test's own jobs are all that
    // run, so the counts below are exact.
    for kind in JobKind::ALL {
        let off = JobSettings {
            enabled: false,
            ..JobSettings::default_for(kind)
        };
        world
            .rt
            .block_on(store::repo::tenants::upsert_job(&world.db, tenant, &off))
            .expect("disabling the tenant's jobs");
    }
    let env = world.worker_env(&[("METRICS_REFRESH_SECS", "1"), ("CONTROLLER_TICK", "1")]);
    let mut daemons: Vec<Daemon> = [
        ("integramon-ingest-worker", "ingest-worker"),
        ("integramon-metrics", "metrics"),
        ("integramon-controller", "controller"),
        ("integramon-archiver", "archiver"),
        ("integramon-web", "web"),
    ]
    .into_iter()
    .map(|(name, component)| {
        let addr = format!("127.0.0.1:{}", free_port());
        let proc = Proc::spawn(&bin(name), &["--listen", &addr], &env);
        Daemon {
            name,
            component,
            addr,
            proc,
        }
    })
    .collect();
    for d in &mut daemons {
        wait_for(120, &format!("{} to be ready", d.name), || {
            assert!(
                d.proc.is_running(),
                "{} exited:\n{}",
                d.name,
                d.proc.output()
            );
            http_get(&d.addr, "/readyz").filter(|(code, _)| *code == 200)
        });
    }

    // Collection through the ingest worker, then metric snapshots, one of them for a tenant
    // that does not exist (a failed job).
    let (from, to) = sim.settled_range();
    let hot = world.publish_range(tenant, from, to);
    world.wait_runs(&[hot], 120, &[]);
    let ok = metrics_job(TenantRef::Id(tenant));
    let bad = metrics_job(TenantRef::Name("no such tenant".into()));
    world.publish(&ok);
    world.publish(&bad);
    world.wait_runs(&[ok.job_id.clone(), bad.job_id.clone()], 60, &[]);
    // The metrics daemon refreshes its gauges every second.
    std::thread::sleep(Duration::from_secs(3));

    let mut bodies = Vec::new();
    for d in &daemons {
        bodies.push((format!("{}.txt", d.component), scrape_text(&d.addr)));
        bodies.push((format!("{}.om", d.component), scrape_openmetrics(&d.addr)));
    }
    let scrapes = parse(&bodies);
    for d in &daemons {
        for ext in ["txt", "om"] {
            let s = &scrapes[&format!("{}.{ext}", d.component)];
            assert_common(s, d.component);
        }
    }
    let worker = &scrapes["ingest-worker.txt"];
    assert_jobs(worker, "messages_hot", true);
    let tenant_name = "Sim \"tenant\"";
    assert_eq!(worker.kind("integramon_cpi_requests"), "counter");
    let calls = worker.value(
        "integramon_cpi_requests_total",
        &[("tenant", tenant_name), ("api", "message_processing_logs")],
    );
    assert!(calls >= 1.0, "{calls}");
    // Errors, if any (the controller also fires jobs at the simulated tenant), are labelled
    // with the same bounded labels.
    for e in worker.samples("integramon_cpi_errors_total", &[]) {
        assert_eq!(e.labels.len(), 3, "{e:?}");
        assert!(e.labels.contains_key("kind"), "{e:?}");
    }

    let metrics = &scrapes["metrics.txt"];
    assert_jobs(metrics, "metrics", true);
    assert_eq!(
        metrics.value(
            "integramon_jobs_failed_total",
            &[("type", "metrics"), ("outcome", "fail")]
        ),
        1.0
    );
    assert_eq!(metrics.kind("integramon_queue_messages"), "gauge");
    let metrics_queue = JobType::Metrics.queue_name(&world.prefix).unwrap();
    let hot_queue = JobType::MessagesHot.queue_name(&world.prefix).unwrap();
    assert!(metrics.value("integramon_queue_messages", &[("queue", &metrics_queue)]) >= 0.0);
    assert!(metrics.value("integramon_queue_consumers", &[("queue", &hot_queue)]) >= 1.0);
    let lag = metrics.value(
        "integramon_collection_lag_seconds",
        &[("tenant", tenant_name), ("job_type", "messages_hot")],
    );
    // The watermark is where the hot job stopped (`to`), give or take the job's own clamping.
    let since_to = (Utc::now() - to).num_seconds() as f64;
    assert!(
        lag >= 0.0 && lag <= since_to + 3600.0,
        "lag {lag}, since to {since_to}"
    );
    // The other daemons did not run jobs, and do not repeat the installation-wide gauges.
    for other in ["controller", "archiver", "web"] {
        let s = &scrapes[&format!("{other}.txt")];
        assert!(
            s.samples("integramon_jobs_processed_total", &[]).is_empty(),
            "{other}"
        );
        assert!(
            s.samples("integramon_queue_messages", &[]).is_empty(),
            "{other}"
        );
    }
    // OpenMetrics carries the same values.
    let om = &scrapes["ingest-worker.om"];
    assert_eq!(
        om.value(
            "integramon_jobs_processed_total",
            &[("type", "messages_hot")]
        ),
        worker.value(
            "integramon_jobs_processed_total",
            &[("type", "messages_hot")]
        )
    );
    drop(daemons);
}

#[test]
fn integramon_up_serves_every_family_on_one_endpoint_and_the_storage_views() {
    let web = Web::up(
        Database::sqlite(),
        &[
            ("METRICS_REFRESH_SECS", "1"),
            ("METRICS_SNAPSHOT_SECS", "60"),
        ],
    );
    // The demo tenant is collected in-process; the controller fires its metrics job at start.
    let scrape = wait_for(180, "hot-message and metrics jobs on /metrics", || {
        let body = scrape_text(&web.addr);
        (body.contains("integramon_jobs_processed_total{type=\"messages_hot\"}")
            && body.contains("integramon_jobs_processed_total{type=\"metrics\"}")
            // The hot job's own lag: the metrics job may first report only other job types'.
            && body.lines().any(|l| {
                l.starts_with("integramon_collection_lag_seconds{")
                    && l.contains("job_type=\"messages_hot\"")
            }))
        .then_some(body)
    });
    let om = scrape_openmetrics(&web.addr);
    let scrapes = parse(&[("up.txt".into(), scrape), ("up.om".into(), om)]);
    for name in ["up.txt", "up.om"] {
        let s = &scrapes[name];
        assert_common(s, "integramon");
        assert_jobs(s, "messages_hot", false);
        assert_jobs(s, "metrics", false);
        assert!(
            s.value(
                "integramon_cpi_requests_total",
                &[("tenant", "demo"), ("api", "message_processing_logs")]
            ) >= 1.0
        );
        assert!(
            !s.samples("integramon_queue_messages", &[]).is_empty(),
            "in-process depths"
        );
        assert!(
            s.value(
                "integramon_collection_lag_seconds",
                &[("tenant", "demo"), ("job_type", "messages_hot")]
            ) >= 0.0
        );
    }

    // The metrics daemon took a storage snapshot at start: the API and the page show it.
    let admin = web.admin();
    let storage = wait_for(60, "a storage snapshot", || {
        let (code, body) = admin.get_json("/api/storage?days=1");
        assert_eq!(code, 200, "{body}");
        body["taken_at"].is_string().then_some(body)
    });
    assert!(
        storage["database_bytes"].as_i64().unwrap_or(0) > 0,
        "{storage}"
    );
    let tables = storage["tables"].as_array().expect("tables");
    let logs = tables
        .iter()
        .find(|t| t["table"] == "message_logs")
        .unwrap_or_else(|| panic!("message_logs in {storage}"));
    assert!(logs["bytes"].as_i64().unwrap_or(0) > 0, "{logs}");
    let archives = storage["archives"].as_array().expect("archives");
    assert!(archives.iter().any(|a| a["tenant"] == "demo"), "{storage}");
    let (code, page) = admin.get_text("/storage");
    assert_eq!(code, 200);
    assert!(
        page.contains("Database size") && page.contains("message_logs"),
        "{page}"
    );
    assert!(page.contains("<svg"), "the growth chart");

    // The tenant's metric snapshots: per interval and iFlow, counts adding up.
    let (code, tenants) = admin.get_json("/api/tenants");
    assert_eq!(code, 200);
    let id = tenants
        .as_array()
        .and_then(|l| l.iter().find(|t| t["name"] == "demo"))
        .and_then(|t| t["id"].as_i64())
        .unwrap_or_else(|| panic!("demo tenant in {tenants}"));
    // The metrics job fired at start may have run before any message was collected: ask for
    // another now that the hot job has run, and wait for its rows.
    let (code, sub) = admin.json(
        reqwest::Method::POST,
        "/api/jobs",
        Some(serde_json::json!({"type": "metrics", "tenant": id})),
    );
    assert_eq!(code, 202, "{sub}");
    let m = wait_for(60, "metric snapshots of the demo tenant", || {
        let (code, m) = admin.get_json(&format!("/api/tenants/{id}/metrics"));
        assert_eq!(code, 200, "{m}");
        (!m["snapshots"].as_array()?.is_empty()).then_some(m)
    });
    for s in m["snapshots"].as_array().expect("snapshots") {
        let by_status: i64 = s["status_counts"]
            .as_object()
            .map(|o| o.values().filter_map(Value::as_i64).sum())
            .unwrap_or(0);
        assert_eq!(Some(by_status), s["messages"].as_i64(), "{s}");
    }

    // Filtered to one iFlow.
    {
        let iflow = m["snapshots"][0]["iflow_id"].as_str().expect("an iFlow id");
        let enc: String = iflow.bytes().map(|b| format!("%{b:02X}")).collect();
        let (code, one) = admin.get_json(&format!("/api/tenants/{id}/metrics?iflow={enc}"));
        assert_eq!(code, 200, "{one}");
        let rows = one["snapshots"].as_array().expect("snapshots");
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|r| r["iflow_id"] == iflow), "{one}");
    }

    // A manager limited to a group that does not see the demo tenant gets the tables but not
    // its archive directory.
    let limited = web.user("limited", "manager", &["other-team"]);
    let (code, mine) = limited.get_json("/api/storage?days=1");
    assert_eq!(code, 200, "{mine}");
    assert!(!mine["tables"].as_array().expect("tables").is_empty());
    assert_eq!(mine["archives"], serde_json::json!([]), "{mine}");
    assert!(
        mine["history"]
            .as_array()
            .expect("history")
            .iter()
            .all(|p| p["kind"] != "archive"),
        "{mine}"
    );
    let (code, page) = limited.get_text("/storage");
    assert_eq!(code, 200);
    assert!(
        !page.contains("demo"),
        "no archive row of an invisible tenant"
    );
    let (code, _) = limited.get_json(&format!("/api/tenants/{id}/metrics"));
    assert_eq!(code, 404, "an invisible tenant's snapshots are not found");

    // Storage is for managers and admins; a user gets 403 and no nav link.
    let user = web.user("viewer", "user", &[]);
    let (code, _) = user.get_json("/api/storage");
    assert_eq!(code, 403);
    let (_, overview) = user.get_text("/");
    assert!(
        !overview.contains("/storage\""),
        "no storage link for users"
    );
}
