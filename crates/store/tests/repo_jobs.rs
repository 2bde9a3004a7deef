//! Sync state, job runs and firings, on SQLite and PostgreSQL; firings raced from many tasks
//! and from two processes.

#[macro_use]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use store::Db;
use store::repo::job_runs::{self, JobState, NewJobRun};
use store::repo::{firings, sync_state};
use support::{Target, t, tenant};

async fn sync_state_watermarks_and_failures(db: Db, _: Target) {
    let tid = tenant(&db, "s").await;
    assert!(
        sync_state::get(&db, tid, "messages_hot")
            .await
            .unwrap()
            .is_none()
    );

    sync_state::set_watermark(&db, tid, "messages_hot", Some(t(100)))
        .await
        .unwrap();
    assert_eq!(
        sync_state::get(&db, tid, "messages_hot")
            .await
            .unwrap()
            .unwrap()
            .watermark,
        Some(t(100))
    );
    // Failures count up and keep the watermark.
    assert_eq!(
        sync_state::record_failure(&db, tid, "messages_hot", t(110), "HTTP 503")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        sync_state::record_failure(&db, tid, "messages_hot", t(120), "timeout")
            .await
            .unwrap(),
        2
    );
    let s = sync_state::get(&db, tid, "messages_hot")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.consecutive_failures, 2);
    assert_eq!(s.last_error.as_deref(), Some("timeout"));
    assert_eq!(s.last_attempt_at, Some(t(120)));
    assert_eq!(s.last_success_at, None);
    assert_eq!(s.watermark, Some(t(100)));

    // Success clears them and moves the watermark forward...
    let resume = json!({"cold_lower_bound": "2026-11-01T00:00:00Z", "page": 3});
    sync_state::record_success(
        &db,
        tid,
        "messages_hot",
        t(130),
        Some(t(200)),
        Some(&resume),
    )
    .await
    .unwrap();
    let s = sync_state::get(&db, tid, "messages_hot")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.consecutive_failures, s.last_error.as_deref()), (0, None));
    assert_eq!(s.watermark, Some(t(200)));
    assert_eq!(s.last_success_at, Some(t(130)));
    assert_eq!(s.resume_state, Some(resume.clone()));
    // ...never backwards, and without a resume state the stored one stays.
    sync_state::record_success(&db, tid, "messages_hot", t(140), Some(t(150)), None)
        .await
        .unwrap();
    let s = sync_state::get(&db, tid, "messages_hot")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.watermark, Some(t(200)));
    assert_eq!(s.resume_state, Some(resume));
    // set_watermark is exact (a reset); set_resume_state(None) clears.
    sync_state::set_watermark(&db, tid, "messages_hot", Some(t(50)))
        .await
        .unwrap();
    sync_state::set_resume_state(&db, tid, "messages_hot", None)
        .await
        .unwrap();
    let s = sync_state::get(&db, tid, "messages_hot")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.watermark, s.resume_state), (Some(t(50)), None));

    // First record of another job type is a success.
    sync_state::record_success(&db, tid, "keystore", t(1), None, None)
        .await
        .unwrap();
    let all = sync_state::list(&db, tid).await.unwrap();
    assert_eq!(
        all.iter().map(|s| s.job_type.as_str()).collect::<Vec<_>>(),
        ["keystore", "messages_hot"]
    );
    assert_eq!(all[0].watermark, None);
}
on_both!(sync_state_watermarks_and_failures);

fn new_run(job_id: &str, tenant_id: i64, job_type: &str) -> NewJobRun {
    NewJobRun {
        job_id: job_id.into(),
        tenant_id: Some(tenant_id),
        job_type: job_type.into(),
        queue: format!("integramon.{job_type}"),
        attempt: 1,
        params: json!({"window_secs": 3600}),
    }
}

async fn job_runs_lifecycle_and_reconcile(db: Db, _: Target) {
    let tid = tenant(&db, "j").await;
    let a = new_run("a", tid, "messages_hot");
    assert!(
        !job_runs::active_run_exists(&db, tid, "messages_hot")
            .await
            .unwrap()
    );
    assert!(job_runs::record_queued(&db, &a, t(0)).await.unwrap());
    assert!(
        !job_runs::record_queued(&db, &a, t(1)).await.unwrap(),
        "re-publish"
    );
    assert!(
        job_runs::active_run_exists(&db, tid, "messages_hot")
            .await
            .unwrap()
    );
    assert!(
        !job_runs::active_run_exists(&db, tid, "keystore")
            .await
            .unwrap()
    );

    job_runs::mark_running(&db, &a, "worker-1/4242", t(2))
        .await
        .unwrap();
    let r = job_runs::get_run(&db, "a").await.unwrap().unwrap();
    assert_eq!(r.state, JobState::Running);
    assert_eq!(r.worker.as_deref(), Some("worker-1/4242"));
    assert_eq!((r.queued_at, r.started_at), (t(0), Some(t(2))));
    assert_eq!(r.params, json!({"window_secs": 3600}));
    assert!(
        job_runs::active_run_exists(&db, tid, "messages_hot")
            .await
            .unwrap()
    );

    // Attempt 1 fails and is retried; attempt 2 succeeds.
    job_runs::mark_retried(&db, "a", 2, "HTTP 429", t(3))
        .await
        .unwrap();
    let r = job_runs::get_run(&db, "a").await.unwrap().unwrap();
    assert_eq!((r.state, r.attempt), (JobState::Retried, 2));
    assert_eq!(r.error.as_deref(), Some("HTTP 429"));
    assert!(
        !job_runs::active_run_exists(&db, tid, "messages_hot")
            .await
            .unwrap()
    );
    let a2 = NewJobRun {
        attempt: 2,
        ..a.clone()
    };
    job_runs::mark_running(&db, &a2, "worker-2/7", t(10))
        .await
        .unwrap();
    let counts = json!({"fetched": 1000, "inserted": 990, "updated": 10});
    job_runs::mark_succeeded(&db, "a", &counts, t(11))
        .await
        .unwrap();
    let r = job_runs::get_run(&db, "a").await.unwrap().unwrap();
    assert_eq!(r.state, JobState::Succeeded);
    assert_eq!(r.counts, Some(counts));
    assert_eq!(r.error, None);
    assert_eq!((r.started_at, r.finished_at), (Some(t(10)), Some(t(11))));
    assert_eq!(r.worker.as_deref(), Some("worker-2/7"));

    // A job published by an outside system starts without a queued row.
    let ext = new_run("ext", tid, "keystore");
    job_runs::mark_running(&db, &ext, "worker-1", t(20))
        .await
        .unwrap();
    job_runs::mark_failed(&db, "ext", "403 Forbidden: role missing", t(21))
        .await
        .unwrap();
    let b = new_run("b", tid, "payloads");
    job_runs::record_queued(&db, &b, t(22)).await.unwrap();
    job_runs::mark_dead(&db, "b", "undecodable params", t(23))
        .await
        .unwrap();
    assert_eq!(
        job_runs::get_run(&db, "b").await.unwrap().unwrap().state,
        JobState::Dead
    );
    assert!(
        job_runs::mark_failed(&db, "nope", "x", t(0))
            .await
            .unwrap_err()
            .is_not_found()
    );

    // A crashed worker left "c" running and "d" was lost in the queue; "e" is fresh.
    let c = new_run("c", tid, "packages");
    job_runs::mark_running(&db, &c, "worker-9", t(100))
        .await
        .unwrap();
    job_runs::record_queued(&db, &new_run("d", tid, "deep_sync"), t(100))
        .await
        .unwrap();
    let e = new_run("e", tid, "alerts");
    job_runs::mark_running(&db, &e, "worker-1", t(1000))
        .await
        .unwrap();
    assert!(
        job_runs::active_run_exists(&db, tid, "packages")
            .await
            .unwrap()
    );
    let n = job_runs::reconcile_stale(&db, t(500), t(1001))
        .await
        .unwrap();
    assert_eq!(n, 2);
    let c = job_runs::get_run(&db, "c").await.unwrap().unwrap();
    assert_eq!(c.state, JobState::Failed);
    assert!(c.error.as_deref().unwrap().contains("abandoned"), "{c:?}");
    assert_eq!(c.finished_at, Some(t(1001)));
    assert_eq!(
        job_runs::get_run(&db, "d").await.unwrap().unwrap().state,
        JobState::Failed
    );
    assert_eq!(
        job_runs::get_run(&db, "e").await.unwrap().unwrap().state,
        JobState::Running
    );
    assert!(
        !job_runs::active_run_exists(&db, tid, "packages")
            .await
            .unwrap()
    );
    assert_eq!(
        job_runs::reconcile_stale(&db, t(500), t(1002))
            .await
            .unwrap(),
        0
    );

    let recent = job_runs::list_recent(&db, Some(tid), None, 3)
        .await
        .unwrap();
    assert_eq!(
        recent.iter().map(|r| r.job_id.as_str()).collect::<Vec<_>>(),
        ["e", "d", "c"],
        "newest first, ties by id"
    );
    let only_alerts = job_runs::list_recent(&db, None, Some("alerts"), 10)
        .await
        .unwrap();
    assert_eq!(only_alerts.len(), 1);

    let dead = job_runs::list_runs(
        &db,
        &job_runs::RunFilter {
            tenant_ids: Some(&[tid]),
            state: Some(JobState::Dead),
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(
        dead.iter().map(|r| r.job_id.as_str()).collect::<Vec<_>>(),
        ["b"],
        "the state filter"
    );
    let nobody = job_runs::RunFilter {
        tenant_ids: Some(&[]),
        ..Default::default()
    };
    assert!(
        job_runs::list_runs(&db, &nobody, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let elsewhere = job_runs::RunFilter {
        tenant_ids: Some(&[tid + 1000]),
        ..Default::default()
    };
    assert!(
        job_runs::list_runs(&db, &elsewhere, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
on_both!(job_runs_lifecycle_and_reconcile);

const SLOTS: usize = 60;
const TASKS: usize = 8;

/// Fire every slot from `TASKS` tasks at once; returns the slots this process won and how often.
async fn fire_all(db: &Db, tenant_id: i64, tag: &str) -> BTreeMap<String, usize> {
    let mut set = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let db = db.clone();
        let tag = tag.to_owned();
        set.spawn(async move {
            let mut won = Vec::new();
            for slot in 0..SLOTS {
                // Tasks walk the slots from different ends so they collide on every one.
                let slot = if task % 2 == 0 {
                    slot
                } else {
                    SLOTS - 1 - slot
                };
                let key = format!("2026-11-26T08:{slot:02}:00Z");
                if firings::try_fire(
                    &db,
                    tenant_id,
                    "messages_hot",
                    &key,
                    &format!("{tag}-{task}"),
                )
                .await
                .expect("try_fire")
                {
                    won.push(key);
                }
            }
            won
        });
    }
    let mut wins = BTreeMap::new();
    while let Some(r) = set.join_next().await {
        for key in r.expect("task") {
            *wins.entry(key).or_insert(0) += 1;
        }
    }
    wins
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
}

async fn wait_until(ms: u128) {
    let now = epoch_ms();
    if ms > now {
        tokio::time::sleep(Duration::from_millis((ms - now) as u64)).await;
    }
}

/// The other process of the race below: does nothing unless started by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_child_process() {
    let Ok(target) = std::env::var("IM_FIRING_TARGET") else {
        return;
    };
    let target = Target::decode(&target);
    let tenant_id: i64 = std::env::var("IM_FIRING_TENANT").unwrap().parse().unwrap();
    let start: u128 = std::env::var("IM_FIRING_START").unwrap().parse().unwrap();
    let db = store::connect(&target.settings()).unwrap();
    db.ping().await.unwrap();
    wait_until(start).await;
    let won = fire_all(&db, tenant_id, "child").await;
    // The harness prints the test name without a newline first: start on a fresh line.
    println!();
    for (slot, n) in won {
        println!("WON {slot} {n}");
    }
    println!("CHILD DONE");
    db.close().await;
}

async fn try_fire_has_exactly_one_winner(db: Db, target: Target) {
    let tid = tenant(&db, "f").await;
    let other = tenant(&db, "g").await;
    assert!(
        firings::try_fire(&db, tid, "keystore", "2026-11-26T08", "j1")
            .await
            .unwrap()
    );
    assert!(
        !firings::try_fire(&db, tid, "keystore", "2026-11-26T08", "j2")
            .await
            .unwrap()
    );
    assert!(
        firings::try_fire(&db, tid, "keystore", "2026-11-26T09", "j3")
            .await
            .unwrap()
    );
    assert!(
        firings::try_fire(&db, tid, "packages", "2026-11-26T08", "j4")
            .await
            .unwrap()
    );
    assert!(
        firings::try_fire(&db, other, "keystore", "2026-11-26T08", "j5")
            .await
            .unwrap()
    );
    assert_eq!(
        firings::fired_job(&db, tid, "keystore", "2026-11-26T08")
            .await
            .unwrap()
            .as_deref(),
        Some("j1")
    );

    // Two processes, each with TASKS tasks, all firing the same SLOTS slots at the same moment.
    let start = epoch_ms() + 1500;
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "firing_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("IM_FIRING_TARGET", target.encode())
        .env("IM_FIRING_TENANT", tid.to_string())
        .env("IM_FIRING_START", start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child process");
    wait_until(start).await;
    let mine = fire_all(&db, tid, "parent").await;
    let out = child.wait_with_output().await.expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CHILD DONE"), "the child raced: {stdout}");
    let mut theirs = BTreeMap::new();
    for line in stdout.lines().filter_map(|l| l.strip_prefix("WON ")) {
        let (slot, n) = line.rsplit_once(' ').unwrap();
        theirs.insert(slot.to_owned(), n.parse::<usize>().unwrap());
    }
    let mut all: BTreeMap<String, usize> = mine.clone();
    for (slot, n) in &theirs {
        *all.entry(slot.clone()).or_insert(0) += n;
    }
    assert_eq!(all.len(), SLOTS, "every slot fired: {all:?}");
    assert!(
        all.values().all(|n| *n == 1),
        "exactly one winner per slot: {all:?}"
    );
    let both: BTreeSet<&String> = mine.keys().filter(|k| theirs.contains_key(*k)).collect();
    assert!(both.is_empty(), "{both:?}");
    println!(
        "{target:?}: parent won {} slots, child won {}",
        mine.len(),
        theirs.len()
    );

    let now = chrono::Utc::now();
    assert_eq!(
        firings::prune(&db, now - chrono::Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    let removed = firings::prune(&db, now + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(removed as usize, SLOTS + 4);
}
on_both!(try_fire_has_exactly_one_winner);
