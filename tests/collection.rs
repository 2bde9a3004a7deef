//! Collection at scale and under failure, on the real binaries: several ingest workers against
//! one database, a worker killed mid-job, RabbitMQ and PostgreSQL restarted under load, and the
//! one-shot `sync` command. Every test ends by comparing the database with the simulated
//! tenant's ground truth: every message exactly once, with its status, headers and correlation
//! counts. The broker is the machine's RabbitMQ (a prefix per test) unless a test restarts it.

use std::time::{Duration, Instant};

use chrono::Utc;
use integramon_tests::collect::{
    Database, SIM_PASSWORD, SIM_USER, Sim, SimOptions, WORKER, Worker, World, iso,
    overlapping_ranges, ran_on, serial, shared_amqp_url, summed,
};
use integramon_tests::private_rabbit::PrivateRabbit;
use integramon_tests::proc::run;
use integramon_tests::{bin, wait_for};
use nix::sys::signal::Signal;
use store::repo::job_runs::{JobRun, JobState};

fn assert_all_succeeded(runs: &[JobRun]) {
    for r in runs {
        assert_eq!(r.state, JobState::Succeeded, "{r:?}");
    }
}

fn n_workers_ingest_every_message_exactly_once(database: Database) {
    let _turn = serial();
    let sim = Sim::start(&SimOptions {
        seed: 11,
        ..SimOptions::default()
    });
    let world = World::new(database, &shared_amqp_url());
    let tenant = world.create_tenant("n-workers", &sim.base_url(), SIM_USER, SIM_PASSWORD);
    let mut workers: Vec<Worker> = (0..3).map(|_| world.worker(&[])).collect();
    world.wait_consumers(&mut workers, 3);

    let (from, to) = sim.settled_range();
    // Six neighbouring ranges that overlap by ten minutes, and the whole range once more: every
    // message is read at least twice, by different workers at the same time.
    let mut jobs: Vec<String> = overlapping_ranges(from, to, 6, chrono::Duration::minutes(10))
        .into_iter()
        .map(|(a, b)| world.publish_range(tenant, a, b))
        .collect();
    jobs.push(world.publish_range(tenant, from, to));
    let refs: Vec<&Worker> = workers.iter().collect();
    let runs = world.wait_runs(&jobs, 110, &refs);
    assert_all_succeeded(&runs);

    let truth = sim.truth(from, to);
    world.assert_matches_truth(tenant, &truth);
    let read = summed(&runs, "records");
    assert!(
        read >= 2 * truth.len() as u64,
        "the jobs read {read} records for {} messages: the overlaps were not read twice",
        truth.len()
    );
    assert_eq!(
        summed(&runs, "inserted"),
        truth.len() as u64,
        "each message is inserted by exactly one of the runs that read it"
    );
    assert_eq!(
        ran_on(&runs).len(),
        3,
        "every worker took jobs: {:?}",
        ran_on(&runs)
    );
    for w in &mut workers {
        assert!(w.proc.is_running(), "a worker exited:\n{}", w.output());
    }
}

#[test]
fn n_workers_ingest_every_message_exactly_once_sqlite() {
    n_workers_ingest_every_message_exactly_once(Database::sqlite());
}

#[test]
fn n_workers_ingest_every_message_exactly_once_postgres() {
    n_workers_ingest_every_message_exactly_once(Database::postgres());
}

#[test]
fn a_worker_killed_mid_job_loses_and_duplicates_nothing() {
    let _turn = serial();
    // Slow answers, so the job is still running when its worker dies.
    let sim = Sim::start(&SimOptions {
        seed: 23,
        latency_ms: 300,
        ..SimOptions::default()
    });
    let world = World::new(Database::postgres(), &shared_amqp_url());
    let tenant = world.create_tenant("killed", &sim.base_url(), SIM_USER, SIM_PASSWORD);
    let mut a = world.worker(&[]);
    world.wait_consumers(std::slice::from_mut(&mut a), 1);

    let (from, to) = sim.settled_range();
    let truth = sim.truth(from, to);
    let job = world.publish_range(tenant, from, to);
    // Mid-job: its run is `running` and some pages are committed, not all.
    wait_for(60, "worker A to commit its first page", || {
        let run = world.run(&job)?;
        (run.state == JobState::Running && world.message_count(tenant) > 0).then_some(())
    });
    a.proc.signal(Signal::SIGKILL);
    a.proc.wait(10);
    let stored = world.message_count(tenant);
    assert!(
        stored < truth.len() as u64,
        "worker A finished before it was killed ({stored} messages stored)"
    );
    let run = world.run(&job).expect("the run");
    assert_eq!(run.state, JobState::Running, "{run:?}");
    assert!(a.ran(&run), "{run:?}");

    sim.set_latency(0);
    let b = world.worker(&[]);
    let run = world
        .wait_runs(std::slice::from_ref(&job), 100, &[&b])
        .remove(0);
    assert_eq!(run.state, JobState::Succeeded, "{run:?}\n{}", b.tail(40));
    assert!(b.ran(&run), "worker B finished the job: {run:?}");
    // The broker handed the unacknowledged job out again; the interrupted try counts as one.
    assert!(run.attempt >= 2, "{run:?}");
    assert!(
        b.output().contains("was interrupted"),
        "worker B did not see the job as interrupted:\n{}",
        b.tail(40)
    );
    world.assert_matches_truth(tenant, &truth);
}

#[test]
fn rabbitmq_restart_during_ingestion_completes() {
    let _turn = serial();
    // A node of the test's own: the shared broker is never restarted.
    let mut rabbit = PrivateRabbit::start();
    let sim = Sim::start(&SimOptions {
        seed: 31,
        latency_ms: 40,
        ..SimOptions::default()
    });
    let world = World::new(Database::postgres(), &rabbit.url());
    let tenant = world.create_tenant("broker-restart", &sim.base_url(), SIM_USER, SIM_PASSWORD);
    let mut workers = vec![world.worker(&[]), world.worker(&[])];
    world.wait_consumers(&mut workers, 2);

    let (from, to) = sim.settled_range();
    let jobs: Vec<String> = overlapping_ranges(from, to, 4, chrono::Duration::minutes(5))
        .into_iter()
        .map(|(a, b)| world.publish_range(tenant, a, b))
        .collect();
    wait_for(60, "a job to be running", || {
        jobs.iter()
            .filter_map(|j| world.run(j))
            .any(|r| r.state == JobState::Running)
            .then_some(())
    });

    rabbit.stop();
    wait_for(30, "the workers to report the broker unreachable", || {
        workers
            .iter()
            .all(|w| w.readyz() == Some(503))
            .then_some(())
    });
    let unfinished = jobs
        .iter()
        .filter(|j| world.run(j).is_none_or(|r| r.state != JobState::Succeeded))
        .count();
    assert!(unfinished > 0, "every job finished before the broker went");
    std::thread::sleep(Duration::from_secs(2));
    rabbit.start_again();
    let back = Utc::now();

    let refs: Vec<&Worker> = workers.iter().collect();
    let runs = world.wait_runs(&jobs, 100, &refs);
    assert_all_succeeded(&runs);
    assert!(
        runs.iter().any(|r| r.finished_at.is_some_and(|t| t > back)),
        "no job finished after the broker came back: {runs:?}"
    );
    // The same processes throughout: they reconnected by themselves.
    for w in &mut workers {
        assert!(w.proc.is_running(), "a worker exited:\n{}", w.output());
    }
    wait_for(30, "the workers to be ready again", || {
        workers
            .iter()
            .all(|w| w.readyz() == Some(200))
            .then_some(())
    });
    world.assert_matches_truth(tenant, &sim.truth(from, to));
}

#[test]
fn postgres_restart_fails_retryably_then_completes() {
    let _turn = serial();
    let sim = Sim::start(&SimOptions {
        seed: 41,
        latency_ms: 40,
        ..SimOptions::default()
    });
    let mut world = World::new(Database::private_postgres(), &shared_amqp_url());
    let tenant = world.create_tenant("db-restart", &sim.base_url(), SIM_USER, SIM_PASSWORD);
    // Enough tries (1 s, then 2 s apart) to outlast the outage, and database calls that give up
    // after seconds rather than the default 30 s wait for a pooled connection.
    let extra = [
        ("AMQP_MAX_ATTEMPTS", "30"),
        ("DB_CONNECT_TIMEOUT", "2"),
        ("DB_POOL_ACQUIRE_TIMEOUT", "3"),
    ];
    let mut workers = vec![world.worker(&extra), world.worker(&extra)];
    world.wait_consumers(&mut workers, 2);

    let (from, to) = sim.settled_range();
    let jobs: Vec<String> = overlapping_ranges(from, to, 4, chrono::Duration::minutes(5))
        .into_iter()
        .map(|(a, b)| world.publish_range(tenant, a, b))
        .collect();
    wait_for(60, "a job to be running with pages committed", || {
        let running = jobs
            .iter()
            .filter_map(|j| world.run(j))
            .any(|r| r.state == JobState::Running);
        (running && world.message_count(tenant) > 0).then_some(())
    });

    world.database.cluster().stop();
    let retried = |w: &Worker| {
        w.output()
            .lines()
            .any(|l| l.contains("retrying job") && l.contains("database"))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !workers.iter().any(retried) {
        assert!(
            Instant::now() < deadline,
            "no job failed on the database and was retried:\n{}",
            workers
                .iter()
                .map(|w| w.tail(30))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    world.database.cluster().start_again();

    let refs: Vec<&Worker> = workers.iter().collect();
    let runs = world.wait_runs(&jobs, 100, &refs);
    assert_all_succeeded(&runs);
    assert!(
        runs.iter().any(|r| r.attempt > 1),
        "no job needed another try: {runs:?}"
    );
    for w in &mut workers {
        assert!(w.proc.is_running(), "a worker exited:\n{}", w.output());
    }
    world.assert_matches_truth(tenant, &sim.truth(from, to));
}

#[test]
fn one_shot_sync_prints_progress_and_a_summary() {
    let _turn = serial();
    let sim = Sim::start(&SimOptions {
        seed: 61,
        history: "1h",
        ..SimOptions::default()
    });
    let database = Database::sqlite();
    database.migrate();
    let (from, to) = sim.settled_range();
    let mut env = database.env();
    env.push(("CPI_RATE_LIMITS".into(), "off".into()));
    let (from_arg, to_arg, url) = (iso(from), iso(to), sim.base_url());
    let args = [
        "sync",
        "--url",
        url.as_str(),
        "--user",
        SIM_USER,
        "--password",
        SIM_PASSWORD,
        "--from",
        from_arg.as_str(),
        "--to",
        to_arg.as_str(),
    ];
    let sync = || {
        let (status, out) = run(&bin(WORKER), &args, &env, 100);
        assert!(status.success(), "sync failed ({status}):\n{out}");
        let summary = out
            .lines()
            .find(|l| l.starts_with("done in"))
            .unwrap_or_else(|| panic!("no summary line:\n{out}"))
            .to_string();
        (out, summary)
    };

    let truth = sim.truth(from, to);
    let n = truth.len();
    let (out, summary) = sync();
    // Progress is one line rewritten in place (carriage returns) while pages come in.
    assert!(
        out.contains(&format!("{n} messages ({n} new")) && out.contains('\r'),
        "no progress line:\n{out}"
    );
    assert!(
        summary.contains(&format!("{n} messages ({n} new, 0 updated, 0 unchanged)")),
        "{summary}"
    );
    let tenant: i64 = database
        .sql("SELECT id FROM tenants")
        .parse()
        .expect("one tenant, created by sync");
    database.assert_matches_truth(tenant, &truth);

    let (_, again) = sync();
    assert!(
        again.contains(&format!("{n} messages (0 new, 0 updated, {n} unchanged)")),
        "{again}"
    );
    assert_eq!(database.message_count(tenant), n as u64);
}
