//! End-to-end ingest benchmark: cpi-sim → RabbitMQ → `integramon-ingest-worker` process(es) →
//! PostgreSQL, measured against PostgreSQL `COPY` of the same rows into the same tables in the
//! same run, plus the workers' peak RSS.
//!
//!   cargo bench -p integramon-ingest-worker --bench ingest -- [--hours H] [--rate R]
//!       [--workers N] [--latency-ms MS] [--jobs J] [--mix completed|default] [--failed PERCENT]
//!
//! `--failed 20`: a fifth of the messages FAILED, the rest COMPLETED; their details (runs, steps,
//! error text, attachments, adapter attributes, payload entries) and error groups are written
//! by the worker, and the `COPY` baseline loads those rows too.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (trust, user postgres) and RabbitMQ on 127.0.0.1:5672.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cpi_sim::{Sim, SimConfig, StatusMix};
use domain::job::{JobEnvelope, JobType, TenantRef};
use domain::secret::SecretKey;
use domain::tenant::{Auth, TenantSettings};
use queue::{AmqpQueue, JobQueue, QueueConfig};
use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::MigratorTrait;

struct Args {
    hours: u64,
    rate: f64,
    workers: usize,
    latency_ms: u64,
    jobs: usize,
    all_completed: bool,
    /// Percent of FAILED messages (the rest COMPLETED); overrides `--mix`.
    failed_percent: Option<u32>,
}

fn args() -> Args {
    let mut a = Args {
        hours: 6,
        rate: 10.0,
        workers: 1,
        latency_ms: 0,
        jobs: 12,
        all_completed: true,
        failed_percent: None,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--hours" => a.hours = v.parse().expect("--hours"),
            "--rate" => a.rate = v.parse().expect("--rate"),
            "--workers" => a.workers = v.parse().expect("--workers"),
            "--latency-ms" => a.latency_ms = v.parse().expect("--latency-ms"),
            "--jobs" => a.jobs = v.parse().expect("--jobs"),
            "--mix" => a.all_completed = v == "completed",
            "--failed" => a.failed_percent = Some(v.parse().expect("--failed")),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn psql(db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qAtc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A table's rows in `COPY` text format, exactly as exported (no trimming: a row may end in an
/// empty field), without the last line break.
fn export(db: &str, table: &str) -> String {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qc"])
        .arg(format!("COPY {table} TO STDOUT"))
        .output()
        .expect("psql");
    assert!(out.status.success(), "export {table}");
    let mut rows = String::from_utf8(out.stdout).expect("COPY text is UTF-8");
    if rows.ends_with('\n') {
        rows.pop();
    }
    rows
}

async fn fresh_db(name: &str) -> store::Db {
    psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    psql("postgres", &format!("CREATE DATABASE {name}"));
    let mut s = store::DbSettings::postgres("127.0.0.1", 5432, name, "postgres");
    s.pool.max = 4;
    let db = store::connect(&s).unwrap();
    migration::Migrator::up(db.conn(), None).await.unwrap();
    db
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    store::install_tls_provider();
    let a = args();
    let mut config = SimConfig::default()
        .with_seed(42)
        .with_basic("bench", "bench")
        .with_rate(a.rate)
        .with_history(Duration::from_secs(a.hours * 3600 + 900))
        .with_latency(Duration::from_millis(a.latency_ms));
    config.traffic.headers_per_message = (2, 6);
    // Only COMPLETED and FAILED messages: both are final, so the truth does not move.
    let only = |completed: u32, failed: u32| StatusMix {
        completed,
        failed,
        retry: 0,
        processing: 0,
        escalated: 0,
        discarded: 0,
        cancelled: 0,
        abandoned: 0,
    };
    if let Some(p) = a.failed_percent {
        config.traffic.status_mix = only(100 - p.min(100), p.min(100));
    } else if a.all_completed {
        config.traffic.status_mix = only(1, 0);
    }
    let sim = Sim::start(config, "127.0.0.1:0").await.expect("sim");
    // Behind the longest a message stays non-final (10 min), so every LogEnd in the range is
    // settled and the ground truth does not move while the workers read.
    let to: DateTime<Utc> = sim.now() - chrono::Duration::minutes(11);
    let from = to - chrono::Duration::hours(a.hours as i64);
    let truth = sim.truth_between(from, to);
    println!(
        "sim: {} messages in {}h (rate {}/s, latency {} ms, {})",
        truth.total,
        a.hours,
        a.rate,
        a.latency_ms,
        match (a.failed_percent, a.all_completed) {
            (Some(p), _) => format!("{p} % FAILED, the rest COMPLETED"),
            (None, true) => "all COMPLETED".to_string(),
            (None, false) => "default status mix".to_string(),
        }
    );

    // --- the worker path --------------------------------------------------------------
    let db_name = format!("im_bench_{}", std::process::id());
    let db = fresh_db(&db_name).await;
    let data = tempfile::tempdir().unwrap();
    let marker = data.path().join("run/migrate.done");
    store::schema::apply::<migration::Migrator>(&db, &marker, "bench", |_| {})
        .await
        .unwrap();
    let key = SecretKey::generate().unwrap();
    let sealed = domain::secret::seal(&key, "bench").unwrap();
    let settings = TenantSettings::new(
        "bench",
        sim.api_url(),
        Auth::Basic {
            username: "bench".into(),
        },
    );
    let tenant = store::repo::tenants::create(&db, &settings, Some(&sealed))
        .await
        .unwrap();
    let prefix = format!("imbench{}", std::process::id());
    let env = [
        ("DB_BACKEND", "postgresql".to_string()),
        (
            "DB_HOST",
            std::env::var("BENCH_DB_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
        ),
        ("DB_NAME", db_name.clone()),
        ("DB_USER", "postgres".into()),
        ("DB_POOL_MAX", "4".into()),
        ("DATA_DIR", data.path().display().to_string()),
        ("SECRET_KEY", key.to_base64()),
        ("AMQP_PREFIX", prefix.clone()),
        ("CPI_RATE_LIMITS", "off".into()),
        (
            "RUST_LOG",
            std::env::var("BENCH_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
        ),
    ];
    let mut workers = Workers(
        (0..a.workers)
            .map(|_| {
                let bin = env!("CARGO_BIN_EXE_integramon-ingest-worker");
                // BENCH_WORKER_WRAPPER runs the worker under a profiler (e.g. `heaptrack`).
                let mut cmd = match std::env::var("BENCH_WORKER_WRAPPER") {
                    Ok(wrapper) => {
                        let mut c = Command::new(wrapper);
                        c.arg(bin);
                        c
                    }
                    Err(_) => Command::new(bin),
                };
                cmd.args(["--listen", "127.0.0.1:0"])
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .stdout(
                        std::fs::File::create(data.path().join("worker.log"))
                            .map(Stdio::from)
                            .unwrap_or_else(|_| Stdio::null()),
                    )
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("worker")
            })
            .collect(),
    );
    let queue = AmqpQueue::new(QueueConfig {
        prefix: prefix.clone(),
        ..QueueConfig::default()
    })
    .unwrap();
    queue.declare().await.unwrap();
    // Let the workers connect and reach the gate before the clock starts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_kb = workers.0.iter().map(|w| rss_kb(w.id())).max().unwrap_or(0);
    let started = Instant::now();
    let step = (to - from) / a.jobs as i32;
    for j in 0..a.jobs {
        let f = from + step * j as i32;
        let t = if j + 1 == a.jobs { to } else { f + step };
        let job = JobEnvelope::new(
            JobType::MessagesCold,
            TenantRef::Id(tenant.id),
            serde_json::json!({ "from": f, "to": t }),
            Utc::now(),
        );
        queue.publish(&job).await.unwrap();
    }
    let mut peak_kb = 0;
    let be = db.db_backend();
    loop {
        for w in &workers.0 {
            peak_kb = peak_kb.max(rss_kb(w.id()));
        }
        let row = db
            .conn()
            .query_one_raw(Statement::from_string(
                be,
                "SELECT count(*) FILTER (WHERE state = 'succeeded')::bigint, \
                 count(*) FILTER (WHERE state IN ('failed', 'dead'))::bigint FROM job_runs",
            ))
            .await
            .unwrap()
            .unwrap();
        let done: i64 = row.try_get_by_index(0).unwrap();
        let failed: i64 = row.try_get_by_index(1).unwrap();
        assert_eq!(failed, 0, "a job failed; see job_runs in {db_name}");
        if done as usize == a.jobs {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1800), "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let worker_secs = started.elapsed().as_secs_f64();
    let count: i64 = psql(&db_name, "SELECT count(*) FROM message_logs")
        .parse()
        .unwrap();
    let headers: i64 = psql(&db_name, "SELECT count(*) FROM custom_header_properties")
        .parse()
        .unwrap();
    if count as usize != truth.total {
        let stored: std::collections::HashSet<String> =
            psql(&db_name, "SELECT message_guid FROM message_logs")
                .lines()
                .map(str::to_string)
                .collect();
        for m in truth
            .messages
            .iter()
            .filter(|m| !stored.contains(&m.message_guid))
            .take(20)
        {
            eprintln!("missing: {m:?}");
        }
        panic!("stored {count} messages, the tenant has {}", truth.total);
    }
    workers.stop();
    if let Ok(log) = std::env::var("BENCH_KEEP_LOG") {
        let _ = std::fs::copy(data.path().join("worker.log"), log);
    }
    let worker_rate = count as f64 / worker_secs;
    println!(
        "worker path: {count} messages + {headers} headers in {worker_secs:.2}s = {worker_rate:.0} messages/s \
         with {} worker(s); peak worker RSS {:.1} MB (before the jobs: {:.1} MB)",
        a.workers,
        peak_kb as f64 / 1024.0,
        idle_kb as f64 / 1024.0
    );

    // --- COPY of the same rows into the same tables -----------------------------------
    if a.latency_ms == 0 {
        let copy_name = format!("im_bench_copy_{}", std::process::id());
        let copy_db = fresh_db(&copy_name).await;
        psql(
            &copy_name,
            &format!(
                "INSERT INTO tenants (id, name, api_url, auth_kind, hot_window_secs, payload_strategy, \
                 payload_max_bytes, created_at, updated_at) VALUES ({}, 'bench', 'x', 'basic', 3600, 'none', 0, now(), now())",
                tenant.id
            ),
        );
        // The rows as IntegraMon stores them, exported from the worker's database, so both
        // paths write identical data: messages, headers, and (with failed messages) their
        // details and error groups, in an order their foreign keys accept.
        let rows: Vec<(&str, String)> = COPIED_TABLES
            .iter()
            .map(|t| {
                let rows = export(&db_name, t);
                (*t, rows)
            })
            .collect();
        let counts: Vec<String> = rows
            .iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(t, r)| format!("{t} {}", r.lines().count()))
            .collect();
        println!("rows: {}", counts.join(", "));
        drop(copy_db);
        let copy_started = Instant::now();
        for (table, rows) in &rows {
            if !rows.is_empty() {
                copy_in(&copy_name, table, rows);
            }
        }
        let copy_secs = copy_started.elapsed().as_secs_f64();
        let copy_rate = count as f64 / copy_secs;
        println!(
            "COPY path: same rows in {copy_secs:.2}s = {copy_rate:.0} messages/s; worker/COPY = {:.2}",
            worker_rate / copy_rate
        );
        psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {copy_name} WITH (FORCE)"),
        );
    }
    queue.delete_topology().await.ok();
    db.close().await;
    psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"),
    );
    sim.stop().await;
}

/// The worker processes, killed when the benchmark ends, also when it panics.
struct Workers(Vec<Child>);

impl Workers {
    fn stop(&mut self) {
        for w in &mut self.0 {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the worker writes for a message sync, in foreign-key order.
const COPIED_TABLES: [&str; 10] = [
    "error_groups",
    "error_group_hours",
    "message_logs",
    "custom_header_properties",
    "message_runs",
    "message_run_steps",
    "message_errors",
    "attachments",
    "adapter_attributes",
    "payloads",
];

/// `COPY table FROM STDIN` through psql: the PostgreSQL bulk-load path.
fn copy_in(db: &str, table: &str, rows: &str) {
    use std::io::Write;
    let mut child = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qc"])
        .arg(format!("COPY {table} FROM STDIN"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("psql");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(rows.as_bytes()).unwrap();
    stdin.write_all(b"\n\\.\n").unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success(), "COPY {table}");
}
