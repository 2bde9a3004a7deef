//! A migrated database per test on each backend (SQLite file in a temporary directory, or a
//! PostgreSQL database `im_test_<uuid>` on 127.0.0.1:5432, user postgres, trust; dropped
//! afterwards), test data, and the archiver under test. An unreachable PostgreSQL fails the
//! test: a skipped backend would hide exactly what these tests look for.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use domain::MessageStatus;
use domain::message::{
    AdapterAttribute, AttachmentMeta, CustomHeader, ErrorInfo, Message, MessageDetails,
    PayloadEntry, Run, RunStep,
};
use domain::tenant::{Auth, PayloadStrategy, TenantSettings};
use integramon_archiver::{Archiver, TenantRef, VacuumPolicy};
use migration::{Migrator, MigratorTrait};
use sea_orm::ConnectionTrait;
use store::repo::payloads::{self, Download};
use store::repo::{messages, tenants};
use store::{Db, DbSettings, SslMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// Where a test database lives (so a child process can open it too).
#[derive(Debug, Clone)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Target {
    pub fn settings(&self) -> DbSettings {
        match self {
            Target::Sqlite(p) => DbSettings::sqlite(p),
            Target::Postgres(name) => {
                let mut s = DbSettings::postgres("127.0.0.1", 5432, name, "postgres");
                s.sslmode = SslMode::Disable;
                s.connect_timeout = Duration::from_secs(5);
                s.pool.acquire_timeout = Duration::from_secs(30);
                s
            }
        }
    }

    pub fn encode(&self) -> String {
        match self {
            Target::Sqlite(p) => format!("sqlite:{}", p.display()),
            Target::Postgres(n) => format!("postgres:{n}"),
        }
    }

    pub fn decode(s: &str) -> Self {
        match s.split_once(':') {
            Some(("sqlite", p)) => Target::Sqlite(PathBuf::from(p)),
            Some(("postgres", n)) => Target::Postgres(n.to_owned()),
            _ => panic!("bad target {s:?}"),
        }
    }
}

/// A fresh migrated database with a data directory; removed on drop.
pub struct TestDb {
    pub db: Db,
    pub target: Target,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(kind: Kind) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = match kind {
            Kind::Sqlite => Target::Sqlite(dir.path().join("integramon.sqlite3")),
            Kind::Postgres => {
                let name = format!("im_test_{}", uuid::Uuid::new_v4().simple());
                let admin = store::connect(&Target::Postgres("postgres".into()).settings())
                    .expect("connect");
                admin
                    .conn()
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at 127.0.0.1:5432 is needed by this test: {e}")
                    });
                admin.close().await;
                Target::Postgres(name)
            }
        };
        let db = open(&target).await;
        Self { db, target, dir }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn archiver(&self) -> Archiver {
        archiver(self.db.clone(), &self.data_dir())
    }

    pub async fn close(self) {
        self.db.close().await;
        if let Target::Postgres(name) = &self.target {
            let admin =
                store::connect(&Target::Postgres("postgres".into()).settings()).expect("connect");
            admin
                .conn()
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await
                .expect("drop test database");
            admin.close().await;
        }
    }
}

pub async fn open(target: &Target) -> Db {
    let db = store::connect(&target.settings()).expect("connect");
    Migrator::up(db.conn(), None).await.expect("migrate up");
    db
}

pub fn archiver(db: Db, data_dir: &Path) -> Archiver {
    Archiver {
        db,
        data_dir: data_dir.to_owned(),
        tz: Tz::UTC,
        delete_batch: 7,
        delete_pause: std::time::Duration::ZERO,
        read_batch: 11,
        vacuum: VacuumPolicy::default(),
        failpoint: None,
    }
}

/// A tenant; `archive_after`/`delete_after` set its archive job's retention.
pub async fn tenant(db: &Db, name: &str, archive_after: u32, delete_after: u32) -> TenantRef {
    let mut settings = TenantSettings::new(
        name,
        "https://tenant.example.com",
        Auth::Basic {
            username: "user".into(),
        },
    );
    settings.collection.enabled = false;
    let t = tenants::create(db, &settings, None)
        .await
        .expect("create tenant");
    let mut job = domain::tenant::JobSettings::default_for(domain::tenant::JobKind::Archive);
    job.retention.archive_older_than_days = Some(archive_after);
    job.retention.delete_older_than_days = Some(delete_after);
    tenants::upsert_job(db, t.id, &job)
        .await
        .expect("archive job");
    TenantRef {
        id: t.id,
        name: name.to_owned(),
    }
}

/// A day `n` days before today (UTC).
pub fn days_ago(n: u64) -> NaiveDate {
    Utc::now().date_naive() - chrono::Days::new(n)
}

pub fn at(day: NaiveDate, secs: i64) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap()) + chrono::Duration::seconds(secs)
}

/// `n` messages spread over `day` (the first at 00:00:00, the last at 23:59:59), every third
/// with full details (headers, runs and steps, error, adapter attributes, a downloaded payload
/// with binary content, an attachment entry), sharing correlation ids in pairs.
pub async fn messages_on(db: &Db, tenant: &TenantRef, day: NaiveDate, n: usize, prefix: &str) {
    let mut page = Vec::new();
    for i in 0..n {
        let secs = if n > 1 {
            (i as i64) * 86_399 / (n as i64 - 1)
        } else {
            3600
        };
        let status = if i % 5 == 0 {
            MessageStatus::Failed
        } else {
            MessageStatus::Completed
        };
        let mut m = Message::new(format!("{prefix}-{i:05}"), status);
        m.log_start = Some(at(day, secs) - chrono::Duration::milliseconds(1500));
        m.log_end = Some(at(day, secs));
        m.iflow_id = Some(format!("flow_{}", i % 3));
        m.package_id = Some("pkg".into());
        m.correlation_id = Some(format!("{prefix}-cor-{}", i / 2));
        m.sender = Some("S4 \"quoted\" ü".into());
        page.push(m);
    }
    let out = messages::upsert_messages(db, tenant.id, &page)
        .await
        .expect("upsert");
    let ids: Vec<i64> = out.rows.iter().map(|r| r.id).collect();
    let headers: Vec<(i64, Vec<CustomHeader>)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                *id,
                vec![
                    CustomHeader::new("OrderId", format!("ORD-{prefix}-{i}")),
                    CustomHeader::new("Region", "EMEA"),
                ],
            )
        })
        .collect();
    messages::replace_headers_bulk(db, &headers)
        .await
        .expect("headers");
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        let mut step = RunStep::new(1);
        step.step_id = Some("CallActivity_1".into());
        step.status = Some("FAILED".into());
        step.properties
            .insert("Adapter".into(), Some("HTTP".into()));
        let mut step2 = RunStep::new(2);
        step2.activity = Some("End".into());
        let details = MessageDetails {
            status: page[i].status.clone(),
            headers: None,
            runs: Some(vec![Run {
                run_id: format!("run-{i}"),
                run_start: page[i].log_start,
                run_stop: page[i].log_end,
                log_level: Some("INFO".into()),
                overall_state: Some("COMPLETED".into()),
                process_id: None,
                steps: vec![step, step2],
            }]),
            error: Some(ErrorInfo {
                error_type: Some("text/plain".into()),
                last_error_model_step_id: Some("CallActivity_1".into()),
                text: Some(format!("Error {i}: connection refused\nline two")),
            }),
            attachments: Some(vec![AttachmentMeta {
                attachment_id: format!("sap-it-res:msg:1:{i}"),
                name: Some("trace.txt".into()),
                content_type: Some("text/plain".into()),
                size: Some(12),
                timestamp: page[i].log_end,
            }]),
            adapter_attributes: Some(vec![AdapterAttribute {
                cpi_id: Some(format!("aa-{i}")),
                adapter_id: Some("HTTP".into()),
                adapter_message_id: None,
                name: "HttpStatus".into(),
                value: Some("500".into()),
            }]),
            payloads: Some(vec![PayloadEntry {
                entry_id: format!("entry-{i}"),
                message_store_id: Some("Persist_1".into()),
                timestamp: page[i].log_end,
                has_attachments: Some(false),
                retain_until: None,
            }]),
        };
        messages::write_details(db, *id, &details, at(day, 90_000))
            .await
            .expect("details");
    }
    // Download every pending payload of this tenant with binary content.
    for p in payloads::pending_payloads(db, tenant.id, PayloadStrategy::All, 100_000)
        .await
        .expect("pending")
    {
        let content: Vec<u8> = (0..=255u8).chain(p.cpi_id.bytes()).collect();
        payloads::save_payload(
            db,
            p.id,
            &Download::Downloaded {
                sha256: format!("sha-{}", p.cpi_id),
                content,
                content_type: Some("application/octet-stream".into()),
            },
            at(day, 90_001),
        )
        .await
        .expect("save payload");
    }
}
