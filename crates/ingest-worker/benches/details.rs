//! Message details benchmark: how long the details (runs and steps, error text, attachments,
//! adapter attributes, payload entries) of many problem messages take against a tenant with a
//! real tenant's latency, and how soon a failed message's error text is stored on a live tenant.
//!
//!   cargo bench -p integramon-ingest-worker --bench details -- [--messages N] [--latency-ms MS]
//!   cargo bench -p integramon-ingest-worker --bench details -- --live-secs S [--latency-ms MS]
//!       [--interval-secs I] [--lag-secs L]
//!
//! Batch mode: the problem messages (FAILED, RETRY, ESCALATED) are stored first without the
//! added latency, then `details::fetch_many` fetches and stores all their details with the
//! worker's default settings (`INGEST_DETAILS_CONCURRENCY`, `CPI_MAX_CONCURRENCY`, SAP's rate
//! limits on) while the simulator adds `--latency-ms` to every request.
//!
//! Live mode: the simulator's clock is the wall clock and it keeps producing messages (default
//! status mix); the hot sync runs every `--interval-secs` (default: the hot job's default
//! schedule) with `--lag-secs` (default: `INGEST_LAG_SECS`' default) for `--live-secs`, like
//! the controller would fire it. Then, per FAILED/ESCALATED message that ended during the run,
//! the time from its LogEnd to its stored error text.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (trust, user postgres).

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cpi::{MplQuery, Window};
use cpi_sim::{Sim, SimConfig, StatusMix};
use domain::job::TenantRef;
use domain::secret::SecretKey;
use domain::tenant::{Auth, JobKind, JobSettings, TenantSettings};
use integramon_ingest_worker::messages::{self, MessageOptions};
use integramon_ingest_worker::tenants::{ClientOptions, Clients};
use integramon_ingest_worker::{details, map};
use sea_orm_migration::MigratorTrait;

struct Args {
    messages: usize,
    latency_ms: u64,
    live_secs: Option<u64>,
    interval_secs: Option<u64>,
    lag_secs: Option<u64>,
}

fn args() -> Args {
    let mut a = Args {
        messages: 1000,
        latency_ms: 150,
        live_secs: None,
        interval_secs: None,
        lag_secs: None,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        let n = || v.parse::<u64>().unwrap_or_else(|_| panic!("{}", argv[i]));
        match argv[i].as_str() {
            "--messages" => a.messages = n() as usize,
            "--latency-ms" => a.latency_ms = n(),
            "--live-secs" => a.live_secs = Some(n()),
            "--interval-secs" => a.interval_secs = Some(n()),
            "--lag-secs" => a.lag_secs = Some(n()),
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

async fn fresh_db(name: &str) -> store::Db {
    psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    psql("postgres", &format!("CREATE DATABASE {name}"));
    let s = store::DbSettings::postgres("127.0.0.1", 5432, name, "postgres");
    let db = store::connect(&s).unwrap();
    migration::Migrator::up(db.conn(), None).await.unwrap();
    db
}

/// A tenant for the simulator, stored with its sealed password, and the worker's client for it
/// with the worker's default politeness (concurrency cap, SAP's rate limits).
async fn tenant_and_client(
    db: &store::Db,
    api_url: String,
) -> (domain::tenant::Tenant, cpi::CpiClient) {
    let key = SecretKey::generate().unwrap();
    let sealed = domain::secret::seal(&key, "bench").unwrap();
    let settings = TenantSettings::new(
        "bench",
        api_url,
        Auth::Basic {
            username: "bench".into(),
        },
    );
    let created = store::repo::tenants::create(db, &settings, Some(&sealed))
        .await
        .unwrap();
    let clients = Clients::new(key, ClientOptions::default());
    let tenant = clients
        .tenant(db, &TenantRef::Id(created.id))
        .await
        .unwrap();
    let client = clients.client(db, &tenant).await.unwrap();
    (tenant, client)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    store::install_tls_provider();
    let a = args();
    match a.live_secs {
        Some(secs) => live(&a, secs).await,
        None => batch(&a).await,
    }
}

async fn batch(a: &Args) {
    let rate = 4.0;
    let mut config = SimConfig::default()
        .with_seed(42)
        .with_basic("bench", "bench")
        .with_rate(rate)
        .with_history(Duration::from_secs(
            (a.messages as f64 / rate * 1.5) as u64 + 1800,
        ));
    config.traffic.status_mix = StatusMix {
        completed: 0,
        failed: 60,
        retry: 25,
        processing: 0,
        escalated: 15,
        discarded: 0,
        cancelled: 0,
        abandoned: 0,
    };
    let sim = Sim::start(config, "127.0.0.1:0").await.expect("sim");
    let db_name = format!("im_bench_details_{}", std::process::id());
    let db = fresh_db(&db_name).await;
    let (tenant, client) = tenant_and_client(&db, sim.api_url()).await;

    // Store the messages (list pages only, no latency yet): settled ones, behind the longest a
    // message stays non-final.
    let to: DateTime<Utc> = sim.now() - chrono::Duration::minutes(11);
    let from = to - chrono::Duration::seconds((a.messages as f64 / rate * 1.5) as i64);
    let mut pager = client.mpl_pages(MplQuery::new(Window::new(from, to).unwrap()));
    let mut wanted = Vec::new();
    while let Some(page) = pager.next_page().await.unwrap() {
        let list: Vec<_> = page.records.into_iter().map(map::message).collect();
        let outcome = store::repo::messages::upsert_messages(&db, tenant.id, &list)
            .await
            .unwrap();
        wanted.extend(
            outcome
                .needs_details
                .into_iter()
                .filter(|(_, _, s)| s.wants_details()),
        );
    }
    assert!(
        wanted.len() >= a.messages,
        "only {} problem messages in the window",
        wanted.len()
    );
    wanted.truncate(a.messages);

    let opts = MessageOptions::default();
    sim.set_latency(Duration::from_millis(a.latency_ms));
    let before = client.stats().requests;
    let started = Instant::now();
    let fetched = details::fetch_many(&db, &client, &wanted, opts.details_concurrency)
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let requests = client.stats().requests - before;
    assert_eq!(fetched.ok as usize, wanted.len(), "{fetched:?}");
    let errors: i64 = psql(&db_name, "SELECT count(*) FROM message_errors")
        .parse()
        .unwrap();
    let runs: i64 = psql(&db_name, "SELECT count(*) FROM message_runs")
        .parse()
        .unwrap();
    println!(
        "details of {} problem messages, {} ms added latency, INGEST_DETAILS_CONCURRENCY={}, \
         CPI_MAX_CONCURRENCY={}, SAP rate limits: {:.1} s ({:.1} messages/s), {} tenant \
         requests ({:.2} per message); stored {} error texts, {} runs",
        wanted.len(),
        a.latency_ms,
        opts.details_concurrency,
        ClientOptions::default().max_concurrent_requests,
        secs,
        wanted.len() as f64 / secs,
        requests,
        requests as f64 / wanted.len() as f64,
        errors,
        runs
    );
    db.close().await;
    psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"),
    );
}

async fn live(a: &Args, secs: u64) {
    let config = SimConfig::default()
        .with_seed(7)
        .with_basic("bench", "bench")
        .with_rate(2.0)
        .with_history(Duration::from_secs(1800))
        .with_latency(Duration::from_millis(a.latency_ms));
    let sim = Sim::start(config, "127.0.0.1:0").await.expect("sim");
    let db_name = format!("im_bench_live_{}", std::process::id());
    let db = fresh_db(&db_name).await;
    let (tenant, client) = tenant_and_client(&db, sim.api_url()).await;
    let interval = a.interval_secs.map(Duration::from_secs).unwrap_or_else(|| {
        JobSettings::default_for(JobKind::MessagesHot)
            .interval()
            .expect("the hot job runs on an interval")
    });
    let mut opts = MessageOptions::default();
    if let Some(lag) = a.lag_secs {
        opts.windows.lag = Duration::from_secs(lag);
    }
    let started = Utc::now();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut runs = 0;
    let mut run_secs: Vec<f64> = Vec::new();
    while Instant::now() < deadline {
        let tick = Instant::now();
        let report = messages::sync_hot(&db, &client, &tenant, &opts, Utc::now())
            .await
            .unwrap();
        runs += 1;
        run_secs.push(tick.elapsed().as_secs_f64());
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            println!(
                "run {runs}: {:.1} s, {} windows, {} pages, {} records, {} details",
                tick.elapsed().as_secs_f64(),
                report.windows,
                report.pages,
                report.records,
                report.details
            );
        }
        tokio::time::sleep(interval.saturating_sub(tick.elapsed())).await;
    }
    let first_run = run_secs.first().copied().unwrap_or_default();
    let mut others = run_secs.get(1..).unwrap_or_default().to_vec();
    others.sort_by(f64::total_cmp);
    // Messages that ended after the first run started, with an error text stored.
    let rows = psql(
        &db_name,
        &format!(
            "SELECT extract(epoch FROM (e.fetched_at - m.log_end)) FROM message_logs m \
             JOIN message_errors e ON e.message_id = m.id \
             WHERE m.status IN ('FAILED', 'ESCALATED') AND m.log_end > '{}' \
             ORDER BY 1",
            started.format("%Y-%m-%d %H:%M:%S%.3f+00")
        ),
    );
    let delays: Vec<f64> = rows.lines().filter_map(|l| l.parse().ok()).collect();
    let missing: i64 = psql(
        &db_name,
        &format!(
            "SELECT count(*) FROM message_logs m WHERE m.status IN ('FAILED', 'ESCALATED') \
             AND m.log_end > '{}' AND NOT EXISTS \
             (SELECT 1 FROM message_errors e WHERE e.message_id = m.id)",
            started.format("%Y-%m-%d %H:%M:%S%.3f+00")
        ),
    )
    .parse()
    .unwrap();
    let within = delays.iter().filter(|d| **d <= 30.0).count();
    println!(
        "live {secs} s, hot sync every {} s, lag {} s, {} ms added latency, {runs} runs \
         (the first, over the hot window's history: {first_run:.1} s; the others: median {:.1} s, \
         max {:.1} s): {} failed messages with their error text (+{missing} stored without one yet), \
         LogEnd → error text stored: p50 {:.1} s, p95 {:.1} s, max {:.1} s; within 30 s: {}/{}",
        interval.as_secs(),
        opts.windows.lag.as_secs(),
        a.latency_ms,
        percentile(&others, 0.5),
        others.last().copied().unwrap_or_default(),
        delays.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.95),
        delays.last().copied().unwrap_or(f64::NAN),
        within,
        delays.len()
    );
    db.close().await;
    psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"),
    );
}
