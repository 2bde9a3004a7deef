//! The database going away and coming back: migrate waits for it (bounded by `DB_WAIT_TIMEOUT`),
//! and a running daemon's readiness follows it without a restart.

use std::time::{Duration, Instant};

use integramon_tests::private_pg::{Options, PrivateCluster, failure_line, set};
use integramon_tests::proc::run;
use integramon_tests::{Proc, bin, free_port, http_get, temp_dir, wait_for};

const MIGRATE: &str = "integramon-migrate";

#[test]
fn migrate_waits_for_a_database_that_comes_up_later() {
    let mut pg = PrivateCluster::start(Options::default());
    pg.stop();
    let data = temp_dir();
    let marker = data.path().join("run").join("migrate.done");
    let mut env = pg.env(data.path());
    set(&mut env, "DB_WAIT_TIMEOUT", "60");
    set(&mut env, "DB_CONNECT_TIMEOUT", "2");

    let mut migrate = Proc::spawn(&bin(MIGRATE), &[], &env);
    wait_for(30, "migrate to say it is waiting", || {
        assert!(
            migrate.is_running(),
            "migrate exited:\n{}",
            migrate.output()
        );
        migrate
            .output()
            .contains("waiting for the database")
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        migrate.is_running(),
        "migrate gave up before DB_WAIT_TIMEOUT:\n{}",
        migrate.output()
    );
    assert!(
        !marker.exists(),
        "marker written while the database was down"
    );

    pg.start_again();
    let status = migrate.wait(60);
    assert!(
        status.success(),
        "migrate failed after the database came up:\n{}",
        migrate.output()
    );
    assert!(marker.is_file(), "no marker at {}", marker.display());
}

#[test]
fn migrate_gives_up_after_db_wait_timeout() {
    let data = temp_dir();
    let env = vec![
        ("DATA_DIR".to_string(), data.path().display().to_string()),
        ("DB_BACKEND".into(), "postgresql".into()),
        ("DB_HOST".into(), "127.0.0.1".into()),
        // Nothing listens here.
        ("DB_PORT".into(), free_port().to_string()),
        ("DB_WAIT_TIMEOUT".into(), "2".into()),
        ("RUST_LOG".into(), "info".into()),
    ];
    // Built before the clock starts.
    let migrate = bin(MIGRATE);
    let started = Instant::now();
    let (status, out) = run(&migrate, &[], &env, 30);
    let took = started.elapsed();
    assert!(
        !status.success(),
        "migrate succeeded against a closed port:\n{out}"
    );
    assert!(
        took < Duration::from_secs(6),
        "gave up only after {took:?}:\n{out}"
    );
    let line = failure_line(&out, MIGRATE);
    assert!(line.contains("DB_WAIT_TIMEOUT=2s"), "{line}");
    assert!(line.contains("refused"), "the real cause is named: {line}");
    assert!(
        !data.path().join("run").join("migrate.done").exists(),
        "a failed migrate wrote the marker"
    );
}

#[test]
fn readiness_follows_the_database() {
    let mut pg = PrivateCluster::start(Options::default());
    let data = temp_dir();
    let mut env = pg.env(data.path());
    set(&mut env, "DB_CONNECT_TIMEOUT", "2");
    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(status.success(), "migrate failed:\n{out}");

    let addr = format!("127.0.0.1:{}", free_port());
    let mut daemon = Proc::spawn(&bin("integramon-web"), &["--listen", &addr], &env);
    let mut readyz = |want: u16, what: &str, secs: u64| {
        wait_for(secs, what, || {
            assert!(
                daemon.is_running(),
                "the daemon exited:\n{}",
                daemon.output()
            );
            http_get(&addr, "/readyz").filter(|(code, _)| *code == want)
        })
    };
    readyz(200, "/readyz 200 with the database up", 60);

    pg.stop();
    let stopped = Instant::now();
    let (_, body) = readyz(503, "/readyz 503 with the database down", 20);
    // One check is bounded by DB_CONNECT_TIMEOUT (2 s); allow for a slow machine.
    assert!(
        stopped.elapsed() < Duration::from_secs(15),
        "{:?}",
        stopped.elapsed()
    );
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON reason");
    let reason = json["reason"].as_str().unwrap_or_default();
    assert_eq!(json["ready"], false, "{body}");
    assert!(
        reason.starts_with("database"),
        "reason should name the database: {body}"
    );

    pg.start_again();
    readyz(200, "/readyz 200 after the database came back", 30);
    assert!(
        daemon.is_running(),
        "the daemon exited:\n{}",
        daemon.output()
    );
}
