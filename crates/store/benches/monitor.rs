//! The message monitor's queries and the rollup refresh on a seeded PostgreSQL database
//! (`integramon db seed`, e.g. 10 million messages):
//!
//! `MONITOR_BENCH_DB=im_bench MONITOR_BENCH_TENANT=bench10m cargo bench -p integramon-store
//! --bench monitor` (PostgreSQL at 127.0.0.1:5432, user postgres, or `TEST_POSTGRES_URL`).
//! `MONITOR_BENCH_ONLY=queries` or `=refresh` runs one half. `MONITOR_BENCH_SQLITE=<file>` runs
//! on a seeded SQLite file instead (`MONITOR_BENCH_DB` is then ignored but must be set).
//! Results go to docs/benchmarks.md.

mod common;

use std::collections::HashSet;

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::pg_settings;
use domain::MessageStatus;
use domain::message::Message;
use store::Db;
use store::repo::monitor::{self, Bucket, MessageFilter, Sort};
use store::repo::{messages, tenants};

const STATUSES: [MessageStatus; 5] = [
    MessageStatus::Completed,
    MessageStatus::Completed,
    MessageStatus::Failed,
    MessageStatus::Retry,
    MessageStatus::Processing,
];

fn filter(tenants: &[i64]) -> MessageFilter {
    MessageFilter::tenants(tenants.iter().copied())
}

fn main() {
    let var = |k: &str| {
        std::env::var(k)
            .unwrap_or_else(|_| panic!("{k} must be set: see the top of benches/monitor.rs"))
    };
    let (name, tenant_name) = (var("MONITOR_BENCH_DB"), var("MONITOR_BENCH_TENANT"));
    let only = std::env::var("MONITOR_BENCH_ONLY").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        // MONITOR_BENCH_SQLITE=<file>: the same calls on a seeded SQLite file instead.
        let settings = match std::env::var("MONITOR_BENCH_SQLITE") {
            Ok(path) => store::DbSettings::sqlite(path),
            Err(_) => pg_settings(&name),
        };
        let db = store::connect(&settings).expect("connecting");
        let tenant = tenants::get_by_name(&db, &tenant_name)
            .await
            .expect("reading tenants")
            .unwrap_or_else(|| panic!("no tenant {tenant_name} in {name}: run integramon db seed"))
            .id;
        if only != "refresh" {
            monitor_timings(&db, tenant).await;
        }
        if only != "queries" {
            refresh_cost_per_page(&db, tenant).await;
        }
    });
}

/// What refreshing the rollup adds to each ingested page, on a seeded PostgreSQL database:
/// `MONITOR_BENCH_DB=im_bench MONITOR_BENCH_TENANT=bench10m cargo nextest run -p
/// integramon-store --test repo_monitor --run-ignored only refresh_cost -- --nocapture`.
/// Writes 20 pages of 1,000 messages (a quarter of them updates moving to a later hour) into
/// the current hours of the tenant, timing the page transaction and the refresh apart.
async fn refresh_cost_per_page(db: &Db, tenant: i64) {
    let base = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(2);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (mut page_ms, mut refresh_ms, mut hours_total) = (Vec::new(), Vec::new(), 0);
    for p in 0..20i64 {
        let list: Vec<Message> = (0..1000i64)
            .map(|i| {
                // Every fourth message repeats one of the previous page, an hour later.
                let (guid_page, end) = if p > 0 && i % 4 == 0 {
                    (
                        p - 1,
                        base + Duration::minutes(60 + p * 3) + Duration::seconds(i % 60),
                    )
                } else {
                    (
                        p,
                        base + Duration::minutes(p * 3) + Duration::seconds(i % 60),
                    )
                };
                let mut m = Message::new(
                    format!("bench-{run}-{guid_page}-{i}"),
                    STATUSES[(i % 5) as usize].clone(),
                );
                m.iflow_id = Some(format!("IF_Seed_Flow_{:04}", i % 40));
                m.package_id = Some("SeedPackage000".into());
                m.log_start = Some(end - Duration::seconds(1));
                m.log_end = Some(end);
                m
            })
            .collect();
        let started = std::time::Instant::now();
        let out = messages::upsert_messages(db, tenant, &list).await.unwrap();
        page_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let mut hours: Vec<DateTime<Utc>> = list.iter().filter_map(|m| m.log_end).collect();
        hours.extend(out.rows.iter().filter_map(|r| r.previous_log_end));
        let distinct: HashSet<i64> = hours.iter().map(|h| h.timestamp() / 3600).collect();
        hours_total += distinct.len();
        let started = std::time::Instant::now();
        monitor::refresh_counts(db, tenant, &hours).await.unwrap();
        refresh_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "pages of 1000: upsert median {:.1} ms, refresh median {:.1} ms ({:.1} hours/page)",
        median(&mut page_ms),
        median(&mut refresh_ms),
        hours_total as f64 / 20.0
    );
}

/// Timings of the monitor's calls on a seeded database (same variables as
/// `refresh_cost_per_page`), each the median of five runs.
async fn monitor_timings(db: &Db, tenant: i64) {
    let only = [tenant];
    let now = Utc::now();
    let day = MessageFilter {
        from: Some(now - Duration::hours(24)),
        to: Some(now),
        ..filter(&[tenant])
    };
    let month = MessageFilter {
        from: Some(now - Duration::days(30)),
        to: Some(now),
        ..filter(&[tenant])
    };
    async fn timed<F, Fut, T>(label: &str, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let mut ms = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let started = std::time::Instant::now();
            last = Some(f().await);
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!("{label:<48} {:>9.1} ms", ms[2]);
        last.unwrap()
    }
    let page = timed("search, 24 h, first page of 50", || {
        monitor::search(db, &day, Sort::NewestFirst, None, 50)
    })
    .await
    .unwrap();
    let mut after = page.next.clone();
    let started = std::time::Instant::now();
    for _ in 0..100 {
        let p = monitor::search(db, &month, Sort::NewestFirst, after.as_deref(), 50)
            .await
            .unwrap();
        after = p.next;
    }
    println!(
        "{:<48} {:>9.1} ms",
        "search, 30 d, 100 pages of 50 (per page)",
        started.elapsed().as_secs_f64() * 1000.0 / 100.0
    );
    let deep = after.clone();
    timed("search, 30 d, page 101", || {
        monitor::search(db, &month, Sort::NewestFirst, deep.as_deref(), 50)
    })
    .await
    .unwrap();
    let failed = MessageFilter {
        statuses: vec!["FAILED".into()],
        ..month.clone()
    };
    timed("search, 30 d, FAILED, first page", || {
        monitor::search(db, &failed, Sort::NewestFirst, None, 50)
    })
    .await
    .unwrap();
    let multi = MessageFilter {
        tenant_ids: vec![tenant, tenant - 1, tenant + 1],
        ..day.clone()
    };
    timed("search, 24 h, 3 tenants, first page", || {
        monitor::search(db, &multi, Sort::NewestFirst, None, 50)
    })
    .await
    .unwrap();
    let exact = MessageFilter {
        header_name: Some("OrderId".into()),
        header_value: Some("ORD-0000123456".into()),
        ..month.clone()
    };
    timed("search, header exact", || {
        monitor::search(db, &exact, Sort::NewestFirst, None, 50)
    })
    .await
    .unwrap();
    let prefix = MessageFilter {
        header_name: Some("OrderId".into()),
        header_value: Some("ORD-000012345*".into()),
        ..month.clone()
    };
    timed("search, header prefix (10 matches)", || {
        monitor::search(db, &prefix, Sort::NewestFirst, None, 50)
    })
    .await
    .unwrap();
    // Prefixes at both ends of selectivity (issue 17): the seed's OrderId is `ORD-<n:010>`, so
    // `ORD*` matches every message and `ORD-000012345*` ten.
    let unselective = MessageFilter {
        header_name: Some("OrderId".into()),
        header_value: Some("ORD*".into()),
        ..month.clone()
    };
    // `Region=E*`: EMEA, about a third of the messages, which PostgreSQL's estimate missed.
    let region = MessageFilter {
        header_name: Some("Region".into()),
        header_value: Some("E*".into()),
        ..month.clone()
    };
    let mut prefix_ms = Vec::new();
    for (label, f) in [
        ("search, header prefix ORD* (every message)", &unselective),
        ("search, header prefix Region=E* (a third)", &region),
        ("search, header prefix ORD-000012345* (10)", &prefix),
    ] {
        for _ in 0..20 {
            let started = std::time::Instant::now();
            monitor::search(db, f, Sort::NewestFirst, None, 50)
                .await
                .unwrap();
            prefix_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        prefix_ms.sort_by(f64::total_cmp);
        println!(
            "{label:<48} {:>9.1} ms (p95 of 20: {:.1} ms)",
            prefix_ms[10], prefix_ms[18]
        );
        prefix_ms.clear();
    }
    let unselective_day = MessageFilter {
        from: day.from,
        ..unselective.clone()
    };
    timed("search, header prefix ORD*, 24 h", || {
        monitor::search(db, &unselective_day, Sort::NewestFirst, None, 50)
    })
    .await
    .unwrap();
    let f = timed("facets, 24 h, header prefix ORD* (capped)", || {
        monitor::facets(db, &unselective_day)
    })
    .await
    .unwrap();
    println!("  total {} exact {}", f.total, f.exact);
    let v = timed("volume of the list, 24 h, header prefix ORD*", || {
        monitor::volume_filtered(db, &unselective_day, Bucket::Hour, None)
    })
    .await
    .unwrap();
    println!("  exact {}", v.exact);
    let f = timed("facets, 24 h (rollup + edges)", || {
        monitor::facets(db, &day)
    })
    .await
    .unwrap();
    println!("  total {} exact {}", f.total, f.exact);
    let f = timed("facets, 30 d (rollup + edges)", || {
        monitor::facets(db, &month)
    })
    .await
    .unwrap();
    println!("  total {} exact {}", f.total, f.exact);
    let sender = MessageFilter {
        sender: Some("ARIBA".into()),
        ..day.clone()
    };
    let f = timed("facets, 24 h, sender (base path, cap)", || {
        monitor::facets(db, &sender)
    })
    .await
    .unwrap();
    println!("  total {} exact {}", f.total, f.exact);
    timed("volume, 30 d by day", || {
        monitor::volume(db, &only, now - Duration::days(30), now, Bucket::Day, None)
    })
    .await
    .unwrap();
    timed("volume, 24 h by hour", || {
        monitor::volume(
            db,
            &only,
            now - Duration::hours(24),
            now,
            Bucket::Hour,
            None,
        )
    })
    .await
    .unwrap();
    let id = page.rows.first().map(|r| r.id).unwrap_or(1);
    timed("detail", || monitor::detail(db, &only, id))
        .await
        .unwrap();
    timed("overview", || monitor::overview(db, tenant, now))
        .await
        .unwrap();
}
