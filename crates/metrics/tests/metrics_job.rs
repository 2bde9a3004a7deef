//! The metrics daemon's `metrics` job, run through the in-process queue on SQLite and on
//! PostgreSQL (127.0.0.1:5432, user postgres, trust; `TEST_POSTGRES_URL` elsewhere; an
//! unreachable server fails the test): for a seeded set of messages and payloads, the snapshot
//! rows hold the counts by status, the LogEnd − LogStart percentiles and the payload volume that
//! this test computes on its own from what it wrote; the run and the watermark are recorded;
//! running the job again leaves the same rows. Storage snapshots are taken at most once per
//! period and measure the archive directories.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use domain::MessageStatus;
use domain::job::{JobEnvelope, JobType, TenantRef};
use domain::message::Message;
use domain::tenant::{Auth, TenantSettings};
use integramon_metrics::jobs::{self, Worker};
use integramon_metrics::snapshot::SnapshotOptions;
use integramon_metrics::storage;
use queue::{InProcessQueue, JobQueue, QueueConfig, Shutdown};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use store::entity::payloads as payload_rows;
use store::repo::job_runs;
use store::repo::snapshots::{self, MetricSnapshot, StorageKind};
use store::repo::{messages, sync_state, tenants};
use store::{Db, on_both};

const BUCKET: i64 = 300;

/// Nearest rank, written out differently from the daemon's: ⌈p/100 · n⌉ with floats.
fn nearest_rank(values: &[i64], p: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.max(1) - 1])
}

fn floor(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp() - t.timestamp().rem_euclid(BUCKET), 0)
        .unwrap()
}

/// What one interval and iFlow should hold: statuses, durations, payload count and bytes.
type Expected = (BTreeMap<String, i64>, Vec<i64>, i64, i64);

struct Seeded {
    /// (bucket, iflow) -> expected
    expected: BTreeMap<(DateTime<Utc>, String), Expected>,
    names: HashMap<String, String>,
}

/// Messages over the last 50 minutes' complete intervals, with pseudo-random durations and
/// statuses, some without an iFlow; one in the current interval and one two hours back (both
/// outside what the job computes); payloads with sizes on some.
async fn seed(db: &Db, tenant_id: i64, now: DateTime<Utc>) -> Seeded {
    let end = floor(now);
    let statuses = [
        MessageStatus::Completed,
        MessageStatus::Completed,
        MessageStatus::Failed,
        MessageStatus::Retry,
        MessageStatus::Processing,
    ];
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m
    };
    let mut list = Vec::new();
    let mut expected: Seeded = Seeded {
        expected: BTreeMap::new(),
        names: HashMap::new(),
    };
    for i in 0..400u64 {
        let back_ms = 1 + next(50 * 60 * 1000) as i64;
        let log_end = end - chrono::Duration::milliseconds(back_ms);
        let duration = next(120_000) as i64;
        let status = statuses[next(5) as usize].clone();
        let mut m = Message::new(format!("guid-{i:05}"), status.clone());
        m.log_end = Some(log_end);
        m.log_start = Some(log_end - chrono::Duration::milliseconds(duration));
        let iflow = match next(4) {
            0 => None,
            k => Some(format!("flow_{k}")),
        };
        if let Some(f) = &iflow {
            m.iflow_id = Some(f.clone());
            m.iflow_name = Some(format!("Flow {f}"));
            expected.names.insert(f.clone(), format!("Flow {f}"));
        }
        // The LogEnd as the database keeps it (microseconds on PostgreSQL, and the daemon
        // buckets what it reads back).
        let e = expected
            .expected
            .entry((floor(log_end), iflow.clone().unwrap_or_default()))
            .or_default();
        *e.0.entry(status.as_str().to_string()).or_default() += 1;
        e.1.push(duration);
        list.push(m);
    }
    // Outside the computed range: the current interval, and two hours ago.
    for (guid, at) in [("now", now), ("old", end - chrono::Duration::hours(2))] {
        let mut m = Message::new(guid, MessageStatus::Failed);
        m.log_end = Some(at);
        m.log_start = Some(at);
        list.push(m);
    }
    messages::upsert_messages(db, tenant_id, &list)
        .await
        .unwrap();
    for i in (0..400u64).step_by(7) {
        let guid = format!("guid-{i:05}");
        let stored = messages::find_message(db, tenant_id, &guid)
            .await
            .unwrap()
            .unwrap();
        let size = 100 + i as i64;
        for (entry, size) in [("a", Some(size)), ("b", None)] {
            payload_rows::ActiveModel {
                message_id: Set(stored.id),
                entry_id: Set(entry.into()),
                size: Set(size),
                status: Set("downloaded".into()),
                ..Default::default()
            }
            .insert(db.conn())
            .await
            .unwrap();
        }
        let m = &stored.message;
        let e = expected
            .expected
            .get_mut(&(
                floor(m.log_end.unwrap()),
                m.iflow_id.clone().unwrap_or_default(),
            ))
            .unwrap();
        e.2 += 1;
        e.3 += size;
    }
    expected
}

async fn run_job(queue: &Arc<dyn JobQueue>, tenant_id: i64) -> String {
    let job = JobEnvelope::new(
        JobType::Metrics,
        TenantRef::Id(tenant_id),
        serde_json::json!({}),
        Utc::now(),
    );
    let id = job.job_id.clone();
    queue.publish(&job).await.unwrap();
    id
}

async fn wait_done(db: &Db, job_id: &str) {
    for _ in 0..300 {
        if let Some(run) = job_runs::get_run(db, job_id).await.unwrap()
            && run.finished_at.is_some()
        {
            assert_eq!(run.state.as_str(), "succeeded", "{run:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the metrics job {job_id} did not finish");
}

fn check(rows: &[MetricSnapshot], seeded: &Seeded) {
    let got: BTreeMap<(DateTime<Utc>, String), &MetricSnapshot> = rows
        .iter()
        .map(|r| ((r.bucket_start, r.iflow_id.clone()), r))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        seeded.expected.keys().collect::<Vec<_>>(),
        "one row per interval and iFlow with messages"
    );
    for (key, (statuses, durations, pcount, pbytes)) in &seeded.expected {
        let r = got[key];
        assert_eq!(r.bucket_secs, BUCKET as i32);
        assert_eq!(r.messages, durations.len() as i64, "{key:?}");
        assert_eq!(&r.status_counts, statuses, "{key:?}");
        assert_eq!(r.duration_p50_ms, nearest_rank(durations, 50.0), "{key:?}");
        assert_eq!(r.duration_p95_ms, nearest_rank(durations, 95.0), "{key:?}");
        assert_eq!(r.duration_p99_ms, nearest_rank(durations, 99.0), "{key:?}");
        assert_eq!(r.duration_max_ms, durations.iter().max().copied());
        assert_eq!(
            (r.payload_count, r.payload_bytes),
            (*pcount, *pbytes),
            "{key:?}"
        );
        assert_eq!(r.iflow_name.as_ref(), seeded.names.get(&key.1));
    }
}

async fn metrics_job(db: Db) {
    let settings = TenantSettings::new(
        "Metrics tenant",
        "https://tenant.example.com",
        Auth::Basic {
            username: "u".into(),
        },
    );
    let tenant = tenants::create(&db, &settings, None).await.unwrap();
    let now = Utc::now();
    // Not too close to an interval's end, so the job runs in the same interval as the seed.
    let into = now.timestamp().rem_euclid(BUCKET);
    if into > BUCKET - 20 {
        tokio::time::sleep(Duration::from_secs((BUCKET - into + 1) as u64)).await;
    }
    let now = Utc::now();
    let seeded = seed(&db, tenant.id, now).await;

    let queue: Arc<dyn JobQueue> = Arc::new(
        InProcessQueue::new(QueueConfig {
            prefix: format!("t{}", uuid::Uuid::new_v4().simple()),
            ..QueueConfig::default()
        })
        .unwrap(),
    );
    let worker = Worker {
        db: db.clone(),
        options: SnapshotOptions {
            bucket_secs: BUCKET as u32,
            recompute: Duration::from_secs(3600),
            catch_up: Duration::from_secs(86_400),
        },
        name: "test".into(),
        max_attempts: 3,
        retry_tiers: domain::job::RetryTiers::new(vec![Duration::from_secs(1)]).unwrap(),
    };
    let shutdown = Shutdown::new();
    let consumer = {
        let queue = queue.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            queue
                .consume(&[JobType::Metrics], 1, jobs::handler(worker), shutdown)
                .await
        })
    };

    let job = run_job(&queue, tenant.id).await;
    wait_done(&db, &job).await;
    let from = floor(now) - chrono::Duration::hours(3);
    let to = floor(now) + chrono::Duration::hours(1);
    let first = snapshots::metric_snapshots(&db, &[tenant.id], from, to, 10_000)
        .await
        .unwrap();
    check(&first, &seeded);
    let state = sync_state::get(&db, tenant.id, jobs::KIND)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.watermark, Some(floor(now)));

    // Again: the same rows (only when they were computed differs).
    let job = run_job(&queue, tenant.id).await;
    wait_done(&db, &job).await;
    let second = snapshots::metric_snapshots(&db, &[tenant.id], from, to, 10_000)
        .await
        .unwrap();
    let strip = |rows: &[MetricSnapshot]| {
        rows.iter()
            .map(|r| MetricSnapshot {
                computed_at: DateTime::<Utc>::MIN_UTC,
                ..r.clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&second), strip(&first));

    // A job for a tenant that does not exist fails for good.
    let job = JobEnvelope::new(
        JobType::Metrics,
        TenantRef::Name("nobody".into()),
        serde_json::json!({}),
        Utc::now(),
    );
    let id = job.job_id.clone();
    queue.publish(&job).await.unwrap();
    for _ in 0..100 {
        if job_runs::get_run(&db, &id)
            .await
            .unwrap()
            .is_some_and(|r| r.state.as_str() == "dead")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        job_runs::get_run(&db, &id)
            .await
            .unwrap()
            .unwrap()
            .state
            .as_str(),
        "dead"
    );
    shutdown.cancel();
    consumer.await.unwrap().unwrap();
}

/// Storage snapshots: at most one per period, whatever asks; the archive directory of each
/// tenant measured where the archiver writes it (by tenant id, whatever the name holds).
async fn storage_snapshots(db: Db) {
    let data = tempfile::tempdir().unwrap();
    let create = |name: &str| {
        TenantSettings::new(
            name,
            "https://tenant.example.com",
            Auth::Basic {
                username: "u".into(),
            },
        )
    };
    let a = tenants::create(&db, &create("Tenant A"), None)
        .await
        .unwrap();
    let b = tenants::create(&db, &create("a/b"), None).await.unwrap();
    let archive = domain::archive::dir(data.path(), a.id);
    std::fs::create_dir_all(archive.join("2026")).unwrap();
    std::fs::write(archive.join("x.archive"), vec![0u8; 1000]).unwrap();
    std::fs::write(archive.join("2026").join("y.archive"), vec![0u8; 234]).unwrap();
    let hour = Duration::from_secs(3600);
    // Whole seconds: PostgreSQL keeps microseconds, and the rows are found by their time.
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
    assert!(
        storage::take_if_due(&db, data.path(), hour, now)
            .await
            .unwrap()
    );
    assert!(
        !storage::take_if_due(&db, data.path(), hour, now + chrono::Duration::minutes(59))
            .await
            .unwrap()
    );
    assert!(
        storage::take_if_due(&db, data.path(), hour, now + chrono::Duration::minutes(60))
            .await
            .unwrap()
    );
    let rows = snapshots::storage_since(&db, now - chrono::Duration::hours(1))
        .await
        .unwrap();
    let taken: std::collections::BTreeSet<_> = rows.iter().map(|r| r.taken_at).collect();
    assert_eq!(taken.len(), 2, "two snapshots");
    let first: Vec<_> = rows.iter().filter(|r| r.taken_at == now).collect();
    let archive_of = |id: i64| {
        first
            .iter()
            .find(|r| r.kind == StorageKind::Archive && r.tenant_id == Some(id))
            .unwrap_or_else(|| panic!("archive row of {id}: {first:?}"))
    };
    assert_eq!(archive_of(a.id).bytes, Some(1234));
    // "a/b" has its own directory by id, where nothing is yet.
    assert_eq!(archive_of(b.id).bytes, Some(0));
    let database = first
        .iter()
        .find(|r| r.kind == StorageKind::Database)
        .unwrap();
    assert!(database.bytes.unwrap() > 0);
    let logs = first
        .iter()
        .find(|r| r.kind == StorageKind::Table && r.name == "message_logs")
        .unwrap();
    assert_eq!(logs.row_count.map(|n| n >= 0), Some(true));
}

on_both!(metrics_job);
on_both!(storage_snapshots);
