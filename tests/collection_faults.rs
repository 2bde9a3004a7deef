//! Collection against a misbehaving tenant, on the real worker binary: faults are injected into
//! a `cpi-sim` process through its admin endpoint (`POST /_sim/faults`). Transient trouble
//! (throttling, 5xx, slow, cut or broken answers) is retried and ends in a complete, correct
//! database; lasting trouble (a login page, wrong credentials, a job nobody can run) ends in a
//! failed run or a dead letter that says why, without hammering the tenant.

use std::time::Duration;

use chrono::Utc;
use domain::job::{JobEnvelope, JobType, TenantRef};
use integramon_tests::collect::{
    Database, SIM_PASSWORD, SIM_USER, Sim, SimOptions, Truth, Worker, World, serial,
    shared_amqp_url,
};
use integramon_tests::wait_for;
use queue::JobQueue;
use serde_json::{Value, json};
use store::repo::job_runs::{JobRun, JobState};

/// A small tenant (about 900 messages) and one worker consuming, with `extra` settings.
fn setup(seed: u64, password: &str, extra: &[(&str, &str)]) -> (Sim, World, i64, Worker) {
    let sim = Sim::start(&SimOptions {
        seed,
        rate: 0.5,
        history: "30m",
        ..SimOptions::default()
    });
    let world = World::new(Database::sqlite(), &shared_amqp_url());
    let tenant = world.create_tenant("faulty", &sim.base_url(), SIM_USER, password);
    let mut worker = world.worker(extra);
    world.wait_consumers(std::slice::from_mut(&mut worker), 1);
    (sim, world, tenant, worker)
}

/// Publish a job for the settled history and wait for its run to end; the run and the truth
/// of its range.
fn collect(sim: &Sim, world: &World, tenant: i64, worker: &Worker) -> (JobRun, Truth) {
    let (from, to) = sim.settled_range();
    let job = world.publish_range(tenant, from, to);
    let run = world
        .wait_runs(std::slice::from_ref(&job), 90, &[worker])
        .remove(0);
    (run, sim.truth(from, to))
}

/// From the first try's start to the end of the last.
fn took(run: &JobRun) -> Duration {
    let Some(end) = run.finished_at else {
        panic!("run without an end: {run:?}")
    };
    (end - run.queued_at).to_std().unwrap_or_default()
}

/// Detail requests one at a time, so the injected faults meet requests in a known order.
const ONE_AT_A_TIME: (&str, &str) = ("INGEST_DETAILS_CONCURRENCY", "1");

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[test]
fn throttling_and_5xx_are_retried_then_succeed() {
    let _turn = serial();
    let (sim, world, tenant, worker) = setup(51, SIM_PASSWORD, &[ONE_AT_A_TIME]);
    // A message's detail calls go out together, so the faults name the call they hit: the
    // payload-entry lists of two failed messages.
    let (from, to) = sim.settled_range();
    let mut failed = sim
        .truth(from, to)
        .messages
        .into_iter()
        .filter(|(_, m)| m.status == "FAILED")
        .map(|(guid, _)| format!("MessageProcessingLogs('{guid}')/MessageStoreEntries"));
    let (first, second) = (
        failed.next().expect("failed"),
        failed.next().expect("failed"),
    );
    // The first list request meets two 429s (Retry-After 2 s) and a 503: the client asks
    // again. One detail call of the first message then meets two 500s and three 502s: five
    // failures, all the tries the client makes for one call, after the page was committed.
    // That message's failure is recorded and the window goes on (one message must not fail
    // it); a detail call of the second meets two 502s and succeeds on its third try, and the
    // end of the job tries the failed message again: every detail is fetched by the first try
    // of the job.
    sim.inject(json!([
        {"kind": "throttle", "count": 2, "retry_after_secs": 2, "path_prefix": "MessageProcessingLogs"},
        {"kind": "server_error", "count": 1, "status": 503, "path_prefix": "MessageProcessingLogs"},
        {"kind": "server_error", "count": 2, "status": 500, "path_prefix": first},
        {"kind": "server_error", "count": 3, "status": 502, "path_prefix": first},
        {"kind": "server_error", "count": 2, "status": 502, "path_prefix": second},
    ]));
    let (run, truth) = collect(&sim, &world, tenant, &worker);
    assert_eq!(run.state, JobState::Succeeded, "{run:?}");
    assert_eq!(run.attempt, 1, "{run:?}");
    let counts = run.counts.clone().unwrap_or_default();
    assert_eq!(
        (
            num(&counts["details_failed"]),
            num(&counts["details_retried"])
        ),
        (1, 1),
        "{counts}"
    );
    assert!(
        took(&run) >= Duration::from_secs(4),
        "Retry-After was not honoured: {run:?}"
    );
    assert!(
        sim.pending_faults().is_empty(),
        "{:?}",
        sim.pending_faults()
    );
    let stats = sim.stats();
    assert_eq!(num(&stats["faults"]["throttle"]), 2, "{stats}");
    assert_eq!(num(&stats["faults"]["server_error"]), 8, "{stats}");
    assert_eq!(num(&stats["by_status"]["429"]), 2, "{stats}");
    assert_eq!(num(&stats["by_status"]["503"]), 1, "{stats}");
    assert_eq!(num(&stats["by_status"]["500"]), 2, "{stats}");
    assert_eq!(num(&stats["by_status"]["502"]), 5, "{stats}");
    let pages = run
        .counts
        .as_ref()
        .and_then(|c| c["pages"].as_u64())
        .expect("pages");
    assert!(
        // Each page once (one try of the job), plus the two throttled and the one 503 request.
        num(&stats["by_route"]["MessageProcessingLogs"]) >= pages + 3,
        "the throttled list request was not asked again: {stats}"
    );
    let log = worker.output();
    assert!(
        log.contains("CPI call failed, retrying") && log.contains("details not stored"),
        "{}",
        worker.tail(40)
    );
    world.assert_matches_truth(tenant, &truth);
}

#[test]
fn a_lasting_html_login_page_ends_in_a_failed_run_with_the_reason() {
    let _turn = serial();
    let (sim, world, tenant, worker) = setup(52, SIM_PASSWORD, &[]);
    sim.inject(json!({"kind": "html_login", "count": 1000}));
    let (run, _) = collect(&sim, &world, tenant, &worker);
    assert_eq!(run.state, JobState::Dead, "{run:?}");
    let error = run.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("HTML page") && error.contains("login page"),
        "the reason is not named: {error}"
    );
    // A login page does not go away by waiting: one request, no retries of the call or the job.
    assert_eq!(run.attempt, 1, "{run:?}");
    let stats = sim.stats();
    assert_eq!(num(&stats["faults"]["html_login"]), 1, "{stats}");
    // Never read as "no messages".
    assert_eq!(world.message_count(tenant), 0);
    let letters = world
        .rt
        .block_on(world.queue.take_dead(10))
        .expect("dead letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].job_id.as_deref(), Some(run.job_id.as_str()));
    assert!(letters[0].reason.contains("HTML page"), "{letters:?}");
    let status = world
        .database
        .sql(&format!("SELECT status FROM tenants WHERE id = {tenant}"));
    assert_eq!(status, "unreachable");
}

#[test]
fn slow_and_malformed_pages_are_retried_then_reported() {
    let _turn = serial();
    let attempts = ("AMQP_MAX_ATTEMPTS", "5");
    let (sim, world, tenant, worker) = setup(53, SIM_PASSWORD, &[ONE_AT_A_TIME, attempts]);
    // Passing trouble. The list request: an answer cut short and a reset connection (the
    // client asks again), then a page of broken JSON (the job is tried again). Its second try:
    // a slow list page, waited for; then broken JSON for a detail request, after the page was
    // committed: that message's failure is recorded, the window goes on (a slow detail answer)
    // and the end of the job fetches the failed message again: all is there.
    sim.inject(json!([
        {"kind": "truncated", "count": 1, "path_prefix": "MessageProcessingLogs"},
        {"kind": "connection_reset", "count": 1, "path_prefix": "MessageProcessingLogs"},
        {"kind": "malformed", "count": 1, "path_prefix": "MessageProcessingLogs"},
        {"kind": "slow", "count": 1, "delay_ms": 1500, "path_prefix": "MessageProcessingLogs"},
        {"kind": "malformed", "count": 1, "path_prefix": "MessageProcessingLogs("},
        {"kind": "slow", "count": 1, "delay_ms": 1500, "path_prefix": "MessageProcessingLogs("},
    ]));
    let (run, truth) = collect(&sim, &world, tenant, &worker);
    assert_eq!(
        run.state,
        JobState::Succeeded,
        "{run:?}\n{}",
        worker.tail(40)
    );
    assert_eq!(run.attempt, 2, "{run:?}");
    assert!(took(&run) >= Duration::from_secs(3), "{run:?}");
    assert!(
        sim.pending_faults().is_empty(),
        "{:?}",
        sim.pending_faults()
    );
    let stats = sim.stats();
    for (fault, n) in [
        ("slow", 2),
        ("truncated", 1),
        ("connection_reset", 1),
        ("malformed", 2),
    ] {
        assert_eq!(num(&stats["faults"][fault]), n, "{fault}: {stats}");
    }
    world.assert_matches_truth(tenant, &truth);

    // Lasting: every list page is broken JSON. Each try fails, the last one is dead-lettered,
    // and the run says why.
    sim.inject(json!({"kind": "malformed", "count": 1000, "path_prefix": "MessageProcessingLogs"}));
    let (run, _) = collect(&sim, &world, tenant, &worker);
    assert_eq!(run.state, JobState::Dead, "{run:?}");
    assert_eq!(run.attempt, 5, "{run:?}");
    let error = run.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("gave up after 5 of 5 attempts") && error.contains("malformed JSON"),
        "{error}"
    );
    let letters = world
        .rt
        .block_on(world.queue.take_dead(10))
        .expect("dead letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].reason.contains("malformed JSON"), "{letters:?}");
    assert_eq!(num(&sim.stats()["faults"]["malformed"]), 2 + 5);
}

#[test]
fn a_poison_job_ends_in_the_dead_letter_queue() {
    let _turn = serial();
    let (_sim, world, _tenant, mut worker) = setup(54, SIM_PASSWORD, &[]);
    let queue_name = world.queue_name(&JobType::MessagesHot);
    let garbage: &[u8] = b"\x00\xff{not a job";
    world
        .rt
        .block_on(world.queue.publish_raw(
            &queue_name,
            garbage,
            lapin::types::FieldTable::default(),
        ))
        .expect("publishing garbage");
    let ghost = JobEnvelope::new(
        JobType::MessagesHot,
        TenantRef::Id(987_654),
        json!({}),
        Utc::now(),
    );
    world.publish(&ghost);

    let mut letters = Vec::new();
    wait_for(60, "two dead letters", || {
        letters.extend(world.rt.block_on(world.queue.take_dead(10)).ok()?);
        (letters.len() >= 2).then_some(())
    });
    assert_eq!(letters.len(), 2, "{letters:?}");
    let bad = letters
        .iter()
        .find(|l| l.body == garbage)
        .unwrap_or_else(|| panic!("the garbage is not among the dead letters: {letters:?}"));
    assert!(bad.reason.contains("undecodable job"), "{bad:?}");
    assert_eq!(bad.routing_key, queue_name);
    assert_eq!(bad.attempts, 0);
    let lost = letters
        .iter()
        .find(|l| l.job_id.as_deref() == Some(ghost.job_id.as_str()))
        .unwrap_or_else(|| panic!("the job for no tenant is not dead-lettered: {letters:?}"));
    assert!(
        lost.reason.contains("tenant #987654 does not exist"),
        "{lost:?}"
    );
    assert_eq!(lost.job_type.as_deref(), Some("messages_hot"));
    // Its run says so too, though there is no tenant to file it under.
    let run = world.run(&ghost.job_id).expect("a run for the lost job");
    assert_eq!(run.state, JobState::Dead, "{run:?}");
    assert_eq!(run.tenant_id, None);
    assert!(
        run.error
            .as_deref()
            .is_some_and(|e| e.contains("does not exist")),
        "{run:?}"
    );
    // Neither took the worker down, and neither is retried.
    assert!(worker.proc.is_running(), "{}", worker.output());
    std::thread::sleep(Duration::from_secs(3));
    let again = world.rt.block_on(world.queue.take_dead(10)).expect("dead");
    assert!(again.is_empty(), "{again:?}");
    let depths = world.rt.block_on(world.queue.depths()).expect("depths");
    assert!(depths.iter().all(|q| q.messages == 0), "{depths:?}");
}

#[test]
fn wrong_credentials_fail_fast_and_mark_the_tenant() {
    let _turn = serial();
    let (sim, world, tenant, worker) = setup(55, "not-the-password", &[]);
    let (run, _) = collect(&sim, &world, tenant, &worker);
    assert_eq!(run.state, JobState::Dead, "{run:?}");
    let error = run.error.as_deref().unwrap_or_default();
    assert!(error.contains("401 Unauthorized"), "{error}");
    assert_eq!(
        run.attempt, 1,
        "a rejected password was tried again: {run:?}"
    );
    assert!(took(&run) < Duration::from_secs(5), "{run:?}");
    let stats = sim.stats();
    assert_eq!(num(&stats["unauthorized"]), 1, "not failed fast: {stats}");
    let row = world.database.sql(&format!(
        "SELECT status, status_message FROM tenants WHERE id = {tenant}"
    ));
    let (status, message) = row.split_once('|').expect("status and message");
    assert_eq!(status, "unreachable", "{row}");
    assert!(message.contains("401 Unauthorized"), "{row}");
    assert_eq!(world.message_count(tenant), 0);
}
