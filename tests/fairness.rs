//! Tenants must not slow each other down: one tenant whose API accepts connections and never
//! answers (every request runs into the 30 s request time-out, five tries a call) must not
//! hold up another tenant's collection on the same worker. The hanging tenant gets several hot
//! jobs queued first (as the API or an external publisher can do); the healthy tenant's hot job
//! is then published every few seconds, as the controller would, and each one must finish
//! promptly while the hanging tenant's first job is still running.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::job::{JobEnvelope, JobType, TenantRef};
use integramon_tests::collect::{
    Database, SIM_PASSWORD, SIM_USER, Sim, SimOptions, World, serial, shared_amqp_url,
};
use serde_json::json;
use store::repo::job_runs::JobState;

/// A tenant that accepts TCP connections and never says a word. The accepted sockets are kept
/// open for as long as the listener lives, so requests hang until the client gives up.
struct Hanging {
    addr: String,
    _stop: std::sync::mpsc::Sender<()>,
}

impl Hanging {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the hanging tenant");
        let addr = listener.local_addr().expect("address").to_string();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        listener.set_nonblocking(true).expect("nonblocking");
        std::thread::spawn(move || {
            let mut held = Vec::new();
            loop {
                if !matches!(
                    stopped.try_recv(),
                    Err(std::sync::mpsc::TryRecvError::Empty)
                ) {
                    return;
                }
                if let Ok((socket, _)) = listener.accept() {
                    held.push(socket);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self { addr, _stop: stop }
    }
}

fn hot(tenant: i64) -> JobEnvelope {
    JobEnvelope::new(
        JobType::MessagesHot,
        TenantRef::Id(tenant),
        json!({}),
        Utc::now(),
    )
}

/// How long the healthy tenant's job may take from publishing to its end. Its own collection
/// takes a few seconds even on a loaded machine; waiting behind the hanging tenant took from
/// 30 s (one request time-out) to 2.6 min (five).
const BOUND: Duration = Duration::from_secs(25);
/// The healthy tenant's interval in this test.
const EVERY: Duration = Duration::from_secs(4);

#[test]
fn a_hanging_tenant_does_not_delay_another_tenants_collection() {
    let _turn = serial();
    let sim = Sim::start(&SimOptions {
        seed: 81,
        rate: 0.2,
        history: "3m",
        ..SimOptions::default()
    });
    let hang = Hanging::start();
    let world = World::new(Database::sqlite(), &shared_amqp_url());
    let healthy = world.create_tenant("healthy", &sim.base_url(), SIM_USER, SIM_PASSWORD);
    let hanging = world.create_tenant("hanging", &format!("http://{}", hang.addr), "u", "p");
    // The worker's defaults, as shipped (only the test harness's retry tiers and rate limits).
    let mut worker = world.worker(&[(
        "RUST_LOG",
        "info,queue=debug,integramon_ingest_worker=debug,runtime=debug",
    )]);
    world.wait_consumers(std::slice::from_mut(&mut worker), 1);

    // Three hot jobs of the hanging tenant first: they are at the head of the queue.
    let stuck: Vec<String> = (0..3)
        .map(|_| {
            let job = hot(hanging);
            world.publish(&job);
            job.job_id
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));

    let mut took = Vec::new();
    for round in 0..4 {
        let started = Instant::now();
        let job = hot(healthy);
        world.publish(&job);
        let run = loop {
            if let Some(run) = world.run(&job.job_id).filter(|r| {
                matches!(
                    r.state,
                    JobState::Succeeded | JobState::Failed | JobState::Dead
                )
            }) {
                break run;
            }
            assert!(
                started.elapsed() < BOUND,
                "round {round}: the healthy tenant's job did not finish within {BOUND:?} (it \
                 waits behind the hanging tenant); hanging runs: {:?}\n{}",
                stuck.iter().map(|id| world.run(id)).collect::<Vec<_>>(),
                worker.tail(60)
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(run.state, JobState::Succeeded, "{run:?}");
        took.push(started.elapsed());
        if let Some(rest) = EVERY.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    // The condition held throughout: one of the hanging tenant's jobs (whichever took the
    // tenant's slot first; the worker receives all three at once) was still in its first,
    // hanging try when the healthy tenant's last collection ended, and it was the only one: the
    // others were held back, not given the worker's other slots.
    let runs: Vec<_> = stuck.iter().filter_map(|id| world.run(id)).collect();
    let running = runs.iter().filter(|r| r.state == JobState::Running).count();
    assert!(
        runs.iter()
            .filter(|r| r.state == JobState::Running)
            .all(|r| r.attempt == 1),
        "{runs:?}"
    );
    assert_eq!(running, 1, "hanging tenant's runs in flight: {runs:?}");
    eprintln!("healthy tenant's collections took {took:?}");
}
