//! Message ingest throughput: `write_page` (ten headers per message, pages of 1000 as the OData
//! API serves them) against PostgreSQL `COPY` of the same rows into the same tables, in the same
//! run, each into a fresh database with the full schema and its indexes. COPY is the ceiling;
//! the ingest path should reach at least half of it.
//!
//! Run: `cargo bench -p integramon-store --bench upsert` (PostgreSQL at 127.0.0.1:5432, user
//! postgres, trust auth, or `TEST_POSTGRES_URL`). `IM_BENCH_MESSAGES` sets the message count
//! (default 20000). SQLite is measured too, for reference.

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use common::{admin_url, pg_settings};
use domain::MessageStatus;
use domain::message::{CustomHeader, Message};
use domain::tenant::{Auth, TenantSettings};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use sqlx::Connection;
use store::entity::custom_header_properties::value_prefix;
use store::repo::{messages, tenants};
use store::{Db, DbSettings, connect, connect::postgres_options};

const PAGE: usize = 1000;
const HEADERS: usize = 10;

async fn admin() -> DatabaseConnection {
    let mut opts = ConnectOptions::new(admin_url());
    opts.max_connections(1).sqlx_logging(false);
    Database::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {} is needed: {e}", admin_url()))
}

async fn fresh_pg() -> (String, Db) {
    let name = format!("im_bench_{}", uuid::Uuid::new_v4().simple());
    admin()
        .await
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create database");
    let db = connect(&pg_settings(&name)).expect("connect");
    Migrator::up(db.conn(), None).await.expect("migrate");
    (name, db)
}

async fn drop_pg(name: &str) {
    let _ = admin()
        .await
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

async fn tenant(db: &Db) -> i64 {
    let s = TenantSettings::new(
        "bench",
        "https://bench.example.com",
        Auth::Basic {
            username: "u".into(),
        },
    );
    tenants::create(db, &s, None).await.expect("tenant").id
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap()
}

/// Messages shaped like real MPLs: 28-character GUIDs, long web links, most fields set.
fn messages(n: usize) -> Vec<(Message, Vec<CustomHeader>)> {
    let statuses = [
        MessageStatus::Completed,
        MessageStatus::Completed,
        MessageStatus::Completed,
        MessageStatus::Failed,
        MessageStatus::Processing,
    ];
    (0..n)
        .map(|i| {
            let guid = format!("AGk_{i:016}xKgivsDa");
            let mut m = Message::new(&guid, statuses[i % statuses.len()].clone());
            let start = base() + chrono::Duration::milliseconds(i as i64 * 37);
            m.log_start = Some(start);
            m.log_end = Some(start + chrono::Duration::milliseconds(250 + (i % 900) as i64));
            m.correlation_id = Some(format!("AGk_corr{:016}xKgi", i / 3));
            m.application_message_id = (i % 4 == 0).then(|| format!("APP-{i}"));
            m.sender = Some("S4HANA".into());
            m.receiver = Some("Salesforce".into());
            m.iflow_id = Some(format!("com.acme.flow_{}", i % 50));
            m.iflow_name = Some(format!("Replicate Orders {}", i % 50));
            m.artifact_type = Some("INTEGRATION_FLOW".into());
            m.package_id = Some(format!("com.acme.package_{}", i % 7));
            m.package_name = Some(format!("ACME Package {}", i % 7));
            m.custom_status = Some(m.status.as_str().to_owned());
            m.log_level = Some("INFO".into());
            m.alternate_web_link = Some(format!(
                "https://acme.integrationsuite.cfapps.eu10.hana.ondemand.com/shell/monitoring/\
                 Messages/%7B%22identifier%22%3A%22{guid}%22%7D"
            ));
            m.transaction_id = Some(format!("{:032x}", i as u128 * 7919));
            m.archiving_status = Some("NOT_RELEVANT".into());
            m.origin_component_name = Some("CPI_ACME".into());
            m.local_component_name = Some("CPI_ACME".into());
            m.previous_component_name = Some("CPI_ACME".into());
            let headers = (0..HEADERS)
                .map(|h| CustomHeader::new(format!("header_{h}"), format!("value-{i}-{h}-ÄÖÜ")))
                .collect();
            (m, headers)
        })
        .collect()
}

/// The ingest path as a worker runs it: per page one `write_page` transaction (upsert, the
/// headers of the messages it inserted or changed, correlations, rollup).
async fn ingest(db: &Db, tenant_id: i64, data: &[(Message, Vec<CustomHeader>)]) -> Duration {
    let started = Instant::now();
    for page in data.chunks(PAGE) {
        let list: Vec<messages::PageMessage> = page
            .iter()
            .map(|(m, h)| messages::PageMessage {
                message: m.clone(),
                headers: Some(h.clone()),
            })
            .collect();
        let out = messages::write_page(db, tenant_id, &list)
            .await
            .expect("page");
        assert_eq!(out.upsert.inserted as usize, page.len());
    }
    started.elapsed()
}

/// COPY text format: backslash, tab, newline and carriage return escaped, `\N` for NULL.
fn field(out: &mut String, v: Option<&str>) {
    match v {
        None => out.push_str("\\N"),
        Some(s) => {
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

fn ts(v: Option<DateTime<Utc>>) -> Option<String> {
    v.map(|t| t.to_rfc3339())
}

/// The ceiling: COPY of the same rows (ids assigned by us) into the same tables, one
/// transaction per page.
async fn copy(db_name: &str, tenant_id: i64, data: &[(Message, Vec<CustomHeader>)]) -> Duration {
    let opts = postgres_options(&pg_settings(db_name)).expect("options");
    let mut conn = sqlx::PgConnection::connect_with(&opts)
        .await
        .expect("connect");
    let now = Utc::now().to_rfc3339();
    let tenant = tenant_id.to_string();
    let started = Instant::now();
    let mut next_id = 1_000_000_i64;
    for page in data.chunks(PAGE) {
        let mut logs = String::with_capacity(page.len() * 600);
        let mut heads = String::with_capacity(page.len() * HEADERS * 80);
        for (m, headers) in page {
            next_id += 1;
            let id = next_id.to_string();
            let duration = m.duration_ms().map(|d| d.to_string());
            let (start, end) = (ts(m.log_start), ts(m.log_end));
            let cols: [Option<&str>; 28] = [
                Some(&id),
                Some(&tenant),
                Some(&m.guid),
                m.correlation_id.as_deref(),
                m.application_message_id.as_deref(),
                m.application_message_type.as_deref(),
                m.predecessor_guid.as_deref(),
                start.as_deref(),
                end.as_deref(),
                m.sender.as_deref(),
                m.receiver.as_deref(),
                m.iflow_id.as_deref(),
                m.iflow_name.as_deref(),
                m.artifact_type.as_deref(),
                m.package_id.as_deref(),
                m.package_name.as_deref(),
                Some(m.status.as_str()),
                m.custom_status.as_deref(),
                m.log_level.as_deref(),
                m.alternate_web_link.as_deref(),
                m.transaction_id.as_deref(),
                m.archiving_status.as_deref(),
                m.origin_component_name.as_deref(),
                m.local_component_name.as_deref(),
                m.previous_component_name.as_deref(),
                duration.as_deref(),
                Some(&now),
                Some(&now),
            ];
            for (i, c) in cols.iter().enumerate() {
                if i > 0 {
                    logs.push('\t');
                }
                field(&mut logs, *c);
            }
            logs.push('\n');
            for h in headers {
                let value = h.value.as_deref();
                let prefix = value.map(value_prefix);
                let _ = write!(heads, "{id}\t{tenant}\t");
                field(&mut heads, Some(&h.name));
                heads.push('\t');
                field(&mut heads, value);
                heads.push('\t');
                field(&mut heads, prefix.as_deref());
                heads.push('\n');
            }
        }
        let mut tx = conn.begin().await.expect("begin");
        let mut c = tx
            .copy_in_raw(
                "COPY message_logs (id, tenant_id, message_guid, correlation_id, \
                 application_message_id, application_message_type, predecessor_message_guid, \
                 log_start, log_end, sender, receiver, iflow_id, iflow_name, artifact_type, \
                 package_id, package_name, status, custom_status, log_level, alternate_web_link, \
                 transaction_id, archiving_status, origin_component_name, local_component_name, \
                 previous_component_name, duration_ms, created_at, updated_at) FROM STDIN",
            )
            .await
            .expect("copy message_logs");
        c.send(logs.into_bytes()).await.expect("send");
        c.finish().await.expect("finish");
        let mut c = tx
            .copy_in_raw(
                "COPY custom_header_properties (message_id, tenant_id, name, value, value_prefix) \
                 FROM STDIN",
            )
            .await
            .expect("copy headers");
        c.send(heads.into_bytes()).await.expect("send");
        c.finish().await.expect("finish");
        tx.commit().await.expect("commit");
    }
    let elapsed = started.elapsed();
    conn.close().await.ok();
    elapsed
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("IM_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let data = messages(n);
    println!(
        "ingest benchmark: {n} messages, {HEADERS} headers each, pages of {PAGE}, \
         fresh database per method"
    );

    let (upsert_name, upsert_db) = fresh_pg().await;

    let (copy_name, copy_db) = fresh_pg().await;
    let upsert_tenant = tenant(&upsert_db).await;
    let copy_tenant = tenant(&copy_db).await;
    copy_db.close().await;

    let result = tokio::spawn({
        let data = data.clone();
        let copy_name = copy_name.clone();
        async move {
            let ingest_time = ingest(&upsert_db, upsert_tenant, &data).await;
            // Re-reading the same pages (the hot job's overlap) writes nothing.
            let reread = Instant::now();
            for page in data.chunks(PAGE) {
                let msgs: Vec<Message> = page.iter().map(|(m, _)| m.clone()).collect();
                let out = messages::upsert_messages(&upsert_db, upsert_tenant, &msgs)
                    .await
                    .expect("re-read");
                assert_eq!(out.unchanged as usize, page.len());
            }
            let reread_time = reread.elapsed();
            upsert_db.close().await;
            let copy_time = copy(&copy_name, copy_tenant, &data).await;
            (ingest_time, reread_time, copy_time)
        }
    })
    .await;
    drop_pg(&upsert_name).await;
    drop_pg(&copy_name).await;
    let (ingest_time, reread_time, copy_time) = match result {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };

    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = connect(&DbSettings::sqlite(dir.path().join("bench.sqlite3"))).expect("sqlite");
    Migrator::up(sqlite.conn(), None).await.expect("migrate");
    let sqlite_tenant = tenant(&sqlite).await;
    let sqlite_time = ingest(&sqlite, sqlite_tenant, &data).await;
    sqlite.close().await;

    let upsert_rate = rate(n, ingest_time);
    let copy_rate = rate(n, copy_time);
    println!(
        "postgresql write_page:                             {upsert_rate:>10.0} messages/s \
         ({:.2} s)",
        ingest_time.as_secs_f64()
    );
    println!(
        "postgresql COPY (same rows, same tables):          {copy_rate:>10.0} messages/s \
         ({:.2} s)",
        copy_time.as_secs_f64()
    );
    println!(
        "ratio upsert / COPY:                               {:>10.2}",
        upsert_rate / copy_rate
    );
    println!(
        "postgresql re-read of unchanged pages:             {:>10.0} messages/s",
        rate(n, reread_time)
    );
    println!(
        "sqlite write_page:                                 {:>10.0} messages/s ({:.2} s)",
        rate(n, sqlite_time),
        sqlite_time.as_secs_f64()
    );
}
