//! Archiving one tenant-day on PostgreSQL: `ARCHIVE_BENCH_MESSAGES` messages (default
//! 1 000 000) with four custom headers each, loaded with COPY into one day 40 days ago of a
//! fresh database `im_bench_archive_<pid>`. Measures
//! - ingestion throughput without an archive (pages of 200 messages with four headers each, as
//!   the ingest worker writes them, for `ARCHIVE_BENCH_BASELINE_SECS`, default 20 s);
//! - the archive run of that day (write + verify, delete in batches, VACUUM (ANALYZE)) and the
//!   ingestion throughput while it runs;
//! - the database size before, after the plain vacuum, after ingesting `ARCHIVE_BENCH_REUSE`
//!   (default half the day) new messages into the space the archive freed, and after
//!   `VACUUM FULL` of the message tables (run separately, to show what returning space to the
//!   OS costs and gives).
//!
//! Run: `cargo bench -p integramon-archiver --bench archive` (PostgreSQL at 127.0.0.1:5432,
//! user postgres, trust). The database is dropped at the end; the results are printed as a
//! Markdown table for docs/benchmarks.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{Days, TimeZone, Utc};
use chrono_tz::Tz;
use domain::MessageStatus;
use domain::message::{CustomHeader, Message};
use domain::tenant::{Auth, JobKind, JobSettings, TenantSettings};
use integramon_archiver::{Archiver, TenantRef, VacuumPolicy};
use migration::{Migrator, MigratorTrait};
use sea_orm::ConnectionTrait;
use store::repo::{messages, monitor, seed, tenants};
use store::{Db, DbSettings, SslMode, maintenance};

fn settings(name: &str) -> DbSettings {
    let mut s = DbSettings::postgres("127.0.0.1", 5432, name, "postgres");
    s.sslmode = SslMode::Disable;
    s.pool.max = 8;
    s
}

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Ingest pages until `stop`; counts messages into `done`.
async fn ingest(db: Db, tenant_id: i64, stop: Arc<AtomicBool>, done: Arc<AtomicU64>, tag: &str) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // The worker's page path: one `write_page` transaction per page.
        let page: Vec<messages::PageMessage> = (0..200)
            .map(|_| {
                n += 1;
                let mut m = Message::new(format!("live-{tag}-{n}"), MessageStatus::Completed);
                m.log_end = Some(Utc::now());
                m.log_start = m.log_end;
                m.iflow_id = Some(format!("live_{}", n % 13));
                m.correlation_id = Some(format!("livecor-{tag}-{n}"));
                let headers = vec![
                    CustomHeader::new("OrderId", m.guid.clone()),
                    CustomHeader::new("Region", "EMEA"),
                    CustomHeader::new("DocumentType", "ORDERS05"),
                    CustomHeader::new("CustomerId", "C000042"),
                ];
                messages::PageMessage {
                    message: m,
                    headers: Some(headers),
                }
            })
            .collect();
        messages::write_page(&db, tenant_id, &page)
            .await
            .expect("page");
        done.fetch_add(page.len() as u64, Ordering::Relaxed);
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / 1_048_576.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    store::install_tls_provider();
    let total = env_u64("ARCHIVE_BENCH_MESSAGES", 1_000_000);
    let baseline_secs = env_u64("ARCHIVE_BENCH_BASELINE_SECS", 20);
    let name = format!("im_bench_archive_{}", std::process::id());
    let admin = store::connect(&settings("postgres")).expect("connect");
    admin
        .conn()
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("PostgreSQL at 127.0.0.1:5432 is needed");
    let db = store::connect(&settings(&name)).expect("connect");
    Migrator::up(db.conn(), None).await.expect("migrate");
    let data = tempfile::tempdir().expect("tempdir");

    let mut ts = TenantSettings::new(
        "bench",
        "https://bench.invalid",
        Auth::Basic {
            username: "b".into(),
        },
    );
    ts.collection.enabled = false;
    let t = tenants::create(&db, &ts, None).await.expect("tenant");
    let mut job = JobSettings::default_for(JobKind::Archive);
    job.retention.archive_older_than_days = Some(30);
    tenants::upsert_job(&db, t.id, &job).await.expect("job");
    let tenant = TenantRef {
        id: t.id,
        name: "bench".into(),
    };

    // Load the day.
    let day = Utc::now().date_naive() - Days::new(40);
    let start = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"));
    let clock = Instant::now();
    let mut i = 0u64;
    while i < total {
        let n = (total - i).min(20_000);
        let batch: Vec<(Message, Vec<CustomHeader>)> = (i..i + n)
            .map(|k| {
                let status = if k % 50 == 0 {
                    MessageStatus::Failed
                } else {
                    MessageStatus::Completed
                };
                let mut m = Message::new(format!("BENCH{k:012}"), status);
                let at = start + chrono::Duration::milliseconds((k * 86_399_000 / total) as i64);
                m.log_start = Some(at - chrono::Duration::milliseconds(300));
                m.log_end = Some(at);
                m.iflow_id = Some(format!("IF_Bench_{:03}", k % 200));
                m.iflow_name = Some(format!("Bench flow {}", k % 200));
                m.package_id = Some(format!("Pkg{:02}", k % 40));
                m.correlation_id = Some(format!("COR{:012}", k / 3));
                m.application_message_id = Some(format!("APP-{k:012}"));
                m.sender = Some("S4H_100".into());
                m.receiver = Some("ARIBA".into());
                m.log_level = Some("INFO".into());
                let headers = vec![
                    CustomHeader::new("OrderId", format!("ORD-{k:010}")),
                    CustomHeader::new("CustomerId", format!("C{:06}", k % 200_000)),
                    CustomHeader::new("DocumentType", "ORDERS05"),
                    CustomHeader::new("Region", "EMEA"),
                ];
                (m, headers)
            })
            .collect();
        seed::load_messages(&db, tenant.id, &batch)
            .await
            .expect("load");
        i += n;
    }
    monitor::rebuild_counts(&db, tenant.id)
        .await
        .expect("rollup");
    seed::analyze(&db).await.expect("analyze");
    let load_secs = clock.elapsed().as_secs_f64();
    eprintln!("loaded {total} messages in {load_secs:.1}s");

    // Baseline ingestion.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(ingest(
        db.clone(),
        tenant.id,
        stop.clone(),
        done.clone(),
        "base",
    ));
    tokio::time::sleep(Duration::from_secs(baseline_secs)).await;
    stop.store(true, Ordering::Relaxed);
    task.await.expect("ingest");
    let baseline = done.load(Ordering::Relaxed) as f64 / baseline_secs as f64;
    eprintln!("baseline ingestion: {baseline:.0} messages/s");

    let size_before = maintenance::database_size(&db).await.expect("size");
    let archiver = Archiver {
        db: db.clone(),
        data_dir: PathBuf::from(data.path()),
        tz: Tz::UTC,
        delete_batch: env_u64("ARCHIVE_DELETE_BATCH", 2_000) as usize,
        delete_pause: Duration::from_millis(env_u64(
            "ARCHIVE_DELETE_PAUSE_MS",
            integramon_archiver::DEFAULT_DELETE_PAUSE_MS,
        )),
        read_batch: env_u64("ARCHIVE_READ_BATCH", 5_000) as usize,
        vacuum: VacuumPolicy::default(),
        failpoint: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(ingest(
        db.clone(),
        tenant.id,
        stop.clone(),
        done.clone(),
        "during",
    ));
    let clock = Instant::now();
    let report = archiver
        .run_tenant(&tenant, Some(day))
        .await
        .expect("archive");
    let archive_secs = clock.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    task.await.expect("ingest");
    let during = done.load(Ordering::Relaxed) as f64 / archive_secs;
    let d = &report.days[0];
    let cleanup = report.cleanup.clone().expect("cleanup ran");
    let file = d.file.clone().expect("file");
    let file_size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let size_after_vacuum = maintenance::database_size(&db).await.expect("size");

    // Is the freed space reused? Ingest as many messages as the archive removed, or
    // ARCHIVE_BENCH_REUSE, and see how much the database grows.
    let reuse = env_u64("ARCHIVE_BENCH_REUSE", total / 2);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(ingest(
        db.clone(),
        tenant.id,
        stop.clone(),
        done.clone(),
        "reuse",
    ));
    while done.load(Ordering::Relaxed) < reuse {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    task.await.expect("ingest");
    let reused = done.load(Ordering::Relaxed);
    let size_after_reuse = maintenance::database_size(&db).await.expect("size");

    let clock = Instant::now();
    maintenance::maintain(
        &db,
        &maintenance::MaintenanceOptions {
            tables: integramon_archiver::cleanup::TABLES
                .iter()
                .map(|t| t.to_string())
                .collect(),
            full: true,
        },
    )
    .await
    .expect("vacuum full");
    let full_secs = clock.elapsed().as_secs_f64();
    let size_after_full = maintenance::database_size(&db).await.expect("size");

    println!("| measure | value |");
    println!("|---|---|");
    println!("| messages in the day (4 headers each) | {total} |");
    println!("| load (COPY) + rollup + ANALYZE | {load_secs:.1} s |");
    println!(
        "| archive run, total (write+verify, delete, VACUUM (ANALYZE)) | {archive_secs:.1} s |"
    );
    println!("| - write + verify the file | {:.1} s |", d.write_secs);
    println!(
        "| - delete in batches of {} (pause {} ms) | {:.1} s |",
        archiver.delete_batch,
        archiver.delete_pause.as_millis(),
        d.delete_secs
    );
    println!(
        "| archive file | {} ({} messages) |",
        mib(file_size),
        d.archived
    );
    println!("| ingestion without archive | {baseline:.0} messages/s |");
    println!(
        "| ingestion during the archive | {during:.0} messages/s ({:.0}%) |",
        100.0 * during / baseline
    );
    println!("| database size before | {} |", mib(size_before));
    println!(
        "| after archive + VACUUM (ANALYZE) | {} (cleanup said {} -> {}) |",
        mib(size_after_vacuum),
        mib(cleanup.size_before),
        mib(cleanup.size_after)
    );
    println!(
        "| then {reused} new messages ingested into the freed space | {} (+{}) |",
        mib(size_after_reuse),
        mib(size_after_reuse.saturating_sub(size_after_vacuum))
    );
    println!(
        "| then VACUUM FULL of the message tables ({full_secs:.1} s, exclusive locks) | {} |",
        mib(size_after_full)
    );
    db.close().await;
    admin
        .conn()
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .expect("drop");
    admin.close().await;
}
