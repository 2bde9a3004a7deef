//! The Errors list (`repo::error_groups::list`) at 100,000 groups on PostgreSQL, 16 concurrent
//! clients: what `GET /api/error-groups` costs in the database.
//!
//! `ERRORS_BENCH_DB=im_bench_errors cargo bench -p integramon-store --bench error_groups`
//! (PostgreSQL at 127.0.0.1:5432, user postgres, or `TEST_POSTGRES_URL`). The database is
//! created, migrated and seeded with `ERRORS_BENCH_GROUPS` groups (default 100,000) over 30 days
//! (`repo::error_groups::seed_groups`, what `integramon db seed --error-groups` runs) unless its
//! tenant `errbench` exists already; an existing seeded database (`integramon db seed --tenant
//! bench10m --messages 10000000 --error-groups 100000`) is used with `ERRORS_BENCH_TENANT`.
//! `ERRORS_BENCH_ROUNDS` (default 20) requests per client and shape. With
//! `ERRORS_BENCH_SQLITE=<file>` the same runs on that SQLite file instead (created and seeded
//! when the tenant is missing). Before measuring, the windowed sums are brought to the current
//! hour (`refresh_sums`, what the metrics daemon's tick does; timed, since a fresh database
//! builds them there). Results go to docs/benchmarks.md.

mod common;

use std::time::Instant;

use chrono::{Duration, DurationRound as _, Utc};
use common::{admin_url, pg_settings};
use domain::errors::GroupState;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database};
use store::Db;
use store::repo::error_groups::{self, GroupQuery, GroupSort};
use store::repo::tenants;

const CLIENTS: usize = 16;

fn main() {
    let name = std::env::var("ERRORS_BENCH_DB").unwrap_or_else(|_| "im_bench_errors".into());
    let tenant_name = std::env::var("ERRORS_BENCH_TENANT").unwrap_or_else(|_| "errbench".into());
    let groups: u64 = std::env::var("ERRORS_BENCH_GROUPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rounds: usize = std::env::var("ERRORS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let db = match std::env::var("ERRORS_BENCH_SQLITE") {
            Ok(path) => {
                let mut settings = store::DbSettings::sqlite(path);
                settings.pool.max = CLIENTS as u32 + 2;
                store::connect(&settings).expect("connecting")
            }
            Err(_) => postgres(&name).await,
        };
        Migrator::up(db.conn(), None).await.expect("migrating");
        let tenant = match tenants::get_by_name(&db, &tenant_name).await.expect("tenants") {
            Some(t) => t.id,
            None => seed(&db, &tenant_name, groups).await,
        };
        let counted = db
            .conn()
            .query_one_raw(sea_orm::Statement::from_string(
                db.db_backend(),
                format!("SELECT COUNT(*) AS n FROM error_groups WHERE tenant_id = {tenant}"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        println!("{counted} groups in tenant {tenant_name} ({:?}); {CLIENTS} clients x {rounds} requests per shape", db.db_backend());
        let started = Instant::now();
        let moved = error_groups::refresh_sums(&db, Utc::now()).await.expect("refreshing the sums");
        println!(
            "windowed sums brought to the current hour (moved: {moved}) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        run(&db, tenant, rounds).await;
    });
}

async fn postgres(name: &str) -> Db {
    {
        let admin = Database::connect(admin_url()).await.expect("PostgreSQL");
        let exists = admin
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT 1 AS x FROM pg_database WHERE datname = '{name}'"),
            ))
            .await
            .expect("listing databases")
            .is_some();
        if !exists {
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("creating the database");
        }
    }
    let mut settings = pg_settings(name);
    settings.pool.max = CLIENTS as u32 + 2;
    store::connect(&settings).expect("connecting")
}

async fn seed(db: &Db, name: &str, groups: u64) -> i64 {
    use domain::tenant::{Auth, TenantSettings};
    let mut wanted = TenantSettings::new(
        name,
        "https://seed.invalid",
        Auth::Basic {
            username: "seed".into(),
        },
    );
    wanted.collection.enabled = false;
    let t = tenants::create(db, &wanted, None).await.expect("tenant");
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let started = Instant::now();
    let made =
        error_groups::seed_groups(db, t.id, groups, 200, hour - Duration::days(30), hour, 42)
            .await
            .expect("seeding groups");
    println!(
        "seeded {} groups with {} hourly counts in {:.1}s",
        made.groups,
        made.hours,
        started.elapsed().as_secs_f64()
    );
    t.id
}

fn query(tenant: i64, days: i64, sort: GroupSort) -> GroupQuery {
    let now = Utc::now();
    GroupQuery {
        tenants: vec![tenant],
        tenant: None,
        iflow: None,
        package: None,
        state: None,
        from: now - Duration::days(days),
        to: now,
        q: None,
        sort,
        limit: 50,
        after: None,
    }
}

async fn run(db: &Db, tenant: i64, rounds: usize) {
    let mut second_page = query(tenant, 7, GroupSort::LastSeen);
    second_page.after = error_groups::list(db, &second_page).await.unwrap().next;
    let mut state = query(tenant, 30, GroupSort::LastSeen);
    state.state = Some(GroupState::Regressed);
    let mut text = query(tenant, 7, GroupSort::LastSeen);
    text.q = Some("sftpexception".into());
    let mut iflow = query(tenant, 30, GroupSort::Occurrences);
    iflow.iflow = Some("IF_Seed_Flow_0007".into());
    let mut by_count_page_2 = query(tenant, 7, GroupSort::Occurrences);
    by_count_page_2.after = error_groups::list(db, &by_count_page_2).await.unwrap().next;
    let mut rare = query(tenant, 30, GroupSort::LastSeen);
    rare.q = Some("(seeded 471)".into());
    let mut text_by_count = query(tenant, 7, GroupSort::Occurrences);
    text_by_count.q = Some("sftpexception".into());
    // A custom range (not a window's start): the exact path.
    let mut custom = query(tenant, 3, GroupSort::Occurrences);
    custom.from -= Duration::minutes(90);
    let shapes: Vec<(&str, GroupQuery)> = vec![
        ("last seen, 24 h", query(tenant, 1, GroupSort::LastSeen)),
        ("last seen, 7 d", query(tenant, 7, GroupSort::LastSeen)),
        ("last seen, 7 d, page 2", second_page),
        ("first seen, 30 d", query(tenant, 30, GroupSort::FirstSeen)),
        (
            "occurrences, 24 h",
            query(tenant, 1, GroupSort::Occurrences),
        ),
        ("occurrences, 7 d", query(tenant, 7, GroupSort::Occurrences)),
        (
            "occurrences, 30 d",
            query(tenant, 30, GroupSort::Occurrences),
        ),
        ("occurrences, 7 d, page 2", by_count_page_2),
        ("state regressed, 30 d", state),
        ("text search, 7 d", text),
        ("text search, rare (200 groups), 30 d", rare),
        ("text search by occurrences, 7 d", text_by_count),
        ("one iFlow by occurrences, 30 d", iflow),
        ("occurrences, custom 3 d 1.5 h (exact path)", custom),
    ];
    println!("| request (50 per page) | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|");
    for (label, q) in shapes {
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let (db, q) = (db.clone(), q.clone());
            tasks.push(tokio::spawn(async move {
                let mut ms = Vec::with_capacity(rounds);
                for _ in 0..rounds {
                    let started = Instant::now();
                    let page = error_groups::list(&db, &q).await.expect("list");
                    std::hint::black_box(page);
                    ms.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                ms
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort_by(f64::total_cmp);
        let at = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
        println!(
            "| {label} | {:.1} | {:.1} | {:.1} |",
            at(0.5),
            at(0.95),
            all[all.len() - 1]
        );
    }
    let started = Instant::now();
    let counts = error_groups::overview_counts(db, &[tenant]).await.unwrap();
    println!(
        "overview_counts: {counts:?} in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
}
