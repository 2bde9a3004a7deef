//! Restoring one archive file (`integramon archive restore`): a file of
//! `RESTORE_BENCH_MESSAGES` messages (default 100 000) with four custom headers each, every
//! tenth message with its details (error, one run of three steps, two adapter attributes, a
//! 2 KiB payload), is written once, then restored into a fresh, migrated database of each
//! backend in `RESTORE_BENCH_BACKENDS` (default `sqlite,postgres`; PostgreSQL at
//! 127.0.0.1:5432, user postgres, trust), twice: the whole `restore::restore` (verify the file,
//! decode, insert), and the database part alone (`archive_data::restore_messages` in batches of
//! 1000 of messages decoded beforehand, then the rollup refresh) into a second fresh database.
//! Prints seconds and messages per second per backend as Markdown rows for docs/benchmarks.md.
//!
//! Run: `cargo bench -p integramon-archiver --bench restore`. Databases and files are removed
//! at the end.

use std::path::Path;
use std::time::Instant;

use chrono::{Days, TimeZone, Utc};
use domain::archive::{
    ArchivedError, ArchivedHeader, ArchivedMessage, ArchivedPayload, ArchivedRun, ArchivedStep,
};
use domain::message::AdapterAttribute;
use domain::tenant::{Auth, TenantSettings};
use integramon_archiver::{format, restore};
use migration::{Migrator, MigratorTrait};
use sea_orm::ConnectionTrait;
use store::repo::tenants;
use store::{Db, DbSettings, SslMode};

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn message(k: u64, day_start: chrono::DateTime<Utc>) -> ArchivedMessage {
    let t = day_start + chrono::Duration::milliseconds((k % 86_000_000) as i64);
    let detailed = k.is_multiple_of(10);
    let s = |v: &str| Some(v.to_string());
    ArchivedMessage {
        id: k as i64 + 1,
        guid: format!("RESTORE{k:012}"),
        correlation_id: Some(format!("COR{:010}", k / 2)),
        application_message_id: Some(format!("APP{k}")),
        application_message_type: None,
        predecessor_guid: None,
        log_start: Some(t - chrono::Duration::milliseconds(800)),
        log_end: Some(t),
        sender: s("S4HANA"),
        receiver: s("Partner"),
        iflow_id: Some(format!("flow_{}", k % 200)),
        iflow_name: Some(format!("Flow {}", k % 200)),
        artifact_type: s("INTEGRATION_FLOW"),
        package_id: s("pkg"),
        package_name: s("Package"),
        status: if detailed {
            s("FAILED")
        } else {
            s("COMPLETED")
        },
        custom_status: None,
        log_level: s("INFO"),
        alternate_web_link: None,
        transaction_id: Some(format!("tx{k}")),
        archiving_status: None,
        origin_component_name: s("CPI_x"),
        local_component_name: s("CPI_x"),
        previous_component_name: None,
        duration_ms: Some(800),
        details_status: if detailed { s("fetched") } else { None },
        details_fetched_at: detailed.then_some(t),
        created_at: t,
        updated_at: t,
        headers: ["OrderId", "CustomerId", "DocumentType", "Region"]
            .iter()
            .map(|n| ArchivedHeader {
                cpi_id: None,
                name: n.to_string(),
                value: Some(format!("{n}-{}", k % 100_000)),
            })
            .collect(),
        error: detailed.then(|| ArchivedError {
            error_type: s("text/plain"),
            last_error_model_step_id: s("CallActivity_1"),
            text: Some(format!("HTTP 500 for order {k}")),
            fetched_at: t,
        }),
        runs: if detailed {
            vec![ArchivedRun {
                run_id: format!("run{k}"),
                run_start: Some(t),
                run_stop: Some(t),
                log_level: s("INFO"),
                overall_state: s("FAILED"),
                process_id: None,
                steps: (0..3)
                    .map(|c| ArchivedStep {
                        child_count: c,
                        step_start: Some(t),
                        step_stop: Some(t),
                        step_id: Some(format!("Step_{c}")),
                        model_step_id: Some(format!("Model_{c}")),
                        branch_id: None,
                        status: s("COMPLETED"),
                        error: None,
                        activity: s("Script"),
                        properties: None,
                    })
                    .collect(),
            }]
        } else {
            Vec::new()
        },
        adapter_attributes: if detailed {
            (0..2)
                .map(|i| AdapterAttribute {
                    cpi_id: None,
                    adapter_id: s("HTTP"),
                    adapter_message_id: None,
                    name: format!("attr{i}"),
                    value: s("v"),
                })
                .collect()
        } else {
            Vec::new()
        },
        payloads: if detailed {
            vec![ArchivedPayload {
                entry_id: format!("entry{k}"),
                message_store_id: None,
                entry_timestamp: Some(t),
                has_attachments: Some(false),
                content_type: s("application/xml"),
                size: Some(2048),
                content: Some(vec![b'x'; 2048]),
                sha256: None,
                retain_until: None,
                status: "downloaded".into(),
                error: None,
                downloaded_at: Some(t),
            }]
        } else {
            Vec::new()
        },
        attachments: Vec::new(),
    }
}

/// Write the file (the header is built from JSON so this bench builds against older code too).
fn write_file(path: &Path, total: u64, day: chrono::NaiveDate) {
    let start = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"));
    let header: domain::archive::Header = serde_json::from_value(serde_json::json!({
        "format": domain::archive::FORMAT,
        "version": domain::archive::VERSION,
        "tenant": "bench",
        "tenant_id": 1,
        "day": day,
        "time_zone": "UTC",
        "from": start,
        "to": start + chrono::Duration::days(1),
        "message_count": total,
        "created_at": Utc::now(),
        "writer": "restore bench",
    }))
    .expect("header");
    let mut w = format::Writer::create(path, &header).expect("create");
    for k in 0..total {
        w.write(&message(k, start)).expect("write");
    }
    w.finish().expect("finish");
}

fn next() -> u32 {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

async fn fresh_db(backend: &str, dir: &Path) -> (Db, Option<String>) {
    let settings = match backend {
        "sqlite" => DbSettings::sqlite(dir.join(format!("restore-{}.sqlite3", next()))),
        _ => {
            let name = format!("im_bench_restore_{}_{}", std::process::id(), next());
            let mut admin = DbSettings::postgres("127.0.0.1", 5432, "postgres", "postgres");
            admin.sslmode = SslMode::Disable;
            let a = store::connect(&admin).expect("connect");
            a.conn()
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("PostgreSQL at 127.0.0.1:5432 is needed");
            a.close().await;
            let mut s = DbSettings::postgres("127.0.0.1", 5432, &name, "postgres");
            s.sslmode = SslMode::Disable;
            return (connect_migrated(s).await, Some(name));
        }
    };
    (connect_migrated(settings).await, None)
}

async fn connect_migrated(s: DbSettings) -> Db {
    let db = store::connect(&s).expect("connect");
    Migrator::up(db.conn(), None).await.expect("migrate");
    let mut ts = TenantSettings::new(
        "bench",
        "https://bench.invalid",
        Auth::Basic {
            username: "b".into(),
        },
    );
    ts.collection.enabled = false;
    tenants::create(&db, &ts, None).await.expect("tenant");
    db
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    store::install_tls_provider();
    let total = env_u64("RESTORE_BENCH_MESSAGES", 100_000);
    let backends = std::env::var("RESTORE_BENCH_BACKENDS").unwrap_or("sqlite,postgres".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bench.archive");
    let day = Utc::now().date_naive() - Days::new(40);
    let clock = Instant::now();
    write_file(&file, total, day);
    let size = std::fs::metadata(&file).expect("file").len();
    eprintln!(
        "wrote {total} messages ({:.1} MB) in {:.1} s",
        size as f64 / 1e6,
        clock.elapsed().as_secs_f64()
    );
    println!(
        "| backend | messages | file MB | restore s | messages/s | database part s | messages/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        let (db, pg_name) = fresh_db(backend, dir.path()).await;
        let clock = Instant::now();
        let mut last = Instant::now();
        let report = restore::restore(&db, &file, None, |done, all| {
            if last.elapsed().as_secs() >= 10 {
                last = Instant::now();
                eprintln!("{backend}: {done} of {all}");
            }
        })
        .await
        .expect("restore");
        let secs = clock.elapsed().as_secs_f64();
        assert_eq!(report.inserted, total);
        db.close().await;
        drop_pg(pg_name).await;

        // The database part alone, from messages decoded beforehand.
        let mut decoded = Vec::with_capacity(total as usize);
        format::scan(&file, |line, _| {
            decoded.push(format::decode_message(&file, line)?);
            Ok(())
        })
        .expect("decode");
        let (db, pg_name) = fresh_db(backend, dir.path()).await;
        let clock = Instant::now();
        let (mut first, mut last) = (None, None);
        for batch in decoded.chunks(1000) {
            let out = store::repo::archive_data::restore_messages(&db, 1, batch)
                .await
                .expect("restore_messages");
            if let Some(a) = out.first {
                first = Some(first.map_or(a, |f: chrono::DateTime<Utc>| f.min(a)));
            }
            last = last.max(out.last);
        }
        if let (Some(a), Some(b)) = (first, last) {
            store::repo::monitor::refresh_counts_between(&db, 1, a, b)
                .await
                .expect("rollup");
        }
        let db_secs = clock.elapsed().as_secs_f64();
        println!(
            "| {backend} | {total} | {:.1} | {secs:.1} | {:.0} | {db_secs:.1} | {:.0} |",
            size as f64 / 1e6,
            total as f64 / secs,
            total as f64 / db_secs
        );
        db.close().await;
        drop_pg(pg_name).await;
    }
}

async fn drop_pg(name: Option<String>) {
    if let Some(name) = name {
        {
            let mut admin = DbSettings::postgres("127.0.0.1", 5432, "postgres", "postgres");
            admin.sslmode = SslMode::Disable;
            let a = store::connect(&admin).expect("connect");
            let _ = a
                .conn()
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
            a.close().await;
        }
    }
}
