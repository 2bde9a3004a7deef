//! Stopping a daemon in the middle of a long job (a simulated tenant answering slowly): the first
//! SIGTERM makes `/readyz` answer 503 "shutting down" at once; after `SHUTDOWN_GRACE_SECS` the
//! job stops between pages and goes back to its queue, and the process exits within the grace
//! plus the stop margin; another worker then completes the job with every message stored once.
//! A second SIGTERM exits at once. The same for `integramon up`, whose in-process job is fired
//! again after a restart.

use std::time::Duration;

use domain::secret::SecretKey;
use domain::tenant::{Auth, TenantSettings};
use integramon_tests::collect::{
    Database, SIM_PASSWORD, SIM_USER, Sim, SimOptions, Truth, Worker, World, serial,
    shared_amqp_url,
};
use integramon_tests::{Proc, bin, free_port, http_get, sqlite_env, temp_dir, wait_for};
use nix::sys::signal::Signal;
use store::repo::job_runs::JobState;

const GRACE_SECS: u64 = 2;
/// `runtime::shutdown::STOP_MARGIN`, and some slack for a loaded machine.
const MARGIN_SECS: u64 = 10;
const SLACK_SECS: u64 = 10;

/// `/readyz` must say "shutting down" right after the signal.
fn assert_readyz_shutting_down(addr: &str, who: &str) {
    let (code, body) = wait_for(3, "readiness to drop after SIGTERM", || {
        http_get(addr, "/readyz").filter(|(code, _)| *code != 200)
    });
    assert_eq!(code, 503, "{who}: {body}");
    assert!(body.contains("shutting down"), "{who}: {body}");
}

/// A slow tenant, a world on `database`, and worker A in the middle of a range job over the
/// whole settled history (its first page committed); the job's id and the truth of its range.
fn mid_job(database: Database, seed: u64, grace: &str) -> (Sim, World, i64, Worker, String, Truth) {
    let sim = Sim::start(&SimOptions {
        seed,
        latency_ms: 300,
        ..SimOptions::default()
    });
    let world = World::new(database, &shared_amqp_url());
    let tenant = world.create_tenant("stopping", &sim.base_url(), SIM_USER, SIM_PASSWORD);
    let mut a = world.worker(&[("SHUTDOWN_GRACE_SECS", grace)]);
    world.wait_consumers(std::slice::from_mut(&mut a), 1);
    let (from, to) = sim.settled_range();
    let truth = sim.truth(from, to);
    let job = world.publish_range(tenant, from, to);
    wait_for(60, "worker A to commit its first page", || {
        let run = world.run(&job)?;
        (run.state == JobState::Running && world.message_count(tenant) > 0).then_some(())
    });
    (sim, world, tenant, a, job, truth)
}

/// Worker B gets the job back and completes it; nothing is missing or stored twice.
fn completed_by_another(sim: &Sim, world: &World, tenant: i64, job: &str, truth: &Truth) {
    assert!(
        world.message_count(tenant) < truth.len() as u64,
        "the job finished before it was stopped"
    );
    sim.set_latency(0);
    let b = world.worker(&[]);
    let run = world.wait_runs(&[job.to_string()], 300, &[&b]).remove(0);
    assert_eq!(run.state, JobState::Succeeded, "{run:?}\n{}", b.tail(40));
    assert!(b.ran(&run), "worker B finished the job: {run:?}");
    // Returned unacknowledged, the job came back marked redelivered: one more try.
    assert!(run.attempt >= 2, "{run:?}");
    world.assert_matches_truth(tenant, truth);
}

fn sigterm_mid_job_returns_the_job_within_the_grace(database: Database, seed: u64) {
    let _turn = serial();
    let (sim, world, tenant, mut a, job, truth) = mid_job(database, seed, &GRACE_SECS.to_string());
    a.proc.signal(Signal::SIGTERM);
    assert_readyz_shutting_down(&a.addr, "worker A");
    let status = a.proc.wait(GRACE_SECS + MARGIN_SECS + SLACK_SECS);
    assert!(status.success(), "{status}\n{}", a.tail(40));
    let log = a.output();
    assert!(
        log.contains("stopped by shutdown") && log.contains("goes back to its queue"),
        "{}",
        a.tail(40)
    );
    let run = world.run(&job).expect("the run");
    assert_ne!(
        run.state,
        JobState::Succeeded,
        "finished before the grace: {run:?}"
    );
    completed_by_another(&sim, &world, tenant, &job, &truth);
}

#[test]
fn sigterm_mid_job_returns_the_job_within_the_grace_sqlite() {
    sigterm_mid_job_returns_the_job_within_the_grace(Database::sqlite(), 61);
}

#[test]
fn sigterm_mid_job_returns_the_job_within_the_grace_postgres() {
    sigterm_mid_job_returns_the_job_within_the_grace(Database::postgres(), 62);
}

#[test]
fn a_second_sigterm_exits_at_once_and_loses_nothing() {
    let _turn = serial();
    let (sim, world, tenant, mut a, job, truth) = mid_job(Database::sqlite(), 63, "600");
    a.proc.signal(Signal::SIGTERM);
    assert_readyz_shutting_down(&a.addr, "worker A");
    // Within its grace the job goes on.
    std::thread::sleep(Duration::from_secs(1));
    assert!(a.proc.is_running(), "{}", a.tail(40));
    a.proc.signal(Signal::SIGTERM);
    let status = a.proc.wait(5);
    assert_eq!(status.code(), Some(143), "{status}\n{}", a.tail(40));
    assert!(a.output().contains("second SIGTERM"), "{}", a.tail(40));
    completed_by_another(&sim, &world, tenant, &job, &truth);
}

/// `integramon up` on SQLite, collecting a slow simulated tenant (not the built-in demo).
struct Up {
    proc: Proc,
    addr: String,
    data: tempfile::TempDir,
    _sim: Sim,
}

impl Up {
    fn start(grace: &str) -> Self {
        let sim = Sim::start(&SimOptions {
            seed: 64,
            latency_ms: 400,
            ..SimOptions::default()
        });
        let data = temp_dir();
        let key = SecretKey::generate().expect("key");
        let mut env = sqlite_env(data.path());
        env.extend(
            [
                ("DEMO", "false"),
                ("SHUTDOWN_GRACE_SECS", grace),
                ("CPI_RATE_LIMITS", "off"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        env.push(("SECRET_KEY".into(), key.to_base64()));
        let (status, out) = integramon_tests::proc::run(&bin("integramon-migrate"), &[], &env, 120);
        assert!(status.success(), "{out}");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let mut settings = store::DbSettings::sqlite(data.path().join("integramon.sqlite3"));
            settings.pool.max = 1;
            let db = store::connect(&settings).expect("db");
            let mut t = TenantSettings::new(
                "slow",
                sim.base_url(),
                Auth::Basic {
                    username: SIM_USER.into(),
                },
            );
            t.collection.hot_window_secs = 2 * 3600;
            let sealed = domain::secret::seal(&key, SIM_PASSWORD).expect("seal");
            store::repo::tenants::create(&db, &t, Some(&sealed))
                .await
                .expect("tenant");
            db.close().await;
        });
        let addr = format!("127.0.0.1:{}", free_port());
        let proc = Proc::spawn(&bin("integramon"), &["up", "--listen", &addr], &env);
        Self {
            proc,
            addr,
            data,
            _sim: sim,
        }
    }

    fn messages(&self) -> u64 {
        let out = std::process::Command::new("sqlite3")
            .arg(self.data.path().join("integramon.sqlite3"))
            .arg("SELECT count(*) FROM message_logs")
            .output()
            .expect("sqlite3");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// Ready, and its hot job has committed a page (and is still going: the tenant is slow).
    fn mid_job(&mut self) {
        let (addr, proc) = (&self.addr, &mut self.proc);
        wait_for(120, "integramon up to be ready", || {
            assert!(proc.is_running(), "{}", proc.output());
            http_get(addr, "/readyz").filter(|(c, _)| *c == 200)
        });
        wait_for(120, "the hot job to commit a page", || {
            assert!(self.proc.is_running(), "{}", self.proc.output());
            (self.messages() > 0).then_some(())
        });
    }
}

#[test]
fn integramon_up_stops_within_the_grace_and_on_a_second_signal() {
    let _turn = serial();
    let mut up = Up::start(&GRACE_SECS.to_string());
    up.mid_job();
    up.proc.signal(Signal::SIGTERM);
    assert_readyz_shutting_down(&up.addr, "integramon up");
    let status = up.proc.wait(GRACE_SECS + MARGIN_SECS + SLACK_SECS);
    assert!(status.success(), "{status}\n{}", up.proc.output());
    assert!(
        up.proc.output().contains("stopped by shutdown"),
        "{}",
        up.proc.output()
    );

    let mut up = Up::start("600");
    up.mid_job();
    up.proc.signal(Signal::SIGINT);
    assert_readyz_shutting_down(&up.addr, "integramon up");
    std::thread::sleep(Duration::from_secs(1));
    assert!(up.proc.is_running(), "{}", up.proc.output());
    up.proc.signal(Signal::SIGINT);
    let status = up.proc.wait(5);
    assert_eq!(status.code(), Some(130), "{status}\n{}", up.proc.output());
}

/// Docker sends SIGKILL after `stop_grace_period`: every IntegraMon service of every compose file
/// must give the grace (its `SHUTDOWN_GRACE_SECS`, default 20) plus the stop margin.
#[test]
fn compose_stop_grace_periods_cover_the_grace_and_the_margin() {
    use yaml_rust2::{Yaml, YamlLoader};
    let margin = runtime::shutdown::STOP_MARGIN.as_secs();
    let secs = |text: &str| -> u64 {
        let t = text.trim();
        if let Some(m) = t.strip_suffix('m') {
            m.parse::<u64>().expect("minutes") * 60
        } else {
            t.trim_end_matches('s').parse().expect("seconds")
        }
    };
    for file in [
        "compose.yaml",
        "compose.external-db.yaml",
        "compose.local-db.yaml",
    ] {
        let text = std::fs::read_to_string(integramon_tests::workspace().join(file)).unwrap();
        let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
        let services = doc["services"].as_hash().expect("services");
        let mut checked = 0;
        for (name, service) in services {
            // A key of the service's own, or of the map it merges (`<<: *integramon`).
            let get = |k: &str| -> Yaml {
                match &service[k] {
                    Yaml::BadValue => service["<<"][k].clone(),
                    v => v.clone(),
                }
            };
            let command = match get("command") {
                Yaml::Array(a) => a.first().and_then(Yaml::as_str).unwrap_or("").to_string(),
                Yaml::String(s) => s.split_whitespace().next().unwrap_or("").to_string(),
                _ => String::new(),
            };
            if !command.starts_with("integramon") || command == "integramon-migrate" {
                continue;
            }
            let env = get("environment");
            let grace = match &env["SHUTDOWN_GRACE_SECS"] {
                Yaml::String(s) => s.parse().expect("SHUTDOWN_GRACE_SECS"),
                Yaml::Integer(i) => *i as u64,
                _ => runtime::settings::DEFAULT_SHUTDOWN_GRACE_SECS,
            };
            let period = match get("stop_grace_period") {
                Yaml::String(s) => secs(&s),
                _ => 10, // docker's default
            };
            assert!(
                period >= grace + margin,
                "{file}: {name:?} stops after {period} s, less than the grace {grace} s + {margin} s"
            );
            checked += 1;
        }
        assert!(checked > 0, "{file}: no IntegraMon service found");
    }
}
