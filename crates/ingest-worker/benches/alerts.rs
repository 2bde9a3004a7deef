//! Alert evaluation benchmark: one evaluation cycle of 200 rules for one tenant, with the
//! tenant's stored messages growing, to show the cycle's cost does not grow with them (counts
//! come from the hourly rollup plus at most the last partial hour of messages).
//!
//!   cargo bench -p integramon-ingest-worker --bench alerts -- [--sizes 20000,200000] [--runs 5]
//!
//! SQLite in a temporary directory. 2000 messages in the last day (the same for every size) and
//! the rest 2 to 7 days old, across 50 iFlows, 5 % FAILED. The 200 rules are `message_failures` and `error_rate` rules over windows
//! of 5m, 15m, 1h and 1d with thresholds that let a handful of them fire (most rules of a real
//! installation are quiet). Prints the median and the slowest of `--runs` evaluations after a
//! first one (which creates the default rules and opens the alerts).

use std::time::Instant;

use chrono::{Duration, DurationRound as _, Utc};
use domain::MessageStatus;
use domain::alerts::rule::RuleSpec;
use domain::message::Message;
use domain::tenant::{Auth, TenantSettings};
use integramon_ingest_worker::alerts::evaluate_tenant;
use sea_orm_migration::MigratorTrait;
use store::repo::alerts::rules;
use store::repo::messages::{self, PageMessage};
use store::repo::tenants;

/// Messages in the last day, the same for every size.
const RECENT: usize = 2000;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = arg("--sizes")
        .unwrap_or_else(|| "20000,200000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("--sizes: numbers"))
        .collect();
    let runs: usize = arg("--runs").map_or(5, |r| r.parse().expect("--runs: a number"));
    println!("messages\trules\tfirst_ms\tmedian_ms\tmax_ms\topen_alerts");
    for size in sizes {
        let dir = tempfile::tempdir().unwrap();
        let db = store::connect(&store::DbSettings::sqlite(dir.path().join("b.sqlite3"))).unwrap();
        migration::Migrator::up(db.conn(), None).await.unwrap();
        let settings = TenantSettings::new(
            "bench",
            "https://tenant.example.com",
            Auth::Basic {
                username: "u".into(),
            },
        );
        let tid = tenants::create(&db, &settings, None).await.unwrap().id;
        let now = Utc::now().duration_trunc(Duration::minutes(1)).unwrap();
        // The same 2000 messages in the last day for every size; the rest 2 to 7 days old, so
        // the rules see the same recent data and only the stored volume differs.
        let recent = RECENT.min(size);
        let old = size - recent;
        let mut page = Vec::with_capacity(1000);
        for i in 0..size {
            let end = if i < old {
                let span = Duration::days(5).num_milliseconds() as f64;
                now - Duration::days(2)
                    - Duration::milliseconds((span * (1.0 - i as f64 / old as f64)) as i64)
            } else {
                let span = Duration::days(1).num_milliseconds() as f64;
                now - Duration::milliseconds(
                    (span * (1.0 - (i - old) as f64 / recent as f64)) as i64,
                )
            };
            let status = if i % 20 == 0 {
                MessageStatus::Failed
            } else {
                MessageStatus::Completed
            };
            let mut m = Message::new(format!("M{i:09}"), status);
            m.log_start = Some(end - Duration::seconds(1));
            m.log_end = Some(end);
            m.iflow_id = Some(format!("flow_{:02}", i % 50));
            m.package_id = Some("pkg".into());
            page.push(PageMessage {
                message: m,
                headers: None,
            });
            if page.len() == 1000 {
                messages::write_page(&db, tid, &page).await.unwrap();
                page.clear();
            }
        }
        if !page.is_empty() {
            messages::write_page(&db, tid, &page).await.unwrap();
        }
        let windows = ["5m", "15m", "1h", "1d"];
        for i in 0..200 {
            let window = windows[i % windows.len()];
            let json = if i % 2 == 0 {
                // Per iFlow; only the 1d rules with the lowest thresholds fire.
                serde_json::json!({"name": format!("r{i}"), "kind": "message_failures",
                    "tenant": "bench", "window": window, "threshold": 1 + i / 8})
            } else {
                serde_json::json!({"name": format!("r{i}"), "kind": "error_rate",
                    "tenant": "bench", "window": window, "percent": 50, "min_messages": 5})
            };
            let spec: RuleSpec = serde_json::from_value(json).unwrap();
            spec.validate().unwrap();
            rules::upsert(&db, &spec, "bench", now).await.unwrap();
        }
        let tenant = tenants::get(&db, tid).await.unwrap().unwrap();
        let t0 = Instant::now();
        let first = evaluate_tenant(&db, &tenant, now).await.unwrap();
        let first_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let mut times = Vec::new();
        for r in 0..runs {
            let t = Instant::now();
            evaluate_tenant(&db, &tenant, now + Duration::seconds(r as i64 + 1))
                .await
                .unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{size}\t{}\t{first_ms:.1}\t{:.1}\t{:.1}\t{}",
            first.rules,
            times[times.len() / 2],
            times[times.len() - 1],
            first.opened
        );
        db.close().await;
    }
}
